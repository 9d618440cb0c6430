"""Running one trial, wherever it runs: this process, a worker process or a Ray task.

The calling process asks Optuna for a trial, samples its parameters and sends
a :class:`TrialTask` (plain data) to an executor. The executor calls
:func:`run_trial`, which calls the objective and answers a
:class:`TrialOutcome`; it never raises for the objective's errors, so the
caller always learns how each trial ended. Only intermediate values travel
through Optuna's storage from the worker, because the pruner must compare them
with the other trials' while the trial runs; everything else (the trial's run,
its state) is written by the caller, which is also what keeps a dead worker from
leaving a trial running for ever.

The objective is ``objective(params)`` or ``objective(params, trial)`` where
``trial`` is a :class:`TrialHandle`; it returns the score, or a mapping with
``score`` and optionally ``model`` (logged on the parent run when best) and
``metrics`` (more numbers for the trial's run).
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import sys
import sysconfig
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter
from loopml.tuning.entities import TrialState

if TYPE_CHECKING:
    from loopml.tuning.entities import JournalSpec

RESULT_KEYS = ("score", "model", "metrics")
MAX_ERROR_LENGTH = 4000


class TrialPruned(Exception):
    """Raised by :meth:`TrialHandle.report` when the pruner stops the trial; let it escape."""


class TrialHandle:
    """The objective's view of its trial: number, parameters and ``report``."""

    def __init__(
        self, number: int, params: Mapping[str, Any], reporter: Callable[[int, float], bool]
    ) -> None:
        self.number = number
        self.params = dict(params)
        self._reporter = reporter

    def report(self, step: int, value: float) -> None:
        """Record an intermediate value; raises :class:`TrialPruned` when the pruner says stop.

        Steps are non-negative integers, each reported once (epochs, boosting rounds,
        folds); they become the steps of the trial run's ``<metric>_intermediate``.
        """
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise InvalidParameter(f"step must be a non-negative integer, got {step!r}")
        number = _number(value)
        if number is None:
            raise InvalidParameter(f"value must be a finite number, got {value!r}")
        if self._reporter(step, number):
            raise TrialPruned(f"trial {self.number} pruned at step {step} (value {number:g})")


@dataclass(frozen=True)
class WorkerSetup:
    """What every trial of one tuning run shares: shipped once to each worker."""

    objective: Callable[..., Any]
    takes_trial: bool
    pruner: Any  # the checked option: a name, or an Optuna pruner
    journal: JournalSpec


@dataclass(frozen=True)
class TrialTask:
    trial_id: int
    number: int
    params: Mapping[str, Any]


@dataclass(frozen=True)
class TrialOutcome:
    number: int
    state: TrialState
    value: float | None = None
    model: Any = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    duration_s: float = 0.0


def objective_takes_trial(objective: object) -> bool:
    """Whether ``objective`` takes the trial handle after the params; checked up front.

    Raises:
        InvalidParameter: not callable, or it cannot be called with one or two arguments.
    """
    if not callable(objective):
        raise InvalidParameter(f"objective must be callable, got {type(objective).__name__}")
    try:
        parameters = list(inspect.signature(objective).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in parameters)
    keyword_only = [p for p in parameters if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if len(required) > 2 or keyword_only or (not positional and not varargs):
        raise InvalidParameter(
            "objective must take the parameters, and optionally the trial, as its only "
            f"required arguments: objective(params) or objective(params, trial); got {objective!r}"
        )
    return varargs or len(positional) >= 2


def run_trial(
    setup: WorkerSetup,
    task: TrialTask,
    report: Callable[[int, float], bool],
) -> TrialOutcome:
    """Call the objective for ``task``; any exception it raises becomes a FAIL outcome."""
    started = time.monotonic()
    handle = TrialHandle(task.number, task.params, report)
    try:
        args = (dict(task.params), handle) if setup.takes_trial else (dict(task.params),)
        value, model, metrics = read_result(setup.objective(*args))
    except Exception as error:
        if _is_pruned(error):
            return TrialOutcome(task.number, "PRUNED", duration_s=time.monotonic() - started)
        return failed(task.number, error, time.monotonic() - started)
    return TrialOutcome(
        task.number, "COMPLETE", value, model, metrics, duration_s=time.monotonic() - started
    )


def read_result(returned: object) -> tuple[float, Any, dict[str, float]]:
    """The score, model and metrics of what the objective returned.

    Raises:
        InvalidParameter: not a finite number, nor a mapping with a finite ``score``.
    """
    if isinstance(returned, Mapping):
        unknown = sorted(str(key) for key in returned if key not in RESULT_KEYS)
        if unknown:
            raise InvalidParameter(
                f"the objective returned unknown key {unknown[0]!r}; "
                f"known: {', '.join(RESULT_KEYS)}"
            )
        if "score" not in returned:
            raise InvalidParameter("the objective returned a mapping without 'score'")
        score = _number(returned["score"])
        if score is None:
            raise InvalidParameter(
                f"the objective's score must be finite, got {returned['score']!r}"
            )
        return score, returned.get("model"), _metrics(returned.get("metrics") or {})
    score = _number(returned)
    if score is None:
        raise InvalidParameter(
            f"the objective must return a finite number or a mapping with 'score', got {returned!r}"
        )
    return score, None, {}


def failed(number: int, error: BaseException, duration_s: float = 0.0) -> TrialOutcome:
    summary = f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH]
    trace = "".join(traceback.format_exception(error))
    return TrialOutcome(number, "FAIL", error=summary, traceback=trace, duration_s=duration_s)


