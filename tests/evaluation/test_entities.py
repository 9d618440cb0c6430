"""The result as the gates read it (values) and as JSON (to_dict / from_dict)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from loopml.evaluation import EvaluationResult, evaluate_model
from loopml.registry.gates import check_gates

from .conftest import Case


@pytest.fixture
def result(boosted: EvaluationResult) -> EvaluationResult:
    return boosted


def test_values_hold_metrics_baseline_segments_and_fairness(result: EvaluationResult) -> None:
    values = result.values()
    assert values["roc_auc"] == result.metrics["roc_auc"]
    assert values["row_count"] == 569
    assert values["baseline"] == result.baseline
    assert values["delta"]["roc_auc"] == pytest.approx(
        result.metrics["roc_auc"] - values["baseline"]["roc_auc"]
    )
    recall = values["segment"]["region"]["recall"]
    assert set(recall) == {"north", "south", "west"}
    assert sum(values["segment"]["region"]["count"].values()) == 569
    sex = values["fairness"]["sex"]
    assert set(sex) == {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equal_opportunity_difference",
        "selection_rate",
        "true_positive_rate",
        "false_positive_rate",
        "count",
    }
    assert set(sex["selection_rate"]) == {"f", "m"}


def test_gates_pass_and_fail_on_a_real_result(result: EvaluationResult) -> None:
    rules = [
        "roc_auc >= baseline.roc_auc - 0.005",
        "min(segment.region.recall) >= 0.6",
        "fairness.sex.demographic_parity_difference <= 0.1",
        "roc_auc >= baseline.roc_auc + 0.5",
        "min(segment.region.recall) >= 1.01",
        "fairness.sex.demographic_parity_difference <= -1",
    ]
    verdicts = [g.passed for g in check_gates(rules, result.values())]
    assert verdicts == [True, True, True, False, False, False]


def test_gates_without_a_baseline_say_what_is_missing(cancer: Case) -> None:
    plain = evaluate_model(
        cancer.models["logistic"],
        cancer.frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        importance_repeats=1,
    )
    (verdict,) = check_gates(["roc_auc >= baseline.roc_auc - 0.005"], plain.values())
    assert not verdict.passed
    assert "no value 'baseline.roc_auc'" in verdict.message


def test_undefined_segment_values_are_left_out_of_gate_mappings(cancer: Case) -> None:
    # the largest tumours are almost all malignant (target 0): some regions hold one class
    frame = cancer.frame.assign(size=np.where(cancer.frame["worst radius"] > 23, "big", "rest"))
    one_sided = evaluate_model(
        cancer.models["logistic"],
        frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        segments=["size"],
        importance_repeats=1,
        explain=False,
    )
    groups = {g.value: g for g in one_sided.segments[0].groups}
    assert math.isnan(groups["big"].metrics["roc_auc"])
    assert set(one_sided.values()["segment"]["size"]["roc_auc"]) == {"rest"}
    assert any("undefined (NaN" in note for note in one_sided.notes)
    (verdict,) = check_gates(["min(segment.size.roc_auc) >= 0.9"], one_sided.values())
    assert verdict.passed


def test_to_dict_is_json_and_round_trips(result: EvaluationResult) -> None:
    text = json.dumps(result.to_dict(), allow_nan=False)
    again = EvaluationResult.from_dict(json.loads(text))
    assert again == result
    assert again.values() == result.values()


def test_nan_becomes_null_and_back(cancer: Case) -> None:
    rows = cancer.frame[cancer.frame["target"] == 1].iloc[:40]
    one_class = evaluate_model(
        cancer.models["logistic"],
        rows,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        importance_repeats=1,
    )
    data = json.loads(json.dumps(one_class.to_dict(), allow_nan=False))
    assert data["metrics"]["roc_auc"] is None
    again = EvaluationResult.from_dict(data)
    assert math.isnan(again.metrics["roc_auc"])
    assert again.to_dict() == data


def test_importing_the_package_stays_light() -> None:
    code = (
        "import sys, loopml.evaluation\n"
        "heavy = [m for m in ('numpy', 'pandas', 'sklearn', 'scipy', 'shap') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
