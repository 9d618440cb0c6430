"""``evaluate_model``: score a model on a table, per segment, per group, with explanations.

Decisions, in one place:

- The features are every column but the target, unless ``feature_columns``
  names them. Segment and sensitive columns are features too by default
  (they are usually columns the model was trained on); if the model was
  trained without them, pass ``feature_columns``.
- A model is anything with ``predict(X)`` (X is a pandas DataFrame of the
  features). For classification, ``predict_proba(X)`` adds the score-based
  metrics (roc_auc, pr_auc, log_loss, brier), the curves and roc_auc as the
  permutation score; without it those are left out with a note. Its columns
  follow ``classes_`` (the model's, or its ``.raw``'s); without ``classes_``
  they are taken to follow the sorted labels of the target.
- Binary: the positive label is ``positive_label``, else the second of the
  classes (``1`` of ``0/1``, ``True`` of ``False/True``, as scikit-learn).
  Multiclass: metrics are macro averages; fairness needs ``positive_label``
  (one class against the rest) and is skipped with a note without it.
- Fairness is for classification; sensitive columns of a regression are
  skipped with a note.
- Importance and SHAP run on at most ``max_rows_for_explanations`` rows,
  sampled with ``random_state``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter
from loopml.evaluation.entities import (
    TASKS,
    ConfusionMatrix,
    Curves,
    EvaluationResult,
    FairnessReport,
    SegmentReport,
    Task,
)

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

    from loopml.evaluation.importance import Explain

MAX_ROWS_FOR_EXPLANATIONS = 2000


@dataclass(frozen=True)
class _Predictions:
    """One model's output on the rows: labels, optional scores, and how to read them."""

    y_pred: NDArray[Any]
    scores: NDArray[Any] | None
    labels: NDArray[Any]
    positive: Any | None


def evaluate_model(
    model: Any,
    data: Any,
    *,
    target: str,
    task: Task,
    feature_columns: Sequence[str] | None = None,
    segments: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    baseline: Any | None = None,
    positive_label: Any | None = None,
    importance_repeats: int = 5,
    explain: Explain = "auto",
    random_state: int = 0,
    max_rows_for_explanations: int = MAX_ROWS_FOR_EXPLANATIONS,
) -> EvaluationResult:
    """Score ``model`` on ``data`` and return everything a report or a gate needs.

    Args:
        model: an object with ``predict(X)`` (and ``predict_proba(X)`` for scores).
        data: a pandas DataFrame or a pyarrow Table holding features and target.
        target: the target column.
        task: ``"classification"`` or ``"regression"``.
        feature_columns: the model's inputs; default every column but ``target``.
        segments: columns to break the metrics down by (top 20 values + other).
        sensitive: columns to measure group fairness on (classification).
        baseline: another predictor (the champion) scored on the same rows.
        positive_label: the positive class (binary default: the second class).
        importance_repeats: shuffles per feature for permutation importance.
        explain: ``"auto"`` SHAP for tree models when shap is installed,
            ``True`` require it, ``False`` skip it.
        random_state: seed for the explanation sample and the shuffles.
        max_rows_for_explanations: rows sampled for importance and SHAP.

    Returns:
        The :class:`EvaluationResult`.

    Raises:
        InvalidParameter: naming the argument or column that is wrong.
    """
    _check_arguments(task, importance_repeats, explain, max_rows_for_explanations, model, baseline)
    frame = _as_frame(data)
    features = _check_columns(frame, target, feature_columns, segments, sensitive)
    X, y = frame[features], frame[target].to_numpy()
    notes: list[str] = []
    found = _predict(model, X, y, task, positive_label, "model", notes)
    metrics, metric_notes = _metrics(task, y, found)
    notes.extend(metric_notes)
    reports = _segments(frame, segments, task, y, found, notes)
    fairness = _fairness(frame, sensitive, task, y, found, notes)
    importance, scoring, shap = _explanations(
        model, X, y, task, found, importance_repeats, explain, random_state,
        max_rows_for_explanations, notes,
    )  # fmt: skip
    baseline_metrics = None
    if baseline is not None:
        theirs = _predict(baseline, X, y, task, positive_label, "baseline", notes)
        baseline_metrics, _ = _metrics(task, y, theirs)
    return EvaluationResult(
        task=task,
        target=target,
        row_count=len(frame),
        features=tuple(str(f) for f in features),
        metrics=metrics,
        labels=tuple(str(v) for v in found.labels),
        positive_label=None if found.positive is None else str(found.positive),
        confusion=_confusion(task, y, found),
        curves=_curves(task, y, found),
        segments=reports,
        fairness=fairness,
        importance=importance,
        importance_scoring=scoring,
        shap=shap,
        baseline=baseline_metrics,
        notes=tuple(dict.fromkeys(notes)),
    )


# --- checks --------------------------------------------------------------------------------


