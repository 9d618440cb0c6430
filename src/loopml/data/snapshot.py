"""Snapshot a table into one Parquet file while hashing its full content.

Every input (a pandas DataFrame, an Arrow table, a Parquet or CSV file, a
directory of them) is read as a stream of Arrow record batches, so memory
stays bounded by the batch size whatever the table's size. The content hash
covers every row, not a sample: SHA-256 over the canonical schema and, row by
row, a 64-bit hash of each row's values (pandas' ``hash_pandas_object``,
deterministic across processes). Row hashes do not depend on how the input
happened to be split into batches, so the same table read from a CSV, a
Parquet file or memory hashes the same once its schema is the same.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.dataset as pa_ds
import pyarrow.parquet as pq

from loopml.core.errors import InvalidParameter

BATCH_ROWS = 65_536
HASH_VERSION = "loopml-table-v1"
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}

Progress = Callable[[int], None]  # called with the rows written so far


@dataclass(frozen=True)
class Snapshot:
    """What a snapshot wrote: the Parquet file and the facts a version records."""

    path: Path
    content_hash: str
    schema: list[dict[str, str]]
    row_count: int
    size_bytes: int


def canonical_schema(schema: pa.Schema) -> list[dict[str, str]]:
    """The schema as stored with a version and hashed: names and Arrow types, in order."""
    return [{"name": field.name, "type": str(field.type)} for field in schema]


def snapshot(source: Any, destination: Path, progress: Progress | None = None) -> Snapshot:
    """Write ``source`` to ``destination`` (Parquet, 0600) and hash its content.

    ``source``: a pandas DataFrame, a ``pyarrow.Table``, or a path to a Parquet
    or CSV file or to a directory of them. Raises ``InvalidParameter`` naming
    the problem (unreadable, truncated, inconsistent columns, mixed types); on
    any error ``destination`` is removed, so nothing half-written remains.
    """
    schema, batches = _open(source)
    digest = hashlib.sha256(HASH_VERSION.encode())
    digest.update(repr(canonical_schema(schema)).encode())
    rows = 0
    try:
        fd = os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as sink, pq.ParquetWriter(sink, schema) as writer:
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                if not batch.schema.equals(schema):
                    raise InvalidParameter(
                        f"{_describe(source)}: a part has columns {batch.schema.names} "
                        f"typed differently from {schema.names}; every part must match"
                    )
                writer.write_batch(batch)
                digest.update(_row_hashes(batch))
                rows += batch.num_rows
                if progress is not None:
                    progress(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError) as error:
        destination.unlink(missing_ok=True)
        raise InvalidParameter(f"cannot read {_describe(source)}: {error}") from error
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return Snapshot(
        path=destination,
        content_hash=digest.hexdigest(),
        schema=canonical_schema(schema),
        row_count=rows,
        size_bytes=destination.stat().st_size,
    )


def _row_hashes(batch: pa.RecordBatch) -> bytes:
    """One 64-bit hash per row, from its values alone (never from batch boundaries)."""
    combined = np.zeros(batch.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in batch.columns:
            combined = (combined * _MIX) ^ _column_hashes(column)
    return bytes(combined.astype("<u8").tobytes())


_MIX = np.uint64(1_000_003)
_NULL = np.uint64(0x9E3779B97F4A7C15)


def _column_hashes(column: pa.Array) -> Any:
    """Hash values in a representation that does not depend on the batch's nulls.

    (pandas turns an integer column with a null into floats, so hashing its
    own conversion would make a value's hash depend on its neighbours.)
    """
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_temporal(kind) or pa.types.is_boolean(kind):
        values = pc.fill_null(column.cast(pa.int64()), 0).to_numpy()
    elif pa.types.is_floating(kind):
        values = pc.fill_null(column.cast(pa.float64()), 0.0).to_numpy()
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        values = column.to_numpy(zero_copy_only=False)
    else:  # nested, decimal, ...: slower, but exact
        values = np.array([repr(v) for v in column.to_pylist()], dtype=object)
    hashed = pd.util.hash_array(values, categorize=False)
    if column.null_count:
        nulls = column.is_null().to_numpy(zero_copy_only=False)
        hashed = np.where(nulls, _NULL, hashed)
    return hashed


def _open(source: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    if isinstance(source, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise InvalidParameter(f"cannot store this DataFrame: {error}") from error
        return table.schema, iter(table.to_batches(BATCH_ROWS))
    if isinstance(source, pa.Table):
        return source.schema, iter(source.to_batches(BATCH_ROWS))
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(source))
    raise InvalidParameter(
        f"cannot snapshot a {type(source).__name__}: give a pandas DataFrame, a pyarrow "
        "Table, or the path of a Parquet or CSV file or of a directory of them"
    )


def _open_path(path: Path) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    if not path.exists():
        raise InvalidParameter(f"no such file or directory: {path}")
    found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    tables = [p for p in found if not p.name.startswith(".")]
    formats = {TABLE_SUFFIXES.get(p.suffix.lower()) for p in tables}
    if None in formats or len(formats) != 1:
        raise InvalidParameter(
            f"{path}: expected Parquet (.parquet) or CSV (.csv) files of one kind; "
            f"found {sorted(p.suffix or p.name for p in tables)[:5]}"
        )
    fmt = formats.pop()
    try:
        if fmt == "csv":
            return _csv_batches(tables)
        dataset = pa_ds.dataset([str(p) for p in tables], format="parquet")
        return dataset.schema, dataset.to_batches(batch_size=BATCH_ROWS)
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidParameter(f"cannot read {path}: {error}") from error


def _csv_batches(files: list[Path]) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """CSV files streamed block by block; later files are read with the first one's types."""
    first = pa_csv.open_csv(files[0], read_options=pa_csv.ReadOptions(block_size=1 << 22))
    schema = first.schema

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first
        convert = pa_csv.ConvertOptions(column_types=schema)
        for path in files[1:]:
            reader = pa_csv.open_csv(path, convert_options=convert)
            if reader.schema.names != schema.names:
                raise InvalidParameter(
                    f"{path}: columns {reader.schema.names} differ from {schema.names}"
                )
            yield from reader

    return schema, batches()


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
