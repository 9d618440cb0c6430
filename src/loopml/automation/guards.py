"""A canary's live numbers, and the primary routes' beside them, from the prediction log.

Per side (the canary route, and every other primary route together): the
requests answered, the share that failed (5xx), latency percentiles, and
once labels arrive the task's metrics over the labelled rows with how many
there were. Guard rules read the canary's numbers by name and the primary
side's as ``baseline.*`` (the registry's gate syntax); a name that is not
there yet (no labels) leaves its guard undecided rather than failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopml.registry.gates import check_gates

CANARY_ROUTE = "canary"


@dataclass(frozen=True)
class GuardVerdict:
    """``passed``: every guard passed; ``failed``: the guards that failed on real numbers."""

    passed: bool
    failed: list[str]
    undecided: list[str]
    numbers: dict[str, Any]


def route_numbers(
    artifacts: Any, endpoint: str, start_ms: int, end_ms: int, task: str
) -> dict[str, Any]:
    """``{"requests": ..., "error_rate": ..., ..., "baseline": {...}}`` for the canary."""
    import numpy as np

    from loopml.monitoring.performance import window_performance
    from loopml.predictions import read

    logged = read(
        artifacts, endpoint=endpoint, start_ms=start_ms, end_ms=end_ms, include_shadow=False
    )
    routes = logged.column("route").to_pylist()
    statuses = np.asarray(logged.column("status").to_pylist(), dtype=float)
    latencies = np.asarray(logged.column("latency_ms").to_pylist(), dtype=float)
    primary = tuple(sorted({r for r in routes if r != CANARY_ROUTE}))
    sides: dict[str, Any] = {}
    for side, names in (("canary", (CANARY_ROUTE,)), ("baseline", primary)):
        picked = np.asarray([r in names for r in routes], dtype=bool)
        numbers = _traffic(statuses[picked], latencies[picked])
        performance = window_performance(
            artifacts, endpoint, start_ms, end_ms, task=task, routes=names
        )
        numbers["labelled"] = float(performance.labelled_rows)
        numbers.update(performance.metrics)
        sides[side] = numbers
    return {**sides["canary"], "baseline": sides["baseline"]}


def _traffic(statuses: Any, latencies: Any) -> dict[str, float]:
    import numpy as np

    count = len(statuses)
    if count == 0:
        return {"requests": 0.0}
    return {
        "requests": float(count),
        "error_rate": float(np.mean(statuses >= 500)),
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p95_ms": float(np.percentile(latencies, 95)),
    }


def judge(guards: tuple[str, ...], numbers: dict[str, Any]) -> GuardVerdict:
    """Each guard on the numbers: passed, failed (both sides known), or undecided."""
    failed, undecided = [], []
    for result in check_gates(list(guards), numbers):
        if result.left is None or result.right is None:
            undecided.append(result.message)
        elif not result.passed:
            failed.append(result.message)
    return GuardVerdict(not failed and not undecided, failed, undecided, numbers)
