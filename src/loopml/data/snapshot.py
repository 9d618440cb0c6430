"""Snapshot a table into one Parquet file while hashing its full content.

Every input (a pandas DataFrame, an Arrow table, a Parquet or CSV file, a
directory of them) is read as a stream of Arrow record batches, so memory
stays bounded by a few batches whatever the table's size (Parquet pages are
read 1 MiB at a time, never a whole row group or file ahead). A single
Parquet file is not re-encoded: its bytes are copied while it is decoded and
hashed, and a source that changes meanwhile is an error. Every other input
is written as Parquet batch by batch, on a writer thread.

The content hash covers every row, not a sample, and does not depend on how
the input happened to be split into batches, row groups or files, so the same
table read from a CSV, a Parquet file or memory hashes the same once its
schema is the same. Scheme ``loopml-table-v2``::

    sha256(HASH_VERSION ‖ json(canonical_schema) ‖ row count (u64 LE)
           ‖ for each column, in order: sha256(nulls) ‖ sha256(lengths) ‖ sha256(values))

where each column's three streams are fed batch by batch, in row order:

* nulls: the table-wide row numbers of the column's nulls (u64 LE);
* lengths: each value's length in bytes, 0 for a null (i64 LE; variable-width
  and nested types only);
* values: fixed-width values (ints, floats, temporal, decimals) as their
  little-endian bytes, nulls as zeros and every NaN as one canonical NaN;
  booleans one byte each; strings and binaries their bytes back to back (none
  for a null); other types (nested, ...) the ``repr`` of each value. Dictionary
  columns are hashed by their decoded values.

Columns are hashed on a small thread pool (``hashlib`` releases the GIL on
large buffers) while the next batch is decoded or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from loopml.core.arrow import table_from_pandas
from loopml.core.errors import InvalidParameter
from loopml.data.sql import is_dataframe

BATCH_ROWS = 65_536
HASH_VERSION = "loopml-table-v2"
HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
# pre_buffer would read every row group ahead (the whole file); pages are read 1 MiB at a time.
_READ_BUFFER_BYTES = 1 << 20

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


@dataclass(frozen=True)
class _Source:
    """An input opened as batches; ``parquet_file`` when its bytes can be kept as they are."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    parquet_file: Path | None = None


def snapshot(source: Any, destination: Path, progress: Progress | None = None) -> Snapshot:
    """Write ``source`` to ``destination`` (Parquet, 0600) and hash its content.

    ``source``: a pandas DataFrame, a ``pyarrow.Table``, or a path to a Parquet
    or CSV file or to a directory of them. Raises ``InvalidParameter`` naming
    the problem (unreadable, truncated, inconsistent columns, mixed types, a
    file changed while read); on any error ``destination`` is removed, so
    nothing half-written remains.
    """
    opened = _open(source)
    try:
        fd = os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as sink, ThreadPoolExecutor(HASH_WORKERS) as pool:
            hasher = TableHasher(opened.schema, pool)
            if opened.parquet_file is not None:
                read = lambda: _hash_all(source, opened, hasher, progress)  # noqa: E731
                _copy_while(opened.parquet_file, sink, read)
            else:
                _write_parquet(source, opened, hasher, progress, sink)
            content_hash = hasher.hexdigest()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, ValueError) as error:
        destination.unlink(missing_ok=True)
        raise InvalidParameter(f"cannot read {_describe(source)}: {error}") from error
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return Snapshot(
        path=destination,
        content_hash=content_hash,
        schema=canonical_schema(opened.schema),
        row_count=hasher.rows,
        size_bytes=destination.stat().st_size,
    )


def _write_parquet(
    source: Any, opened: _Source, hasher: TableHasher, progress: Progress | None, sink: Any
) -> None:
    """Encode batch k on a writer thread while batch k+1 is read and hashed."""
    pending: list[Future[None]] = []

    # Dictionary pages only where they pay (text): numbers would try one, then fall
    # back to plain pages, which costs twice the encoding time for a larger file.
    texts = [field.name for field in opened.schema if _is_text_like(field.type)]
    writer = pq.ParquetWriter(sink, opened.schema, use_dictionary=texts)
    with writer, ThreadPoolExecutor(1) as writing:

        def write(batch: pa.RecordBatch) -> None:
            for earlier in pending:  # one batch in flight: memory stays bounded
                earlier.result()
            pending[:] = [writing.submit(writer.write_batch, batch)]

        _hash_all(source, opened, hasher, progress, write)
        for earlier in pending:
            earlier.result()


