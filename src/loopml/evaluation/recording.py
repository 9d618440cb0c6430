"""Log an evaluation to a tracking run: its numbers as metrics, its reports as artifacts.

Metric keys (``prefix`` defaults to ``eval``), one per number, step 0:

- ``eval.<metric>``, ``eval.row_count``
- ``eval.baseline.<metric>`` and ``eval.delta.<metric>`` (model minus baseline)
- ``eval.segment.<column>.<value>.<metric>`` and ``eval.segment.<column>.<value>.count``
- ``eval.fairness.<column>.<measure>`` and ``eval.fairness.<column>.<group>.<rate>``

MLflow allows letters, digits, ``_ - . / space`` (and ``:``) in a key and we
use ``.`` as the separator (a dotted ``prefix`` keeps its dots), so inside each
part every other character (``.`` and ``/`` included) becomes ``_``, and a
part is cut to 60 characters. Two parts
that clean to the same text would clash: the later key gets ``_2``, ``_3``.
``NaN`` (an undefined metric) is logged as ``NaN``, as MLflow does.

The reports go to ``<artifact_path>/report.json`` and ``report.html``
(``evaluation/`` by default). Metrics go in batches of 1,000 (MLflow's cap),
each batch atomic; the artifacts are written after the metrics.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from loopml.core.clock import now_ms
from loopml.evaluation.entities import EvaluationResult, FairnessReport
from loopml.evaluation.report import render_html, render_json

if TYPE_CHECKING:
    from loopml.tracking.client import TrackingClient

BATCH_SIZE = 1000
MAX_PART_LENGTH = 60
_NOT_KEY_CHARACTER = re.compile(r"[^A-Za-z0-9_\- ]")


def log_evaluation(
    client: TrackingClient,
    run_id: str,
    result: EvaluationResult,
    *,
    prefix: str = "eval",
    artifact_path: str = "evaluation",
    title: str = "Model evaluation",
) -> None:
    """Log ``result``'s numbers as run metrics and its JSON and HTML reports as artifacts.

    Args:
        client: a tracking client (embedded or remote).
        run_id: an active run.
        result: what ``evaluate_model`` returned.
        prefix: the first part of every metric key.
        artifact_path: the artifact directory the two reports go to.
        title: the HTML page's title.
    """
    from loopml.tracking.entities import Metric

    stamp = now_ms()
    metrics = [Metric(key, value, stamp, 0) for key, value in metric_items(result, prefix)]
    for start in range(0, len(metrics), BATCH_SIZE):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH_SIZE])
    folder = artifact_path.strip("/")
    client.log_artifact_bytes(run_id, render_json(result).encode(), f"{folder}/report.json")
    page = render_html(result, title=title).encode()
    client.log_artifact_bytes(run_id, page, f"{folder}/report.html")


def metric_items(result: EvaluationResult, prefix: str = "eval") -> list[tuple[str, float]]:
    """The ``(key, value)`` pairs :func:`log_evaluation` logs, keys MLflow-legal and unique."""
    raw: list[tuple[tuple[str, ...], float]] = [((name,), v) for name, v in result.metrics.items()]
    raw.append((("row_count",), float(result.row_count)))
    for name, value in (result.baseline or {}).items():
        raw.append((("baseline", name), value))
    raw.extend((("delta", name), value) for name, value in result.deltas.items())
    for segment in result.segments:
        for group in segment.groups:
            where = ("segment", segment.column, group.value)
            raw.append(((*where, "count"), float(group.count)))
            raw.extend(((*where, name), value) for name, value in group.metrics.items())
    for report in result.fairness:
        raw.extend(
            (("fairness", report.column, m), getattr(report, m)) for m in FairnessReport.MEASURES
        )
        for fair_group in report.groups:
            raw.extend(
                (("fairness", report.column, fair_group.value, rate), getattr(fair_group, rate))
                for rate in FairnessReport.RATES
            )
    return _unique([(_key(prefix, parts), float(value)) for parts, value in raw])


def _key(prefix: str, parts: tuple[str, ...]) -> str:
    return ".".join(_part(p) for p in (*prefix.split("."), *parts))


def _part(text: str) -> str:
    cleaned = _NOT_KEY_CHARACTER.sub("_", text)[:MAX_PART_LENGTH].strip()
    return cleaned or "_"


def _unique(items: list[tuple[str, float]]) -> list[tuple[str, float]]:
    taken: set[str] = set()
    out = []
    for key, value in items:
        unique, count = key, 1
        while unique in taken:
            count += 1
            unique = f"{key}_{count}"
        taken.add(unique)
        out.append((unique, value))
    return out
