"""Scalar metrics for one set of predictions, as scikit-learn computes them.

Classification, binary: precision, recall and F1 are of the positive label;
``roc_auc``, ``pr_auc`` (average precision) and ``brier`` read the positive
label's probability column. Multiclass: precision, recall and F1 are macro
averages; ``roc_auc``, ``pr_auc`` and ``brier`` are the mean over classes of
one-vs-rest scores (a class absent from the rows is left out of the mean).
``log_loss`` uses every probability column. Zero divisions (no predicted
positives) count as 0, as ``zero_division=0`` does in scikit-learn.

A metric that is undefined on these rows (AUC with one class present, R² of
fewer than two rows) is ``NaN`` with a note, never an exception. Score-based
metrics are absent, not ``NaN``, when the model gave no probabilities.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

CLASSIFICATION_LABEL_METRICS = ("accuracy", "precision", "recall", "f1")
CLASSIFICATION_SCORE_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier")
REGRESSION_METRICS = ("mae", "mse", "rmse", "r2", "mape")

Array = NDArray[Any]


def classification_metrics(
    y_true: Array,
    y_pred: Array,
    scores: Array | None,
    labels: Array,
    positive: Any | None,
) -> tuple[dict[str, float], list[str]]:
    """Metrics and notes for labels ``y_pred`` (and ``scores``: one column per label)."""
    from sklearn import metrics as sk

    binary = positive is not None
    averaging: dict[str, Any] = (
        {"average": "binary", "pos_label": positive}
        if binary
        else {"average": "macro", "labels": labels}
    )
    found = {
        "accuracy": float(sk.accuracy_score(y_true, y_pred)),
        "precision": float(sk.precision_score(y_true, y_pred, zero_division=0.0, **averaging)),
        "recall": float(sk.recall_score(y_true, y_pred, zero_division=0.0, **averaging)),
        "f1": float(sk.f1_score(y_true, y_pred, zero_division=0.0, **averaging)),
    }
    notes: list[str] = []
    if scores is not None:
        found.update(_score_metrics(y_true, scores, labels, positive, notes))
    return found, notes


def _score_metrics(
    y_true: Array, scores: Array, labels: Array, positive: Any | None, notes: list[str]
) -> dict[str, float]:
    from sklearn import metrics as sk

    columns = [positive] if positive is not None else list(labels)
    roc, pr, brier = [], [], []
    for label in columns:
        column = column_of(scores, labels, label)
        is_label = y_true == label
        brier.append(float(sk.brier_score_loss(is_label, column, pos_label=True)))
        if is_label.all() or not is_label.any():
            continue
        roc.append(float(sk.roc_auc_score(is_label, column)))
        pr.append(float(sk.average_precision_score(is_label, column)))
    if len(roc) < len(columns):
        which = "the positive label" if positive is not None else "a class"
        notes.append(
            f"roc_auc and pr_auc leave out {which} with no rows on one side "
            f"({len(columns) - len(roc)} of {len(columns)}); NaN when none is left"
        )
    return {
        "roc_auc": _mean(roc),
        "pr_auc": _mean(pr),
        "log_loss": float(sk.log_loss(y_true, scores, labels=labels)),
        "brier": _mean(brier),
    }


def regression_metrics(y_true: Array, y_pred: Array) -> tuple[dict[str, float], list[str]]:
    """MAE, MSE, RMSE, R² and MAPE (scikit-learn's, so a zero target inflates MAPE)."""
    from sklearn import metrics as sk

    mse = float(sk.mean_squared_error(y_true, y_pred))
    notes: list[str] = []
    if len(y_true) < 2:
        r2 = math.nan
        notes.append("r2 is undefined for fewer than two rows")
    else:
        r2 = float(sk.r2_score(y_true, y_pred))
    if np.any(y_true == 0):
        notes.append("mape: the target is 0 on some rows, so MAPE is dominated by them")
    found = {
        "mae": float(sk.mean_absolute_error(y_true, y_pred)),
        "mse": mse,
        "rmse": math.sqrt(mse),
        "r2": r2,
        "mape": float(sk.mean_absolute_percentage_error(y_true, y_pred)),
    }
    return found, notes


def confusion_counts(y_true: Array, y_pred: Array, labels: Array) -> list[list[int]]:
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return [[int(v) for v in row] for row in matrix]


def column_of(scores: Array, labels: Array, label: Any) -> Array:
    """The probability column of ``label`` (columns follow ``labels``)."""
    return scores[:, int(np.flatnonzero(labels == label)[0])]


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan
