"""The end-to-end demo's data: seeded weekly loan applications, delayed labels, a recession.

Pure numpy and pandas (see :mod:`loopml.demo.data`); importing it pulls in
nothing heavier.
"""

from __future__ import annotations

from loopml.demo.data import (
    CATEGORICAL_FEATURES,
    COLUMNS,
    EPOCH,
    FEATURES,
    ID,
    LABEL_DELAY_WEEKS,
    NUMERIC_FEATURES,
    RECESSION,
    SEGMENTS,
    SENSITIVE,
    TARGET,
    TIME,
    Drift,
    applications,
    corrupt,
    inputs_and_label,
    labelled_weeks,
    labels_arrive,
    week_start,
)

__all__ = [
    "CATEGORICAL_FEATURES",
    "COLUMNS",
    "EPOCH",
    "FEATURES",
    "ID",
    "LABEL_DELAY_WEEKS",
    "NUMERIC_FEATURES",
    "RECESSION",
    "SEGMENTS",
    "SENSITIVE",
    "TARGET",
    "TIME",
    "Drift",
    "applications",
    "corrupt",
    "inputs_and_label",
    "labelled_weeks",
    "labels_arrive",
    "week_start",
]
