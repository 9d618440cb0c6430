"""The tracking server as a FastAPI app: ``create_app(settings)``.

One app holds one :class:`~loopml.tracking.TrackingClient` (database plus
artifact store), built when the app is; nothing is opened at import. Errors of
every kind leave as MLflow's error body ``{"error_code", "message"}`` with the
status MLflow uses, never as a traceback: our own errors carry both, malformed
or invalid input is 400 naming the field, unknown endpoints are 404
``ENDPOINT_NOT_FOUND`` (the answer the mlflow client expects from a server
without a feature), and anything unexpected is a logged 500 with a request id.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from loopml import __version__
from loopml.core.config import Settings
from loopml.core.errors import LoopmlError, Unauthenticated
from loopml.data._sql import SqlDataStore
from loopml.registry import SqlRegistryStore
from loopml.server import (
    auth_api,
    data_api,
    monitoring_api,
    pipelines_api,
    policies_api,
    registry_api,
)
from loopml.server.access import build_access
from loopml.server.guard import request_id
from loopml.server.hardening import install_hardening
from loopml.server.idempotency import IdempotencyStore
from loopml.server.mlflow_api import include_mlflow_api
from loopml.server.openapi import install_openapi
from loopml.server.wire import field_path, json_response
from loopml.store.database import Database
from loopml.tracking import TrackingClient, open_tracking

logger = logging.getLogger("loopml.server")

DESCRIPTION = (
    "loopml's tracking server. It speaks MLflow's tracking REST API, so the official "
    "`mlflow` client, its autologging and MLflow-compatible tools work against it unchanged."
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the server for ``settings`` (default: from the environment).

    Opens (and migrates) the metadata database and the artifact store once.
    With ``settings.auth`` every non-public route needs credentials.
    """
    settings = settings or Settings.from_env()
    tracking = open_tracking(settings)
    app = FastAPI(
        title="loopml",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.tracking = tracking
    database = _database(tracking, settings)
    app.state.access = build_access(settings, database)
    app.state.data_store = SqlDataStore(database)
    app.state.registry_store = SqlRegistryStore(database)
    if settings.auth and not app.state.access.service.has_admin():
        logger.warning(NO_ADMIN_WARNING)
    app.state.idempotency = IdempotencyStore(database)
    install_hardening(app, settings)
    _add_error_handlers(app)
    _add_public_routes(app)
    include_mlflow_api(app)
    app.include_router(auth_api.router, prefix=auth_api.PREFIX)
    app.include_router(data_api.router, prefix=data_api.PREFIX)
    app.include_router(registry_api.router, prefix=registry_api.PREFIX)
    app.include_router(monitoring_api.router, prefix=monitoring_api.PREFIX)
    app.include_router(pipelines_api.router, prefix=pipelines_api.PREFIX)
    app.include_router(policies_api.router, prefix=policies_api.PREFIX)
    install_openapi(app)
    return app


NO_ADMIN_WARNING = (
    "auth is on but no admin account exists, so every request will be refused; "
    "create one on this machine with: loopml users create NAME --role admin"
)


def create_app_from_env() -> FastAPI:
    """The uvicorn factory (``--factory``) for multi-worker servers: settings from env vars."""
    return create_app(Settings.from_env())


def _database(tracking: TrackingClient, settings: Settings) -> Database:
    """The tracking store's own database when it has one, so the app keeps one pool."""
    db = getattr(tracking.store, "db", None)
    return db if isinstance(db, Database) else Database(settings.database_url)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    schedulers = _schedulers(app) if app.state.settings.scheduler else []
    yield
    for scheduler in schedulers:
        scheduler.close()
    runner = getattr(app.state, "policy_runner", None)
    if runner is not None:
        runner.client.close()
    app.state.idempotency.db.dispose()


def _schedulers(app: FastAPI) -> list[Any]:
    """Run due monitors, pipelines and policies from this server (``LOOPML_SCHEDULER=true``)."""
    from loopml.auth import local_actor
    from loopml.automation import PolicyScheduler
    from loopml.monitoring.monitors import MonitorStore
    from loopml.monitoring.runner import MonitorsClient
    from loopml.monitoring.scheduler import MonitorScheduler
    from loopml.pipelines.schedules import ScheduleStore
    from loopml.pipelines.triggers import PipelineScheduler, run_scheduled

    tracking = app.state.tracking
    db = _database(tracking, app.state.settings)
    tick_s = app.state.settings.scheduler_tick_s
    monitors = MonitorsClient(
        MonitorStore(db),
        tracking.artifacts,
        local_actor(),
        tracking,  # batch monitors find batch scorings among the runs
    )
    pipelines = ScheduleStore(db)
    return [
        MonitorScheduler(monitors, tick_s=tick_s).start(),
        PipelineScheduler(pipelines, run_scheduled(tracking), tick_s=tick_s).start(),
        PolicyScheduler(policies_api.shared_runner(app), tick_s=tick_s).start(),
    ]


# --- errors -----------------------------------------------------------------


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoopmlError, _loopml_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


async def _loopml_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoopmlError)
    if error.http_status >= 500 and error.error_code == "INTERNAL_ERROR":
        logger.error("request %s failed: %s", request_id(request), error.message)
    response = json_response(error.to_dict(), error.http_status)
    if isinstance(error, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Basic realm="loopml", charset="UTF-8"'
    return response


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
    where = field_path([p for p in first.get("loc", ()) if p not in ("body", "query", "path")])
    message = f"invalid value for {where!r}: {first.get('msg')}" if where else first.get("msg")
    return json_response({"error_code": "INVALID_PARAMETER_VALUE", "message": message}, 400)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        code, message = "ENDPOINT_NOT_FOUND", f"no endpoint {request.url.path}"
    elif error.status_code == 405:
        code, message = "BAD_REQUEST", f"method {request.method} is not allowed on this endpoint"
    else:
        code, message = "BAD_REQUEST", str(error.detail)
    return json_response({"error_code": code, "message": message}, error.status_code)


# --- public routes -----------------------------------------------------------


def _add_public_routes(app: FastAPI) -> None:
    app.add_api_route("/", _index, methods=["GET"], include_in_schema=False)
    app.add_api_route("/health", _health, methods=["GET"], tags=["server"])
    app.add_api_route("/version", _version, methods=["GET"], tags=["server"])
    for prefix in ("/api/3.0/mlflow", "/ajax-api/3.0/mlflow"):
        app.add_api_route(
            f"{prefix}/server-info",
            _server_info,
            methods=["GET"],
            tags=["server"],
            include_in_schema=prefix.startswith("/api"),
        )


async def _health() -> PlainTextResponse:
    """Liveness, as MLflow answers it: ``OK``."""
    return PlainTextResponse("OK")


async def _version() -> PlainTextResponse:
    return PlainTextResponse(__version__)


async def _server_info() -> Response:
    """What the mlflow client asks before large transfers: no multipart, no presigned URLs."""
    info: dict[str, Any] = {
        "store_type": "SqlStore",
        "workspaces_enabled": False,
        "trace_archival_enabled": False,
        "multipart_uploads_enabled": False,
        "multipart_downloads_enabled": False,
        "presigned_upload_run_id_supported": False,
        "presigned_upload_model_id_supported": False,
        "features_enabled": {"gateway": False},
    }
    return json_response(info)


async def _index(request: Request) -> HTMLResponse:
    base = html.escape(str(request.base_url).rstrip("/"))
    return HTMLResponse(INDEX_PAGE.format(version=html.escape(__version__), base=base))


INDEX_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loopml tracking server</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;
line-height:1.5;padding:0 1rem}}code,pre{{background:#f3f3f3;padding:.1rem .3rem}}
pre{{padding:.8rem}}</style></head>
<body>
<h1>loopml tracking server</h1>
<p>Version {version}. This server records experiments, runs, metrics, parameters,
tags, datasets, logged models and artifacts, and speaks MLflow's tracking REST API.</p>
<h2>Use it from the mlflow client</h2>
<pre>export MLFLOW_TRACKING_URI={base}
python -c "import mlflow; mlflow.log_metric('loss', 0.1)"</pre>
<p>or, in Python, <code>mlflow.set_tracking_uri("{base}")</code>.
Artifacts go through this server (<code>mlflow-artifacts:</code> locations).</p>
<h2>API</h2>
<ul>
<li><a href="/docs">/docs</a>: the API reference (OpenAPI), with every request field</li>
<li><code>/api/2.0/mlflow/...</code>: MLflow's tracking endpoints</li>
<li><code>/api/2.0/mlflow-artifacts/artifacts/...</code>: artifact upload and download</li>
<li><a href="/health">/health</a> and <a href="/version">/version</a></li>
</ul>
<p>The web UI for browsing runs is on its way; until then, use the API or the
<code>loopml</code> command line.</p>
</body></html>
"""
