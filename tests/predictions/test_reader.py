"""read / read_pandas / read_duckdb: filters, pruning, sorting, empty logs, remote stores."""

from __future__ import annotations

import uuid

import duckdb
import pyarrow as pa
import pytest

from loopml.artifacts import ArtifactStore
from loopml.core.errors import InvalidParameter
from loopml.predictions import PredictionLog, PredictionRecord, read, read_duckdb, read_pandas

from .conftest import MIDNIGHT_MS, MakeRecord

DAY_MS = 86_400_000


def _log_all(artifacts: ArtifactStore, records: list[PredictionRecord]) -> None:
    log = PredictionLog(artifacts)
    for record in records:
        log.log(record)
    log.close()


@pytest.fixture
def two_endpoints(artifacts: ArtifactStore, make_record: MakeRecord) -> list[PredictionRecord]:
    """Per endpoint: one record a day for three days, and a shadow answer on day two."""
    records = [
        make_record(
            request_id=f"{endpoint}-{day}", endpoint=endpoint, time_ms=MIDNIGHT_MS + day * DAY_MS
        )
        for endpoint in ("churn", "fraud")
        for day in (2, 0, 1)
    ]
    records += [
        make_record(
            request_id=f"{endpoint}-shadow",
            endpoint=endpoint,
            time_ms=MIDNIGHT_MS + DAY_MS + 1,
            route="shadow:challenger",
            shadow=True,
        )
        for endpoint in ("churn", "fraud")
    ]
    _log_all(artifacts, records)
    return records


def _ids(table: pa.Table) -> list[str]:
    ids: list[str] = table.column("request_id").to_pylist()
    return ids


@pytest.mark.usefixtures("two_endpoints")
def test_rows_come_sorted_by_time(artifacts: ArtifactStore) -> None:
    times = read(artifacts).column("time_ms").to_pylist()
    assert times == sorted(times)
    assert len(times) == 8


@pytest.mark.usefixtures("two_endpoints")
def test_filter_by_endpoint(artifacts: ArtifactStore) -> None:
    assert _ids(read(artifacts, endpoint="fraud")) == [
        "fraud-0",
        "fraud-1",
        "fraud-shadow",
        "fraud-2",
    ]
    assert read(artifacts, endpoint="unknown").num_rows == 0


@pytest.mark.usefixtures("two_endpoints")
def test_filter_by_time_range_is_start_inclusive_end_exclusive(artifacts: ArtifactStore) -> None:
    day_one = read(artifacts, start_ms=MIDNIGHT_MS + DAY_MS, end_ms=MIDNIGHT_MS + 2 * DAY_MS)
    assert sorted(_ids(day_one)) == ["churn-1", "churn-shadow", "fraud-1", "fraud-shadow"]
    assert sorted(_ids(read(artifacts, start_ms=MIDNIGHT_MS + 2 * DAY_MS))) == [
        "churn-2",
        "fraud-2",
    ]
    assert sorted(_ids(read(artifacts, end_ms=MIDNIGHT_MS + 1))) == ["churn-0", "fraud-0"]


@pytest.mark.usefixtures("two_endpoints")
def test_shadow_answers_are_left_out_when_asked(artifacts: ArtifactStore) -> None:
    table = read(artifacts, endpoint="churn", include_shadow=False)
    assert _ids(table) == ["churn-0", "churn-1", "churn-2"]
    assert not any(table.column("shadow").to_pylist())


def test_an_empty_log_reads_as_an_empty_table_of_the_schema(artifacts: ArtifactStore) -> None:
    table = read(artifacts, with_ground_truth=True)
    assert table.num_rows == 0
    assert table.schema.names[-1] == "ground_truth"
    assert "request_id" in table.schema.names


def test_read_pandas_has_utc_times(
    artifacts: ArtifactStore, two_endpoints: list[PredictionRecord]
) -> None:
    frame = read_pandas(artifacts, endpoint="churn")
    assert list(frame["request_id"]) == ["churn-0", "churn-1", "churn-shadow", "churn-2"]
    assert str(frame["time"].dt.tz) == "UTC"
    assert frame["time"].iloc[0].value // 1_000_000 == MIDNIGHT_MS


@pytest.mark.usefixtures("two_endpoints")
def test_read_duckdb_gives_a_relation_to_aggregate(artifacts: ArtifactStore) -> None:
    with duckdb.connect() as connection:
        relation = read_duckdb(artifacts, connection, include_shadow=False)
        counts = relation.aggregate("endpoint, count(*) AS n", "endpoint").order("endpoint")
        assert counts.fetchall() == [("churn", 3), ("fraud", 3)]


def test_a_remote_store_is_read_through_downloads(make_record: MakeRecord) -> None:
    remote = ArtifactStore(f"memory://loopml-tests/{uuid.uuid4().hex}")
    records = [make_record(endpoint=e) for e in ("churn", "fraud", "churn")]
    _log_all(remote, records)

    assert sorted(_ids(read(remote))) == sorted(r.request_id for r in records)
    with duckdb.connect() as connection:
        relation = read_duckdb(remote, connection, endpoint="churn")
        assert relation.aggregate("count(*)").fetchall() == [(2,)]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"endpoint": "../other"}, "endpoint"),
        ({"start_ms": 10, "end_ms": 5}, "end_ms 5 is before start_ms 10"),
        ({"start_ms": 1.5}, "start_ms must be epoch milliseconds"),
        ({"prefix": "/abs"}, "prefix"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    artifacts: ArtifactStore, filters: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        read(artifacts, **filters)
