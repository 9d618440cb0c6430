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
from loopml.serving.models import ModelSet, load_served

APP_FACTORY = "loopml.serving.server:create_app_from_env"


@dataclass(frozen=True)
class ServeOptions:
    """What one ``loopml serve`` serves, and how."""

    model_uri: str
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

    def to_env(self) -> dict[str, str]:
        return {
            "LOOPML_SERVE_MODEL": self.model_uri,
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
        }

    @classmethod
    def from_env(cls) -> ServeOptions:
        env = os.environ
        return cls(
            model_uri=env["LOOPML_SERVE_MODEL"],
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
        )


def create_serving_app(options: ServeOptions) -> ServingApp:
    """Load and warm the model, then build the app (nothing is served until it is ready)."""
    from loopml.client import Client

    client = Client(options.registry_uri)
    served = load_served(client.registry, options.model_uri, trust=options.trust)
    authorize = None
    if options.auth:
        db = getattr(client.store, "db", None)
        if db is None:
            raise InvalidParameter(
                "auth on the inference server needs the metadata database: serve from a "
                "local LOOPML_HOME / LOOPML_DATABASE_URL, not an http(s):// registry"
            )
        from loopml.auth import AuthService, Permission
        from loopml.serving.access import ServingAccess

        default = Permission(client.settings.auth_default_permission)
        authorize = ServingAccess(AuthService(db, default))
    endpoint = check_endpoint_name(options.endpoint or served.name)
    log = feedback = None
    if options.log_predictions:
        artifacts = client.artifacts
        log = PredictionLog(
            artifacts,  # type: ignore[arg-type]  # an HTTP artifact store writes parts too
            flush_interval_s=options.log_flush_s,
            max_queue=options.log_queue,
            block_when_full=options.log_block,
        ).start()

        def feedback(endpoint: str, labels: list[tuple[str, Any]]) -> int:
            return log_ground_truth(artifacts, endpoint, labels)  # type: ignore[arg-type]

    return ServingApp(
        ModelSet([served]),
        max_body_bytes=options.max_body_bytes,
        authorize=authorize,
        endpoint=endpoint,
        log=log,
        feedback=feedback,
        max_batch_size=options.max_batch_size,
        max_batch_delay_ms=options.max_batch_delay_ms,
    )


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
