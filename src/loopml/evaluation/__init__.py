"""Evaluation of models: metrics, segments, fairness, explanations and reports.

The release gates that read an evaluation live with the registry
(:mod:`loopml.registry.gates`), which enforces them on promotion.

Importing this package stays light: numpy, pandas and scikit-learn are
imported when :func:`evaluate_model` runs, not before.
"""

from __future__ import annotations

from loopml.evaluation.engine import evaluate_model
from loopml.evaluation.entities import (
    ConfusionMatrix,
    Curve,
    Curves,
    EvaluationResult,
    FairnessGroup,
    FairnessReport,
    FeatureImportance,
    Predictor,
    SegmentGroup,
    SegmentReport,
)
from loopml.evaluation.recording import log_evaluation, metric_items
from loopml.evaluation.report import render_html, render_json

__all__ = [
    "ConfusionMatrix",
    "Curve",
    "Curves",
    "EvaluationResult",
    "FairnessGroup",
    "FairnessReport",
    "FeatureImportance",
    "Predictor",
    "SegmentGroup",
    "SegmentReport",
    "evaluate_model",
    "log_evaluation",
    "metric_items",
    "render_html",
    "render_json",
]
