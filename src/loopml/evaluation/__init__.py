"""Evaluation of models and the release gates that read it (issue 5; gates first)."""

from __future__ import annotations

from loopml.evaluation.gates import Gate, GateResult, check_gates

__all__ = ["Gate", "GateResult", "check_gates"]
