"""What a validation run found: one result per expectation, gathered in a report.

Reports are stored with dataset versions and sent over HTTP, so they are
plain data and JSON-safe through :meth:`ValidationReport.to_dict`: NumPy
scalars become Python numbers, decimals floats, times ISO text, and NaN or
infinity ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from loopml.data.sql import json_safe
from loopml.data.validation.expectations import Expectation


def to_json(value: Any) -> Any:
    """``value`` as JSON can carry it (``loopml.data.sql.json_safe``, plus NumPy values)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return json_safe(value)


@dataclass(frozen=True)
class ExpectationResult:
    """How one expectation fared.

    ``observed`` is what was measured (a null fraction, ``{"min", "max"}``, a
    mean, a duplicate count, the actual type). Row-level kinds also count the
    rows that break them (``unexpected_fraction`` is of all rows) and keep up
    to ``sample_rows`` of them whole in ``failing_rows``.
    """

    expectation: Expectation
    success: bool
    observed: Any
    unexpected_count: int | None
    unexpected_fraction: float | None
    failing_rows: list[dict[str, Any]]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation.to_dict(),
            "success": self.success,
            "observed": to_json(self.observed),
            "unexpected_count": self.unexpected_count,
            "unexpected_fraction": to_json(self.unexpected_fraction),
            "failing_rows": to_json(self.failing_rows),
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExpectationResult:
        return cls(
            expectation=Expectation.from_dict(data["expectation"]),
            success=bool(data["success"]),
            observed=data.get("observed"),
            unexpected_count=data.get("unexpected_count"),
            unexpected_fraction=data.get("unexpected_fraction"),
            failing_rows=list(data.get("failing_rows") or []),
            message=str(data.get("message", "")),
        )


@dataclass(frozen=True)
class ValidationReport:
    """A suite run against one table: ``success`` when every expectation passed."""

    suite_name: str
    success: bool
    results: list[ExpectationResult]
    row_count: int
    duration_ms: float

    @property
    def failures(self) -> list[ExpectationResult]:
        return [result for result in self.results if not result.success]

    def summary(self) -> str:
        """One line per failed expectation (or a line saying all passed), for logs and CLIs."""
        if self.success:
            return f"{self.suite_name}: all {len(self.results)} expectations passed"
        lines = [f"{self.suite_name}: {len(self.failures)} of {len(self.results)} failed"]
        return "\n".join(lines + [f"  {result.message}" for result in self.failures])

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite_name": self.suite_name,
            "success": self.success,
            "row_count": self.row_count,
            "duration_ms": self.duration_ms,
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        return cls(
            suite_name=str(data["suite_name"]),
            success=bool(data["success"]),
            results=[ExpectationResult.from_dict(item) for item in data["results"]],
            row_count=int(data["row_count"]),
            duration_ms=float(data["duration_ms"]),
        )