def _check_arguments(
    task: str, repeats: int, explain: object, max_rows: int, model: Any, baseline: Any
) -> None:
    if task not in TASKS:
        raise InvalidParameter(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    for name, number in (("importance_repeats", repeats), ("max_rows_for_explanations", max_rows)):
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise InvalidParameter(f"{name} must be a positive integer; got {number!r}")
    if explain not in (True, False, "auto") or not isinstance(explain, (bool, str)):
        raise InvalidParameter(f"explain must be True, False or 'auto'; got {explain!r}")
    for name, predictor in (("model", model), ("baseline", baseline)):
        if predictor is not None and not callable(getattr(predictor, "predict", None)):
            raise InvalidParameter(f"{name} must have a predict(X) method")
    if model is None:
        raise InvalidParameter("model must have a predict(X) method")


def _as_frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data
    elif type(data).__module__.startswith("pyarrow") and hasattr(data, "to_pandas"):
        frame = data.to_pandas()
    else:
        raise InvalidParameter(
            f"data must be a pandas DataFrame or a pyarrow Table; got {type(data).__name__}"
        )
    if len(frame) == 0:
        raise InvalidParameter("data has no rows")
    return frame.reset_index(drop=True)


def _check_columns(
    frame: pd.DataFrame,
    target: str,
    feature_columns: Sequence[str] | None,
    segments: Sequence[str],
    sensitive: Sequence[str],
) -> list[str]:
    columns = list(frame.columns)

    def need(field: str, name: object) -> None:
        if name not in columns:
            shown = ", ".join(map(str, columns[:20]))
            raise InvalidParameter(f"{field}: {name!r} is not a column of data (columns: {shown})")

    need("target", target)
    if frame[target].isna().any():
        raise InvalidParameter(f"target: column {target!r} has missing values")
    for field, names in (("segments", segments), ("sensitive", sensitive)):
        if isinstance(names, str):
            raise InvalidParameter(f"{field} must be a sequence of column names, not a string")
        for name in names:
            need(field, name)
    if feature_columns is None:
        return [c for c in columns if c != target]
    if isinstance(feature_columns, str) or not feature_columns:
        raise InvalidParameter("feature_columns must be a non-empty sequence of column names")
    for name in feature_columns:
        need("feature_columns", name)
    if target in feature_columns:
        raise InvalidParameter(f"feature_columns must not include the target {target!r}")
    return list(feature_columns)


# --- predictions ---------------------------------------------------------------------------


def _predict(
    model: Any,
    X: pd.DataFrame,
    y: NDArray[Any],
    task: str,
    positive_label: Any,
    name: str,
    notes: list[str],
) -> _Predictions:
    import numpy as np

    y_pred = np.asarray(model.predict(X))
    if y_pred.ndim != 1 or len(y_pred) != len(X):
        raise InvalidParameter(
            f"{name}.predict returned shape {y_pred.shape} for {len(X)} rows; expected ({len(X)},)"
        )
    if task == "regression":
        return _Predictions(y_pred.astype(float), None, np.array([]), None)
    scores = None
    if callable(getattr(model, "predict_proba", None)):
        scores = _probabilities(np.asarray(model.predict_proba(X), dtype=float), name)
    else:
        notes.append(f"{name} has no predict_proba: roc_auc, pr_auc, log_loss, brier skipped")
    labels = _labels(model, y, y_pred, scores, name)
    return _Predictions(y_pred, scores, labels, _positive(labels, positive_label))


def _probabilities(scores: NDArray[Any], name: str) -> NDArray[Any]:
    """Rows that sum to one; float32 output (XGBoost) is renormalised, not refused."""
    import numpy as np

    if scores.ndim != 2:
        return scores  # _labels reports the shape
    sums = scores.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=1e-4):
        raise InvalidParameter(f"{name}.predict_proba rows must sum to 1 (probabilities)")
    if not np.allclose(sums, 1.0, rtol=0.0, atol=1e-12):
        scores = scores / sums[:, None]
    return scores


def _labels(
    model: Any, y: NDArray[Any], y_pred: NDArray[Any], scores: NDArray[Any] | None, name: str
) -> NDArray[Any]:
    import numpy as np

    classes = getattr(model, "classes_", None)
    if classes is None:
        classes = getattr(getattr(model, "raw", None), "classes_", None)
    labels = np.asarray(classes) if classes is not None else np.unique(np.concatenate([y, y_pred]))
    if scores is not None and (scores.ndim != 2 or scores.shape != (len(y), len(labels))):
        raise InvalidParameter(
            f"{name}.predict_proba returned shape {scores.shape}; expected ({len(y)}, "
            f"{len(labels)}): one column per class, in the order of classes_"
        )
    unknown = sorted({str(v) for v in np.setdiff1d(np.unique(y), labels)})
    if unknown:
        raise InvalidParameter(
            f"target holds labels {name} does not predict: {', '.join(unknown[:10])}"
        )
    return labels


def _positive(labels: NDArray[Any], positive_label: Any) -> Any | None:
    if positive_label is not None:
        if not (labels == positive_label).any():
            shown = ", ".join(str(v) for v in labels)
            raise InvalidParameter(f"positive_label {positive_label!r} is not a class ({shown})")
        return labels[labels == positive_label][0]
    return labels[1] if len(labels) == 2 else None