def _hash_all(
    source: Any,
    opened: _Source,
    hasher: TableHasher,
    progress: Progress | None,
    write: Callable[[pa.RecordBatch], None] | None = None,
) -> None:
    """Hash (and write) every batch; every part must have the first part's schema."""
    for batch in opened.batches:
        if batch.num_rows == 0:
            continue
        if not batch.schema.equals(opened.schema):
            raise InvalidParameter(
                f"{_describe(source)}: a part has columns {batch.schema.names} typed "
                f"differently from {opened.schema.names}; every part must match"
            )
        hasher.update(batch)
        if write is not None:
            write(batch)
        if progress is not None:
            progress(hasher.rows)
    hasher.wait()


def _copy_while(source: Path, sink: Any, read: Callable[[], None]) -> None:
    """Copy ``source``'s bytes into ``sink`` on a thread while ``read`` decodes and hashes it.

    The hash must describe the bytes kept, so a file that changes meanwhile
    (size, mtime, ctime or inode) is refused rather than stored.
    """
    before = _identity(source)
    failures: list[BaseException] = []

    def copy() -> None:
        try:
            with source.open("rb") as handle:
                _copy_file(handle, sink)
        except BaseException as error:  # re-raised on the calling thread
            failures.append(error)

    copier = threading.Thread(target=copy, name="loopml-snapshot-copy", daemon=True)
    copier.start()
    try:
        read()
    finally:
        copier.join()
    if failures:
        raise failures[0]
    if _identity(source) != before:
        raise InvalidParameter(f"{source} changed while it was being read; add it again")


def _identity(path: Path) -> tuple[int, ...]:
    info = path.stat()
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _copy_file(source: Any, sink: Any) -> None:
    """In-kernel copy (a reflink where the file system has them), else a buffered copy."""
    size, copied = os.fstat(source.fileno()).st_size, 0
    try:
        while copied < size:
            step = os.copy_file_range(source.fileno(), sink.fileno(), size - copied)
            if step == 0:
                break
            copied += step
    except (AttributeError, OSError):  # no copy_file_range here, or not across these files
        source.seek(copied)
        sink.seek(copied)
        shutil.copyfileobj(source, sink, 1 << 20)


class TableHasher:
    """The content hash of a table fed batch by batch; batch boundaries never change it."""

    def __init__(self, schema: pa.Schema, pool: ThreadPoolExecutor) -> None:
        self.schema = schema
        self.pool = pool
        self.rows = 0
        self._columns = [_ColumnDigest() for _ in schema]
        self._pending: list[Future[None]] = []

    def update(self, batch: pa.RecordBatch) -> None:
        """Queue ``batch``'s columns; the previous batch is finished first, so order holds."""
        self.wait()
        first_row, self.rows = self.rows, self.rows + batch.num_rows
        self._pending = [
            self.pool.submit(digest.update, column, first_row)
            for digest, column in zip(self._columns, batch.columns, strict=True)
        ]

    def wait(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def hexdigest(self) -> str:
        self.wait()
        digest = hashlib.sha256(HASH_VERSION.encode())
        digest.update(json.dumps(canonical_schema(self.schema)).encode())
        digest.update(self.rows.to_bytes(8, "little"))
        for column in self._columns:
            digest.update(column.digest())
        return digest.hexdigest()


class _ColumnDigest:
    """The three streams of one column (see the module docstring)."""

    def __init__(self) -> None:
        self.nulls = hashlib.sha256()
        self.lengths = hashlib.sha256()
        self.values = hashlib.sha256()

    def update(self, column: pa.Array, first_row: int) -> None:
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        kind = column.type
        nulls = np.ones(len(column), bool) if pa.types.is_null(kind) else _null_mask(column)
        if nulls is not None:
            self.nulls.update(_bytes(np.flatnonzero(nulls).astype("<u8") + first_row))
        if pa.types.is_boolean(kind):
            self.values.update(_bytes(_bool_bytes(column, nulls)))
        elif _is_binary_like(kind):
            self._update_variable(column, nulls)
        elif (width := _byte_width(kind)) is not None:
            self.values.update(_bytes(_fixed_width_bytes(column, width, nulls)))
        elif not pa.types.is_null(kind):  # nested, unions, extensions: slower, but exact
            texts = [b"" if value is None else repr(value).encode() for value in column.to_pylist()]
            self.lengths.update(_bytes(np.array([len(text) for text in texts], dtype="<i8")))
            self.values.update(b"".join(texts))

    def _update_variable(self, column: pa.Array, nulls: Any) -> None:
        """Lengths, then the bytes back to back; a null contributes no bytes."""
        if pa.types.is_string_view(column.type) or pa.types.is_binary_view(column.type):
            large = pa.large_string() if pa.types.is_string_view(column.type) else pa.large_binary()
            column = column.cast(large)
        lengths = np.diff(_offsets(column))
        if nulls is not None and lengths[nulls].any():
            column = pc.fill_null(column, pa.scalar(b"", column.type))  # drop bytes under nulls
            lengths = np.diff(_offsets(column))
        self.lengths.update(_bytes(lengths.astype("<i8", copy=False)))
        offsets, data = _offsets(column), column.buffers()[2]
        if data is not None and len(column):
            self.values.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])

    def digest(self) -> bytes:
        return self.nulls.digest() + self.lengths.digest() + self.values.digest()


