"""What the prediction log holds: one record per request a model answered. No I/O here.

``inputs`` and ``outputs`` are the JSON text the server already has in hand, so
logging a prediction never re-serialises a payload on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One answered request, as the inference server saw it.

    Attributes:
        request_id: the server's request id (``X-Request-Id``), the key ground truth joins on.
        time_ms: when the request arrived, epoch milliseconds UTC.
        endpoint: the serving endpoint's name (path-safe: see ``check_endpoint_name``).
        route: which model answered: ``"primary"``, ``"canary"``, ``"shadow:<name>"``.
        model_name: the registered model's name.
        model_version: the registered model's version number.
        inputs: the request's inputs as JSON text.
        outputs: the model's outputs as JSON text.
        latency_ms: time spent answering, in milliseconds.
        status: the HTTP status answered.
        shadow: whether this answer came from a shadow model (never sent to the caller).
    """

    request_id: str
    time_ms: int
    endpoint: str
    route: str
    model_name: str
    model_version: int
    inputs: str
    outputs: str
    latency_ms: float
    status: int
    shadow: bool
