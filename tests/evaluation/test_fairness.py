"""Fairness measures on a tiny table whose answers are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from loopml.evaluation import evaluate_model
from loopml.evaluation.fairness import fairness_report

# group a: truth 1 1 0 0, decision 1 0 1 0 -> selection 2/4, TPR 1/2, FPR 1/2
# group b: truth 1 1 1 0 0 0, decision 1 1 1 0 0 1 -> selection 4/6, TPR 3/3, FPR 1/3
TABLE = pd.DataFrame(
    {
        "group": ["a"] * 4 + ["b"] * 6,
        "truth": [1, 1, 0, 0, 1, 1, 1, 0, 0, 0],
        "decision": [1, 0, 1, 0, 1, 1, 1, 0, 0, 1],
    }
)


class Decisions:
    """A real predictor with no probabilities: it returns the ``decision`` column."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["decision"].to_numpy()


def test_hand_computed_example_through_evaluate_model() -> None:
    result = evaluate_model(
        Decisions(),
        TABLE,
        target="truth",
        task="classification",
        feature_columns=["decision"],
        sensitive=["group"],
        importance_repeats=1,
    )
    (report,) = result.fairness
    assert report.positive_label == "1"
    groups = {g.value: g for g in report.groups}
    assert groups["a"].count == 4
    assert groups["b"].count == 6
    assert groups["a"].selection_rate == pytest.approx(0.5)
    assert groups["b"].selection_rate == pytest.approx(4 / 6)
    assert groups["a"].true_positive_rate == pytest.approx(0.5)
    assert groups["b"].true_positive_rate == pytest.approx(1.0)
    assert groups["a"].false_positive_rate == pytest.approx(0.5)
    assert groups["b"].false_positive_rate == pytest.approx(1 / 3)
    assert report.demographic_parity_difference == pytest.approx(1 / 6)
    assert report.demographic_parity_ratio == pytest.approx(0.75)
    assert report.equal_opportunity_difference == pytest.approx(0.5)
    assert report.equalized_odds_difference == pytest.approx(0.5)
    values = result.values()["fairness"]["group"]
    assert values["selection_rate"] == pytest.approx({"a": 0.5, "b": 4 / 6})
    assert values["demographic_parity_difference"] == pytest.approx(1 / 6)


def test_without_predict_proba_score_metrics_are_left_out_with_a_note() -> None:
    result = evaluate_model(
        Decisions(), TABLE, target="truth", task="classification", importance_repeats=1
    )
    assert set(result.metrics) == {"accuracy", "precision", "recall", "f1"}
    assert result.metrics["accuracy"] == pytest.approx(0.7)
    assert result.labels == ("0", "1")
    assert result.importance_scoring == "accuracy"
    assert any("no predict_proba" in note for note in result.notes)


def test_a_group_without_positives_has_an_undefined_tpr() -> None:
    report = fairness_report(
        "group",
        pd.Series(["a", "a", "b", "b"]),
        is_positive=np.array([True, False, False, False]),
        predicted_positive=np.array([True, False, True, False]),
        positive_label="1",
    )
    groups = {g.value: g for g in report.groups}
    assert math.isnan(groups["b"].true_positive_rate)
    assert math.isnan(report.equal_opportunity_difference)
    assert math.isnan(report.equalized_odds_difference)
    assert report.demographic_parity_difference == pytest.approx(0.0)


def test_nobody_selected_is_parity() -> None:
    report = fairness_report(
        "group",
        pd.Series(["a", "b", None]),
        is_positive=np.array([True, False, True]),
        predicted_positive=np.array([False, False, False]),
        positive_label="yes",
    )
    assert [g.value for g in report.groups] == ["(missing)", "a", "b"]
    assert report.demographic_parity_ratio == 1.0
    assert report.demographic_parity_difference == 0.0


def test_multiclass_fairness_needs_a_positive_label() -> None:
    table = pd.DataFrame(
        {"group": ["a", "a", "b", "b", "b"], "truth": [0, 1, 2, 1, 0], "decision": [0, 1, 2, 2, 0]}
    )
    skipped = evaluate_model(
        Decisions(), table, target="truth", task="classification", sensitive=["group"],
        importance_repeats=1,
    )  # fmt: skip
    assert skipped.fairness == ()
    assert any("needs positive_label" in note for note in skipped.notes)
    chosen = evaluate_model(
        Decisions(), table, target="truth", task="classification", sensitive=["group"],
        positive_label=2, importance_repeats=1,
    )  # fmt: skip
    (report,) = chosen.fairness
    assert report.positive_label == "2"
    groups = {g.value: g for g in report.groups}
    assert groups["a"].selection_rate == 0.0
    assert groups["b"].selection_rate == pytest.approx(2 / 3)
    assert chosen.metrics["f1"] == skipped.metrics["f1"]
