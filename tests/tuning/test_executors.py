"""Trials in worker processes and on Ray find a better configuration than the defaults.

A real search on data scikit-learn ships: an RBF support-vector classifier on
the breast-cancer set, scored by 5-fold cross-validation. Its defaults
(``C=1``, ``gamma="scale"``) score about 0.91 on these unscaled features;
searching ``C`` and ``gamma`` on log scales finds about 0.95. Each trial is a
child run of the tuning run, and the best model is logged on the parent.

A worker that dies mid-trial (``os._exit``) fails that trial only: the search
goes on, in a new worker process or Ray task.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import cross_val_score
from sklearn.svm import SVC

from loopml.client import Client
from loopml.tracking.entities import Run
from loopml.tuning import TrialHandle, TuningResult, tune

TrialRuns = Callable[[str], dict[int, Run]]
SPACE: dict[str, Any] = {
    "C": ("float", 0.1, 1000.0, "log"),
    "gamma": ("float", 1e-6, 1e-2, "log"),
}
TRIALS = 10


def cv_score(params: dict[str, Any]) -> float:
    """5-fold cross-validated accuracy of an SVC with ``params``."""
    x, y = load_breast_cancer(return_X_y=True)
    return float(cross_val_score(SVC(**params), x, y, cv=5).mean())


def svc_objective(params: dict[str, Any]) -> dict[str, Any]:
    """The score, and the model fitted on all rows (logged on the parent run when best)."""
    x, y = load_breast_cancer(return_X_y=True)
    return {"score": cv_score(params), "model": SVC(**params).fit(x, y)}


@pytest.fixture(scope="module")
def default_score() -> float:
    x, y = load_breast_cancer(return_X_y=True)
    return float(cross_val_score(SVC(), x, y, cv=5).mean())


def _check_better_than_default(
    result: TuningResult, default_score: float, client: Client, trial_runs: TrialRuns
) -> None:
    print(f"default {default_score:.4f} -> best {result.best_value:.4f} {result.best_params}")
    assert result.best_value > default_score + 0.01
    assert cv_score(dict(result.best_params)) == pytest.approx(result.best_value)
    runs = trial_runs(result.parent_run_id)
    assert sorted(runs) == list(range(TRIALS))
    best = runs[result.best_trial_number]
    assert best.info.run_id == result.best_run_id
    assert float(best.data.params["C"]) == result.best_params["C"]
    assert isinstance(result.best_model, SVC)
    files = {f.path for f in client.list_artifacts(result.parent_run_id, "model")}
    assert "model/loopml-model.json" in files
    assert {run.data.tags["loopml.tuning.state"] for run in runs.values()} == {"COMPLETE"}
    assert {run.info.status for run in runs.values()} == {"FINISHED"}


def dies_on_trial_one(params: dict[str, Any], trial: TrialHandle) -> float:
    if trial.number == 1:
        os._exit(17)  # as if killed: no answer, no exception, the process is gone
    return float(params["x"])


def _check_only_the_dead_trial_failed(
    result: TuningResult, trial_runs: TrialRuns, message: str
) -> None:
    assert {t.number: t.state for t in result.trials} == {
        0: "COMPLETE",
        1: "FAIL",
        2: "COMPLETE",
        3: "COMPLETE",
    }
    died = trial_runs(result.parent_run_id)[1]
    assert died.info.status == "FAILED"
    assert message in died.data.tags["loopml.tuning.error"]


def test_worker_processes_find_a_better_svc_than_the_default(
    client: Client, trial_runs: TrialRuns, default_score: float
) -> None:
    result = tune(
        svc_objective, SPACE, TRIALS, executor="process", parallelism=2, seed=0, client=client
    )
    _check_better_than_default(result, default_score, client, trial_runs)
    assert client.get_run(result.parent_run_id).data.tags["loopml.tuning.executor"] == "process"


def test_a_worker_that_dies_fails_its_trial_and_the_search_goes_on(
    client: Client, trial_runs: TrialRuns
) -> None:
    result = tune(
        dies_on_trial_one,
        {"x": ("float", 0.0, 1.0)},
        4,
        executor="process",
        parallelism=2,
        sampler="random",
        client=client,
    )
    _check_only_the_dead_trial_failed(
        result, trial_runs, "died (exit code 17) while running trial 1"
    )


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A private local Ray (never a cluster already running here), shut down afterwards."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_ray_tasks_find_a_better_svc_than_the_default(
    client: Client, trial_runs: TrialRuns, default_score: float
) -> None:
    result = tune(
        svc_objective, SPACE, TRIALS, executor="ray", parallelism=2, seed=0, client=client
    )
    _check_better_than_default(result, default_score, client, trial_runs)
    assert client.get_run(result.parent_run_id).data.tags["loopml.tuning.executor"] == "ray"


@pytest.mark.slow
@pytest.mark.usefixtures("local_ray")
def test_a_ray_task_that_dies_fails_its_trial_and_the_search_goes_on(
    client: Client, trial_runs: TrialRuns
) -> None:
    result = tune(
        dies_on_trial_one,
        {"x": ("float", 0.0, 1.0)},
        4,
        executor="ray",
        parallelism=2,
        sampler="random",
        client=client,
    )
    _check_only_the_dead_trial_failed(result, trial_runs, "the Ray task of trial 1 was lost")
