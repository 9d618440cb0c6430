"""PredictionLog: what is logged is what is read, bounded memory, errors survived."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from loopml.artifacts import ArtifactStore
from loopml.core.errors import InvalidParameter, InvalidState
from loopml.predictions import PredictionLog, read

from .conftest import MIDNIGHT_MS, MakeRecord, wait_until


def test_records_logged_are_the_records_read_across_endpoints_and_dates(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    times = [MIDNIGHT_MS - 1, MIDNIGHT_MS, MIDNIGHT_MS - 5_000, MIDNIGHT_MS + 5_000]
    records = [make_record(endpoint=e, time_ms=t) for e in ("churn", "fraud") for t in times]
    with PredictionLog(artifacts, flush_interval_s=0.01) as log:
        assert all(log.log(record) for record in records)

    table = read(artifacts)
    assert sorted(table.column("request_id").to_pylist()) == sorted(r.request_id for r in records)
    assert table.column("time_ms").to_pylist() == sorted(r.time_ms for r in records)
    assert (log.written, log.dropped, log.write_errors) == (8, 0, 0)
    partitions = {entry.path.rsplit("/", 1)[0] for entry in artifacts.list_files("predictions")}
    assert partitions == {
        f"predictions/endpoint={endpoint}/date={date}"
        for endpoint in ("churn", "fraud")
        for date in ("2024-02-29", "2024-03-01")
    }


def test_a_record_reads_back_with_every_field(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    record = make_record(route="shadow:challenger", shadow=True, status=503, latency_ms=12.5)
    log = PredictionLog(artifacts)
    log.log(record)
    log.close()

    (row,) = read(artifacts).to_pylist()
    assert row["time"].timestamp() * 1000 == record.time_ms
    del row["time"]
    assert row == {field: getattr(record, field) for field in row}


def test_flush_writes_what_is_queued_without_the_thread(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    log = PredictionLog(artifacts, max_rows_per_file=2)
    for _ in range(5):
        log.log(make_record())
    assert read(artifacts).num_rows == 0

    log.flush()
    assert (read(artifacts).num_rows, log.written, log.files_written, log.queued) == (5, 5, 3, 0)


def test_a_full_queue_drops_and_counts(artifacts: ArtifactStore, make_record: MakeRecord) -> None:
    log = PredictionLog(artifacts, max_queue=3)  # not started: nothing drains the queue
    accepted = [log.log(make_record()) for _ in range(5)]

    assert accepted == [True, True, True, False, False]
    assert log.dropped == 2
    log.close()
    assert read(artifacts).num_rows == 3
    assert log.log(make_record()) is False
    assert log.dropped == 3


def test_block_when_full_waits_until_a_flush_frees_room(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    log = PredictionLog(artifacts, max_queue=2, block_when_full=True)
    log.log(make_record())
    log.log(make_record())
    results: list[bool] = []
    producer = threading.Thread(target=lambda: results.append(log.log(make_record())))
    producer.start()
    wait_until(lambda: log.waiting == 1)
    assert results == []

    log.flush()
    producer.join()
    assert results == [True]
    log.close()
    assert read(artifacts).num_rows == 3
    assert log.dropped == 0


def test_close_releases_a_blocked_producer_with_a_drop(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    log = PredictionLog(artifacts, max_queue=1, block_when_full=True)
    log.log(make_record())
    results: list[bool] = []
    producer = threading.Thread(target=lambda: results.append(log.log(make_record())))
    producer.start()
    wait_until(lambda: log.waiting == 1)

    log.close()
    producer.join()
    assert results == [False]
    assert (log.dropped, read(artifacts).num_rows) == (1, 1)


def _break(store_root: Path) -> None:
    """Make every write fail: a file where the store keeps its temp directory."""
    shutil.rmtree(store_root / "tmp", ignore_errors=True)
    store_root.mkdir(parents=True, exist_ok=True)
    (store_root / "tmp").write_bytes(b"")


def test_a_write_error_is_counted_and_the_records_are_written_later(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    root = tmp_path / "artifacts"
    artifacts = ArtifactStore(str(root))
    _break(root)
    log = PredictionLog(artifacts, max_rows_per_file=3)
    records = [make_record() for _ in range(5)]
    for record in records:
        log.log(record)

    with pytest.raises(OSError, match="tmp"):
        log.flush()
    assert (log.write_errors, log.written, log.queued) == (2, 0, 5)

    (root / "tmp").unlink()
    log.flush()
    assert (log.written, log.queued) == (5, 0)
    ids = read(artifacts).column("request_id").to_pylist()
    assert sorted(ids) == sorted(r.request_id for r in records)


def test_the_writer_thread_survives_write_errors(tmp_path: Path, make_record: MakeRecord) -> None:
    root = tmp_path / "artifacts"
    artifacts = ArtifactStore(str(root))
    _break(root)
    log = PredictionLog(artifacts, flush_interval_s=0.01).start()
    log.log(make_record())
    wait_until(lambda: log.write_errors >= 2)

    (root / "tmp").unlink()
    log.log(make_record())
    wait_until(lambda: log.written == 2)
    log.close()
    assert read(artifacts).num_rows == 2


def test_records_kept_for_a_retry_count_against_the_bound(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    root = tmp_path / "artifacts"
    _break(root)
    log = PredictionLog(ArtifactStore(str(root)), max_queue=2)
    log.log(make_record())
    log.log(make_record())
    with pytest.raises(OSError, match="tmp"):
        log.flush()

    assert log.log(make_record()) is False
    assert (log.queued, log.dropped) == (2, 1)


def test_eight_threads_logging_concurrently_lose_nothing(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    threads_count, per_thread = 8, 2_000
    start = threading.Barrier(threads_count)
    log = PredictionLog(artifacts, flush_interval_s=0.01).start()

    def produce(thread_index: int) -> None:
        start.wait()
        for i in range(per_thread):
            log.log(make_record(request_id=f"t{thread_index}-{i}"))

    threads = [threading.Thread(target=produce, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()

    ids = read(artifacts).column("request_id").to_pylist()
    assert len(ids) == len(set(ids)) == threads_count * per_thread
    assert (log.written, log.dropped) == (threads_count * per_thread, 0)


def test_records_with_a_bad_endpoint_or_types_are_rejected_not_raised(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    log = PredictionLog(artifacts)
    assert log.log(make_record(endpoint="../escape"))
    assert log.log(make_record(endpoint="churn", model_version="three"))
    assert log.log(make_record(time_ms=10**18))  # past year 9999: no date partition
    assert log.log(make_record(time_ms="yesterday"))
    assert log.log(make_record(endpoint="churn"))
    log.close()

    assert (log.rejected, log.written, log.queued, log.write_errors) == (4, 1, 0, 0)
    assert read(artifacts).num_rows == 1
    assert not artifacts.exists("escape")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("flush_interval_s", 0, "flush_interval_s must be positive"),
        ("max_queue", -1, "max_queue must be positive"),
        ("max_rows_per_file", 0, "max_rows_per_file must be positive"),
        ("prefix", "../up", "prefix"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    artifacts: ArtifactStore, field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        PredictionLog(artifacts, **{field: value})


def test_a_closed_log_cannot_start_again(artifacts: ArtifactStore) -> None:
    log = PredictionLog(artifacts)
    log.close()
    with pytest.raises(InvalidState, match="closed"):
        log.start()
