"""Evaluation of models and the release gates that read it (issue 5).

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
from loopml.evaluation.gates import Gate, GateResult, check_gates
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
    "Gate",
    "GateResult",
    "Predictor",
    "SegmentGroup",
    "SegmentReport",
    "check_gates",
    "evaluate_model",
    "log_evaluation",
    "metric_items",
    "render_html",
    "render_json",
]