def _bytes(values: Any) -> memoryview:
    """A contiguous NumPy array's memory as bytes, without a copy."""
    contiguous: Any = np.ascontiguousarray(values)  # (NumPy's stubs lack __buffer__ on 3.11)
    return memoryview(contiguous).cast("B")


def _null_mask(column: pa.Array) -> Any:
    """One bool per row, True where null; None when the column has no nulls."""
    validity = column.buffers()[0]
    if not column.null_count or validity is None:
        return None
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
    return bits[column.offset : column.offset + len(column)] == 0


def _is_binary_like(kind: pa.DataType) -> bool:
    return any(
        check(kind)
        for check in (
            pa.types.is_string,
            pa.types.is_large_string,
            pa.types.is_binary,
            pa.types.is_large_binary,
            pa.types.is_string_view,
            pa.types.is_binary_view,
        )
    )


def _is_text_like(kind: pa.DataType) -> bool:
    return _is_binary_like(kind) or pa.types.is_dictionary(kind)


def _byte_width(kind: pa.DataType) -> int | None:
    """Bytes per value of a fixed-width type (ints, floats, temporal, decimal, ...), else None."""
    fixed = pa.types.is_primitive(kind) or pa.types.is_decimal(kind)
    if not (fixed or pa.types.is_fixed_size_binary(kind)):
        return None
    try:
        return int(kind.byte_width)
    except ValueError:
        return None


_UINT = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}


def _fixed_width_bytes(column: pa.Array, width: int, nulls: Any) -> Any:
    """The values' little-endian bytes, with nulls as zeros and one canonical NaN."""
    buffer = column.buffers()[1]
    if buffer is None:
        return np.zeros(len(column) * width, dtype=np.uint8)
    start, stop = column.offset * width, (column.offset + len(column)) * width
    values = np.frombuffer(buffer, dtype=np.uint8)[start:stop]
    values = values.view(_UINT[width]) if width in _UINT else values.reshape(-1, width)
    if nulls is not None:
        values = np.where(nulls if values.ndim == 1 else nulls[:, None], 0, values)
    if pa.types.is_floating(column.type):
        floats = values.view(f"<f{width}")
        nans = np.isnan(floats)
        if nans.any():
            floats = np.where(nans, np.array(np.nan, dtype=floats.dtype), floats)
            return floats
    return values


def _bool_bytes(column: pa.Array, nulls: Any) -> Any:
    """One byte per value (0 or 1), nulls as 0."""
    bits = np.unpackbits(np.frombuffer(column.buffers()[1], dtype=np.uint8), bitorder="little")
    values = bits[column.offset : column.offset + len(column)]
    return values if nulls is None else np.where(nulls, 0, values).astype(np.uint8)


def _offsets(column: pa.Array) -> Any:
    wide = pa.types.is_large_string(column.type) or pa.types.is_large_binary(column.type)
    offsets = np.frombuffer(column.buffers()[1], dtype="<i8" if wide else "<i4")
    return offsets[column.offset : column.offset + len(column) + 1]


