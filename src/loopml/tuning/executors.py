"""Where trials run: here, in worker processes, or as Ray tasks; found by name.

An executor takes :class:`~loopml.tuning.trials.TrialTask` s and gives back one
:class:`~loopml.tuning.trials.TrialOutcome` per task, whatever happened to the
task: an objective that raised, a worker that died and a Ray task that was
lost all come back as FAIL outcomes, so the tuning loop never waits for a
trial that will not finish. Every executor runs a trial the same way
(:func:`~loopml.tuning.trials.run_trial` with a reporter over the shared
journal), so ``inline`` is also the cheap implementation the others are
checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from loopml.tuning.trials import TrialOutcome, TrialTask, WorkerSetup, run_trial

if TYPE_CHECKING:
    import optuna
    from optuna.storages.journal import BaseJournalBackend

    from loopml.store.database import Database
    from loopml.tuning.settings import TuneSettings


class Executor(Protocol):
    """Runs up to ``capacity`` trials at once."""

    capacity: int

    def start(self) -> None:
        """Start workers or connect; fails (naming the cause) before any trial runs."""

    def submit(self, task: TrialTask) -> None:
        """Start ``task``; only called while fewer than ``capacity`` tasks are out."""

    def wait(self) -> list[TrialOutcome]:
        """Block until at least one submitted task has an outcome; return those that do."""

    def close(self) -> None:
        """Stop the workers; a task still out is abandoned (its worker is stopped)."""


class StudyReporter:
    """``report(step, value) -> prune?`` for one trial, opening the study on first use.

    Only trials that report intermediate values pay for loading the study from
    the journal, and a worker loads it once for all its trials.
    """

    def __init__(self, load: Callable[[], optuna.Study], trial_id: int) -> None:
        self._load = load
        self._trial_id = trial_id
        self._trial: optuna.Trial | None = None

    def __call__(self, step: int, value: float) -> bool:
        import optuna

        if self._trial is None:
            self._trial = optuna.trial.Trial(self._load(), self._trial_id)
        self._trial.report(value, step)
        return self._trial.should_prune()


class StudyCache:
    """One process's copy of the study of a setup, loaded from the journal on first use."""

    def __init__(self, setup: WorkerSetup, database: Database | None = None) -> None:
        self.setup = setup
        self._database = database
        self._backend: BaseJournalBackend | None = None
        self._study: optuna.Study | None = None

    def study(self) -> optuna.Study:
        from loopml.tuning.journal import load_study, open_backend
        from loopml.tuning.settings import build_pruner

        if self._study is None:
            self._backend = open_backend(self.setup.journal, self._database)
            pruner = build_pruner(self.setup.pruner)
            self._study = load_study(self._backend, self.setup.journal.journal, pruner)
        return self._study

    def run(self, task: TrialTask) -> TrialOutcome:
        return run_trial(self.setup, task, StudyReporter(self.study, task.trial_id))

    def close(self) -> None:
        """Release the journal's connections (a worker's own, never the caller's)."""
        from loopml.tuning.journal import close_backend

        if self._backend is not None:
            close_backend(self._backend)
        self._backend = self._study = None


class InlineExecutor:
    """Trials one at a time in this process: no pickling, tracebacks as they are."""

    capacity = 1

    def __init__(self, setup: WorkerSetup, database: Database | None = None) -> None:
        self._cache = StudyCache(setup, database)
        self._queue: list[TrialTask] = []

    def start(self) -> None:
        return None

    def submit(self, task: TrialTask) -> None:
        self._queue.append(task)

    def wait(self) -> list[TrialOutcome]:
        outcomes = [self._cache.run(task) for task in self._queue]
        self._queue.clear()
        return outcomes

    def close(self) -> None:
        self._queue.clear()
        self._cache.close()


def open_executor(
    settings: TuneSettings, setup: WorkerSetup, database: Database | None = None
) -> Executor:
    """The executor ``settings.executor`` names (already checked), not started yet."""
    if settings.executor == "process":
        from loopml.tuning._process import ProcessExecutor

        return ProcessExecutor(setup, settings.parallelism)
    if settings.executor == "ray":
        from loopml.tuning._ray import RayExecutor

        return RayExecutor(setup, settings.parallelism, settings.ray_address)
    return InlineExecutor(setup, database)


@contextmanager
def running(executor: Executor) -> Iterator[Executor]:
    """Start ``executor`` and always close it, also when starting fails half-way."""
    try:
        executor.start()
        yield executor
    finally:
        executor.close()
