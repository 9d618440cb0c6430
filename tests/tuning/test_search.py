"""``loopml.tune`` in this process (``executor="inline"``): what each trial leaves behind.

Pruned trials, failed trials, the parent run's summary, the best model, nesting
and continuing a study, each read back through the tracking client as a user
(or the MLflow UI) would see them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from sklearn.linear_model import LogisticRegression

import loopml
from loopml.client import Client
from loopml.core.errors import InvalidParameter, InvalidState
from loopml.tracking.entities import Run
from loopml.tracking.fluent import start_run
from loopml.tuning import TrialHandle, TrialPruned, tune
from loopml.tuning.journal import journal_for

TrialRuns = Callable[[str], dict[int, Run]]
SPACE: dict[str, Any] = {"x": ("float", 0.0, 1.0), "offset": 1}
STEPS = 5


def learning_curve(params: dict[str, Any], trial: TrialHandle) -> float:
    """A score that grows with ``x`` at every step, so the median pruner can tell early."""
    for step in range(STEPS):
        trial.report(step, params["x"] * (step + 1))
    return float(params["x"] * STEPS + params["offset"])


def _metrics(run: Run) -> dict[str, float]:
    return {m.key: m.value for m in run.data.metrics}


def test_pruned_trials_are_marked_and_keep_their_intermediate_values(
    client: Client, trial_runs: TrialRuns
) -> None:
    result = tune(
        learning_curve, SPACE, 14, executor="inline", sampler="random", seed=3, client=client
    )
    assert result.count("PRUNED") >= 2
    assert result.count("COMPLETE") + result.count("PRUNED") == 14
    runs = trial_runs(result.parent_run_id)
    assert sorted(runs) == list(range(14))
    for record in result.trials:
        run = runs[record.number]
        history = client.get_metric_history(record.run_id, "score_intermediate").items
        steps = sorted(point.step for point in history)
        assert run.data.tags["loopml.tuning.state"] == record.state
        assert run.data.params == {"x": str(record.params["x"]), "offset": "1"}
        if record.state == "PRUNED":
            assert run.info.status == "KILLED"
            assert steps == list(range(len(steps)))
            assert len(steps) < STEPS
            assert "score" not in _metrics(run)
            assert record.value == pytest.approx(record.params["x"] * len(steps))
        else:
            assert run.info.status == "FINISHED"
            assert steps == list(range(STEPS))
            assert _metrics(run)["score"] == pytest.approx(record.value)
    assert result.best_value == max(t.value for t in result.trials if t.state == "COMPLETE")


def test_failed_trials_are_recorded_with_their_error_and_the_search_goes_on(
    client: Client, trial_runs: TrialRuns
) -> None:
    def sometimes_broken(params: dict[str, Any]) -> Any:
        if params["x"] > 0.6:
            raise ValueError(f"x={params['x']:.2f} is too large")
        if params["x"] < 0.2:
            raise TrialPruned("not worth finishing")
        return {"score": params["x"], "metrics": {"fit_time_s": 0.25}}

    result = tune(
        sometimes_broken, SPACE, 12, executor="inline", sampler="random", seed=1, client=client
    )
    assert {t.state for t in result.trials} == {"COMPLETE", "FAIL", "PRUNED"}
    runs = trial_runs(result.parent_run_id)
    for record in result.trials:
        run = runs[record.number]
        if record.state == "FAIL":
            assert run.info.status == "FAILED"
            assert run.data.tags["loopml.tuning.error"].startswith("ValueError: x=")
            assert record.error == run.data.tags["loopml.tuning.error"]
            trace = client.download_artifact(record.run_id, "error.txt").decode()
            assert "Traceback" in trace
            assert "too large" in trace
            assert record.value is None
        elif record.state == "PRUNED":
            assert run.info.status == "KILLED"
            assert record.value is None
        else:
            assert _metrics(run) == {"score": record.value, "fit_time_s": 0.25}
    assert result.best_value <= 0.6


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (math.nan, "must return a finite number or a mapping with 'score'"),
        ("0.5", "must return a finite number"),
        ({"value": 1.0}, "returned unknown key 'value'; known: score, model, metrics"),
        ({"model": None}, "returned a mapping without 'score'"),
        ({"score": 1.0, "metrics": {"bad key!": 1.0}}, "'bad key!' may only contain"),
    ],
)
def test_when_no_trial_completes_the_tuning_run_fails_naming_the_first_error(
    client: Client, returned: Any, message: str
) -> None:
    with pytest.raises(InvalidState, match=f"no trial of study .* completed .*{message}"):
        tune(lambda params: returned, SPACE, 2, executor="inline", client=client)
    (parent,) = [
        run for run in client.search_runs(["0"]).items if "mlflow.parentRunId" not in run.data.tags
    ]
    assert parent.info.status == "FAILED"
    assert "no trial" in parent.data.tags["loopml.tuning.error"]


def test_the_parent_run_holds_the_best_trial_and_the_result_is_plain_data(
    client: Client,
) -> None:
    result = tune(
        learning_curve,
        SPACE,
        6,
        executor="inline",
        pruner="none",
        seed=0,
        experiment="tuning-tests",
        study_name="curve-search",
        metric="auc",
        client=client,
    )
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["best_params"] == dict(result.best_params)
    assert as_json["counts"] == {"COMPLETE": 6, "PRUNED": 0, "FAIL": 0}
    assert len(as_json["trials"]) == 6
    parent = client.get_run(result.parent_run_id)
    experiment = client.get_experiment_by_name("tuning-tests")
    assert experiment is not None
    assert parent.info.experiment_id == experiment.experiment_id
    assert parent.info.run_name == "curve-search"
    assert parent.info.status == "FINISHED"
    assert parent.data.params == {k: str(v) for k, v in result.best_params.items()}
    assert _metrics(parent)["best_auc"] == result.best_value
    assert _metrics(parent)["trials_complete"] == 6.0
    tags = parent.data.tags
    assert tags["loopml.tuning.best_run_id"] == result.best_run_id
    assert tags["loopml.tuning.sampler"] == "tpe"
    assert tags["loopml.tuning.pruner"] == "none"
    assert tags["loopml.tuning.journal"] == "database:curve-search"
    assert json.loads(tags["loopml.tuning.space"]) == {"offset": 1, "x": ["float", 0.0, 1.0]}
    stored = json.loads(client.download_artifact(result.parent_run_id, "tuning/result.json"))
    assert stored == as_json
    best = client.get_run(result.best_run_id)
    assert {m.key: m.value for m in best.data.metrics}["auc"] == result.best_value


def test_the_best_model_is_logged_when_its_format_is_safe(client: Client) -> None:
    x = [[0.0], [1.0], [2.0], [3.0]]
    y = [0, 0, 1, 1]

    def fit(params: dict[str, Any]) -> dict[str, Any]:
        model = LogisticRegression(C=params["C"]).fit(x, y)
        return {"score": float(model.score(x, y)) + params["C"] / 100, "model": model}

    space = {"C": ("float", 0.1, 10.0, "log")}
    result = tune(fit, space, 3, executor="inline", seed=0, client=client)
    assert result.model_artifact_path == "model"
    assert result.best_params["C"] == result.best_model.C
    files = {f.path for f in client.list_artifacts(result.parent_run_id, "model")}
    assert {"model/loopml-model.json", "model/loopml-manifest.json"} <= files


class Threshold:
    """A model only pickle can store (python_function): never logged by tune."""

    def predict(self, rows: Any) -> list[int]:
        return [int(row[0] > 0.5) for row in rows]


def test_a_model_only_pickle_can_store_is_not_logged(client: Client) -> None:
    result = tune(
        lambda params: {"score": params["x"], "model": Threshold()},
        SPACE,
        2,
        executor="inline",
        client=client,
    )
    assert result.model_artifact_path is None
    assert isinstance(result.best_model, Threshold)
    tags = client.get_run(result.parent_run_id).data.tags
    assert "runs code when loaded" in tags["loopml.tuning.model_skipped"]
    assert client.list_artifacts(result.parent_run_id, "model") == []


def test_tuning_inside_an_active_run_nests_under_it(client: Client, trial_runs: TrialRuns) -> None:
    with start_run(client, experiment="outer") as outer:
        result = tune(learning_curve, SPACE, 2, executor="inline", client=client)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags["mlflow.parentRunId"] == outer.run_id
    assert parent.info.experiment_id == outer.info.experiment_id
    assert len(trial_runs(result.parent_run_id)) == 2


def test_a_study_name_continues_the_study_and_must_keep_its_direction(client: Client) -> None:
    first = tune(learning_curve, SPACE, 3, executor="inline", study_name="again", client=client)
    second = tune(learning_curve, SPACE, 2, executor="inline", study_name="again", client=client)
    assert [t.number for t in second.trials] == [3, 4]
    assert second.parent_run_id != first.parent_run_id
    with pytest.raises(InvalidParameter, match="'again' exists with direction maximize"):
        tune(
            learning_curve,
            SPACE,
            1,
            executor="inline",
            study_name="again",
            direction="minimize",
            client=client,
        )


def test_a_define_by_run_space_and_a_timeout(client: Client) -> None:
    def define(trial: optuna.Trial) -> dict[str, Any]:
        depth = trial.suggest_int("depth", 1, 4)
        return {"depth": depth, "leaves": 2**depth}

    result = tune(
        lambda params: params["leaves"] - params["depth"],
        define,
        1000,
        executor="inline",
        timeout_s=1.0,
        client=client,
    )
    assert 1 <= len(result.trials) < 1000
    assert result.best_params["leaves"] == 2 ** result.best_params["depth"]


def test_an_interrupted_search_closes_every_run(client: Client, trial_runs: TrialRuns) -> None:
    def interrupted_on_trial_two(params: dict[str, Any], trial: TrialHandle) -> float:
        if trial.number == 2:
            raise KeyboardInterrupt
        return float(params["x"])

    with pytest.raises(KeyboardInterrupt):
        tune(interrupted_on_trial_two, SPACE, 5, executor="inline", client=client)
    (parent,) = [
        run for run in client.search_runs(["0"]).items if "loopml.tuning.trial" not in run.data.tags
    ]
    assert parent.info.status == "KILLED"
    runs = trial_runs(parent.info.run_id)
    assert {n: run.info.status for n, run in runs.items()} == {
        0: "FINISHED",
        1: "FINISHED",
        2: "KILLED",
    }


def test_a_tracking_server_keeps_the_journal_in_a_local_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    remote = Client("http://127.0.0.1:9")
    spec = journal_for(remote, "study-1")
    assert (spec.kind, spec.journal) == ("file", "study-1")
    assert spec.location == str(tmp_path / "home" / "tuning" / "study-1.journal")
    assert not spec.shared_across_machines
    remote.close()


def test_loopml_exports_tune() -> None:
    assert loopml.tune is tune
