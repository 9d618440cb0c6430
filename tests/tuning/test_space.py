"""The search-space format: what it accepts, what Optuna samples from it, what it refuses."""

from __future__ import annotations

import json
from typing import Any

import optuna
import pytest

from loopml.core.errors import InvalidParameter
from loopml.tuning import parse_space

SPACE: dict[str, Any] = {
    "max_depth": ("int", 2, 10),
    "n_estimators": ("int", 50, 500, {"step": 50}),
    "min_samples_leaf": ("int", 1, 64, "log"),
    "learning_rate": ("float", 1e-3, 0.3, "log"),
    "subsample": ["float", 0.5, 1.0],
    "dropout": ("float", 0.0, 0.5, {"step": 0.1}),
    "kernel": ("categorical", ["rbf", "linear", None]),
    "random_state": 0,
}


def _sample(space: Any, seed: int) -> dict[str, Any]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return parse_space(space).sample(study.ask())


def test_every_kind_samples_within_its_bounds_and_constants_pass_through() -> None:
    for seed in range(20):
        params = _sample(SPACE, seed)
        assert set(params) == set(SPACE)
        assert 2 <= params["max_depth"] <= 10
        assert params["n_estimators"] % 50 == 0
        assert 1 <= params["min_samples_leaf"] <= 64
        assert 1e-3 <= params["learning_rate"] <= 0.3
        assert round(params["dropout"] * 10, 9) == int(round(params["dropout"] * 10, 9))
        assert params["kernel"] in ("rbf", "linear", None)
        assert params["random_state"] == 0


def test_the_space_is_described_as_json_for_the_parent_run() -> None:
    described = json.loads(parse_space(SPACE).describe())
    assert described["learning_rate"] == ["float", 0.001, 0.3, {"log": True}]
    assert described["n_estimators"] == ["int", 50, 500, {"step": 50}]
    assert described["kernel"] == ["categorical", ["rbf", "linear", None]]
    assert described["random_state"] == 0


def test_a_define_by_run_callable_is_accepted() -> None:
    def define(trial: optuna.Trial) -> dict[str, Any]:
        depth = trial.suggest_int("depth", 1, 3)
        return {"depth": depth, "leaves": 2**depth}

    params = _sample(define, 0)
    assert params["leaves"] == 2 ** params["depth"]
    assert json.loads(parse_space(define).describe())["define"].endswith("define")


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({}, "at least one parameter"),
        ({"seed": 1}, "holds only constants"),
        ([("int", 1, 2)], "space must be a mapping"),
        ({"lr": ("normal", 0, 1)}, r"space\['lr'\]: kind 'normal' is not one of int, float"),
        ({"lr": ()}, r"space\['lr'\]: kind None"),
        ({"lr": ("float", 1.0, 0.1)}, r"space\['lr'\]: low 1.0 is above high 0.1"),
        ({"lr": ("float", 0.0, 1.0, "log")}, r"space\['lr'\]: a log scale needs low > 0"),
        ({"lr": ("float", 0.0, float("inf"))}, r"space\['lr'\] high must be finite"),
        ({"lr": ("float", "0", 1.0)}, r"space\['lr'\] low must be a number"),
        ({"lr": ("float", 0.0)}, r"space\['lr'\] must be \('float', low, high\[, options\]\)"),
        ({"n": ("int", 1.5, 3)}, r"space\['n'\] low must be an integer"),
        ({"n": ("int", True, 3)}, r"space\['n'\] low must be an integer"),
        ({"n": ("int", 1, 9, {"step": 0.5})}, r"space\['n'\] step must be an integer"),
        ({"n": ("int", 1, 9, {"stride": 2})}, r"unknown option 'stride'; known: log, step"),
        ({"n": ("int", 1, 9, {"step": 2, "log": True})}, "log and step cannot be combined"),
        ({"n": ("int", 1, 9, {"step": -1})}, "option step must be a positive number"),
        ({"n": ("int", 1, 9, "linear")}, "options must be 'log' or a mapping"),
        ({"k": ("categorical", [])}, r"space\['k'\]: choices must not be empty"),
        ({"k": ("categorical", "ab")}, r"space\['k'\]: choices must be a list"),
        ({"k": ("categorical", ["a", "a"])}, "choices must not repeat"),
        ({"k": ("categorical", [[1, 2]])}, r"choice \[1, 2\] is not None, a bool"),
        ({"k": ("categorical", ["a"], "b")}, r"must be \('categorical', \[choices...\]\)"),
        ({"k": {"a": 1}}, r"space\['k'\] must be a \(kind, ...\) tuple or a constant"),
        ({"bad key!": ("int", 1, 2)}, r"space\['bad key!'\] 'bad key!' may only contain"),
        ({"": ("int", 1, 2)}, "must be a non-empty string"),
    ],
)
def test_a_bad_space_is_refused_naming_the_entry(space: Any, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_space(space)


def test_a_define_callable_must_return_a_mapping() -> None:
    space = parse_space(lambda trial: [trial.suggest_int("x", 0, 1)])
    study = optuna.create_study()
    with pytest.raises(InvalidParameter, match="define callable must return a mapping"):
        space.sample(study.ask())
