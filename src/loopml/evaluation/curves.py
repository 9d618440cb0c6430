"""ROC, precision-recall and calibration curves of a binary classifier, kept small.

scikit-learn returns a point per distinct score; a report needs at most
:data:`MAX_POINTS`, so longer curves keep evenly spaced points plus both ends.
Calibration uses :data:`CALIBRATION_BINS` equal-width bins of the score; empty
bins are left out, and each kept bin carries its row count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from loopml.evaluation.entities import Curve, Curves

MAX_POINTS = 200
CALIBRATION_BINS = 10


def binary_curves(is_positive: NDArray[np.bool_], score: NDArray[Any]) -> Curves:
    """The three curves for one positive-label score; ROC and PR need both classes."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    calibration = _calibration(is_positive, score)
    if is_positive.all() or not is_positive.any():
        return Curves(calibration=calibration)
    fpr, tpr, _ = roc_curve(is_positive, score)
    precision, recall, _ = precision_recall_curve(is_positive, score)
    return Curves(
        roc=_downsample(fpr, tpr),
        pr=_downsample(recall[::-1], precision[::-1]),
        calibration=calibration,
    )


def _downsample(x: NDArray[Any], y: NDArray[Any]) -> Curve:
    if len(x) > MAX_POINTS:
        keep = np.unique(np.linspace(0, len(x) - 1, MAX_POINTS).round().astype(int))
        x, y = x[keep], y[keep]
    return Curve(tuple(float(v) for v in x), tuple(float(v) for v in y))


def _calibration(is_positive: NDArray[np.bool_], score: NDArray[Any]) -> Curve:
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bins = np.clip(np.digitize(score, edges[1:-1]), 0, CALIBRATION_BINS - 1)
    mean_score, positive_rate, counts = [], [], []
    for position in range(CALIBRATION_BINS):
        inside = bins == position
        if inside.any():
            mean_score.append(float(score[inside].mean()))
            positive_rate.append(float(is_positive[inside].mean()))
            counts.append(int(inside.sum()))
    return Curve(tuple(mean_score), tuple(positive_rate), tuple(counts))
