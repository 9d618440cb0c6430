"""Reading the prediction log: DuckDB over the Parquet parts, pruned by path first.

Partitions (endpoint, UTC date) are chosen from directory listings, so a query
for one endpoint and one week opens only that week's parts. On a local store
DuckDB scans the content-addressed blobs in place (``ArtifactStore.local_file``);
on a remote store the chosen parts are downloaded to a temporary directory.
Time ranges are ``[start_ms, end_ms)``. Rows come sorted by time, then request id.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter
from loopml.predictions.layout import (
    DEFAULT_PREFIX,
    TimeRange,
    check_endpoint_name,
    check_prefix,
    ground_truth_parts,
    prediction_parts,
)

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from loopml.artifacts import ArtifactStore

_LATEST_LABELS = """
    SELECT endpoint, request_id, arg_max(label_json, time_ms) AS label_json
    FROM read_parquet($labels)
    GROUP BY endpoint, request_id
"""


@dataclass(frozen=True)
class _Query:
    """What to read, checked once: which parts, which rows, whether labels join."""

    prefix: str
    endpoint: str | None
    window: TimeRange
    include_shadow: bool
    with_ground_truth: bool

    def sql(self, has_labels: bool) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {}
        where = []
        if self.window.start_ms is not None:
            where.append("p.time_ms >= $start_ms")
            params["start_ms"] = self.window.start_ms
        if self.window.end_ms is not None:
            where.append("p.time_ms < $end_ms")
            params["end_ms"] = self.window.end_ms
        if not self.include_shadow:
            where.append("NOT p.shadow")
        label = "g.label_json" if has_labels else "CAST(NULL AS VARCHAR)"
        select = f", {label} AS ground_truth" if self.with_ground_truth else ""
        join = ""
        if self.with_ground_truth and has_labels:
            join = (
                f"LEFT JOIN ({_LATEST_LABELS}) AS g "
                "ON g.endpoint = p.endpoint AND g.request_id = p.request_id"
            )
        condition = f"WHERE {' AND '.join(where)}" if where else ""
        sql = (
            f"SELECT p.*{select} FROM read_parquet($files) AS p {join} {condition} "
            "ORDER BY p.time_ms, p.request_id"
        )
        return sql, params


def read(
    artifacts: ArtifactStore,
    *,
    endpoint: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    include_shadow: bool = True,
    with_ground_truth: bool = False,
    prefix: str = DEFAULT_PREFIX,
) -> pa.Table:
    """Read logged predictions as an Arrow table of the log's schema.

    Args:
        artifacts: the store the log was written to.
        endpoint: only this endpoint's records; all endpoints when None.
        start_ms: only records at or after this time (epoch ms UTC).
        end_ms: only records before this time.
        include_shadow: False leaves out shadow models' answers.
        with_ground_truth: add a ``ground_truth`` column: the latest label logged for
            each request id (JSON text), null where none was.
        prefix: the log's logical directory.

    Raises:
        InvalidParameter: a bad endpoint name, prefix or time range.
    """
    import duckdb

    from loopml.predictions import _arrow

    query = _query(prefix, endpoint, start_ms, end_ms, include_shadow, with_ground_truth)
    empty = _arrow.empty_read_table(with_ground_truth)
    with duckdb.connect() as connection, _local_copies(artifacts) as localize:
        relation = _relation(connection, artifacts, query, localize)
        if relation is None:
            return empty
        return relation.to_arrow_table().cast(empty.schema)


def read_pandas(artifacts: ArtifactStore, **filters: Any) -> pd.DataFrame:
    """:func:`read` as a pandas DataFrame (``time`` is a UTC-aware datetime column)."""
    return read(artifacts, **filters).to_pandas()


def read_duckdb(
    artifacts: ArtifactStore,
    connection: duckdb.DuckDBPyConnection,
    *,
    endpoint: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    include_shadow: bool = True,
    with_ground_truth: bool = False,
    prefix: str = DEFAULT_PREFIX,
) -> duckdb.DuckDBPyRelation:
    """:func:`read` as a DuckDB relation on ``connection``, for aggregating in SQL.

    On a local store the relation scans the parts lazily, each time it runs. On a
    remote store the rows are read into memory first (the downloaded parts do not
    outlive this call).
    """
    query = _query(prefix, endpoint, start_ms, end_ms, include_shadow, with_ground_truth)
    relation = _relation(connection, artifacts, query, _in_place(artifacts))
    if relation is not None:
        return relation
    table = read(
        artifacts,
        endpoint=endpoint,
        start_ms=start_ms,
        end_ms=end_ms,
        include_shadow=include_shadow,
        with_ground_truth=with_ground_truth,
        prefix=prefix,
    )
    return connection.from_arrow(table)


def _query(
    prefix: str,
    endpoint: str | None,
    start_ms: int | None,
    end_ms: int | None,
    include_shadow: bool,
    with_ground_truth: bool,
) -> _Query:
    for field, value in (("start_ms", start_ms), ("end_ms", end_ms)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidParameter(f"{field} must be epoch milliseconds (int), got {value!r}")
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise InvalidParameter(f"end_ms {end_ms} is before start_ms {start_ms}")
    if endpoint is not None:
        check_endpoint_name(endpoint)
    window = TimeRange(start_ms, end_ms)
    return _Query(check_prefix(prefix), endpoint, window, include_shadow, with_ground_truth)


class _Localize:
    """Maps logical paths to local files; returns None when that needs a download it can't keep."""

    def __init__(self, artifacts: ArtifactStore, download_dir: Path | None) -> None:
        self.artifacts = artifacts
        self.download_dir = download_dir

    def __call__(self, paths: list[str]) -> list[str] | None:
        local = []
        for index, path in enumerate(paths):
            found = self.artifacts.local_file(path)
            if found is None:
                if self.download_dir is None:
                    return None
                found = self.download_dir / f"{index}-{path.rsplit('/', 1)[-1]}"
                with found.open("wb") as handle:
                    for chunk in self.artifacts.iter_bytes(path):
                        handle.write(chunk)
            local.append(found.as_posix())
        return local


def _in_place(artifacts: ArtifactStore) -> _Localize:
    return _Localize(artifacts, None)


@contextmanager
def _local_copies(artifacts: ArtifactStore) -> Iterator[_Localize]:
    with tempfile.TemporaryDirectory(prefix="loopml-predictions-") as download_dir:
        yield _Localize(artifacts, Path(download_dir))


def _relation(
    connection: duckdb.DuckDBPyConnection,
    artifacts: ArtifactStore,
    query: _Query,
    localize: _Localize,
) -> duckdb.DuckDBPyRelation | None:
    """The query as a relation; None when there is nothing to read or no way to read in place."""
    parts = prediction_parts(artifacts, query.prefix, query.endpoint, query.window)
    files = localize(parts) if parts else None
    if not files:
        return None if parts else _empty_relation(connection, query)
    labels: list[str] | None = []
    if query.with_ground_truth:
        label_parts = ground_truth_parts(artifacts, query.prefix, query.endpoint)
        labels = localize(label_parts) if label_parts else []
        if labels is None:
            return None
    sql, params = query.sql(has_labels=bool(labels))
    params["files"] = files
    if labels:
        params["labels"] = labels
    return connection.sql(sql, params=params)


def _empty_relation(
    connection: duckdb.DuckDBPyConnection, query: _Query
) -> duckdb.DuckDBPyRelation:
    from loopml.predictions import _arrow

    return connection.from_arrow(_arrow.empty_read_table(query.with_ground_truth))