# --- metrics, confusion, curves --------------------------------------------------------------


def _metrics(task: str, y: NDArray[Any], found: _Predictions) -> tuple[dict[str, float], list[str]]:
    from loopml.evaluation import metrics

    if task == "regression":
        return metrics.regression_metrics(y.astype(float), found.y_pred)
    binary = found.positive if len(found.labels) == 2 else None
    return metrics.classification_metrics(y, found.y_pred, found.scores, found.labels, binary)


def _confusion(task: str, y: NDArray[Any], found: _Predictions) -> ConfusionMatrix | None:
    if task == "regression":
        return None
    from loopml.evaluation.metrics import confusion_counts

    counts = confusion_counts(y, found.y_pred, found.labels)
    return ConfusionMatrix(tuple(str(v) for v in found.labels), tuple(map(tuple, counts)))


def _curves(task: str, y: NDArray[Any], found: _Predictions) -> Curves:
    if task == "regression" or found.scores is None or len(found.labels) != 2:
        return Curves()
    from loopml.evaluation.curves import binary_curves
    from loopml.evaluation.metrics import column_of

    return binary_curves(y == found.positive, column_of(found.scores, found.labels, found.positive))


# --- segments and fairness -----------------------------------------------------------------


def _segments(
    frame: pd.DataFrame,
    columns: Sequence[str],
    task: str,
    y: NDArray[Any],
    found: _Predictions,
    notes: list[str],
) -> tuple[SegmentReport, ...]:
    from loopml.evaluation.segments import segment_report, undefined_note

    def metrics_of(rows: NDArray[Any]) -> tuple[dict[str, float], list[str]]:
        scores = None if found.scores is None else found.scores[rows]
        part = _Predictions(found.y_pred[rows], scores, found.labels, found.positive)
        return _metrics(task, y[rows], part)

    reports = tuple(segment_report(str(c), frame[c], metrics_of) for c in columns)
    for report in reports:
        if report.pooled:
            notes.append(
                f"segment {report.column!r}: {report.pooled} rare values pooled as (other)"
            )
        if (note := undefined_note(report)) is not None:
            notes.append(note)
    return reports


def _fairness(
    frame: pd.DataFrame,
    columns: Sequence[str],
    task: str,
    y: NDArray[Any],
    found: _Predictions,
    notes: list[str],
) -> tuple[FairnessReport, ...]:
    if not columns:
        return ()
    if task == "regression":
        notes.append("fairness skipped: group fairness measures are for classification")
        return ()
    if found.positive is None:
        notes.append("fairness skipped: a multiclass model needs positive_label for fairness")
        return ()
    from loopml.evaluation.fairness import fairness_report

    is_positive, chosen = y == found.positive, found.y_pred == found.positive
    reports = tuple(
        fairness_report(str(c), frame[c], is_positive, chosen, str(found.positive)) for c in columns
    )
    for report in reports:
        if math.isnan(report.equalized_odds_difference):
            notes.append(f"fairness {report.column!r}: a gap is undefined (NaN): too few groups")
    return reports


# --- explanations ----------------------------------------------------------------------------


def _explanations(
    model: Any,
    X: pd.DataFrame,
    y: NDArray[Any],
    task: str,
    found: _Predictions,
    repeats: int,
    explain: Explain,
    random_state: int,
    max_rows: int,
    notes: list[str],
) -> tuple[tuple[Any, ...], str, tuple[Any, ...]]:
    import numpy as np

    from loopml.evaluation import importance

    rows = np.arange(len(X))
    if len(X) > max_rows:
        rows = np.sort(np.random.default_rng(random_state).choice(len(X), max_rows, replace=False))
        notes.append(f"importance and SHAP use a sample of {max_rows} of {len(X)} rows")
    sample, truth = X.iloc[rows], y[rows]
    scoring, score = _scorer(task, truth, found)
    permuted = importance.permutation(
        model, sample, truth, score, repeats=repeats, random_state=random_state
    )
    shap = importance.shap_importance(model, sample, explain, notes)
    return permuted, scoring, shap


def _scorer(task: str, truth: NDArray[Any], found: _Predictions) -> tuple[str, Any]:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

    from loopml.evaluation.metrics import column_of

    if task == "regression":
        return "r2", lambda model, X, y: float(r2_score(y, model.predict(X)))
    is_positive = truth == found.positive
    if found.scores is not None and len(found.labels) == 2 and 0 < is_positive.sum() < len(truth):
        labels, positive = found.labels, found.positive

        def auc(model: Any, X: pd.DataFrame, y: NDArray[Any]) -> float:
            scores = column_of(model.predict_proba(X), labels, positive)
            return float(roc_auc_score(y == positive, scores))

        return "roc_auc", auc
    return "accuracy", lambda model, X, y: float(accuracy_score(y, model.predict(X)))