def _open(source: Any) -> _Source:
    if is_dataframe(source):
        try:
            table = table_from_pandas(source)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise InvalidParameter(f"cannot store this DataFrame: {error}") from error
        return _Source(table.schema, iter(table.to_batches(BATCH_ROWS)))
    if isinstance(source, pa.Table):
        return _Source(source.schema, iter(source.to_batches(BATCH_ROWS)))
    if isinstance(source, str) and _is_url(source):
        return _open_url(source)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(source))
    raise InvalidParameter(
        f"cannot snapshot a {type(source).__name__}: give a pandas DataFrame, a pyarrow "
        "Table, or the path of a Parquet or CSV file or of a directory of them"
    )


def _open_path(path: Path) -> _Source:
    if not path.exists():
        raise InvalidParameter(f"no such file or directory: {path}")
    found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    tables = [p for p in found if not p.name.startswith(".")]
    fmt = _format_of(str(path), [p.name for p in tables])
    try:
        if fmt == "csv":
            return _csv_batches(tables)
        return _parquet_batches(tables, kept=tables[0] if len(tables) == 1 else None)
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidParameter(f"cannot read {path}: {error}") from error


def _is_url(text: str) -> bool:
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme not in ("", "file", "local") and scheme.isalnum()


def _open_url(url: str) -> _Source:
    """A file or prefix on an object store (``s3://``; credentials from the environment).

    Read through fsspec as a stream, so a large object never sits whole in memory.
    """
    from fsspec.core import url_to_fs

    try:
        fs, base = url_to_fs(url)
        found = sorted(fs.find(base)) if fs.isdir(base) else [base] if fs.exists(base) else []
    except (ImportError, ValueError) as error:
        raise InvalidParameter(f"cannot read {url}: {error}") from error
    if not found:
        raise InvalidParameter(f"no such file or prefix: {url}")
    tables = [p for p in found if not p.rsplit("/", 1)[-1].startswith(".")]
    fmt = _format_of(url, [p.rsplit("/", 1)[-1] for p in tables])
    handles = [fs.open(p, "rb") for p in tables]
    try:
        return _csv_batches(handles) if fmt == "csv" else _parquet_batches(handles)
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidParameter(f"cannot read {url}: {error}") from error


def _format_of(where: str, names: list[str]) -> str:
    """The one table format of a set of files (by suffix), or a clear refusal."""
    formats = {TABLE_SUFFIXES.get(Path(name).suffix.lower()) for name in names}
    if None in formats or len(formats) != 1:
        raise InvalidParameter(
            f"{where}: expected Parquet (.parquet) or CSV (.csv) files of one kind; "
            f"found {sorted(Path(n).suffix or n for n in names)[:5]}"
        )
    return str(formats.pop())


def _parquet_batches(files: list[Any], kept: Path | None = None) -> _Source:
    """Parquet files (paths or open files) streamed batch by batch, page by page.

    ``kept``: a single local file whose bytes can be stored as they are.
    """

    def open_file(file: Any) -> pq.ParquetFile:
        return pq.ParquetFile(file, buffer_size=_READ_BUFFER_BYTES, pre_buffer=False)

    first = open_file(files[0])

    def batches() -> Iterator[pa.RecordBatch]:
        for index, file in enumerate(files):
            with first if index == 0 else open_file(file) as reader:
                yield from reader.iter_batches(batch_size=BATCH_ROWS)

    return _Source(first.schema_arrow, batches(), kept)


def _csv_batches(files: list[Any]) -> _Source:
    """CSV files streamed block by block; later files are read with the first one's types."""
    first = pa_csv.open_csv(files[0], read_options=pa_csv.ReadOptions(block_size=1 << 22))
    schema = first.schema

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first
        convert = pa_csv.ConvertOptions(column_types=schema)
        for file in files[1:]:
            reader = pa_csv.open_csv(file, convert_options=convert)
            if reader.schema.names != schema.names:
                raise InvalidParameter(
                    f"{getattr(file, 'path', file)}: columns {reader.schema.names} "
                    f"differ from {schema.names}"
                )
            yield from reader

    return _Source(schema, batches())


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
