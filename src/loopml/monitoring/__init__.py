"""Monitoring: drift and data quality of live data against a reference.

``compare(reference, current)`` profiles both sides (or takes stored
:class:`Profile` objects), runs the detectors chosen by column kind and sample
size (see :mod:`loopml.monitoring.detectors`), checks data quality, and returns
a :class:`DriftResult`; ``render_html`` draws it as one self-contained page.

Importing this package stays light: numpy, scipy, pandas, pyarrow,
scikit-learn and datasketches are imported when a profile is computed or a
comparison runs, not before.
"""

from __future__ import annotations

from loopml.monitoring.compare import compare
from loopml.monitoring.entities import (
    ColumnDrift,
    ColumnQuality,
    DetectorResult,
    Distribution,
    DriftResult,
    QualityIssue,
)
from loopml.monitoring.multivariate import domain_classifier_auc
from loopml.monitoring.profile import ColumnProfile, Profile, profile
from loopml.monitoring.report import render_html

__all__ = [
    "ColumnDrift",
    "ColumnProfile",
    "ColumnQuality",
    "DetectorResult",
    "Distribution",
    "DriftResult",
    "Profile",
    "QualityIssue",
    "compare",
    "domain_classifier_auc",
    "profile",
    "render_html",
]
