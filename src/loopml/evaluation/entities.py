"""What an evaluation found: plain frozen dataclasses, no I/O, no numpy.

An :class:`EvaluationResult` is built once by :func:`loopml.evaluation.evaluate_model`
and then read three ways: :meth:`EvaluationResult.values` is the nested mapping
the release gates read, :meth:`EvaluationResult.to_dict` is its JSON-safe
form (``NaN`` and infinities become ``null``; :meth:`EvaluationResult.from_dict`
turns them back into ``NaN``), and the reports draw from the fields.

Labels and segment values are kept as text (``str(value)``; a missing value
is ``"(missing)"``, values beyond the cap are pooled as ``"(other)"``), so the
result is the same whether the data held integers, strings or categories.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
MISSING_VALUE = "(missing)"
OTHER_VALUE = "(other)"


@runtime_checkable
class Predictor(Protocol):
    """Anything with ``predict(X)``; classifiers may also have ``predict_proba(X)``."""

    def predict(self, X: Any) -> Any: ...


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts with true labels as rows and predicted labels as columns."""

    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Curve:
    """A curve as points (at most 200); ``counts`` holds rows per calibration bin."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    counts: tuple[int, ...] = ()


@dataclass(frozen=True)
class Curves:
    """ROC (x = false positive rate), PR (x = recall) and calibration (x = mean score)."""

    roc: Curve | None = None
    pr: Curve | None = None
    calibration: Curve | None = None


@dataclass(frozen=True)
class SegmentGroup:
    value: str
    count: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class SegmentReport:
    """The scalar metrics for each value of one column; ``pooled`` values went to (other)."""

    column: str
    groups: tuple[SegmentGroup, ...]
    pooled: int = 0


@dataclass(frozen=True)
class FairnessGroup:
    value: str
    count: int
    selection_rate: float
    true_positive_rate: float
    false_positive_rate: float


@dataclass(frozen=True)
class FairnessReport:
    """Group rates for one sensitive column and the gaps between them."""

    column: str
    positive_label: str
    groups: tuple[FairnessGroup, ...]
    demographic_parity_difference: float
    demographic_parity_ratio: float
    equalized_odds_difference: float
    equal_opportunity_difference: float

    MEASURES = (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equal_opportunity_difference",
    )
    RATES = ("selection_rate", "true_positive_rate", "false_positive_rate")


@dataclass(frozen=True)
class FeatureImportance:
    """Permutation: mean and std of the score drop; SHAP: mean and std of ``|value|``."""

    feature: str
    mean: float
    std: float


@dataclass(frozen=True)
class EvaluationResult:
    """One model scored on one table. Build with ``evaluate_model``; no I/O here."""

    task: Task
    target: str
    row_count: int
    features: tuple[str, ...]
    metrics: dict[str, float]
    labels: tuple[str, ...] = ()
    positive_label: str | None = None
    confusion: ConfusionMatrix | None = None
    curves: Curves = field(default_factory=Curves)
    segments: tuple[SegmentReport, ...] = ()
    fairness: tuple[FairnessReport, ...] = ()
    importance: tuple[FeatureImportance, ...] = ()
    importance_scoring: str | None = None
    shap: tuple[FeatureImportance, ...] = ()
    baseline: dict[str, float] | None = None
    notes: tuple[str, ...] = ()

    @property
    def deltas(self) -> dict[str, float]:
        """Model minus baseline for every metric both have (empty without a baseline)."""
        if self.baseline is None:
            return {}
        return {k: v - self.baseline[k] for k, v in self.metrics.items() if k in self.baseline}

    def values(self) -> dict[str, Any]:
        """The nested mapping :func:`loopml.evaluation.check_gates` reads.

        Keys: every metric at the top (``roc_auc``), ``row_count``,
        ``baseline.<metric>`` and ``delta.<metric>`` (model minus baseline),
        ``segment.<column>.<metric>`` and ``segment.<column>.count`` as
        ``{segment value: number}``, ``fairness.<column>.<measure>`` and
        ``fairness.<column>.<rate>`` as ``{group: number}``. A segment or group
        whose value is undefined (``NaN``) is left out of its mapping, so that
        ``min(...)`` reduces only the defined ones; a top-level ``NaN`` stays
        and fails any gate that reads it.
        """
        values: dict[str, Any] = dict(self.metrics)
        values["row_count"] = self.row_count
        if self.baseline is not None:
            values["baseline"] = dict(self.baseline)
            values["delta"] = self.deltas
        if self.segments:
            values["segment"] = {s.column: _segment_values(s) for s in self.segments}
        if self.fairness:
            values["fairness"] = {f.column: _fairness_values(f) for f in self.fairness}
        return values

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe copy: tuples become lists, ``NaN`` and infinities ``None``."""
        return {
            "task": self.task,
            "target": self.target,
            "row_count": self.row_count,
            "features": list(self.features),
            "labels": list(self.labels),
            "positive_label": self.positive_label,
            "metrics": _numbers(self.metrics),
            "confusion": _confusion_dict(self.confusion),
            "curves": {
                "roc": _curve_dict(self.curves.roc),
                "pr": _curve_dict(self.curves.pr),
                "calibration": _curve_dict(self.curves.calibration),
            },
            "segments": [_segment_dict(s) for s in self.segments],
            "fairness": [_fairness_dict(f) for f in self.fairness],
            "importance": [_importance_dict(i) for i in self.importance],
            "importance_scoring": self.importance_scoring,
            "shap": [_importance_dict(i) for i in self.shap],
            "baseline": None if self.baseline is None else _numbers(self.baseline),
            "deltas": _numbers(self.deltas),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """The result :meth:`to_dict` (or a stored ``report.json``) describes."""
        curves = data["curves"]
        return cls(
            task=data["task"],
            target=data["target"],
            row_count=int(data["row_count"]),
            features=tuple(data["features"]),
            metrics=_floats(data["metrics"]),
            labels=tuple(data["labels"]),
            positive_label=data["positive_label"],
            confusion=_confusion_from(data["confusion"]),
            curves=Curves(*(_curve_from(curves[k]) for k in ("roc", "pr", "calibration"))),
            segments=tuple(_segment_from(s) for s in data["segments"]),
            fairness=tuple(_fairness_from(f) for f in data["fairness"]),
            importance=tuple(_importance_from(i) for i in data["importance"]),
            importance_scoring=data["importance_scoring"],
            shap=tuple(_importance_from(i) for i in data["shap"]),
            baseline=None if data["baseline"] is None else _floats(data["baseline"]),
            notes=tuple(data["notes"]),
        )


# --- values() ----------------------------------------------------------------------------


def _segment_values(report: SegmentReport) -> dict[str, dict[str, float]]:
    names = list(dict.fromkeys(k for g in report.groups for k in g.metrics))
    out: dict[str, dict[str, float]] = {"count": {g.value: g.count for g in report.groups}}
    for name in names:
        out[name] = {
            g.value: g.metrics[name]
            for g in report.groups
            if name in g.metrics and not math.isnan(g.metrics[name])
        }
    return out


def _fairness_values(report: FairnessReport) -> dict[str, Any]:
    out: dict[str, Any] = {m: getattr(report, m) for m in FairnessReport.MEASURES}
    for rate in FairnessReport.RATES:
        out[rate] = {
            g.value: getattr(g, rate) for g in report.groups if not math.isnan(getattr(g, rate))
        }
    out["count"] = {g.value: g.count for g in report.groups}
    return out


# --- to_dict() / from_dict() ---------------------------------------------------------------


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _numbers(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: _json_number(v) for k, v in values.items()}


def _floats(values: Mapping[str, float | None]) -> dict[str, float]:
    return {k: _number(v) for k, v in values.items()}


def _confusion_dict(confusion: ConfusionMatrix | None) -> dict[str, Any] | None:
    if confusion is None:
        return None
    return {"labels": list(confusion.labels), "counts": [list(r) for r in confusion.counts]}


def _confusion_from(data: Mapping[str, Any] | None) -> ConfusionMatrix | None:
    if data is None:
        return None
    return ConfusionMatrix(tuple(data["labels"]), tuple(tuple(r) for r in data["counts"]))


def _curve_dict(curve: Curve | None) -> dict[str, Any] | None:
    if curve is None:
        return None
    return {
        "x": [_json_number(v) for v in curve.x],
        "y": [_json_number(v) for v in curve.y],
        "counts": list(curve.counts),
    }


def _curve_from(data: Mapping[str, Any] | None) -> Curve | None:
    if data is None:
        return None
    x, y = (tuple(_number(v) for v in data[k]) for k in ("x", "y"))
    return Curve(x, y, tuple(data["counts"]))


def _segment_dict(report: SegmentReport) -> dict[str, Any]:
    groups = [
        {"value": g.value, "count": g.count, "metrics": _numbers(g.metrics)} for g in report.groups
    ]
    return {"column": report.column, "pooled": report.pooled, "groups": groups}


def _segment_from(data: Mapping[str, Any]) -> SegmentReport:
    groups = tuple(
        SegmentGroup(g["value"], int(g["count"]), _floats(g["metrics"])) for g in data["groups"]
    )
    return SegmentReport(data["column"], groups, int(data["pooled"]))


def _fairness_dict(report: FairnessReport) -> dict[str, Any]:
    out: dict[str, Any] = {"column": report.column, "positive_label": report.positive_label}
    out.update({m: _json_number(getattr(report, m)) for m in FairnessReport.MEASURES})
    out["groups"] = [
        {"value": g.value, "count": g.count}
        | {r: _json_number(getattr(g, r)) for r in FairnessReport.RATES}
        for g in report.groups
    ]
    return out


def _fairness_from(data: Mapping[str, Any]) -> FairnessReport:
    groups = tuple(
        FairnessGroup(g["value"], int(g["count"]), *(_number(g[r]) for r in FairnessReport.RATES))
        for g in data["groups"]
    )
    measures = (_number(data[m]) for m in FairnessReport.MEASURES)
    return FairnessReport(data["column"], data["positive_label"], groups, *measures)


def _importance_dict(item: FeatureImportance) -> dict[str, Any]:
    return {"feature": item.feature, "mean": _json_number(item.mean), "std": _json_number(item.std)}


def _importance_from(data: Mapping[str, Any]) -> FeatureImportance:
    return FeatureImportance(data["feature"], _number(data["mean"]), _number(data["std"]))
