"""log_evaluation against a real embedded client: metrics and reports read back."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from loopml.client import Client
from loopml.evaluation import EvaluationResult, evaluate_model, log_evaluation, metric_items

from .conftest import Case


@pytest.fixture(scope="module")
def result(cancer: Case) -> EvaluationResult:
    frame = cancer.frame.assign(region=cancer.frame["region"].replace({"west": "west/coast.2"}))
    return evaluate_model(
        cancer.models["boosted"],
        frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        segments=("region",),
        sensitive=("sex",),
        baseline=cancer.models["logistic"],
        importance_repeats=1,
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with Client(tmp_path / "home") as opened:
        yield opened


def test_metrics_and_reports_are_logged_to_the_run(
    client: Client, result: EvaluationResult
) -> None:
    experiment_id = client.create_experiment("evaluation")
    run_id = client.create_run(experiment_id).info.run_id
    log_evaluation(client, run_id, result)
    logged = {m.key: m.value for m in client.get_run(run_id).data.metrics}
    assert logged["eval.roc_auc"] == pytest.approx(result.metrics["roc_auc"])
    assert logged["eval.row_count"] == 569
    assert logged["eval.baseline.roc_auc"] == pytest.approx(result.baseline["roc_auc"])
    assert logged["eval.delta.f1"] == pytest.approx(result.deltas["f1"])
    west = {g.value: g for g in result.segments[0].groups}["west/coast.2"]
    assert logged["eval.segment.region.west_coast_2.recall"] == pytest.approx(
        west.metrics["recall"]
    )
    assert logged["eval.segment.region.west_coast_2.count"] == west.count
    fairness = result.fairness[0]
    assert logged["eval.fairness.sex.demographic_parity_difference"] == pytest.approx(
        fairness.demographic_parity_difference
    )
    assert logged["eval.fairness.sex.f.selection_rate"] == pytest.approx(
        {g.value: g for g in fairness.groups}["f"].selection_rate
    )
    assert set(logged) == {key for key, _ in metric_items(result)}
    names = {f.path for f in client.list_artifacts(run_id, "evaluation")}
    assert names == {"evaluation/report.json", "evaluation/report.html"}
    stored = json.loads(client.download_artifact(run_id, "evaluation/report.json"))
    assert EvaluationResult.from_dict(stored) == result
    page = client.download_artifact(run_id, "evaluation/report.html").decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page


def test_keys_are_legal_unique_and_nan_is_logged(client: Client) -> None:
    frame = pd.DataFrame(
        {
            "x": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7],
            "zone": ["a.b", "a_b", "a.b", "a_b", "c", "c"],
            "y": [0, 1, 0, 1, 1, 1],
        }
    )

    class Threshold:
        def predict(self, X: pd.DataFrame) -> object:
            return (X["x"].to_numpy() > 0.5).astype(int)

    result = evaluate_model(
        Threshold(),
        frame,
        target="y",
        task="classification",
        feature_columns=["x"],
        segments=["zone"],
        sensitive=["zone"],
        importance_repeats=1,
    )
    keys = [key for key, _ in metric_items(result, prefix="eval.holdout")]
    assert len(keys) == len(set(keys))
    assert "eval.holdout.segment.zone.a_b.recall" in keys
    assert "eval.holdout.segment.zone.a_b.recall_2" in keys
    run_id = client.create_run(client.create_experiment("nan")).info.run_id
    log_evaluation(client, run_id, result, prefix="eval.holdout", artifact_path="holdout")
    logged = {m.key: m.value for m in client.get_run(run_id).data.metrics}
    assert math.isnan(logged["eval.holdout.fairness.zone.c.false_positive_rate"])
    assert {f.path for f in client.list_artifacts(run_id, "holdout")} == {
        "holdout/report.json",
        "holdout/report.html",
    }
