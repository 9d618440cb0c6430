"""What a tuning run produced: plain frozen dataclasses, no I/O, no Optuna.

A :class:`TuningResult` is what :func:`loopml.tune` returns. Its
:meth:`TuningResult.to_dict` form is JSON-safe (non-finite numbers become
``null``, intermediate steps become ``[step, value]`` pairs) so a pipeline step
can hand it on as plain data; the best model object, when the objective
returned one, rides along as ``best_model`` but is never part of that form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TrialState = Literal["COMPLETE", "PRUNED", "FAIL"]
TRIAL_STATES: tuple[TrialState, ...] = ("COMPLETE", "PRUNED", "FAIL")
Direction = Literal["maximize", "minimize"]
DIRECTIONS: tuple[Direction, ...] = ("maximize", "minimize")


@dataclass(frozen=True)
class JournalSpec:
    """Where a study's journal lives, as plain data a worker process can open.

    ``kind`` is ``database`` (``location`` is the database URL) or ``file``
    (``location`` is the journal file, the fallback for a tracking server).
    """

    kind: str
    location: str
    journal: str

    @property
    def shared_across_machines(self) -> bool:
        return self.kind == "database" and not self.location.startswith("sqlite")

    def describe(self) -> str:
        if self.kind == "file":
            return f"file:{self.location}"
        return f"database:{self.journal}"


@dataclass(frozen=True)
class TrialRecord:
    """One trial as recorded on its child run.

    ``value`` is the objective's score for a complete trial and the last reported
    intermediate value for a pruned one (Optuna's rule); a failed trial has none and
    carries ``error`` (``"TypeName: message"``) instead.
    """

    number: int
    run_id: str
    state: TrialState
    params: Mapping[str, Any]
    value: float | None = None
    intermediate_values: Mapping[int, float] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "run_id": self.run_id,
            "state": self.state,
            "params": dict(self.params),
            "value": _finite(self.value),
            "intermediate_values": [
                [step, _finite(value)] for step, value in sorted(self.intermediate_values.items())
            ],
            "error": self.error,
            "duration_s": round(self.duration_s, 6),
        }


@dataclass(frozen=True)
class TuningResult:
    """The outcome of :func:`loopml.tune`: the best trial, the parent run and every trial.

    Attributes:
        study_name: the Optuna study (and journal) the trials were recorded in.
        parent_run_id: the tuning run; each trial is a child run of it.
        direction: ``maximize`` or ``minimize``.
        metric: the key the objective's score is logged under.
        best_params: the best complete trial's parameters (constants included).
        best_value: its score.
        best_trial_number: its number in the study.
        best_run_id: its child run.
        trials: every trial this call ran, by number.
        model_artifact_path: where the best model sits under the parent run's
            artifacts (``model``), or None when no model was returned or it was not
            in a safe format.
        best_model: the best trial's model object, if the objective returned one.
    """

    study_name: str
    parent_run_id: str
    direction: Direction
    metric: str
    best_params: Mapping[str, Any]
    best_value: float
    best_trial_number: int
    best_run_id: str
    trials: tuple[TrialRecord, ...]
    model_artifact_path: str | None = None
    best_model: Any = field(default=None, repr=False, compare=False)

    def count(self, state: TrialState) -> int:
        """How many trials ended in ``state``."""
        return sum(1 for trial in self.trials if trial.state == state)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe mapping of everything but the model object."""
        return {
            "study_name": self.study_name,
            "parent_run_id": self.parent_run_id,
            "direction": self.direction,
            "metric": self.metric,
            "best_params": dict(self.best_params),
            "best_value": _finite(self.best_value),
            "best_trial_number": self.best_trial_number,
            "best_run_id": self.best_run_id,
            "model_artifact_path": self.model_artifact_path,
            "counts": {state: self.count(state) for state in TRIAL_STATES},
            "trials": [trial.to_dict() for trial in self.trials],
        }


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
