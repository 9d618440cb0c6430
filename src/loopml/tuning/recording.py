"""How a tuning run is recorded: one parent run, one child run per trial.

Only the calling process writes runs, so a worker that dies cannot leave a run
open and the rules are written once:

* The parent run is tagged with the study, sampler, pruner, executor, direction,
  journal and search space; nested under the caller's active run when there is
  one (same client).
* A trial's run (tag ``mlflow.parentRunId``) is created when the trial is handed
  to a worker, with its parameters; when it ends it gets the score as metric
  ``<metric>``, every intermediate value as ``<metric>_intermediate`` at its step,
  the objective's extra metrics, the tag ``loopml.tuning.state`` (COMPLETE,
  PRUNED, FAIL) and a status: FINISHED, KILLED for pruned (stopped early on
  purpose), FAILED with the error as the ``loopml.tuning.error`` tag and the
  traceback as ``error.txt``.
* At the end the parent gets the best trial's parameters as its own params,
  ``best_<metric>``, the counts per state, ``tuning/result.json`` and, when the
  objective returned a model in a safe format, the model under ``model/``.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.core.clock import now_ms
from loopml.tracking.entities import Metric, Param, RunStatus, RunTag
from loopml.tracking.fluent import PARENT_RUN_TAG, active_run
from loopml.tracking.validation import MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH
from loopml.tuning.entities import JournalSpec, TrialRecord, TuningResult
from loopml.tuning.settings import TuneSettings
from loopml.tuning.space import SearchSpace
from loopml.tuning.trials import TrialOutcome

TAG = "loopml.tuning."
STATUS = {"COMPLETE": RunStatus.FINISHED, "PRUNED": RunStatus.KILLED, "FAIL": RunStatus.FAILED}
BATCH = 100


class TuningRecorder:
    """Writes the parent run and the trials' runs through a tracking client."""

    def __init__(self, client: Any, settings: TuneSettings) -> None:
        self.client = client
        self.settings = settings
        self.parent_run_id = ""
        self.ended = False
        self._experiment_id = "0"

    def start(self, space: SearchSpace, journal: JournalSpec) -> str:
        """Create the parent run; returns its id."""
        settings = self.settings
        tags = {
            f"{TAG}study": settings.study_name,
            f"{TAG}sampler": settings.sampler_name,
            f"{TAG}pruner": settings.pruner_name,
            f"{TAG}executor": settings.executor,
            f"{TAG}parallelism": str(settings.parallelism),
            f"{TAG}n_trials": str(settings.n_trials),
            f"{TAG}direction": settings.direction,
            f"{TAG}metric": settings.metric,
            f"{TAG}journal": journal.describe(),
            f"{TAG}space": space.describe()[:MAX_TAG_VALUE_LENGTH],
        }
        active = active_run()
        nested = active is not None and active.client is self.client
        if nested and settings.experiment is None:
            assert active is not None
            tags[PARENT_RUN_TAG] = active.run_id
            self._experiment_id = active.info.experiment_id
        else:
            self._experiment_id = _experiment_id(self.client, settings.experiment)
        from loopml.tracking.context import run_context_tags

        run = self.client.create_run(
            self._experiment_id,
            tags={**run_context_tags(), **tags},
            run_name=settings.study_name,
        )
        self.parent_run_id = run.info.run_id
        return self.parent_run_id

    def start_trial(self, number: int, params: Mapping[str, Any]) -> str:
        """Create the trial's run with its parameters; returns its id."""
        tags = {
            PARENT_RUN_TAG: self.parent_run_id,
            f"{TAG}study": self.settings.study_name,
            f"{TAG}trial": str(number),
        }
        run = self.client.create_run(self._experiment_id, tags=tags, run_name=f"trial-{number}")
        self._log(run.info.run_id, params=_params(params))
        return str(run.info.run_id)

    def end_trial(
        self,
        run_id: str,
        outcome: TrialOutcome,
        params: Mapping[str, Any],
        intermediate: Mapping[int, float],
        duration_s: float,
    ) -> TrialRecord:
        """Record how the trial ended and close its run."""
        stamp, metric = now_ms(), self.settings.metric
        metrics = [
            Metric(f"{metric}_intermediate", value, stamp, step)
            for step, value in sorted(intermediate.items())
        ]
        metrics += [Metric(key, value, stamp, 0) for key, value in outcome.metrics.items()]
        value = outcome.value
        if outcome.state == "COMPLETE" and value is not None:
            metrics.append(Metric(metric, value, stamp, 0))
        elif outcome.state == "PRUNED" and intermediate:
            value = intermediate[max(intermediate)]
        tags = [RunTag(f"{TAG}state", outcome.state)]
        if outcome.error:
            tags.append(RunTag(f"{TAG}error", outcome.error[:MAX_TAG_VALUE_LENGTH]))
        self._log(run_id, metrics=metrics, tags=tags)
        if outcome.traceback:
            self.client.log_artifact_bytes(run_id, outcome.traceback.encode(), "error.txt")
        self.client.update_run(run_id, status=STATUS[outcome.state].value, end_time=now_ms())
        return TrialRecord(
            outcome.number,
            run_id,
            outcome.state,
            dict(params),
            value,
            dict(intermediate),
            outcome.error,
            duration_s,
        )

    def kill_trial(self, run_id: str) -> None:
        """Close the run of a trial that was abandoned (the tuning run was interrupted)."""
        self._log(run_id, tags=[RunTag(f"{TAG}state", "FAIL")])
        self.client.update_run(run_id, status=RunStatus.KILLED.value, end_time=now_ms())

    def finish(self, result: TuningResult) -> None:
        """Log the best trial and the counts on the parent run and end it FINISHED."""
        metric = self.settings.metric
        stamp = now_ms()
        metrics = [Metric(f"best_{metric}", result.best_value, stamp, 0)]
        metrics += [
            Metric(f"trials_{state.lower()}", float(result.count(state)), stamp, 0)
            for state in ("COMPLETE", "PRUNED", "FAIL")
        ]
        tags = [
            RunTag(f"{TAG}best_run_id", result.best_run_id),
            RunTag(f"{TAG}best_trial", str(result.best_trial_number)),
        ]
        self._log(self.parent_run_id, metrics, _params(result.best_params), tags)
        data = json.dumps(result.to_dict(), indent=2, sort_keys=True).encode()
        self.client.log_artifact_bytes(self.parent_run_id, data, "tuning/result.json")
        self.end(RunStatus.FINISHED)

    def log_model(self, model: Any) -> str | None:
        """Save the best model under ``model/`` when its format runs no code on load.

        A model that ``save_model`` cannot package, or only as a pickle, is not
        logged; the tag ``loopml.tuning.model_skipped`` says why.
        """
        from loopml.core.errors import InvalidParameter
        from loopml.models import save_model

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model"
            try:
                info = save_model(model, path)
            except InvalidParameter as error:
                self._skip_model(f"not packaged: {error}")
                return None
            if info.executes_code:
                self._skip_model(
                    f"its format ({info.loader}) runs code when loaded; save it yourself "
                    "with an explicit serialization if you trust it"
                )
                return None
            self.client.log_artifact(self.parent_run_id, path, "model")
        return "model"

    def end(self, status: RunStatus, message: str | None = None) -> None:
        """End the parent run with ``status``; ``message`` (an error) becomes a tag."""
        self.ended = True
        if message:
            self._log(
                self.parent_run_id, tags=[RunTag(f"{TAG}error", message[:MAX_TAG_VALUE_LENGTH])]
            )
        self.client.update_run(self.parent_run_id, status=status.value, end_time=now_ms())

    def _skip_model(self, reason: str) -> None:
        self._log(
            self.parent_run_id, tags=[RunTag(f"{TAG}model_skipped", reason[:MAX_TAG_VALUE_LENGTH])]
        )

    def _log(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """``log_batch`` in pieces within the per-call limits."""
        for start in range(0, max(len(params), len(tags)), BATCH):
            self.client.log_batch(
                run_id, params=params[start : start + BATCH], tags=tags[start : start + BATCH]
            )
        for start in range(0, len(metrics), 1000):
            self.client.log_batch(run_id, metrics=metrics[start : start + 1000])


def _params(params: Mapping[str, Any]) -> list[Param]:
    return [Param(key, str(value)[:MAX_PARAM_VALUE_LENGTH]) for key, value in params.items()]


def _experiment_id(client: Any, name: str | None) -> str:
    if name is None:
        return "0"
    found = client.get_experiment_by_name(name)
    return str(found.experiment_id if found is not None else client.create_experiment(name))
