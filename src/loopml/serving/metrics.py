"""Prometheus metrics of one inference server (its own registry, so apps never mix)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    """Requests by endpoint, model, version, route and status; latency; batches; queues."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("endpoint", "model", "version", "route")
        self.requests = Counter(
            "loopml_requests", "Requests answered", (*labels, "status"), registry=self.registry
        )
        self.latency = Histogram(
            "loopml_request_seconds",
            "Time to answer a request",
            labels,
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "loopml_batch_size",
            "Requests coalesced into one model call",
            ("model",),
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "loopml_queue_depth", "Requests waiting for a model call", ("model",),
            registry=self.registry,
        )  # fmt: skip
        self.swap_failures = Counter(
            "loopml_model_swap_failures",
            "New model versions that failed to load (the old one kept serving)",
            ("model",),
            registry=self.registry,
        )

    def watch_log(self, log: Any) -> None:
        """Export the prediction log's counters (read when scraped, nothing per request)."""
        for attribute, help_text in (
            ("dropped", "Prediction-log records dropped because the queue was full"),
            ("written", "Prediction-log records written"),
            ("queued", "Prediction-log records waiting to be written"),
            ("write_errors", "Prediction-log parts that failed to write (retried)"),
        ):
            gauge = Gauge(f"loopml_prediction_log_{attribute}", help_text, registry=self.registry)
            gauge.set_function(_reader(log, attribute))

    def observe(self, labels: tuple[str, str, str, str], status: int, seconds: float) -> None:
        self.requests.labels(*labels, str(status)).inc()
        self.latency.labels(*labels).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _reader(source: Any, attribute: str) -> Callable[[], float]:
    return lambda: float(getattr(source, attribute, 0))
