"""The ``process`` executor: N spawned worker processes, one trial each at a time.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: when one of its
workers dies the whole pool breaks and every trial in flight fails with it. Here
each worker has its own pipe, and the caller waits on the pipes and the
processes' sentinels together, so a worker that dies (killed, out of memory,
``os._exit`` in the objective) fails exactly the trial it was running; a new
worker takes its place and the search goes on.

Workers are started with ``spawn`` (no inherited threads or database
connections) and receive the objective once, pickled with cloudpickle, so an
objective defined in ``__main__``, a notebook or a test module works. As with
any ``spawn``-based pool, a script that calls ``tune`` needs an
``if __name__ == "__main__":`` guard. Workers are not daemons, so an objective
may start processes of its own (``n_jobs``); each exits when its pipe closes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

from loopml.tuning.executors import StudyCache
from loopml.tuning.trials import (
    TrialOutcome,
    TrialTask,
    WorkerSetup,
    decode,
    died,
    encode_outcome,
    encode_setup,
    failed,
)

JOIN_TIMEOUT_S = 5.0


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    task: TrialTask | None = None


class ProcessExecutor:
    """Trials in ``capacity`` worker processes; a dead worker fails only its own trial."""

    def __init__(self, setup: WorkerSetup, capacity: int) -> None:
        self.capacity = capacity
        self._setup = setup
        self._setup_bytes = b""
        self._workers: list[_Worker] = []
        self._context = multiprocessing.get_context("spawn")

    def start(self) -> None:
        self._setup_bytes = encode_setup(self._setup)
        for _ in range(self.capacity):
            self._workers.append(self._spawn())

    def submit(self, task: TrialTask) -> None:
        worker = next(w for w in self._workers if w.task is None)
        try:
            worker.conn.send_bytes(pickle.dumps(task))
        except OSError:  # it died while idle: its replacement takes the task
            self._replace(worker)
            worker = next(w for w in self._workers if w.task is None)
            worker.conn.send_bytes(pickle.dumps(task))
        worker.task = task

    def wait(self) -> list[TrialOutcome]:
        busy = [w for w in self._workers if w.task is not None]
        ready = set(wait([w.conn for w in busy] + [w.process.sentinel for w in busy]))
        outcomes: list[TrialOutcome] = []
        for worker in busy:
            if worker.conn in ready or worker.process.sentinel in ready:
                outcomes.append(self._collect(worker))
        return outcomes

    def close(self) -> None:
        """Tell idle workers to exit, all at once, then make sure every one has."""
        for worker in self._workers:
            if worker.task is None:
                with contextlib.suppress(OSError):
                    worker.conn.send_bytes(pickle.dumps(None))
        for worker in self._workers:
            self._stop(worker)
        self._workers.clear()

    def _collect(self, worker: _Worker) -> TrialOutcome:
        """The worker's answer, or a FAIL outcome (and a new worker) when it died."""
        task = worker.task
        assert task is not None
        worker.task = None
        try:
            if worker.conn.poll():
                outcome: TrialOutcome = decode(worker.conn.recv_bytes())
                if not worker.process.is_alive():
                    self._replace(worker)
                return outcome
        except (EOFError, OSError):
            pass
        worker.process.join(JOIN_TIMEOUT_S)
        code = worker.process.exitcode
        self._replace(worker)
        return died(
            task.number,
            f"worker process {worker.process.pid} died (exit code {code}) while running "
            f"trial {task.number}",
        )

    def _replace(self, worker: _Worker) -> None:
        self._stop(worker)
        self._workers[self._workers.index(worker)] = self._spawn()

    def _spawn(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=serve, args=(theirs, self._setup_bytes), name="loopml-tune-worker"
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    @staticmethod
    def _stop(worker: _Worker) -> None:
        """Wait for an idle worker told to exit; stop a busy or unresponsive one."""
        if worker.task is None:
            worker.process.join(JOIN_TIMEOUT_S)
        if worker.process.is_alive():
            worker.process.terminate()
            worker.process.join(JOIN_TIMEOUT_S)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def serve(conn: Connection, setup_bytes: bytes) -> None:
    """A worker's life: load the setup once, then run trials until told to stop.

    A setup that cannot be loaded here (the objective's module is not importable in
    a fresh interpreter) fails every trial with that error rather than the worker,
    so the caller reports it instead of restarting workers.
    """
    try:
        cache: StudyCache | None = StudyCache(decode(setup_bytes))
        problem: BaseException | None = None
    except Exception as error:
        cache, problem = None, error
    try:
        while True:
            try:
                # Tasks come from the process that started this worker, over its own pipe.
                task: TrialTask | None = pickle.loads(conn.recv_bytes())  # noqa: S301
            except EOFError:
                return
            if task is None:
                return
            if cache is None:
                assert problem is not None
                outcome = failed(task.number, problem)
            else:
                outcome = cache.run(task)
            conn.send_bytes(encode_outcome(outcome))
    finally:
        if cache is not None:
            cache.close()
