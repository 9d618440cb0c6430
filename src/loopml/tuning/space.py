"""The search space: a plain mapping, checked before anything runs.

Each entry maps a parameter name to a tuple whose first item is its kind::

    space = {
        "max_depth": ("int", 2, 10),                      # 2..10 inclusive
        "n_estimators": ("int", 50, 500, {"step": 50}),   # 50, 100, ..., 500
        "min_samples_leaf": ("int", 1, 64, "log"),        # log-uniform integers
        "learning_rate": ("float", 1e-3, 0.3, "log"),     # log-uniform
        "subsample": ("float", 0.5, 1.0),                 # uniform
        "dropout": ("float", 0.0, 0.5, {"step": 0.1}),    # 0.0, 0.1, ..., 0.5
        "kernel": ("categorical", ["rbf", "linear"]),     # one of the choices
        "random_state": 0,                                # a constant: never searched
    }

Bounds are inclusive. The options are ``"log"`` or a mapping with ``log``
(bool) and/or ``step`` (a positive number; not with ``log``). Choices are
``None``, booleans, numbers or strings (what Optuna can store). A constant is
any such scalar that is not a tuple: every trial receives it and it is logged
with the trial's parameters. Names follow run-parameter key rules, since each
parameter is logged on the trial's run.

Instead of a mapping, ``space`` may be Optuna's define-by-run callable,
``define(trial) -> dict``, calling ``trial.suggest_*`` itself; it runs in the
calling process when each trial is asked for, so it must be cheap.

Why a mapping first: it is data, so it is validated up front (a typo fails
before any trial runs, naming the parameter), logged on the parent run and
readable by someone who has never used Optuna.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from loopml.core.errors import InvalidParameter
from loopml.tracking.validation import check_key

if TYPE_CHECKING:
    import optuna

Kind = Literal["int", "float", "categorical"]
KINDS: tuple[Kind, ...] = ("int", "float", "categorical")
OPTION_KEYS = ("log", "step")
Scalar = None | bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter; ``low``/``high``/``log``/``step`` for numbers, ``choices`` else."""

    name: str
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None
    choices: tuple[Scalar, ...] = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(
                self.name, int(self.low), int(self.high), step=step, log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def describe(self) -> list[Any]:
        if self.kind == "categorical":
            return [self.kind, list(self.choices)]
        options: dict[str, Any] = {"log": True} if self.log else {}
        if self.step is not None:
            options["step"] = self.step
        return [self.kind, self.low, self.high, *([options] if options else [])]


@dataclass(frozen=True)
class SearchSpace:
    """A validated space: the searched parameters and the constants, or a define callable."""

    params: tuple[ParamSpec, ...] = ()
    constants: Mapping[str, Scalar] | None = None
    define: Callable[[optuna.Trial], Mapping[str, Any]] | None = None

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """The parameters of ``trial``: suggested through Optuna, constants added."""
        if self.define is not None:
            sampled = self.define(trial)
            if not isinstance(sampled, Mapping):
                raise InvalidParameter(
                    f"space: the define callable must return a mapping of parameters, "
                    f"got {type(sampled).__name__}"
                )
            return {str(name): value for name, value in sampled.items()}
        values = {spec.name: spec.suggest(trial) for spec in self.params}
        return {**values, **(self.constants or {})}

    def describe(self) -> str:
        """The space as JSON, for the parent run's tag (the callable's name otherwise)."""
        if self.define is not None:
            return json.dumps({"define": getattr(self.define, "__qualname__", repr(self.define))})
        described: dict[str, Any] = {spec.name: spec.describe() for spec in self.params}
        described.update(self.constants or {})
        return json.dumps(described, sort_keys=True)


def parse_space(
    space: Mapping[str, Any] | Callable[[optuna.Trial], Mapping[str, Any]],
) -> SearchSpace:
    """Check ``space`` and return it as a :class:`SearchSpace`.

    Raises:
        InvalidParameter: naming the first bad entry (``space['lr']``) and what is wrong.
    """
    if callable(space) and not isinstance(space, Mapping):
        return SearchSpace(define=space)
    if not isinstance(space, Mapping):
        raise InvalidParameter(
            f"space must be a mapping of parameter names or a define(trial) callable, "
            f"got {type(space).__name__}"
        )
    params: list[ParamSpec] = []
    constants: dict[str, Scalar] = {}
    for name, entry in space.items():
        field = f"space[{name!r}]"
        check_key(name, field)
        if isinstance(entry, tuple | list):
            params.append(_param(name, list(entry), field))
        elif _is_scalar(entry):
            constants[name] = entry
        else:
            raise InvalidParameter(
                f"{field} must be a (kind, ...) tuple or a constant (None, bool, number, str), "
                f"got {type(entry).__name__}"
            )
    if not params:
        raise InvalidParameter("space must search at least one parameter; it holds only constants")
    return SearchSpace(tuple(params), constants)


def _param(name: str, entry: list[Any], field: str) -> ParamSpec:
    if not entry or entry[0] not in KINDS:
        given = entry[0] if entry else None
        raise InvalidParameter(f"{field}: kind {given!r} is not one of {', '.join(KINDS)}")
    kind: Kind = entry[0]
    if kind == "categorical":
        if len(entry) != 2:
            raise InvalidParameter(f"{field} must be ('categorical', [choices...])")
        return ParamSpec(name, "categorical", choices=_choices(entry[1], field))
    if len(entry) not in (3, 4):
        raise InvalidParameter(f"{field} must be ({kind!r}, low, high[, options])")
    log, step = _options(entry[3] if len(entry) == 4 else None, field)
    low, high = (
        _number(entry[i], kind, f"{field} {part}") for i, part in ((1, "low"), (2, "high"))
    )
    if low > high:
        raise InvalidParameter(f"{field}: low {low!r} is above high {high!r}")
    if log and low <= 0:
        raise InvalidParameter(f"{field}: a log scale needs low > 0, got {low!r}")
    if step is not None:
        _number(step, kind, f"{field} step")
    return ParamSpec(name, kind, low, high, log, step)


def _options(options: object, field: str) -> tuple[bool, float | None]:
    if options is None:
        return False, None
    if options == "log":
        return True, None
    if not isinstance(options, Mapping):
        raise InvalidParameter(f"{field}: options must be 'log' or a mapping, got {options!r}")
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise InvalidParameter(
            f"{field}: unknown option {unknown[0]!r}; known: {', '.join(OPTION_KEYS)}"
        )
    log, step = options.get("log", False), options.get("step")
    if not isinstance(log, bool):
        raise InvalidParameter(f"{field}: option log must be true or false, got {log!r}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | float) or not step > 0:
            raise InvalidParameter(f"{field}: option step must be a positive number, got {step!r}")
        if log:
            raise InvalidParameter(f"{field}: options log and step cannot be combined")
    return log, step


def _number(value: object, kind: str, field: str) -> float:
    allowed: tuple[type, ...] = (int,) if kind == "int" else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        wanted = "an integer" if kind == "int" else "a number"
        raise InvalidParameter(f"{field} must be {wanted}, got {value!r}")
    if isinstance(value, int):
        return value
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise InvalidParameter(f"{field} must be finite, got {value!r}")
    return number


def _choices(choices: object, field: str) -> tuple[Scalar, ...]:
    if isinstance(choices, str | bytes) or not isinstance(choices, tuple | list):
        raise InvalidParameter(f"{field}: choices must be a list, got {choices!r}")
    if not choices:
        raise InvalidParameter(f"{field}: choices must not be empty")
    for choice in choices:
        if not _is_scalar(choice):
            raise InvalidParameter(
                f"{field}: choice {choice!r} is not None, a bool, a number or a string"
            )
    if len({(type(c), c) for c in choices}) != len(choices):
        raise InvalidParameter(f"{field}: choices must not repeat")
    return tuple(choices)


def _is_scalar(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, bool | int | str)
