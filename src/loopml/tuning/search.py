"""``loopml.tune``: hyperparameter search with Optuna, every trial a tracked run.

The calling process owns the search: it asks Optuna for each trial (so the
sampler sees every finished trial, whichever worker ran it), records the
trial's run, hands the trial to an executor and tells Optuna how it ended. The
study lives in Optuna's journal in our metadata database
(:mod:`loopml.tuning.journal`), which is what lets workers elsewhere report
intermediate values and the pruner compare them across trials.

``tune`` is a plain function returning plain data (``TuningResult.to_dict()``),
so a pipeline step can wrap it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter, InvalidState
from loopml.tracking.entities import RunStatus
from loopml.tracking.validation import check_key
from loopml.tuning.entities import JournalSpec, TrialRecord, TuningResult
from loopml.tuning.executors import Executor, open_executor, running
from loopml.tuning.recording import TuningRecorder
from loopml.tuning.settings import TuneSettings, build_pruner, check_settings
from loopml.tuning.space import SearchSpace, parse_space
from loopml.tuning.trials import (
    TrialOutcome,
    TrialTask,
    WorkerSetup,
    failed,
    objective_takes_trial,
)

if TYPE_CHECKING:
    import optuna

    from loopml.client import Client
    from loopml.store.database import Database


def tune(
    objective: Callable[..., Any],
    space: Mapping[str, Any] | Callable[[optuna.Trial], Mapping[str, Any]],
    n_trials: int,
    *,
    sampler: Any = "tpe",
    pruner: Any = "median",
    executor: str = "process",
    parallelism: int = 1,
    direction: str = "maximize",
    experiment: str | None = None,
    study_name: str | None = None,
    timeout_s: float | None = None,
    seed: int | None = None,
    metric: str = "score",
    ray_address: str | None = None,
    client: Client | None = None,
) -> TuningResult:
    """Search ``space`` for the parameters that make ``objective`` score best.

    Example::

        def objective(params, trial):
            model = SVC(**params)
            return cross_val_score(model, X, y, cv=5).mean()

        result = loopml.tune(
            objective,
            {"C": ("float", 0.1, 1000, "log"), "gamma": ("float", 1e-6, 1e-2, "log")},
            n_trials=30,
            parallelism=2,
        )
        result.best_params, result.best_value, result.parent_run_id

    Args:
        objective: ``objective(params)`` or ``objective(params, trial)``; returns the
            score, or ``{"score": ..., "model": ..., "metrics": {...}}``. With a
            ``trial`` it may call ``trial.report(step, value)``, which raises
            :class:`~loopml.tuning.TrialPruned` when the pruner stops the trial.
        space: the search space (see :mod:`loopml.tuning.space`) or Optuna's
            ``define(trial) -> dict``.
        n_trials: how many trials to run (at most; ``timeout_s`` may stop sooner).
        sampler: ``tpe``, ``random``, ``cmaes`` or an Optuna sampler.
        pruner: ``median``, ``hyperband``, ``successive_halving``, ``none`` or an
            Optuna pruner.
        executor: ``process`` (worker processes), ``inline`` (this process) or ``ray``.
        parallelism: trials running at once (1 for ``inline``).
        direction: ``maximize`` or ``minimize``.
        experiment: where the runs go; the active run's experiment (the tuning run
            nested under it) or Default when None.
        study_name: the Optuna study; reusing a name continues that study (its
            earlier trials inform the sampler). A fresh name when None.
        timeout_s: no new trial starts after this many seconds; running ones finish.
        seed: seeds a named sampler, for repeatable searches.
        metric: the key the score is logged under on each trial's run.
        ray_address: the Ray cluster for ``executor="ray"`` (else
            ``LOOPML_RAY_ADDRESS``, else a local Ray started for this call).
        client: the tracking client; ``loopml.get_client()`` when None.

    Returns:
        The best trial, the parent run and every trial; ``to_dict()`` is JSON-able.

    Raises:
        InvalidParameter: a bad argument, before anything runs or is written.
        InvalidState: no trial completed (the parent run is marked FAILED).
    """
    settings = check_settings(
        n_trials=n_trials,
        sampler=sampler,
        pruner=pruner,
        executor=executor,
        parallelism=parallelism,
        direction=direction,
        experiment=experiment,
        study_name=study_name,
        timeout_s=timeout_s,
        seed=seed,
        metric=metric,
        ray_address=ray_address,
    )
    search_space = parse_space(space)
    takes_trial = objective_takes_trial(objective)
    if client is None:
        import loopml

        client = loopml.get_client()
    from loopml.tuning.journal import journal_for

    journal = journal_for(client, settings.study_name)
    database = _database(client, journal)
    setup = WorkerSetup(objective, takes_trial, settings.pruner, journal)
    recorder = TuningRecorder(client, settings)
    try:
        with running(open_executor(settings, setup, database)) as pool:
            study = _open_study(settings, setup, database)
            recorder.start(search_space, journal)
            search = _Search(study, search_space, pool, recorder, settings)
            search.run()
        return _finish(recorder, settings, search)
    except BaseException as error:
        if recorder.parent_run_id and not recorder.ended:
            interrupted = isinstance(error, KeyboardInterrupt)
            recorder.end(
                RunStatus.KILLED if interrupted else RunStatus.FAILED,
                f"{type(error).__name__}: {error}",
            )
        raise


@dataclass
class _Pending:
    trial: optuna.Trial
    params: dict[str, Any]
    run_id: str
    started: float


class _Search:
    """The ask, run, tell loop; keeps at most ``capacity`` trials out."""

    def __init__(
        self,
        study: optuna.Study,
        space: SearchSpace,
        pool: Executor,
        recorder: TuningRecorder,
        settings: TuneSettings,
    ) -> None:
        self.study = study
        self.space = space
        self.pool = pool
        self.recorder = recorder
        self.settings = settings
        self.pending: dict[int, _Pending] = {}
        self.records: list[TrialRecord] = []
        self.best_value: float | None = None
        self.best_model: Any = None

    def run(self) -> None:
        settings = self.settings
        deadline = None if settings.timeout_s is None else time.monotonic() + settings.timeout_s
        asked = 0
        try:
            while True:
                while len(self.pending) < self.pool.capacity and asked < settings.n_trials:
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    self._ask()
                    asked += 1
                if not self.pending:
                    return
                for outcome in self.pool.wait():
                    self._tell(outcome)
        except BaseException:
            self._abandon()
            raise

    def _ask(self) -> None:
        from optuna.trial import TrialState

        trial = self.study.ask()
        try:
            params = self.space.sample(trial)
            for name in params:
                check_key(name, "space: parameter name")
            run_id = self.recorder.start_trial(trial.number, params)
        except BaseException:
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        self.pending[trial.number] = _Pending(trial, params, run_id, time.monotonic())
        self.pool.submit(TrialTask(trial._trial_id, trial.number, params))

    def _tell(self, outcome: TrialOutcome) -> None:
        from optuna.trial import TrialState

        pending = self.pending.pop(outcome.number)
        outcome = _checked(outcome)
        if outcome.state == "COMPLETE":
            frozen = self.study.tell(pending.trial, outcome.value, state=TrialState.COMPLETE)
        else:
            frozen = self.study.tell(pending.trial, state=TrialState[outcome.state])
        record = self.recorder.end_trial(
            pending.run_id,
            outcome,
            pending.params,
            frozen.intermediate_values,
            time.monotonic() - pending.started,
        )
        self.records.append(record)
        if (
            outcome.state == "COMPLETE"
            and outcome.value is not None
            and self._better(outcome.value)
        ):
            self.best_value, self.best_model = outcome.value, outcome.model

    def _better(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if self.settings.direction == "maximize":
            return value > self.best_value
        return value < self.best_value

    def _abandon(self) -> None:
        """Fail the trials still out, in the study and on their runs, best effort."""
        from optuna.trial import TrialState

        for pending in self.pending.values():
            try:
                self.study.tell(pending.trial, state=TrialState.FAIL, skip_if_finished=True)
                self.recorder.kill_trial(pending.run_id)
            except Exception:  # noqa: S112 - already failing; keep closing the others
                continue
        self.pending.clear()


def _checked(outcome: TrialOutcome) -> TrialOutcome:
    """``outcome``, or a FAIL naming the first extra metric whose key cannot be logged."""
    for key in outcome.metrics:
        try:
            check_key(key, "the objective's metrics key")
        except InvalidParameter as error:
            return failed(outcome.number, error)
    return outcome


def _finish(recorder: TuningRecorder, settings: TuneSettings, search: _Search) -> TuningResult:
    trials = tuple(sorted(search.records, key=lambda record: record.number))
    complete = [t for t in trials if t.state == "COMPLETE" and t.value is not None]
    if not complete:
        first_error = next((t.error for t in trials if t.error), None)
        message = (
            f"no trial of study {settings.study_name!r} completed "
            f"({len(trials)} ran; see run {recorder.parent_run_id})"
            + (f"; first error: {first_error}" if first_error else "")
        )
        recorder.end(RunStatus.FAILED, message)
        raise InvalidState(message)
    pick = max if settings.direction == "maximize" else min
    best = pick(complete, key=lambda t: t.value if t.value is not None else math.nan)
    model_path = recorder.log_model(search.best_model) if search.best_model is not None else None
    assert best.value is not None
    result = TuningResult(
        study_name=settings.study_name,
        parent_run_id=recorder.parent_run_id,
        direction=settings.direction,
        metric=settings.metric,
        best_params=dict(best.params),
        best_value=best.value,
        best_trial_number=best.number,
        best_run_id=best.run_id,
        trials=trials,
        model_artifact_path=model_path,
        best_model=search.best_model,
    )
    recorder.finish(result)
    return result


def _open_study(
    settings: TuneSettings, setup: WorkerSetup, database: Database | None
) -> optuna.Study:
    """Create the study in its journal, or continue the one of that name."""
    import optuna
    from optuna.storages.journal import JournalStorage

    from loopml.tuning.journal import open_backend

    study = optuna.create_study(
        storage=JournalStorage(open_backend(setup.journal, database)),
        study_name=settings.study_name,
        direction=settings.direction,
        sampler=settings.build_sampler(),
        pruner=build_pruner(settings.pruner),
        load_if_exists=True,
    )
    existing = study.direction.name.lower()
    if existing != settings.direction:
        raise InvalidParameter(
            f"study_name {settings.study_name!r} exists with direction {existing}; "
            f"direction {settings.direction!r} disagrees"
        )
    return study


def _database(client: Any, journal: JournalSpec) -> Database | None:
    """The client's open database when the journal lives there (shares its engine)."""
    from loopml.store.database import Database

    db = getattr(getattr(client, "store", None), "db", None)
    return db if isinstance(db, Database) and journal.kind == "database" else None
