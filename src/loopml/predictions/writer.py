"""The prediction log writer: the serving hot path hands records over and moves on.

``log(record)`` appends to a list under a lock (a few microseconds, no I/O).
One daemon thread wakes every ``flush_interval_s``, takes everything queued and
writes one Parquet part per (endpoint, UTC date), up to ``max_rows_per_file``
rows each, through ``ArtifactStore.put`` (temp file, fsync, rename), so a part
is visible whole or not at all. A crash loses at most what was queued since
the last flush; ``close()`` loses nothing.

Memory is bounded: at most ``max_queue`` records are held, counting those a
failed write keeps for its retry. A record that finds no room is dropped and
counted (``dropped``), or, with ``block_when_full``, its producer waits until a
write frees room. A write error never stops the thread: it is counted
(``write_errors``), logged, and its records are retried on the next flush.

Endpoint names come from server configuration and are checked there once
(``check_endpoint_name``). The writer checks each distinct name once more
before it becomes a directory; records with a bad name, or with values of the
wrong type, are discarded, counted (``rejected``) and logged, never raised on.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import defaultdict
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from loopml.core.errors import InvalidParameter, InvalidState, LoopmlError
from loopml.predictions.entities import PredictionRecord
from loopml.predictions.layout import (
    DEFAULT_PREFIX,
    MS_PER_DAY,
    check_endpoint_name,
    check_prefix,
    prediction_part_path,
    utc_date,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.artifacts import ArtifactStore

logger = logging.getLogger(__name__)

_live_logs: weakref.WeakSet[PredictionLog] = weakref.WeakSet()


class PredictionLog:
    """Write prediction records to Parquet parts in an artifact store, off the caller's thread.

    Args:
        artifacts: where the parts go.
        prefix: the logical directory of the log.
        flush_interval_s: how often the writer thread writes what is queued.
        max_queue: the most records held in memory (queued or awaiting a retry).
        block_when_full: wait for room instead of dropping when ``max_queue`` is reached.
        max_rows_per_file: the most rows one Parquet part holds.
    """

    def __init__(
        self,
        artifacts: ArtifactStore,
        *,
        prefix: str = DEFAULT_PREFIX,
        flush_interval_s: float = 1.0,
        max_queue: int = 100_000,
        block_when_full: bool = False,
        max_rows_per_file: int = 50_000,
    ) -> None:
        self.artifacts = artifacts
        self.prefix = check_prefix(prefix)
        self.flush_interval_s = _positive("flush_interval_s", flush_interval_s)
        self.max_queue = int(_positive("max_queue", max_queue))
        self.block_when_full = block_when_full
        self.max_rows_per_file = int(_positive("max_rows_per_file", max_rows_per_file))
        self._queue: list[PredictionRecord] = []
        self._room = threading.Condition(threading.Lock())
        self._held = 0  # records accepted and not yet written or rejected (under _room)
        self._waiting = 0
        self._closed = False
        self._dropped = 0
        self._write_lock = threading.Lock()
        self._retry: list[PredictionRecord] = []  # kept by a failed write (under _write_lock)
        self._good_endpoints: set[str] = set()
        self._written = self._files_written = self._write_errors = self._rejected = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"PredictionLog({self.artifacts!r}, prefix={self.prefix!r})"

    @property
    def dropped(self) -> int:
        """Records refused (no room, or logged after ``close``): a running total."""
        return self._dropped

    @property
    def written(self) -> int:
        """Records persisted so far."""
        return self._written

    @property
    def files_written(self) -> int:
        return self._files_written

    @property
    def write_errors(self) -> int:
        """Parts that failed to write (each is retried on the next flush)."""
        return self._write_errors

    @property
    def rejected(self) -> int:
        """Records discarded by the writer: a bad endpoint name or values of the wrong type."""
        return self._rejected

    @property
    def queued(self) -> int:
        """Records held in memory now: queued, or kept for a retry."""
        return self._held

    @property
    def waiting(self) -> int:
        """Producers blocked in ``log`` for room (``block_when_full`` only)."""
        return self._waiting

    def start(self) -> PredictionLog:
        """Start the writer thread (once); returns ``self``.

        Raises:
            InvalidState: the log is closed.
        """
        with self._room:
            if self._closed:
                raise InvalidState("the prediction log is closed; create a new one")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="loopml-predictions", daemon=True
                )
                self._thread.start()
                _live_logs.add(self)
        return self

    def log(self, record: PredictionRecord) -> bool:
        """Queue one record; O(1), no I/O, never raises on the record's values.

        Returns:
            True when queued; False when dropped (no room, or the log is closed).
        """
        with self._room:
            if self.block_when_full:
                while self._held >= self.max_queue and not self._closed:
                    self._waiting += 1
                    self._room.wait()
                    self._waiting -= 1
            if self._closed or self._held >= self.max_queue:
                self._dropped += 1
                return False
            self._queue.append(record)
            self._held += 1
            return True

    def flush(self) -> None:
        """Write everything queued now, from the caller's thread.

        Raises:
            Exception: the first write error; those records stay queued for the next flush.
        """
        error = self._flush_once()
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop taking records, stop the thread and write everything left.

        Raises:
            Exception: a write error from the last flush; ``flush()`` may be retried.
        """
        with self._room:
            self._closed = True
            self._room.notify_all()
            thread = self._thread
        self._stopping.set()
        if thread is not None:
            thread.join()
        self.flush()

    def __enter__(self) -> PredictionLog:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stopping.wait(self.flush_interval_s):
            try:
                self._flush_once()
            except Exception:  # a bug must not end the thread: the next interval retries
                logger.exception("prediction log %s: flush failed", self.prefix)

    def _flush_once(self) -> Exception | None:
        with self._write_lock:
            with self._room:
                taken, self._queue = self._queue, []
            records, self._retry = self._retry + taken, []
            if not records:
                return None
            try:
                self._retry, error = self._write(records)
            except BaseException:
                self._retry = records  # an unexpected failure loses nothing either
                raise
        return error

    def _write(
        self, records: list[PredictionRecord]
    ) -> tuple[list[PredictionRecord], Exception | None]:
        """Write ``records`` as parts; return the ones to retry and the first error."""
        retry: list[PredictionRecord] = []
        first_error: Exception | None = None
        for (endpoint, date), group in self._partition(records).items():
            for start in range(0, len(group), self.max_rows_per_file):
                chunk = group[start : start + self.max_rows_per_file]
                good, table = _encode(chunk)
                if len(good) < len(chunk):
                    self._reject(len(chunk) - len(good), f"values of the wrong type ({endpoint})")
                try:
                    self._write_part(endpoint, date, good, table)
                except Exception as error:
                    retry.extend(good)
                    self._write_errors += 1
                    first_error = first_error or error
                    logger.warning(
                        "prediction log %s: writing %d records of endpoint %r failed (%s); "
                        "kept for the next flush",
                        self.prefix,
                        len(good),
                        endpoint,
                        error,
                    )
        self._release(len(records) - len(retry))
        return retry, first_error

    def _write_part(
        self, endpoint: str, date: str, records: list[PredictionRecord], table: pa.Table
    ) -> None:
        from loopml.predictions import _arrow

        if not records:
            return
        min_time_ms = min(r.time_ms for r in records)
        path = prediction_part_path(self.prefix, endpoint, date, min_time_ms)
        self.artifacts.put(path, _arrow.parquet_bytes(table))
        self._written += len(records)
        self._files_written += 1

    def _partition(
        self, records: list[PredictionRecord]
    ) -> dict[tuple[str, str], list[PredictionRecord]]:
        """Group by (endpoint, UTC date), rejecting records that cannot name a partition."""
        groups: dict[tuple[str, str], list[PredictionRecord]] = defaultdict(list)
        dates: dict[int, str] = {}
        bad = 0
        for record in records:
            endpoint = getattr(record, "endpoint", None)
            time_ms = getattr(record, "time_ms", None)
            date = _date_of(time_ms, dates) if type(time_ms) is int else None
            if date is None or not isinstance(endpoint, str) or not self._endpoint_ok(endpoint):
                bad += 1
                continue
            groups[(endpoint, date)].append(record)
        if bad:
            self._reject(bad, "a bad endpoint name or time_ms")
        return groups

    def _endpoint_ok(self, endpoint: str) -> bool:
        if endpoint in self._good_endpoints:
            return True
        try:
            self._good_endpoints.add(check_endpoint_name(endpoint))
        except LoopmlError:
            return False
        return True

    def _reject(self, count: int, reason: str) -> None:
        self._rejected += count
        logger.warning("prediction log %s: discarded %d records: %s", self.prefix, count, reason)

    def _release(self, count: int) -> None:
        if count:
            with self._room:
                self._held -= count
                self._room.notify_all()


