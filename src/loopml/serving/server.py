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

from loopml.core.config import is_loopback
from loopml.core.errors import InvalidParameter
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

    def to_env(self) -> dict[str, str]:
        return {
            "LOOPML_SERVE_MODEL": self.model_uri,
            "LOOPML_SERVE_REGISTRY": self.registry_uri or "",
            "LOOPML_SERVE_AUTH": "true" if self.auth else "false",
            "LOOPML_SERVE_TRUST": "true" if self.trust else "false",
            "LOOPML_SERVE_MAX_BODY_BYTES": str(self.max_body_bytes),
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
    return ServingApp(
        ModelSet([served]), max_body_bytes=options.max_body_bytes, authorize=authorize
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
