"""What a comparison returns: detector results, data-quality issues, per-column and
dataset verdicts.

Plain frozen dataclasses with no I/O and no heavy imports. ``to_dict`` is
JSON-safe (non-finite floats become ``None``); :meth:`DriftResult.values` is the
flat mapping alert rules read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["drifted", "stable", "insufficient data", "not compared"]
DRIFTED: Verdict = "drifted"
STABLE: Verdict = "stable"
INSUFFICIENT: Verdict = "insufficient data"
NOT_COMPARED: Verdict = "not compared"


def finite_or_none(value: float | None) -> float | None:
    """A float JSON can hold: NaN and infinities become ``None``."""
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class DetectorResult:
    """One detector on one column.

    ``score`` is the detector's measure (a p-value for ``ks`` and ``chi_square``,
    where *smaller* means drift; an effect size for the others, where *larger*
    does). ``drifted`` is ``None`` when there was too little data to say.
    ``p_value`` is the significance of the change an effect-size detector
    measured (the guard described in :mod:`loopml.monitoring.detectors`).
    """

    detector: str
    score: float
    threshold: float
    drifted: bool | None
    note: str = ""
    p_value: float | None = None

    @property
    def lower_is_drift(self) -> bool:
        return self.detector in P_VALUE_DETECTORS

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "score": finite_or_none(self.score),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "note": self.note,
            "p_value": finite_or_none(self.p_value),
        }


P_VALUE_DETECTORS = frozenset({"ks", "chi_square"})


@dataclass(frozen=True)
class QualityIssue:
    """One data-quality finding: a stable ``code`` for rules, a sentence for people."""

    code: str
    message: str


@dataclass(frozen=True)
class ColumnQuality:
    """Data quality of one column in the current window, measured against the reference."""

    missing_share_reference: float | None = None
    missing_share_current: float | None = None
    out_of_range_share: float | None = None
    unseen_share: float | None = None
    nan_share: float | None = None
    inf_share: float | None = None
    issues: tuple[QualityIssue, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(issue.code for issue in self.issues)

    def to_dict(self) -> dict[str, Any]:
        return {
            "missing_share_reference": finite_or_none(self.missing_share_reference),
            "missing_share_current": finite_or_none(self.missing_share_current),
            "out_of_range_share": finite_or_none(self.out_of_range_share),
            "unseen_share": finite_or_none(self.unseen_share),
            "nan_share": finite_or_none(self.nan_share),
            "inf_share": finite_or_none(self.inf_share),
            "issues": [{"code": i.code, "message": i.message} for i in self.issues],
        }


@dataclass(frozen=True)
class Distribution:
    """Reference and current shares over the same bins, for the report's charts.

    Numeric columns: ``edges`` has one more entry than the shares (bins from the
    reference's quantiles). Categorical: ``labels`` names each bar.
    """

    reference: tuple[float, ...]
    current: tuple[float, ...]
    edges: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": list(self.reference),
            "current": list(self.current),
            "edges": [finite_or_none(e) for e in self.edges],
            "labels": list(self.labels),
        }


@dataclass(frozen=True)
class ColumnDrift:
    """One column: its kind, every detector that ran, the verdict and its data quality.

    ``detector``/``score``/``threshold`` repeat the headline result: the deciding
    detector that drifted most (relative to its threshold), else the first
    deciding one. ``decided_by`` names the detectors whose results make the verdict.
    """

    name: str
    kind: str
    current_kind: str
    verdict: Verdict
    results: tuple[DetectorResult, ...] = ()
    decided_by: tuple[str, ...] = ()
    quality: ColumnQuality = field(default_factory=ColumnQuality)
    distribution: Distribution | None = None
    reference_count: int = 0
    current_count: int = 0

    @property
    def headline(self) -> DetectorResult | None:
        deciding = [r for r in self.results if r.detector in self.decided_by]
        drifted = [r for r in deciding if r.drifted]
        if drifted:
            return max(drifted, key=_severity)
        return deciding[0] if deciding else None

    @property
    def drifted(self) -> bool | None:
        if self.verdict in (INSUFFICIENT, NOT_COMPARED):
            return None
        return self.verdict == DRIFTED

    def result(self, detector: str) -> DetectorResult:
        """The result of ``detector`` on this column (``KeyError`` when it did not run)."""
        for r in self.results:
            if r.detector == detector:
                return r
        raise KeyError(detector)

    def to_dict(self) -> dict[str, Any]:
        head = self.headline
        return {
            "name": self.name,
            "kind": self.kind,
            "current_kind": self.current_kind,
            "verdict": self.verdict,
            "detector": head.detector if head else None,
            "score": finite_or_none(head.score) if head else None,
            "threshold": head.threshold if head else None,
            "decided_by": list(self.decided_by),
            "results": [r.to_dict() for r in self.results],
            "quality": self.quality.to_dict(),
            "distribution": self.distribution.to_dict() if self.distribution else None,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
        }


def _severity(result: DetectorResult) -> float:
    """How far past its threshold a result is, comparable across detectors."""
    if result.lower_is_drift:
        return result.threshold / max(result.score, 1e-300)
    return result.score / result.threshold if result.threshold else math.inf


@dataclass(frozen=True)
class DriftResult:
    """A reference compared with a current window, column by column."""

    columns: tuple[ColumnDrift, ...]
    drift_share: float
    reference_rows: int
    current_rows: int
    prediction: ColumnDrift | None = None
    multivariate: DetectorResult | None = None

    @property
    def judged(self) -> tuple[ColumnDrift, ...]:
        """Columns with a verdict (drifted or stable)."""
        return tuple(c for c in self.columns if c.drifted is not None)

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.verdict == DRIFTED)

    @property
    def share_drifted(self) -> float | None:
        judged = self.judged
        return len(self.drifted_columns) / len(judged) if judged else None

    @property
    def dataset_drifted(self) -> bool | None:
        share = self.share_drifted
        return None if share is None else share >= self.drift_share

    def column(self, name: str) -> ColumnDrift:
        """The column called ``name`` (``KeyError`` when it was not compared)."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_drifted": self.dataset_drifted,
            "share_drifted": self.share_drifted,
            "drift_share": self.drift_share,
            "drifted_columns": list(self.drifted_columns),
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "columns": [c.to_dict() for c in self.columns],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "multivariate": self.multivariate.to_dict() if self.multivariate else None,
        }

    def values(self) -> dict[str, Any]:
        """The numbers rules and alerts read, JSON-safe::

        {"dataset_drifted": bool | None, "share_drifted": float | None,
         "columns": {name: {"score", "threshold", "detector", "drifted", "verdict",
                            "detectors": {detector: score}, "quality": [codes],
                            "missing_share", "out_of_range_share", "unseen_share"}},
         "prediction": {...same...} | None, "multivariate": {"score", "drifted"} | None}
        """
        multivariate = None
        if self.multivariate is not None:
            multivariate = {
                "score": finite_or_none(self.multivariate.score),
                "drifted": self.multivariate.drifted,
            }
        return {
            "dataset_drifted": self.dataset_drifted,
            "share_drifted": self.share_drifted,
            "columns": {c.name: _column_values(c) for c in self.columns},
            "prediction": _column_values(self.prediction) if self.prediction else None,
            "multivariate": multivariate,
        }


def _column_values(column: ColumnDrift) -> dict[str, Any]:
    head = column.headline
    quality = column.quality
    return {
        "score": finite_or_none(head.score) if head else None,
        "threshold": head.threshold if head else None,
        "detector": head.detector if head else None,
        "drifted": column.drifted,
        "verdict": column.verdict,
        "detectors": {r.detector: finite_or_none(r.score) for r in column.results},
        "quality": list(quality.codes),
        "missing_share": finite_or_none(quality.missing_share_current),
        "out_of_range_share": finite_or_none(quality.out_of_range_share),
        "unseen_share": finite_or_none(quality.unseen_share),
    }
