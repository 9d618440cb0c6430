"""Metrics per value of a column ("segment"), and the grouping fairness shares.

A column's values become text (a missing value is ``(missing)``). A column
with more than :data:`MAX_GROUPS` distinct values keeps the most frequent
ones (ties by text) and pools the rest as ``(other)``, so a continuous column
yields 21 segments, not one per row: bin such a column first. Groups are
listed by row count, largest first, ``(other)`` last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from loopml.evaluation.entities import MISSING_VALUE, OTHER_VALUE, SegmentGroup, SegmentReport

if TYPE_CHECKING:
    import pandas as pd

MAX_GROUPS = 20

# rows (a boolean mask) -> (metrics, notes)
MetricsOf = Callable[[NDArray[np.bool_]], tuple[dict[str, float], list[str]]]


def group_labels(column: pd.Series[Any]) -> tuple[NDArray[np.str_], list[str], int]:
    """Each row's group, the groups in report order, and how many values were pooled."""
    text = column.astype("string").fillna(MISSING_VALUE).to_numpy(dtype=str)
    values, counts = np.unique(text, return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))
    kept = [str(values[i]) for i in order[:MAX_GROUPS]]
    pooled = len(values) - len(kept)
    if pooled:
        text = np.where(np.isin(text, kept), text, OTHER_VALUE)
        kept.append(OTHER_VALUE)
    return text, kept, pooled


def segment_report(name: str, column: pd.Series[Any], metrics_of: MetricsOf) -> SegmentReport:
    """``metrics_of`` applied to the rows of each group of ``column``."""
    groups, order, pooled = group_labels(column)
    found = []
    for value in order:
        rows = groups == value
        metrics, _ = metrics_of(rows)
        found.append(SegmentGroup(value, int(rows.sum()), metrics))
    return SegmentReport(name, tuple(found), pooled)


def undefined_note(report: SegmentReport) -> str | None:
    """One line naming metrics that are undefined (NaN) in some of the column's segments."""
    counts: dict[str, int] = {}
    for group in report.groups:
        for metric, number in group.metrics.items():
            if np.isnan(number):
                counts[metric] = counts.get(metric, 0) + 1
    if not counts:
        return None
    listed = ", ".join(f"{metric} in {n}" for metric, n in counts.items())
    return (
        f"segment {report.column!r}: undefined (NaN, left out of gate values) {listed} of "
        f"{len(report.groups)} segments"
    )
