"""``loopml serve``: an inference server for a registered model, under uvicorn.

The model is resolved (``models:/NAME@ALIAS`` or a version), loaded through
the registry's verified path and warmed up before the port opens, so the
first request is as fast as the rest. One worker runs in this process; more
are processes uvicorn starts from ``loopml.serving.server:create_app_from_env``
with the choices passed as ``LOOPML_SERVE_*`` variables.

Auth works as on the tracking server: always on when binding a non-loopback
address, on loopback only when asked; a caller needs read on the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from loopml.core.config import is_loopback
from loopml.core.errors import InvalidParameter
from loopml.predictions import PredictionLog, check_endpoint_name, log_ground_truth
from loopml.serving.app import DEFAULT_MAX_BODY_BYTES, ServingApp
from loopml.serving.endpoints import EndpointsClient
from loopml.serving.entities import EndpointConfig, Route
from loopml.serving.metrics import ServingMetrics
from loopml.serving.models import (
    DEFAULT_POLL_S,
    EndpointState,
    LiveEndpoint,
    Served,
    build_state,
    load_served,
)
from loopml.serving.runtime import ServedModel

APP_FACTORY = "loopml.serving.server:create_app_from_env"


@dataclass(frozen=True)
class ServeOptions:
    """What one ``loopml serve`` serves, and how."""

    target: str  # models:/NAME@ALIAS, models:/NAME/N, or an endpoint's name
    registry_uri: str | None = None  # a local path or http(s):// server; default LOOPML_HOME
    auth: bool = False
    trust: bool = False
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    endpoint: str | None = None  # the prediction log's endpoint name; default the model's name
    log_predictions: bool = True
    log_flush_s: float = 1.0
    log_queue: int = 100_000
    log_block: bool = False
    max_batch_size: int = 64  # 1 turns batching off
    max_batch_delay_ms: float = 0.0  # how long a busy queue may wait for a fuller batch
    poll_s: float = DEFAULT_POLL_S  # how often to look for a new config or a moved alias

    def to_env(self) -> dict[str, str]:
        return {
            "LOOPML_SERVE_TARGET": self.target,
            "LOOPML_SERVE_REGISTRY": self.registry_uri or "",
            "LOOPML_SERVE_AUTH": "true" if self.auth else "false",
            "LOOPML_SERVE_TRUST": "true" if self.trust else "false",
            "LOOPML_SERVE_MAX_BODY_BYTES": str(self.max_body_bytes),
            "LOOPML_SERVE_ENDPOINT": self.endpoint or "",
            "LOOPML_SERVE_LOG": "true" if self.log_predictions else "false",
            "LOOPML_SERVE_LOG_FLUSH_S": str(self.log_flush_s),
            "LOOPML_SERVE_LOG_QUEUE": str(self.log_queue),
            "LOOPML_SERVE_LOG_BLOCK": "true" if self.log_block else "false",
            "LOOPML_SERVE_MAX_BATCH_SIZE": str(self.max_batch_size),
            "LOOPML_SERVE_MAX_BATCH_DELAY_MS": str(self.max_batch_delay_ms),
            "LOOPML_SERVE_POLL_S": str(self.poll_s),
        }

    @classmethod
    def from_env(cls) -> ServeOptions:
        env = os.environ
        return cls(
            target=env["LOOPML_SERVE_TARGET"],
            registry_uri=env.get("LOOPML_SERVE_REGISTRY") or None,
            auth=env.get("LOOPML_SERVE_AUTH") == "true",
            trust=env.get("LOOPML_SERVE_TRUST") == "true",
            max_body_bytes=int(env.get("LOOPML_SERVE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
            endpoint=env.get("LOOPML_SERVE_ENDPOINT") or None,
            log_predictions=env.get("LOOPML_SERVE_LOG", "true") == "true",
            log_flush_s=float(env.get("LOOPML_SERVE_LOG_FLUSH_S", "1.0")),
            log_queue=int(env.get("LOOPML_SERVE_LOG_QUEUE", "100000")),
            log_block=env.get("LOOPML_SERVE_LOG_BLOCK") == "true",
            max_batch_size=int(env.get("LOOPML_SERVE_MAX_BATCH_SIZE", "64")),
            max_batch_delay_ms=float(env.get("LOOPML_SERVE_MAX_BATCH_DELAY_MS", "0")),
            poll_s=float(env.get("LOOPML_SERVE_POLL_S", str(DEFAULT_POLL_S))),
        )


def create_serving_app(options: ServeOptions) -> ServingApp:
    """Load and warm what ``options.target`` names, then build the app.

    A ``models:/`` URI serves that one model (following its alias); any other
    target is an endpoint's name, served as its configuration says. Nothing is
    served until every route's model is loaded and warm.
    """
    from loopml.client import Client

    client = Client(options.registry_uri)
    live = _live_endpoint(client, options)
    authorize = _access(client) if options.auth else None
    log = feedback = None
    if options.log_predictions:
        artifacts = client.artifacts
        log = PredictionLog(
            artifacts,  # type: ignore[arg-type]  # an HTTP artifact store writes parts too
            flush_interval_s=options.log_flush_s,
            max_queue=options.log_queue,
            block_when_full=options.log_block,
        ).start()

        audit = _audit_log(client)

        def feedback(actor: Any, endpoint: str, labels: list[tuple[str, Any]]) -> int:
            stored = log_ground_truth(artifacts, endpoint, labels)  # type: ignore[arg-type]
            if audit is not None:
                ids = [request_id for request_id, _ in labels]
                audit.append(
                    actor, "endpoint.ground_truth", "endpoint", endpoint,
                    after={"labels": stored, "request_ids": ids[:100]},
                )  # fmt: skip
            return stored

    metrics = ServingMetrics()
    live.on_failure = lambda name, error: metrics.swap_failures.labels(name).inc()
    live.start()
    return ServingApp(
        live,
        max_body_bytes=options.max_body_bytes,
        authorize=authorize,
        metrics=metrics,
        log=log,
        feedback=feedback,
    )


def _live_endpoint(client: Any, options: ServeOptions) -> LiveEndpoint:
    registry = client.registry

    def load(uri: str) -> ServedModel:
        return load_served(registry, uri, trust=options.trust)

    def resolve(uri: str) -> tuple[str, int]:
        found = registry.resolve(uri)
        return found.name, found.version

    if options.target.startswith("models:/"):
        config = EndpointConfig(
            routes=[Route("primary", options.target)],
            max_batch_size=options.max_batch_size,
            max_batch_delay_ms=options.max_batch_delay_ms,
        )
        first = load(options.target)
        name = check_endpoint_name(options.endpoint or first.name)
        state = EndpointState(name, 0, config, [Served(config.routes[0], first)])
        return LiveEndpoint(
            state, source=lambda: (0, config), resolve=resolve, load=load, poll_s=options.poll_s
        )
    endpoints = _endpoints(client)
    current = endpoints.get(options.target)
    state = build_state(current.name, current.version, current.config, load)

    def source() -> tuple[int, EndpointConfig]:
        found = endpoints.get(options.target)
        return found.version, found.config

    return LiveEndpoint(state, source=source, resolve=resolve, load=load, poll_s=options.poll_s)


def _database(client: Any, what: str) -> Any:
    db = getattr(client.store, "db", None)
    if db is None:
        raise InvalidParameter(
            f"{what} needs the metadata database: serve from a local LOOPML_HOME / "
            "LOOPML_DATABASE_URL, not an http(s):// registry"
        )
    return db


def _endpoints(client: Any) -> EndpointsClient:
    from loopml.auth import local_actor

    return EndpointsClient(_database(client, "serving an endpoint"), local_actor())


def _audit_log(client: Any) -> Any:
    """The audit log when serving from a local store (labels are a change worth keeping)."""
    db = getattr(client.store, "db", None)
    if db is None:
        return None
    from loopml.auth import AuditLog

    return AuditLog(db)


def _access(client: Any) -> Any:
    from loopml.auth import AuthService, Permission
    from loopml.serving.access import ServingAccess

    default = Permission(client.settings.auth_default_permission)
    return ServingAccess(AuthService(_database(client, "auth"), default))


def create_app_from_env() -> ServingApp:
    return create_serving_app(ServeOptions.from_env())


def serve(options: ServeOptions, host: str, port: int, workers: int = 1) -> None:
    """Serve until interrupted; auth is forced on off loopback."""
    import uvicorn

    if not is_loopback(host):
        options = ServeOptions(**{**options.__dict__, "auth": True})
    run = {
        "host": host,
        "port": port,
        "http": "httptools",
        "loop": "uvloop",
        "access_log": False,
        "log_level": "info",
        "lifespan": "on",
    }
    if workers <= 1:
        uvicorn.run(create_serving_app(options), **run)  # type: ignore[arg-type]
        return
    os.environ.update(options.to_env())
    uvicorn.run(APP_FACTORY, factory=True, workers=workers, **run)  # type: ignore[arg-type]
