"""The options of :func:`loopml.tune`, checked once before anything runs.

Every constraint is here, each error names the field and, for a name that is
not known, lists the known ones. Samplers and pruners are named (``tpe``,
``random``, ``cmaes``; ``median``, ``hyperband``, ``successive_halving``,
``none``) or given as Optuna objects for the options names cannot carry; a
named one is built from its name only here, so Optuna is imported only once
``tune`` is called.
"""

from __future__ import annotations

import importlib.util
import math
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter
from loopml.tracking.validation import check_experiment_name, check_key
from loopml.tuning.entities import DIRECTIONS, Direction

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
EXECUTORS = ("inline", "process", "ray")
MAX_TRIALS = 100_000
MAX_PARALLELISM = 1024
MAX_METRIC_LENGTH = 200
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


@dataclass(frozen=True)
class TuneSettings:
    """The checked options; ``sampler``/``pruner`` are names or Optuna objects."""

    n_trials: int
    sampler: Any
    pruner: Any
    executor: str
    parallelism: int
    direction: Direction
    experiment: str | None
    study_name: str
    timeout_s: float | None
    seed: int | None
    metric: str
    ray_address: str | None

    @property
    def sampler_name(self) -> str:
        return self.sampler if isinstance(self.sampler, str) else type(self.sampler).__name__

    @property
    def pruner_name(self) -> str:
        return self.pruner if isinstance(self.pruner, str) else type(self.pruner).__name__

    def build_sampler(self) -> optuna.samplers.BaseSampler:
        """The sampler the calling process asks trials with."""
        import optuna

        if not isinstance(self.sampler, str):
            sampler: optuna.samplers.BaseSampler = self.sampler
            return sampler
        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=self.seed)
        if self.sampler == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=self.seed)
        return optuna.samplers.TPESampler(seed=self.seed)


def build_pruner(pruner: Any) -> optuna.pruners.BasePruner:
    """The pruner a checked ``pruner`` option (a name or an Optuna pruner) stands for.

    Every process builds its own from the option, so a worker that never sees an
    intermediate value never imports Optuna for it.
    """
    import optuna

    if not isinstance(pruner, str):
        built: optuna.pruners.BasePruner = pruner
        return built
    by_name: dict[str, type[optuna.pruners.BasePruner]] = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
        "none": optuna.pruners.NopPruner,
    }
    return by_name[pruner]()


def check_settings(
    *,
    n_trials: object,
    sampler: object,
    pruner: object,
    executor: object,
    parallelism: object,
    direction: object,
    experiment: object,
    study_name: object,
    timeout_s: object,
    seed: object,
    metric: object,
    ray_address: object,
) -> TuneSettings:
    """Check every option of ``tune``; the first problem raises, naming its field.

    Raises:
        InvalidParameter: a value of the wrong type, out of range or not known.
    """
    checked_executor = _choice(executor, "executor", EXECUTORS)
    checked_parallelism = _count(parallelism, "parallelism", MAX_PARALLELISM)
    if checked_executor == "inline" and checked_parallelism != 1:
        raise InvalidParameter(
            f"parallelism must be 1 with executor='inline' (got {checked_parallelism}); "
            "use executor='process' or 'ray' to run trials side by side"
        )
    if checked_executor == "ray" and importlib.util.find_spec("ray") is None:
        raise InvalidParameter("executor 'ray' needs Ray: pip install 'loopml[ray]'")
    if ray_address is not None and checked_executor != "ray":
        raise InvalidParameter("ray_address applies to executor='ray' only")
    return TuneSettings(
        n_trials=_count(n_trials, "n_trials", MAX_TRIALS),
        sampler=_sampler(sampler, seed),
        pruner=_pruner(pruner),
        executor=checked_executor,
        parallelism=checked_parallelism,
        direction=_choice(direction, "direction", DIRECTIONS),  # type: ignore[arg-type]
        experiment=None if experiment is None else check_experiment_name(experiment),
        study_name=_study_name(study_name),
        timeout_s=_timeout(timeout_s),
        seed=_seed(seed),
        metric=_metric(metric),
        ray_address=_ray_address(ray_address),
    )


def _choice(value: object, field: str, known: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in known:
        raise InvalidParameter(f"{field} {value!r} is not one of {', '.join(known)}")
    return value


def _count(value: object, field: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidParameter(f"{field} must be an integer from 1 to {limit}, got {value!r}")
    return value


def _sampler(sampler: object, seed: object) -> Any:
    if isinstance(sampler, str):
        _choice(sampler, "sampler", SAMPLERS)
        if sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
            raise InvalidParameter("sampler 'cmaes' needs the cmaes package: pip install cmaes")
        return sampler
    import optuna

    if not isinstance(sampler, optuna.samplers.BaseSampler):
        raise InvalidParameter(
            f"sampler {sampler!r} is not one of {', '.join(SAMPLERS)} or an Optuna sampler"
        )
    if seed is not None:
        raise InvalidParameter("seed applies to a named sampler; seed the sampler object itself")
    return sampler


def _pruner(pruner: object) -> Any:
    if isinstance(pruner, str):
        return _choice(pruner, "pruner", PRUNERS)
    import optuna

    if not isinstance(pruner, optuna.pruners.BasePruner):
        raise InvalidParameter(
            f"pruner {pruner!r} is not one of {', '.join(PRUNERS)} or an Optuna pruner"
        )
    return pruner


def _study_name(name: object) -> str:
    if name is None:
        return f"tune-{uuid.uuid4().hex[:12]}"
    if not isinstance(name, str) or not STUDY_NAME.fullmatch(name):
        raise InvalidParameter(
            f"study_name must be 1-200 letters, digits, '.', '_' or '-' (starting with a letter "
            f"or digit), got {name!r}"
        )
    return name


def _timeout(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidParameter(f"timeout_s must be a positive number of seconds, got {value!r}")
    if not math.isfinite(value):
        raise InvalidParameter(f"timeout_s must be finite, got {value!r}")
    return float(value)


def _seed(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise InvalidParameter(f"seed must be an integer from 0 to 2**32 - 1, got {value!r}")
    return value


def _metric(value: object) -> str:
    metric = check_key(value, "metric")
    if len(metric) > MAX_METRIC_LENGTH:
        raise InvalidParameter(f"metric must be at most {MAX_METRIC_LENGTH} characters")
    return metric


def _ray_address(value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidParameter(f"ray_address must be a non-empty string, got {value!r}")
    return value
