"""Bad input to evaluate_model: a clear InvalidParameter naming what is wrong."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidParameter
from loopml.evaluation import evaluate_model

from .conftest import Case

TABLE = pd.DataFrame({"x": [0.1, 0.4, 0.6, 0.9], "region": list("abab"), "y": [0, 0, 1, 1]})


class Threshold:
    def predict(self, X: pd.DataFrame) -> Any:
        return (X["x"].to_numpy() > 0.5).astype(int)


class NoPredict:
    def fit(self, X: pd.DataFrame) -> None: ...


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"target": "label"}, r"target: 'label' is not a column of data \(columns: x, region, y"),
        ({"segments": ["zone"]}, r"segments: 'zone' is not a column"),
        ({"segments": "region"}, r"segments must be a sequence of column names, not a string"),
        ({"sensitive": ["sex"]}, r"sensitive: 'sex' is not a column"),
        ({"feature_columns": ["x", "w"]}, r"feature_columns: 'w' is not a column"),
        ({"feature_columns": ["x", "y"]}, r"feature_columns must not include the target 'y'"),
        ({"task": "ranking"}, r"task must be one of classification, regression; got 'ranking'"),
        ({"importance_repeats": 0}, r"importance_repeats must be a positive integer; got 0"),
        ({"max_rows_for_explanations": -1}, r"max_rows_for_explanations must be a positive"),
        ({"explain": "yes"}, r"explain must be True, False or 'auto'; got 'yes'"),
        ({"positive_label": 7}, r"positive_label 7 is not a class \(0, 1\)"),
        ({"baseline": NoPredict()}, r"baseline must have a predict\(X\) method"),
    ],
)
def test_bad_arguments_name_the_field(changes: dict[str, Any], match: str) -> None:
    arguments: dict[str, Any] = {
        "target": "y",
        "task": "classification",
        "feature_columns": ["x"],
    } | changes
    with pytest.raises(InvalidParameter, match=match):
        evaluate_model(Threshold(), TABLE, **arguments)


def test_a_model_without_predict() -> None:
    with pytest.raises(InvalidParameter, match=r"model must have a predict\(X\) method"):
        evaluate_model(NoPredict(), TABLE, target="y", task="classification")


def test_empty_data() -> None:
    with pytest.raises(InvalidParameter, match="data has no rows"):
        evaluate_model(Threshold(), TABLE.iloc[:0], target="y", task="classification")


def test_data_of_the_wrong_type() -> None:
    with pytest.raises(InvalidParameter, match="data must be a pandas DataFrame or a pyarrow"):
        evaluate_model(Threshold(), TABLE.to_dict(), target="y", task="classification")


def test_missing_target_values() -> None:
    table = TABLE.assign(y=[0, None, 1, 1])
    with pytest.raises(InvalidParameter, match="target: column 'y' has missing values"):
        evaluate_model(Threshold(), table, target="y", task="classification")


def test_predictions_of_the_wrong_length() -> None:
    class Short:
        def predict(self, X: pd.DataFrame) -> Any:
            return np.zeros(len(X) - 1)

    with pytest.raises(InvalidParameter, match=r"model.predict returned shape \(3,\) for 4 rows"):
        evaluate_model(Short(), TABLE, target="y", task="regression", feature_columns=["x"])


def test_probabilities_that_do_not_match_the_classes() -> None:
    class ThreeColumns(Threshold):
        classes_ = np.array([0, 1])

        def predict_proba(self, X: pd.DataFrame) -> Any:
            return np.full((len(X), 3), 1 / 3)

    with pytest.raises(InvalidParameter, match=r"predict_proba returned shape \(4, 3\)"):
        evaluate_model(
            ThreeColumns(), TABLE, target="y", task="classification", feature_columns=["x"]
        )


def test_labels_the_model_never_predicts() -> None:
    class Knows01(Threshold):
        classes_ = np.array([0, 1])

        def predict_proba(self, X: pd.DataFrame) -> Any:
            return np.full((len(X), 2), 0.5)

    table = TABLE.assign(y=[0, 1, 2, 2])
    with pytest.raises(InvalidParameter, match="target holds labels model does not predict: 2"):
        evaluate_model(Knows01(), table, target="y", task="classification", feature_columns=["x"])


def test_explain_true_needs_a_tree_model() -> None:
    with pytest.raises(InvalidParameter, match="explain=True needs a tree model"):
        evaluate_model(
            Threshold(), TABLE, target="y", task="classification", feature_columns=["x"],
            explain=True,
        )  # fmt: skip


def test_scores_that_are_not_probabilities() -> None:
    class Margins(Threshold):
        classes_ = np.array([0, 1])

        def predict_proba(self, X: pd.DataFrame) -> Any:
            return np.column_stack([-X["x"].to_numpy(), 2 * X["x"].to_numpy()])

    with pytest.raises(InvalidParameter, match=r"model.predict_proba rows must sum to 1"):
        evaluate_model(Margins(), TABLE, target="y", task="classification", feature_columns=["x"])


def test_without_shap_auto_notes_it_and_true_refuses(
    cancer: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "shap", None)  # what an install without the extra sees
    sample = cancer.frame.iloc[:80]
    arguments: dict[str, Any] = {
        "target": "target",
        "task": "classification",
        "feature_columns": cancer.features,
        "importance_repeats": 1,
    }
    auto = evaluate_model(cancer.models["boosted"], sample, **arguments)
    assert auto.shap == ()
    assert "SHAP skipped: the optional package shap is not installed" in auto.notes
    with pytest.raises(InvalidParameter, match=r"explain=True needs the optional package shap"):
        evaluate_model(cancer.models["boosted"], sample, explain=True, **arguments)
