"""The ``process`` executor: a pool of worker processes on this machine, one task each.

Workers come from multiprocessing's fork server: a clean single-threaded
process, started once per driver process, that has already imported this
module and the heavy libraries the driver uses (NumPy, pandas, Arrow,
scikit-learn), so a new worker is a fork that is ready in milliseconds, and
forking never copies the driver's threads or database connections. Each worker
gets the driver's environment and ``sys.path`` at its start and its own pipe.
(Where there is no fork server, workers are spawned interpreters.)

Owning the workers one by one, not through ``concurrent.futures``, is what
lets the driver kill exactly the worker whose step ran past its timeout,
notice exactly which task a dead worker held, and replace that worker while
the others keep going.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from loopml.core.errors import InvalidParameter
from loopml.pipelines.entities import ErrorInfo
from loopml.pipelines.errors import WorkerLost
from loopml.pipelines.executors import Executor, timeout_error
from loopml.pipelines.tasks import Task, TaskResult, execute

_STOP = b""


PRELOADED = ("numpy", "pandas", "pyarrow", "pyarrow.parquet", "sklearn")


def worker_main(conn: Connection, environ: dict[str, str]) -> None:
    """A worker's life: take a pickled task, run it, answer in JSON; stop on EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    os.environ.clear()  # the driver's environment now, not the fork server's at its start
    os.environ.update(environ)
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if data == _STOP:
            return
        task: Task = pickle.loads(data)  # noqa: S301  (sent by our own driver)
        conn.send_bytes(execute(task).to_json())


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: Task | None = None
    deadline: float | None = None
    used: bool = False


def dumps_task(task: Task) -> bytes:
    """Pickle a task; cloudpickle only when plain pickle cannot (classes from ``__main__``)."""
    try:
        return pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        import cloudpickle

        return bytes(cloudpickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL))


class ProcessExecutor(Executor):
    """Runs tasks in up to ``max_workers`` local processes (default: the CPU count)."""

    name = "process"

    def __init__(self, max_workers: int | None = None) -> None:
        if max_workers is not None and (type(max_workers) is not int or max_workers < 1):
            raise InvalidParameter(f"max_workers must be a whole number >= 1, got {max_workers!r}")
        self.max_workers = max_workers or os.cpu_count() or 1
        self._context: Any = worker_context()
        self._workers: list[_Worker] = []
        self._pending: deque[Task] = deque()
        self._starting: threading.Thread | None = None

    def start(self, parallelism_hint: int) -> None:
        """Start the workers the DAG can use now, in the background.

        The first start also starts the fork server (a fresh interpreter that
        imports this package): that overlaps with the driver's own start-up work
        (opening the store, creating the run) instead of coming before it.
        """
        count = min(self.max_workers, max(1, parallelism_hint))
        self._starting = threading.Thread(
            target=lambda: self._workers.extend(self._spawn() for _ in range(count)),
            name="loopml-worker-start",
            daemon=True,
        )
        self._starting.start()

    def _started(self) -> None:
        if self._starting is not None:
            self._starting.join()
            self._starting = None

    def _spawn(self) -> _Worker:
        parent, child = multiprocessing.Pipe(duplex=True)
        process = self._context.Process(
            target=worker_main, args=(child, dict(os.environ)), name="loopml-pipeline-worker"
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def submit(self, task: Task) -> None:
        self._started()
        self._pending.append(task)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._pending:
            worker = self._idle_worker()
            if worker is None:
                return
            task = self._pending.popleft()
            try:
                worker.conn.send_bytes(dumps_task(task))
            except (BrokenPipeError, OSError):
                self._retire(worker)
                self._pending.appendleft(task)
                continue
            worker.task, worker.used = task, True
            worker.deadline = time.monotonic() + task.timeout_s if task.timeout_s else None

    def _idle_worker(self) -> _Worker | None:
        for worker in self._workers:
            if worker.task is None:
                if worker.process.is_alive():
                    return worker
                self._retire(worker)
                return self._idle_worker()
        if len(self._workers) < self.max_workers:
            worker = self._spawn()
            self._workers.append(worker)
            return worker
        return None

    def poll(self, timeout_s: float | None) -> list[TaskResult]:
        self._started()
        busy = [w for w in self._workers if w.task is not None]
        if not busy:
            return []
        wait_s = _until_first_deadline(busy, timeout_s)
        handles: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(handles, wait_s))
        results = []
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                results.append(self._collect(worker))
            elif worker.deadline is not None and time.monotonic() >= worker.deadline:
                results.append(self._time_out(worker))
        self._dispatch()
        return results

    def _collect(self, worker: _Worker) -> TaskResult:
        task = worker.task
        assert task is not None
        try:
            if worker.conn.poll():
                result = TaskResult.from_json(worker.conn.recv_bytes())
                worker.task, worker.deadline = None, None
                return result
        except (EOFError, OSError):
            pass
        worker.process.join(5)
        code = worker.process.exitcode
        self._retire(worker)
        return TaskResult.failure(task.task_id, _lost(task, code))

    def _time_out(self, worker: _Worker) -> TaskResult:
        task = worker.task
        assert task is not None
        assert task.timeout_s is not None
        worker.process.kill()
        worker.process.join(5)
        self._retire(worker)
        return TaskResult.failure(task.task_id, timeout_error(task, task.timeout_s, True))

    def _retire(self, worker: _Worker) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)

    def close(self) -> None:
        self._started()
        for worker in list(self._workers):
            if not worker.used:  # still booting, perhaps: nothing to wait for
                self._retire(worker)
            elif worker.task is None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    worker.conn.send_bytes(_STOP)
        deadline = time.monotonic() + 2.0
        for worker in list(self._workers):
            if worker.task is None:
                worker.process.join(max(0.0, deadline - time.monotonic()))
            self._retire(worker)
        self._pending.clear()


def worker_context() -> BaseContext:
    """The fork server, preloaded with this module and the heavy libraries in use."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    already = list(getattr(server, "_preload_modules", None) or [])
    wanted = ["__main__", __name__, *(m for m in PRELOADED if m in sys.modules)]
    context.set_forkserver_preload(already + [m for m in wanted if m not in already])
    return context


def _until_first_deadline(busy: list[_Worker], timeout_s: float | None) -> float | None:
    deadlines = [w.deadline for w in busy if w.deadline is not None]
    if not deadlines:
        return timeout_s
    left = max(0.0, min(deadlines) - time.monotonic())
    return left if timeout_s is None else min(left, timeout_s)


def _lost(task: Task, exitcode: int | None) -> ErrorInfo:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by signal {-exitcode} ({signal.Signals(-exitcode).name})"
        except ValueError:
            how = f"killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    return ErrorInfo.of(WorkerLost(f"the worker process running step {task.unit!r} died ({how})"))