def died(number: int, message: str) -> TrialOutcome:
    """The outcome of a trial whose worker went away while running it."""
    return TrialOutcome(number, "FAIL", error=message[:MAX_ERROR_LENGTH])


def encode(value: object) -> bytes:
    import cloudpickle

    data: bytes = cloudpickle.dumps(value)
    return data


def encode_setup(setup: WorkerSetup) -> bytes:
    """The setup as bytes, the objective's own module shipped by value.

    cloudpickle already ships ``__main__`` (scripts, notebooks) by value. A module
    that is not installed (a test module, a project file next to the script) is
    shipped by value too: a worker may not have it on its path (Ray workers only
    get the driver's working directory), while installed libraries it uses are
    imported there as usual.

    Raises:
        InvalidParameter: the objective (or what it holds) cannot be pickled.
    """
    import cloudpickle

    module = _own_module(setup.objective)
    if module is not None and module.__name__ in cloudpickle.list_registry_pickle_by_value():
        module = None  # registered by its owner: leave it so
    if module is not None:
        cloudpickle.register_pickle_by_value(module)
    try:
        return encode(setup)
    except Exception as error:
        raise InvalidParameter(
            f"objective cannot be sent to worker processes ({type(error).__name__}: {error}); "
            "keep unpicklable state (locks, connections, open files) out of it, or use "
            "executor='inline'"
        ) from None
    finally:
        if module is not None:
            cloudpickle.unregister_pickle_by_value(module)


def decode(data: bytes) -> Any:
    import cloudpickle

    # The bytes come from the tuning process that started this worker, never from storage.
    return cloudpickle.loads(data)


def encode_outcome(outcome: TrialOutcome) -> bytes:
    """The outcome as bytes; a model that cannot be pickled fails the trial, not the worker."""
    try:
        return encode(outcome)
    except Exception as error:
        message = f"the returned model could not be sent back: {type(error).__name__}: {error}"
        return encode(died(outcome.number, message))


def _is_pruned(error: Exception) -> bool:
    """Ours, or Optuna's (only raised by code that imported Optuna, so no import here)."""
    optuna = sys.modules.get("optuna")
    return isinstance(error, TrialPruned) or (
        optuna is not None and isinstance(error, optuna.TrialPruned)
    )


def _own_module(objective: object) -> ModuleType | None:
    """The module ``objective`` was defined in, when it is the user's code, not a library."""
    name = getattr(objective, "__module__", None) or type(objective).__module__
    module = sys.modules.get(name)
    path = getattr(module, "__file__", None)
    if module is None or name == "__main__" or path is None:
        return None
    libraries = {
        sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")
    }
    resolved = str(Path(path).resolve())
    if any(resolved.startswith(str(Path(root).resolve()) + os.sep) for root in libraries):
        return None
    return module


def _metrics(metrics: object) -> dict[str, float]:
    if not isinstance(metrics, Mapping):
        raise InvalidParameter(f"the objective's metrics must be a mapping, got {metrics!r}")
    checked: dict[str, float] = {}
    for key, value in metrics.items():
        number = _number(value)
        if number is None:
            raise InvalidParameter(f"metrics[{key!r}] must be a finite number, got {value!r}")
        checked[str(key)] = number
    return checked


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
