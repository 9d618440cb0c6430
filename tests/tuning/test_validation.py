"""Bad input to ``loopml.tune`` is refused before anything runs or is written.

Each call below would otherwise run a real search; the error must name the
field, the objective must never be called, and the metadata database must not
even have been created (so no run, experiment or journal entry can exist).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import optuna
import pytest

import loopml
from loopml.client import Client
from loopml.core.errors import InvalidParameter

SPACE = {"x": ("float", 0.0, 1.0)}


def _never_called(params: dict[str, Any]) -> float:
    raise AssertionError("the objective ran although the input was bad")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampler": "grid"}, "sampler 'grid' is not one of tpe, random, cmaes"),
        ({"sampler": object()}, "is not one of tpe, random, cmaes or an Optuna sampler"),
        (
            {"pruner": "aggressive"},
            "pruner 'aggressive' is not one of median, hyperband, successive_halving, none",
        ),
        ({"pruner": 3}, "pruner 3 is not one of median"),
        ({"executor": "threads"}, "executor 'threads' is not one of inline, process, ray"),
        ({"direction": "up"}, "direction 'up' is not one of maximize, minimize"),
        ({"n_trials": 0}, "n_trials must be an integer from 1 to 100000, got 0"),
        ({"n_trials": 2.5}, "n_trials must be an integer"),
        ({"parallelism": 0}, "parallelism must be an integer from 1"),
        ({"executor": "inline", "parallelism": 2}, "parallelism must be 1 with executor='inline'"),
        ({"timeout_s": 0}, "timeout_s must be a positive number of seconds"),
        ({"timeout_s": float("inf")}, "timeout_s must be finite"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"seed": -1}, "seed must be an integer from 0"),
        ({"study_name": "../up"}, "study_name must be 1-200 letters"),
        ({"study_name": "x" * 201}, "study_name must be 1-200 letters"),
        ({"metric": ""}, "metric must be a non-empty string"),
        ({"metric": "a" * 201}, "metric must be at most 200 characters"),
        ({"experiment": ""}, "experiment name must be a non-empty string"),
        ({"ray_address": "127.0.0.1:6379"}, "ray_address applies to executor='ray' only"),
        (
            {"sampler": optuna.samplers.RandomSampler(), "seed": 1},
            "seed applies to a named sampler",
        ),
        ({"space": {"lr": ("float", 1.0, 0.0)}}, r"space\['lr'\]: low 1.0 is above high 0.0"),
        ({"space": {"k": ("categorical", [])}}, r"space\['k'\]: choices must not be empty"),
        ({"objective": 42}, "objective must be callable, got int"),
        ({"objective": lambda a, b, c: 0.0}, "objective must take the parameters"),
        ({"objective": lambda: 0.0}, "objective must take the parameters"),
        ({"objective": lambda params, *, fold: 0.0}, "objective must take the parameters"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(
    client: Client, options: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"objective": _never_called, "space": SPACE, "n_trials": 3}
    arguments.update(options)
    objective, space, n_trials = (arguments.pop(k) for k in ("objective", "space", "n_trials"))
    with pytest.raises(InvalidParameter, match=message):
        loopml.tune(objective, space, n_trials, client=client, **arguments)
    assert _nothing_written(client)


def test_an_unreachable_ray_address_is_named_before_anything_runs(client: Client) -> None:
    """Nothing listens on port 1; ``ray.init`` alone would wait minutes to say so."""
    with pytest.raises(InvalidParameter, match=r"ray_address '127.0.0.1:1' is not reachable"):
        loopml.tune(
            _never_called, SPACE, 2, executor="ray", ray_address="127.0.0.1:1", client=client
        )
    assert _nothing_written(client)


def test_a_malformed_ray_address_is_named(client: Client) -> None:
    with pytest.raises(InvalidParameter, match="ray_address 'nowhere' must be host:port"):
        loopml.tune(_never_called, SPACE, 2, executor="ray", ray_address="nowhere", client=client)


def test_an_objective_that_cannot_reach_worker_processes_is_refused(client: Client) -> None:
    lock = threading.Lock()

    def holds_a_lock(params: dict[str, Any]) -> float:
        with lock:
            return float(params["x"])

    with pytest.raises(InvalidParameter, match="objective cannot be sent to worker processes"):
        loopml.tune(holds_a_lock, SPACE, 2, executor="process", client=client)
    assert _nothing_written(client)


def test_the_cmaes_sampler_needs_its_package(client: Client) -> None:
    if importlib.util.find_spec("cmaes") is not None:
        result = loopml.tune(
            lambda params: -((params["x"] - 0.3) ** 2),
            SPACE,
            4,
            sampler="cmaes",
            executor="inline",
            client=client,
        )
        assert result.count("COMPLETE") == 4
        return
    with pytest.raises(InvalidParameter, match="sampler 'cmaes' needs the cmaes package"):
        loopml.tune(_never_called, SPACE, 2, sampler="cmaes", client=client)
    assert _nothing_written(client)


def _nothing_written(client: Client) -> bool:
    return not Path(client.settings.home, "loopml.db").exists()


def test_importing_loopml_imports_neither_optuna_nor_ray() -> None:
    """The SDK stays light: Optuna and Ray load when ``tune`` runs, not on import."""
    code = (
        "import sys, loopml, loopml.tuning\n"
        "from loopml import tune\n"
        "from loopml.tuning import TuningResult, TrialPruned, parse_space\n"
        "import loopml.tuning._process, loopml.tuning.executors\n"
        "heavy = sorted(m for m in ('optuna', 'ray') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_public_names_are_sorted_and_all_resolve() -> None:
    import loopml.tuning as tuning

    assert tuning.__all__ == sorted(tuning.__all__)
    for name in tuning.__all__:
        assert getattr(tuning, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = tuning.nothing
