"""Batch scoring: a registered model over a Parquet or CSV table, streamed chunk by chunk.

The source (a Parquet file, a CSV file, a directory of parts, or a dataset
version ``data:NAME@VERSION``) is read as Arrow batches regrouped into chunks
of ``chunk_rows``, so memory stays bounded by a chunk whatever the table's
size. Each chunk goes through the same :class:`ServedModel` checks as a
request to ``loopml serve`` (a missing or wrongly typed column is an error
naming it) and its predictions are appended to the chunk's own columns.

The output is written whole or not at all: a Parquet writer fills an
anonymous file in the destination's directory (``O_TMPFILE``; a hidden temp
name where the platform has none), fsynced and linked into place only when
every chunk scored, so a bad chunk halfway or a killed process leaves no
output and no temp file. Each call is a run in the ``batch-predictions``
experiment: the model, the source (a dataset version is the run's input, for
lineage), the destination, rows and seconds, ending FINISHED or FAILED.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_hex
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, LoopmlError, ResourceAlreadyExists
from loopml.predictions.batch import BATCH_EXPERIMENT
from loopml.serving.models import load_served
from loopml.serving.runtime import ServedModel
from loopml.tracking.entities import Metric, Param, RunTag

if TYPE_CHECKING:
    from loopml.client import Client
    from loopml.data import DatasetVersion

logger = logging.getLogger("loopml.serving")

DEFAULT_EXPERIMENT = BATCH_EXPERIMENT
OUTPUT_TAG = "loopml.batch.output"
ERROR_TAG = "loopml.batch.error"
INPUT_CONTEXT = "scoring"
METHODS = ("predict", "predict_proba")
TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
# Pages are read 1 MiB at a time; pre_buffer would read whole row groups ahead.
_READ_BUFFER_BYTES = 1 << 20
_CSV_BLOCK_BYTES = 1 << 22
# CSV columns the signature types are read as those types, not guessed per block.
_CSV_TYPES = {
    "double": pa.float64(),
    "float": pa.float64(),
    "long": pa.int64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
}
_CSV_COLUMN = re.compile(r"CSV column #(\d+)")

Progress = Callable[[int, int | None], None]  # (rows done, rows in all or None if unknown)
_Files = tuple[list[Path], str]  # table files and their one format: "parquet" or "csv"


@dataclass(frozen=True)
class BatchResult:
    """What a scoring wrote, and the run that records it."""

    rows: int
    chunks: int
    run_id: str
    model_name: str
    model_version: int
    destination: Path
    seconds: float


def score(
    client: Client,
    model_uri: str,
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    chunk_rows: int = 65_536,
    method: str = "predict",
    keep_columns: bool = True,
    prediction_column: str = "prediction",
    trust: bool = False,
    progress: Progress | None = None,
    experiment: str = DEFAULT_EXPERIMENT,
    overwrite: bool = False,
) -> BatchResult:
    """Score every row of ``source`` with ``model_uri`` into the Parquet file ``destination``.

    Args:
        client: a :class:`loopml.Client` (embedded or remote) holding the model.
        model_uri: ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``.
        source: a Parquet or CSV file, a directory of Parquet (or CSV) parts, or
            ``data:NAME@VERSION`` (recorded as the run's input).
        destination: the Parquet file to write, whole or not at all.
        chunk_rows: rows scored (and held in memory) at a time.
        method: ``predict``, or ``predict_proba`` for one column per class,
            ``{prediction_column}_{class}``.
        keep_columns: keep the input's columns beside the predictions.
        prediction_column: the name of the prediction column.
        trust: let a format that runs code on load (pickle) load.
        progress: called after each chunk with the rows done and the rows in
            all (None when unknown, as for CSV).
        experiment: the experiment the scoring run goes in.
        overwrite: replace ``destination`` if it exists.

    Returns:
        Rows and chunks scored, the run, the model version and where it wrote.

    Raises:
        InvalidParameter: bad options, an unreadable source, a column the
            model's signature lacks or types differently, or a chunk the model
            fails on; nothing is written.
        ResourceAlreadyExists: ``destination`` exists and ``overwrite`` is off.
    """
    started = time.perf_counter()
    target = _check_destination(Path(destination), overwrite)
    if chunk_rows < 1:
        raise InvalidParameter(f"chunk_rows must be at least 1, got {chunk_rows}")
    served = load_served(client.registry, model_uri, trust=trust)
    if method not in served.methods:
        raise InvalidParameter(f"method {method!r} is not one of {served.methods}")
    dataset = client.data.get(str(source)) if _is_dataset_ref(source) else None
    files = None if dataset is not None else _table_files(Path(source))
    where = dataset.ref if dataset is not None else str(Path(source).absolute())
    run_id = _start_run(client, experiment, served, model_uri, where, target, chunk_rows, method)
    try:
        if dataset is not None:
            client.log_dataset_input(run_id, dataset.ref, context=INPUT_CONTEXT)
        with _local_copy(client, dataset, target) as copied:
            total, chunks = _read_chunks(copied or files, chunk_rows, _csv_types(served))
            scorer = _Scorer(served, method, keep_columns, prediction_column)
            rows, count = _write(target, overwrite, map(scorer, chunks), total, progress)
    except BaseException as error:
        _fail_run(client, run_id, error)
        raise
    seconds = time.perf_counter() - started
    _finish_run(client, run_id, rows, seconds, target)
    return BatchResult(rows, count, run_id, served.name, served.version, target, seconds)


def _read_chunks(
    source: _Files | None, chunk_rows: int, csv_types: dict[str, pa.DataType]
) -> tuple[int | None, Iterator[pa.Table]]:
    """The rows in ``source`` (None when unknown before reading) and its chunks.

    ``csv_types`` fixes the types of those CSV columns instead of guessing
    them from the first block.
    """
    assert source is not None
    files, kind = source
    if kind == "csv":
        return None, _rechunk(_csv_batches(files, csv_types), chunk_rows)
    total = sum(_row_count(file) for file in files)
    return total, _rechunk(_parquet_batches(files, chunk_rows), chunk_rows)


# --- the source ---------------------------------------------------------------------


def _is_dataset_ref(source: str | os.PathLike[str]) -> bool:
    return isinstance(source, str) and source.startswith("data:")


def _table_files(path: Path) -> _Files:
    if not path.exists():
        raise InvalidParameter(
            f"no such file or directory: {path} (a dataset version is data:NAME@VERSION)"
        )
    found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    # Spark and Hive leave _SUCCESS and .crc files beside the parts.
    files = [p for p in found if not p.name.startswith((".", "_"))]
    kinds = {TABLE_SUFFIXES.get(p.suffix.lower()) for p in files}
    if not files or None in kinds or len(kinds) != 1:
        raise InvalidParameter(
            f"{path}: expected a Parquet (.parquet) or CSV (.csv) file, or a directory of "
            f"one kind; found {sorted({p.suffix or p.name for p in files})[:5] or 'no files'}"
        )
    return files, str(kinds.pop())


@contextlib.contextmanager
def _local_copy(
    client: Client, dataset: DatasetVersion | None, destination: Path
) -> Iterator[_Files | None]:
    """A dataset version as a local Parquet file (masked and audited as any read), or None."""
    if dataset is None:
        yield None
        return
    prefix = f".{destination.name}.input-"
    with tempfile.TemporaryDirectory(prefix=prefix, dir=destination.parent) as scratch:
        path = Path(scratch) / "input.parquet"
        client.data.download(dataset.ref, path)
        yield [path], "parquet"


def _row_count(file: Path) -> int:
    try:
        return int(pq.read_metadata(file).num_rows)
    except (pa.ArrowException, OSError) as error:
        raise InvalidParameter(f"cannot read {file}: {error}") from error


def _parquet_batches(files: list[Path], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """Parquet parts batch by batch; later parts are cast to the first one's schema."""
    schema: pa.Schema | None = None
    for file in files:
        try:
            reader = pq.ParquetFile(file, buffer_size=_READ_BUFFER_BYTES, pre_buffer=False)
            with reader:
                schema = schema or reader.schema_arrow
                same = reader.schema_arrow.equals(schema, check_metadata=False)
                for batch in reader.iter_batches(batch_size=chunk_rows):
                    yield batch if same else _cast(batch, schema, file)
        except (pa.ArrowException, OSError) as error:
            raise InvalidParameter(f"cannot read {file}: {error}") from error


def _cast(batch: pa.RecordBatch, schema: pa.Schema, file: Path) -> pa.RecordBatch:
    try:
        return pa.Table.from_batches([batch]).select(schema.names).cast(schema).to_batches()[0]
    except (pa.ArrowException, KeyError) as error:
        raise InvalidParameter(
            f"{file}: its columns {batch.schema.names} do not match the first part's "
            f"{schema.names}: {error}"
        ) from error


def _csv_batches(files: list[Path], types: dict[str, pa.DataType]) -> Iterator[pa.RecordBatch]:
    """CSV files block by block; later files are read with the first one's types."""
    read = pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
    schema: pa.Schema | None = None
    for file in files:
        convert = pa_csv.ConvertOptions(column_types=schema or types)
        with _csv_errors(file):
            reader = pa_csv.open_csv(file, read_options=read, convert_options=convert)
            if schema is not None and reader.schema.names != schema.names:
                raise InvalidParameter(
                    f"{file}: columns {reader.schema.names} differ from {schema.names}"
                )
            schema = reader.schema
            yield from reader


@contextlib.contextmanager
def _csv_errors(file: Path) -> Iterator[None]:
    """Arrow's CSV errors as InvalidParameter, naming the column rather than its number."""
    try:
        yield
    except pa.ArrowException as error:
        found = _CSV_COLUMN.search(str(error))
        header = _csv_header(file) if found else []
        if found and int(found[1]) < len(header):
            message = f"input column {header[int(found[1])]!r} in {file}: {error}"
        else:
            message = f"cannot read {file}: {error}"
        raise InvalidParameter(message) from error


def _csv_header(file: Path) -> list[str]:
    with file.open(newline="", encoding="utf-8", errors="replace") as handle:
        return next(csv.reader(handle), [])


def _rechunk(batches: Iterable[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """Batches of any size regrouped into tables of exactly ``chunk_rows`` (the last: fewer)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        while batch.num_rows:
            take = min(chunk_rows - held, batch.num_rows)
            pending.append(batch.slice(0, take))
            held += take
            batch = batch.slice(take)
            if held == chunk_rows:
                yield pa.Table.from_batches(pending)
                pending, held = [], 0
    if held:
        yield pa.Table.from_batches(pending)


def _csv_types(served: ServedModel) -> dict[str, pa.DataType]:
    pairs = zip(served.columns, served.types, strict=True)
    return {column: _CSV_TYPES[kind] for column, kind in pairs if kind in _CSV_TYPES}


# --- scoring ------------------------------------------------------------------------


@dataclass
class _Scorer:
    """One chunk in, the same rows out with their predictions (and counts what it saw)."""

    served: ServedModel
    method: str
    keep_columns: bool
    prediction_column: str
    rows_seen: int = 0

    def __call__(self, chunk: pa.Table) -> pa.Table:
        first, self.rows_seen = self.rows_seen, self.rows_seen + chunk.num_rows
        if self.keep_columns and self.prediction_column in chunk.column_names:
            raise InvalidParameter(
                f"the input already has a column {self.prediction_column!r}; "
                "choose another prediction column or drop the input's columns"
            )
        features = [c for c in self.served.columns if c in chunk.column_names]
        frame = (chunk.select(features) if self.served.columns else chunk).to_pandas()
        model_input = self.served.from_frame(frame)
        try:
            predictions = self.served.predict(model_input, self.method)
        except LoopmlError:
            raise
        except Exception as error:
            raise InvalidParameter(
                f"the model failed on rows {first:,}-{self.rows_seen - 1:,}: "
                f"{type(error).__name__}: {error}"
            ) from error
        return self._output(chunk, predictions)

    def _output(self, chunk: pa.Table, predictions: np.ndarray) -> pa.Table:
        kept = chunk.replace_schema_metadata(None) if self.keep_columns else None
        columns = self._columns(predictions)
        if kept is None:
            return pa.table(columns)
        for name, values in columns.items():
            kept = kept.append_column(name, values)
        return kept

    def _columns(self, predictions: np.ndarray) -> dict[str, pa.Array]:
        if predictions.ndim == 2 and predictions.shape[1] == 1 and self.method == "predict":
            predictions = predictions[:, 0]
        if predictions.ndim == 1:
            return {self.prediction_column: pa.array(predictions)}
        if predictions.ndim != 2:
            raise InvalidParameter(
                f"the model's {self.method} returned shape {predictions.shape}; "
                "batch scoring writes one value or one row of values per input row"
            )
        labels = self._labels(predictions.shape[1])
        return {
            f"{self.prediction_column}_{label}": pa.array(predictions[:, i])
            for i, label in enumerate(labels)
        }

    def _labels(self, width: int) -> list[str]:
        classes = getattr(self.served.loaded.raw, "classes_", None)
        if self.method == "predict_proba" and classes is not None and len(classes) == width:
            return [str(c) for c in classes]
        return [str(i) for i in range(width)]


# --- the output, whole or not at all -------------------------------------------------


def _check_destination(destination: Path, overwrite: bool) -> Path:
    target = destination.absolute()
    if target.is_dir():
        raise InvalidParameter(f"output {target} is a directory; give a file name")
    if target.exists() and not overwrite:
        raise ResourceAlreadyExists(f"output {target} already exists")
    if not target.parent.is_dir():
        raise InvalidParameter(f"output directory {target.parent} does not exist")
    return target


def _write(
    destination: Path,
    overwrite: bool,
    tables: Iterator[pa.Table],
    total: int | None,
    progress: Progress | None,
) -> tuple[int, int]:
    """Write ``tables`` to ``destination`` atomically; returns rows and chunks written."""
    rows = chunks = 0
    with _AtomicFile(destination, overwrite) as sink:
        writer: pq.ParquetWriter | None = None
        try:
            for table in tables:
                writer = writer or pq.ParquetWriter(sink.file, table.schema)
                writer.write_table(
                    _conformed(table, writer.schema, rows), row_group_size=table.num_rows
                )
                rows, chunks = rows + table.num_rows, chunks + 1
                if progress is not None:
                    progress(rows, total)
        finally:
            if writer is not None:  # also on failure, so it never writes to a closed file later
                writer.close()
        if writer is None:
            raise InvalidParameter("the source has no rows; nothing to score")
        sink.commit()
    return rows, chunks


def _conformed(table: pa.Table, schema: pa.Schema, first_row: int) -> pa.Table:
    if table.schema.equals(schema):
        return table
    try:
        return table.cast(schema)
    except (pa.ArrowException, ValueError) as error:
        raise InvalidParameter(
            f"rows from {first_row:,} have columns {table.schema} but earlier rows {schema}: "
            f"{error}"
        ) from error


class _AtomicFile:
    """A file that appears at ``destination`` only on :meth:`commit`, fsynced.

    On Linux it is an anonymous ``O_TMPFILE`` file, linked into place at the
    end, so not even a killed process leaves a temp file; elsewhere a hidden
    temp name beside ``destination``, removed on failure and renamed at the end.
    """

    def __init__(self, destination: Path, overwrite: bool) -> None:
        self.destination = destination
        self.overwrite = overwrite
        self.temp_path: Path | None = None

    def __enter__(self) -> _AtomicFile:
        directory = self.destination.parent
        anonymous = getattr(os, "O_TMPFILE", 0)
        try:
            fd = os.open(directory, anonymous | os.O_WRONLY, 0o666) if anonymous else -1
        except OSError:  # a file system without O_TMPFILE
            fd = -1
        if fd < 0:
            fd, name = tempfile.mkstemp(prefix=f".{self.destination.name}.", dir=directory)
            self.temp_path = Path(name)
        self.file = os.fdopen(fd, "wb")
        return self

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        if self.temp_path is not None:
            self._rename(self.temp_path)
        elif self.overwrite:
            staged = self.destination.with_name(f".{self.destination.name}.{token_hex(8)}.tmp")
            self._link(staged)
            self._rename(staged)
        else:
            self._link(self.destination)
        self.temp_path = None
        _fsync_dir(self.destination.parent)

    def _link(self, path: Path) -> None:
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:  # a dir_fd makes Python use linkat, which follows /proc's link (AT_SYMLINK_FOLLOW)
            os.link(f"/proc/self/fd/{self.file.fileno()}", path.name, dst_dir_fd=directory)
        except FileExistsError as error:
            raise ResourceAlreadyExists(f"output {path} already exists") from error
        finally:
            os.close(directory)

    def _rename(self, path: Path) -> None:
        if not self.overwrite and self.destination.exists():
            raise ResourceAlreadyExists(f"output {self.destination} already exists")
        os.replace(path, self.destination)

    def __exit__(self, *exc_info: object) -> None:
        self.file.close()
        if self.temp_path is not None:
            self.temp_path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the run ------------------------------------------------------------------------


def _start_run(
    client: Client,
    experiment: str,
    served: ServedModel,
    model_uri: str,
    source: str,
    destination: Path,
    chunk_rows: int,
    method: str,
) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        try:
            experiment_id = client.create_experiment(experiment)
        except ResourceAlreadyExists:  # created meanwhile by another scoring
            experiment_id = _existing(client, experiment)
    run_name = f"score-{served.name}-v{served.version}"
    run_id = client.create_run(experiment_id, run_name=run_name).info.run_id
    params = {
        "model_uri": model_uri,
        "model_name": served.name,
        "model_version": str(served.version),
        "source": source,
        "destination": str(destination),
        "chunk_rows": str(chunk_rows),
        "method": method,
    }
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()])
    return run_id


def _existing(client: Client, experiment: str) -> str:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise InvalidParameter(f"experiment {experiment!r} could not be created or found")
    return found.experiment_id


def _finish_run(client: Client, run_id: str, rows: int, seconds: float, output: Path) -> None:
    stamp = now_ms()
    client.log_batch(
        run_id,
        metrics=[Metric("rows", float(rows), stamp), Metric("seconds", seconds, stamp)],
        tags=[RunTag(OUTPUT_TAG, str(output))],
    )
    client.update_run(run_id, status="FINISHED", end_time=now_ms())


def _fail_run(client: Client, run_id: str, error: BaseException) -> None:
    """Mark the run FAILED with the error; a failure to record it never hides the error."""
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    try:
        client.set_tag(run_id, ERROR_TAG, str(message)[:8000])
        client.update_run(run_id, status="FAILED", end_time=now_ms())
    except Exception:
        logger.warning("could not mark scoring run %s FAILED", run_id, exc_info=True)