def _encode(chunk: Sequence[PredictionRecord]) -> tuple[list[PredictionRecord], pa.Table]:
    """The chunk as an Arrow table; records that do not fit the schema are left out."""
    from loopml.predictions import _arrow

    try:
        return list(chunk), _arrow.predictions_table(chunk)
    except Exception:  # find the bad records one by one (rare: a caller bug)
        good = [record for record in chunk if _encodes(record)]
        return good, _arrow.predictions_table(good)


def _encodes(record: PredictionRecord) -> bool:
    from loopml.predictions import _arrow

    try:
        _arrow.predictions_table([record])
    except Exception:
        return False
    return True


def _date_of(time_ms: int, known: dict[int, str]) -> str | None:
    """The UTC date of ``time_ms`` (memoised per day); None when out of the calendar's range."""
    day = time_ms // MS_PER_DAY
    if day not in known:
        try:
            known[day] = utc_date(time_ms)
        except (ValueError, OverflowError, OSError):
            return None
    return known[day]


def _positive(field: str, value: float) -> float:
    if isinstance(value, bool) or not value > 0:
        raise InvalidParameter(f"{field} must be positive, got {value!r}")
    return value


@atexit.register
def _close_all_at_exit() -> None:
    for prediction_log in list(_live_logs):
        try:
            prediction_log.close()
        except Exception:  # exiting: report, don't crash the shutdown
            logger.exception("prediction log %s: records lost at exit", prediction_log.prefix)
