"""Model performance per window, from the prediction log joined with late ground truth.

Labels arrive when they arrive (often days later), attached by request id
(``log_ground_truth`` / ``POST /v2/feedback``); a window's performance is
computed over the requests that have a label by the time it is asked, and
always says how many that was, so a number from 12 labelled rows is never
mistaken for one from 12,000. Metrics are the evaluation engine's own (the
same names as a release gate reads), for the whole window and per segment (a
value of one input column).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from loopml.core.errors import InvalidParameter

TASKS = ("classification", "regression")
MIN_LABELLED_ROWS = 1


@dataclass(frozen=True)
class WindowPerformance:
    """Metrics over a window's labelled requests (``labelled_rows`` of ``rows``)."""

    task: str
    rows: int
    labelled_rows: int
    metrics: dict[str, float]
    segments: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "labelled_rows": self.labelled_rows,
            "metrics": self.metrics,
            "segments": self.segments,
        }


def window_performance(
    artifacts: Any,
    endpoint: str,
    start_ms: int,
    end_ms: int,
    *,
    task: str,
    segments: tuple[str, ...] = (),
    routes: tuple[str, ...] | None = None,
) -> WindowPerformance:
    """Performance of ``endpoint``'s answers in ``[start_ms, end_ms)`` that have labels
    (only those answered by ``routes``, when given: a canary against the rest)."""
    from loopml.predictions import read

    if task not in TASKS:
        raise InvalidParameter(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    logged = read(
        artifacts,
        endpoint=endpoint,
        start_ms=start_ms,
        end_ms=end_ms,
        include_shadow=False,
        with_ground_truth=True,
    )
    rows = labelled = 0
    truth: list[Any] = []
    predicted: list[Any] = []
    segment_values: dict[str, list[Any]] = {column: [] for column in segments}
    for record in logged.to_pylist():
        if routes is not None and record["route"] not in routes:
            continue
        outputs = json.loads(record["outputs"])
        count = len(outputs) if isinstance(outputs, list) else 1
        rows += count
        if record["ground_truth"] is None:
            continue
        label = json.loads(record["ground_truth"])
        labels = label if isinstance(label, list) else [label]
        answers = outputs if isinstance(outputs, list) else [outputs]
        if len(labels) != len(answers):
            continue  # a label for a batch request must give one value per row
        labelled += len(labels)
        truth += labels
        predicted += answers
        inputs = json.loads(record["inputs"]) if segments else {}
        for column in segments:
            values = inputs.get(column) if isinstance(inputs, dict) else None
            segment_values[column] += values if isinstance(values, list) else [None] * count
    if labelled < MIN_LABELLED_ROWS:
        return WindowPerformance(task, rows, 0, {})
    metrics = _metrics(task, truth, predicted)
    by_segment = {
        column: _by_segment(task, truth, predicted, values)
        for column, values in segment_values.items()
    }
    return WindowPerformance(task, rows, labelled, metrics, by_segment)


def _metrics(task: str, truth: list[Any], predicted: list[Any]) -> dict[str, float]:
    import numpy as np

    from loopml.evaluation.metrics import classification_metrics, regression_metrics

    y_true, y_pred = np.asarray(truth), np.asarray(predicted)
    if task == "regression":
        found, _ = regression_metrics(y_true.astype(float), y_pred.astype(float))
    else:
        labels = np.unique(np.concatenate([y_true, y_pred]))
        positive = labels[-1] if len(labels) == 2 else None
        found, _ = classification_metrics(y_true, y_pred, None, labels, positive)
    return {name: float(value) for name, value in found.items()}


def _by_segment(
    task: str, truth: list[Any], predicted: list[Any], values: list[Any]
) -> dict[str, dict[str, float]]:
    groups: dict[str, list[int]] = {}
    for index, value in enumerate(values):
        groups.setdefault("(missing)" if value is None else str(value), []).append(index)
    return {
        name: {
            **_metrics(task, [truth[i] for i in picks], [predicted[i] for i in picks]),
            "count": float(len(picks)),
        }
        for name, picks in sorted(groups.items())
    }
