"""Time in one place: UTC, epoch milliseconds where MLflow stores them."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Current UTC time as epoch milliseconds."""
    return time.time_ns() // 1_000_000
