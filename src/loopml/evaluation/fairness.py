"""Group fairness of a classifier's decisions for one sensitive column.

Per group (grouped as segments are, see :mod:`loopml.evaluation.segments`):
selection rate P(pred = positive), true positive rate P(pred = positive | true
= positive) and false positive rate P(pred = positive | true ≠ positive). A
rate with no rows to divide by (no true positives in a group) is ``NaN``.

Across groups, as fairlearn defines them:

- demographic parity difference: max - min selection rate;
- demographic parity ratio: min / max selection rate (1.0 when every rate is 0);
- equal opportunity difference: max - min TPR;
- equalized odds difference: the larger of the TPR gap and the FPR gap.

A gap reads only groups where the rate is defined and needs two of them;
otherwise it is ``NaN`` (and fails any gate that reads it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from loopml.evaluation.entities import FairnessGroup, FairnessReport
from loopml.evaluation.segments import group_labels

if TYPE_CHECKING:
    import pandas as pd


def fairness_report(
    name: str,
    column: pd.Series[Any],
    is_positive: NDArray[np.bool_],
    predicted_positive: NDArray[np.bool_],
    positive_label: str,
) -> FairnessReport:
    """Rates per group of ``column`` and the four gaps between them."""
    groups, order, _ = group_labels(column)
    found = tuple(
        _group(value, is_positive[groups == value], predicted_positive[groups == value])
        for value in order
    )
    selection = [g.selection_rate for g in found]
    tpr_gap = _gap([g.true_positive_rate for g in found])
    fpr_gap = _gap([g.false_positive_rate for g in found])
    return FairnessReport(
        column=name,
        positive_label=positive_label,
        groups=found,
        demographic_parity_difference=_gap(selection),
        demographic_parity_ratio=_ratio(selection),
        equalized_odds_difference=max(tpr_gap, fpr_gap)
        if not (math.isnan(tpr_gap) or math.isnan(fpr_gap))
        else math.nan,
        equal_opportunity_difference=tpr_gap,
    )


def _group(value: str, truth: NDArray[np.bool_], chosen: NDArray[np.bool_]) -> FairnessGroup:
    return FairnessGroup(
        value=value,
        count=len(truth),
        selection_rate=_rate(chosen),
        true_positive_rate=_rate(chosen[truth]),
        false_positive_rate=_rate(chosen[~truth]),
    )


def _rate(chosen: NDArray[np.bool_]) -> float:
    return float(chosen.mean()) if len(chosen) else math.nan


def _defined(rates: list[float]) -> list[float]:
    return [r for r in rates if not math.isnan(r)]


def _gap(rates: list[float]) -> float:
    defined = _defined(rates)
    return max(defined) - min(defined) if len(defined) >= 2 else math.nan


def _ratio(rates: list[float]) -> float:
    defined = _defined(rates)
    if len(defined) < 2:
        return math.nan
    highest = max(defined)
    return min(defined) / highest if highest > 0 else 1.0
