"""Factories for prediction-log tests: a real artifact store in a temp dir, and records."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loopml.artifacts import ArtifactStore
from loopml.predictions import PredictionRecord

# 2024-03-01T00:00:00Z: records on either side land in two date partitions.
MIDNIGHT_MS = 1_709_251_200_000

MakeRecord = Callable[..., PredictionRecord]


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture
def make_record() -> MakeRecord:
    """Build records with unique request ids; any field can be overridden."""
    counter = itertools.count()

    def make(**fields: Any) -> PredictionRecord:
        number = next(counter)
        values: dict[str, Any] = {
            "request_id": f"req-{number}",
            "time_ms": MIDNIGHT_MS + 60_000 + number,
            "endpoint": "churn",
            "route": "primary",
            "model_name": "churn-model",
            "model_version": 3,
            "inputs": '{"x": [1.0, 2.0]}',
            "outputs": f'{{"y": {number}}}',
            "latency_ms": 1.25,
            "status": 200,
            "shadow": False,
        }
        values.update(fields)
        return PredictionRecord(**values)

    return make


def wait_until(predicate: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    """Poll until ``predicate`` holds; fail (not assert a duration) if it never does."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout_s} s")
        time.sleep(0.005)
