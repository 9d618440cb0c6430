"""evaluate_model on real scikit-learn data: every number equals scikit-learn's own call."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics as sk
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.evaluation import EvaluationResult, evaluate_model

from .conftest import Case


@pytest.fixture(scope="module")
def logistic(cancer: Case) -> EvaluationResult:
    return evaluate_model(
        cancer.models["logistic"],
        pa.Table.from_pandas(cancer.frame),
        target="target",
        task="classification",
        feature_columns=cancer.features,
        importance_repeats=2,
    )


def expected_classification(model: Any, X: pd.DataFrame, y: pd.Series[Any]) -> dict[str, float]:
    pred, proba = model.predict(X), model.predict_proba(X)
    return {
        "accuracy": sk.accuracy_score(y, pred),
        "precision": sk.precision_score(y, pred, zero_division=0.0),
        "recall": sk.recall_score(y, pred, zero_division=0.0),
        "f1": sk.f1_score(y, pred, zero_division=0.0),
        "roc_auc": sk.roc_auc_score(y, proba[:, 1]),
        "pr_auc": sk.average_precision_score(y, proba[:, 1]),
        "log_loss": sk.log_loss(y, proba),
        "brier": sk.brier_score_loss(y, proba[:, 1]),
    }


def test_classification_metrics_equal_sklearn(cancer: Case, boosted: EvaluationResult) -> None:
    X, y = cancer.frame[cancer.features], cancer.frame["target"]
    expected = expected_classification(cancer.models["boosted"], X, y)
    assert boosted.metrics == pytest.approx(expected, rel=1e-12)
    assert boosted.row_count == len(cancer.frame)
    assert boosted.labels == ("0", "1")
    assert boosted.positive_label == "1"
    matrix = sk.confusion_matrix(y, cancer.models["boosted"].predict(X))
    assert boosted.confusion is not None
    assert boosted.confusion.labels == ("0", "1")
    assert [list(row) for row in boosted.confusion.counts] == matrix.tolist()


def test_a_pyarrow_table_gives_the_same_metrics(cancer: Case, logistic: EvaluationResult) -> None:
    X, y = cancer.frame[cancer.features], cancer.frame["target"]
    expected = expected_classification(cancer.models["logistic"], X, y)
    assert logistic.metrics == pytest.approx(expected, rel=1e-12)


def test_segments_equal_metrics_on_the_filtered_rows(
    cancer: Case, boosted: EvaluationResult
) -> None:
    (report,) = boosted.segments
    assert report.column == "region"
    assert {g.value for g in report.groups} == {"north", "south", "west"}
    for group in report.groups:
        rows = cancer.frame[cancer.frame["region"] == group.value]
        expected = expected_classification(
            cancer.models["boosted"], rows[cancer.features], rows["target"]
        )
        assert group.count == len(rows)
        for name, value in expected.items():
            got = group.metrics[name]
            assert (math.isnan(got) and math.isnan(value)) or got == pytest.approx(value)


def test_fairness_equals_a_direct_computation(cancer: Case, boosted: EvaluationResult) -> None:
    frame = cancer.frame
    pred = cancer.models["boosted"].predict(frame[cancer.features]) == 1
    truth = frame["target"].to_numpy() == 1
    rates = {}
    for value in ("f", "m"):
        rows = frame["sex"].to_numpy() == value
        rates[value] = (pred[rows].mean(), pred[rows & truth].mean(), pred[rows & ~truth].mean())
    (report,) = boosted.fairness
    by_group = {g.value: g for g in report.groups}
    for value, (selection, tpr, fpr) in rates.items():
        assert by_group[value].selection_rate == pytest.approx(selection)
        assert by_group[value].true_positive_rate == pytest.approx(tpr)
        assert by_group[value].false_positive_rate == pytest.approx(fpr)
    selections = [r[0] for r in rates.values()]
    tpr_gap = abs(rates["f"][1] - rates["m"][1])
    fpr_gap = abs(rates["f"][2] - rates["m"][2])
    assert report.demographic_parity_difference == pytest.approx(max(selections) - min(selections))
    assert report.demographic_parity_ratio == pytest.approx(min(selections) / max(selections))
    assert report.equal_opportunity_difference == pytest.approx(tpr_gap)
    assert report.equalized_odds_difference == pytest.approx(max(tpr_gap, fpr_gap))


def test_importance_names_every_feature(cancer: Case, boosted: EvaluationResult) -> None:
    assert boosted.importance_scoring == "roc_auc"
    assert {i.feature for i in boosted.importance} == set(cancer.features)
    means = [i.mean for i in boosted.importance]
    assert means == sorted(means, reverse=True)
    assert means[0] > 0


def test_shap_for_the_tree_model_only(
    cancer: Case, boosted: EvaluationResult, logistic: EvaluationResult
) -> None:
    assert {i.feature for i in boosted.shap} == set(cancer.features)
    assert all(i.mean >= 0 for i in boosted.shap)
    assert boosted.shap[0].mean > 0
    assert logistic.shap == ()
    assert "SHAP skipped: Pipeline is not a tree model" in logistic.notes


def test_shap_reads_a_tree_model_behind_raw(cancer: Case) -> None:
    class Wrapped:
        """A packaged model as the registry will hand it over: the real one in ``.raw``."""

        def __init__(self, raw: Any) -> None:
            self.raw = raw

        def predict(self, X: pd.DataFrame) -> Any:
            return self.raw.predict(X)

        def predict_proba(self, X: pd.DataFrame) -> Any:
            return self.raw.predict_proba(X)

    sample = cancer.frame.iloc[:120]
    result = evaluate_model(
        Wrapped(cancer.models["boosted"]),
        sample,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        importance_repeats=1,
        explain=True,
    )
    assert result.labels == ("0", "1")
    assert len(result.shap) == len(cancer.features)


def test_baseline_metrics_and_deltas(cancer: Case, boosted: EvaluationResult) -> None:
    X, y = cancer.frame[cancer.features], cancer.frame["target"]
    expected = expected_classification(cancer.models["logistic"], X, y)
    assert boosted.baseline == pytest.approx(expected, rel=1e-12)
    assert boosted.deltas["roc_auc"] == pytest.approx(
        boosted.metrics["roc_auc"] - expected["roc_auc"]
    )
    assert set(boosted.deltas) == set(boosted.metrics)


def test_curves_are_downsampled_and_well_formed(boosted: EvaluationResult) -> None:
    roc, pr, calibration = boosted.curves.roc, boosted.curves.pr, boosted.curves.calibration
    assert roc is not None
    assert pr is not None
    assert calibration is not None
    for curve in (roc, pr, calibration):
        assert 2 <= len(curve.x) == len(curve.y) <= 200
    assert (roc.x[0], roc.y[0], roc.x[-1], roc.y[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert sum(calibration.counts) == boosted.row_count


def test_long_curves_keep_at_most_200_points() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(5000) < 0.4
    score = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    frame = pd.DataFrame({"score": score, "y": y.astype(int)})

    class Threshold:
        classes_ = np.array([0, 1])

        def predict(self, X: pd.DataFrame) -> Any:
            return (X["score"].to_numpy() > 0.5).astype(int)

        def predict_proba(self, X: pd.DataFrame) -> Any:
            s = X["score"].to_numpy()
            return np.column_stack([1 - s, s])

    result = evaluate_model(
        Threshold(), frame, target="y", task="classification", importance_repeats=1
    )
    roc = result.curves.roc
    assert roc is not None
    assert len(roc.x) == 200
    assert (roc.x[0], roc.x[-1]) == (0.0, 1.0)
    assert result.metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(y, score))


@pytest.mark.parametrize("name", ["ridge", "boosted"])
def test_regression_metrics_equal_sklearn(diabetes: Case, name: str) -> None:
    model = diabetes.models[name]
    result = evaluate_model(
        model, diabetes.frame, target="target", task="regression", importance_repeats=2
    )
    X, y = diabetes.frame[diabetes.features], diabetes.frame["target"]
    pred = model.predict(X)
    expected = {
        "mae": sk.mean_absolute_error(y, pred),
        "mse": sk.mean_squared_error(y, pred),
        "rmse": math.sqrt(sk.mean_squared_error(y, pred)),
        "r2": sk.r2_score(y, pred),
        "mape": sk.mean_absolute_percentage_error(y, pred),
    }
    assert result.metrics == pytest.approx(expected, rel=1e-12)
    assert result.importance_scoring == "r2"
    assert {i.feature for i in result.importance} == set(diabetes.features)
    assert result.confusion is None
    assert result.curves.roc is None
    assert bool(result.shap) is (name == "boosted")


def test_regression_segments_and_sensitive_columns(diabetes: Case) -> None:
    frame = diabetes.frame.assign(band=np.where(diabetes.frame["age"] > 0, "older", "younger"))
    result = evaluate_model(
        diabetes.models["ridge"],
        frame,
        target="target",
        task="regression",
        feature_columns=diabetes.features,
        segments=["band"],
        sensitive=["band"],
        importance_repeats=1,
        explain=False,
    )
    (report,) = result.segments
    older = frame[frame["band"] == "older"]
    got = {g.value: g for g in report.groups}["older"]
    pred = diabetes.models["ridge"].predict(older[diabetes.features])
    assert got.metrics["mae"] == pytest.approx(sk.mean_absolute_error(older["target"], pred))
    assert result.fairness == ()
    assert any("fairness skipped" in note for note in result.notes)


def test_multiclass_metrics_are_macro_averages() -> None:
    frame = load_iris(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(frame[features], frame["target"])
    result = evaluate_model(
        model, frame, target="target", task="classification", importance_repeats=1
    )
    X, y = frame[features], frame["target"]
    pred, proba = model.predict(X), model.predict_proba(X)
    assert result.positive_label is None
    assert result.metrics["f1"] == pytest.approx(sk.f1_score(y, pred, average="macro"))
    assert result.metrics["roc_auc"] == pytest.approx(
        sk.roc_auc_score(y, proba, multi_class="ovr", average="macro")
    )
    assert result.metrics["log_loss"] == pytest.approx(sk.log_loss(y, proba))
    one_hot = np.eye(3)[y]
    brier = np.mean([sk.brier_score_loss(one_hot[:, k], proba[:, k]) for k in range(3)])
    assert result.metrics["brier"] == pytest.approx(brier)
    assert result.importance_scoring == "accuracy"
    assert result.confusion is not None
    assert len(result.confusion.labels) == 3


def test_one_class_target_makes_auc_nan_with_a_note(cancer: Case) -> None:
    rows = cancer.frame[cancer.frame["target"] == 1].iloc[:50]
    result = evaluate_model(
        cancer.models["logistic"],
        rows,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        importance_repeats=1,
    )
    assert math.isnan(result.metrics["roc_auc"])
    assert math.isnan(result.metrics["pr_auc"])
    assert any("roc_auc and pr_auc" in note for note in result.notes)
    assert result.importance_scoring == "accuracy"
    assert result.curves.roc is None
    assert result.curves.calibration is not None


def test_many_valued_segment_columns_are_capped(cancer: Case) -> None:
    frame = cancer.frame.assign(bucket=np.arange(len(cancer.frame)) % 30)
    result = evaluate_model(
        cancer.models["logistic"],
        frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        segments=["bucket"],
        importance_repeats=1,
    )
    (report,) = result.segments
    assert len(report.groups) == 21
    assert report.groups[-1].value == "(other)"
    assert report.pooled == 10
    assert sum(g.count for g in report.groups) == len(frame)
    assert any("10 rare values pooled" in note for note in result.notes)


def test_explanations_use_a_capped_sample(cancer: Case) -> None:
    result = evaluate_model(
        cancer.models["boosted"],
        cancer.frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        importance_repeats=1,
        max_rows_for_explanations=100,
        explain=False,
    )
    assert result.shap == ()
    assert "importance and SHAP use a sample of 100 of 569 rows" in result.notes


@pytest.mark.parametrize("library", ["xgboost", "lightgbm"])
def test_shap_for_boosting_libraries(cancer: Case, library: str) -> None:
    module = pytest.importorskip(library)
    if library == "xgboost":
        model = module.XGBClassifier(n_estimators=10, max_depth=2)
    else:
        model = module.LGBMClassifier(n_estimators=10, verbose=-1)
    model.fit(cancer.frame[cancer.features], cancer.frame["target"])
    result = evaluate_model(
        model,
        cancer.frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        importance_repeats=1,
        explain=True,
    )
    # XGBoost answers in float32: rows are renormalised, so log_loss matches float64 sums
    proba = model.predict_proba(cancer.frame[cancer.features]).astype(float)
    proba /= proba.sum(axis=1, keepdims=True)
    assert result.metrics["log_loss"] == pytest.approx(sk.log_loss(cancer.frame["target"], proba))
    assert len(result.shap) == len(cancer.features)
    assert result.shap[0].mean > 0
