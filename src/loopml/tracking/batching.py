"""Background metric batching: a training loop never waits on I/O.

``log_metric`` puts a point on a queue and returns; a daemon thread sends
points in batches of up to 1,000 (MLflow's limit) every ``interval_s`` or as
soon as a batch is full. ``flush()`` blocks until everything queued has been
written and re-raises the first error a send hit, so nothing is lost silently;
an ``atexit`` hook flushes whatever is left when the interpreter exits.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence

from loopml.tracking.entities import Metric
from loopml.tracking.validation import MAX_METRICS_PER_BATCH, check_metric

SendBatch = Callable[[str, Sequence[Metric]], None]

_live_batchers: weakref.WeakSet[MetricBatcher] = weakref.WeakSet()


class MetricBatcher:
    """Queue metric points per run and write them in batches from one thread."""

    def __init__(self, send: SendBatch, interval_s: float = 0.5) -> None:
        self._send = send
        self._interval_s = interval_s
        self._queue: queue.Queue[tuple[str, Metric] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._error: BaseException | None = None

    def add(self, run_id: str, metric: Metric) -> None:
        """Queue one point; validation happens now, so a bad point fails at the call site."""
        check_metric(metric)
        self._raise_pending_error()
        self._ensure_thread()
        self._queue.put((run_id, metric))

    def flush(self) -> None:
        """Block until every queued point is written; raise the first send error."""
        if self._thread is not None:
            self._queue.join()
        self._raise_pending_error()

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name="loopml-metrics", daemon=True)
                thread.start()
                self._thread = thread
                _live_batchers.add(self)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            pending = [first]
            self._drain_into(pending)
            self._send_all([p for p in pending if p is not None])
            for _ in pending:
                self._queue.task_done()

    def _drain_into(self, pending: list[tuple[str, Metric] | None]) -> None:
        """Collect what else arrives within the interval, up to one full batch."""
        deadline = time.monotonic() + self._interval_s
        try:
            while len(pending) < MAX_METRICS_PER_BATCH:
                wait_s = max(0.0, deadline - time.monotonic())
                pending.append(self._queue.get(timeout=wait_s))
        except queue.Empty:
            return

    def _send_all(self, points: list[tuple[str, Metric]]) -> None:
        by_run: dict[str, list[Metric]] = defaultdict(list)
        for run_id, metric in points:
            by_run[run_id].append(metric)
        for run_id, metrics in by_run.items():
            try:
                self._send(run_id, metrics)
            except BaseException as error:  # kept for flush() to re-raise
                self._error = self._error or error


@atexit.register
def _flush_all_at_exit() -> None:
    for batcher in list(_live_batchers):
        try:
            batcher.flush()
        except Exception as error:  # exiting: report, don't crash the shutdown
            print(f"loopml: metrics could not be written at exit: {error}")
