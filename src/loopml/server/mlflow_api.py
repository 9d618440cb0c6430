"""MLflow's tracking REST API, mounted where MLflow serves it.

MLflow serves each endpoint twice: under ``/api/2.0/mlflow`` for clients and
under ``/ajax-api/2.0/mlflow`` for its web UI. We do the same (the second copy
is left out of the OpenAPI document, which would otherwise list everything
twice). The endpoints themselves live in one module per area:

=============================  =============================================
:mod:`.mlflow_experiments`     ``experiments/*``
:mod:`.mlflow_runs`            ``runs/create|get|update|delete|restore|search``,
                               ``metrics/get-history``, ``artifacts/list``
:mod:`.mlflow_run_data`        ``runs/log-*``, ``runs/set-tag|delete-tag``,
                               ``runs/outputs``
:mod:`.mlflow_models`          ``logged-models/*`` (MLflow 3)
:mod:`.mlflow_registry`        ``registered-models/*``, ``model-versions/*``
:mod:`.mlflow_artifacts`       the ``mlflow-artifacts`` file proxy
=============================  =============================================

MLflow endpoints this server does not implement (traces,
prompts, gateway, ...) answer 404 ``ENDPOINT_NOT_FOUND``, which is what the
client expects from a server without them.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from loopml.server import (
    mlflow_artifacts,
    mlflow_experiments,
    mlflow_models,
    mlflow_registry,
    mlflow_run_data,
    mlflow_runs,
)

TRACKING_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACTS_PREFIXES = mlflow_artifacts.ARTIFACTS_PREFIXES

_TRACKING_ROUTERS: tuple[APIRouter, ...] = (
    mlflow_experiments.router,
    mlflow_runs.router,
    mlflow_run_data.router,
    mlflow_models.router,
    mlflow_registry.router,
)


def include_mlflow_api(app: FastAPI) -> None:
    """Mount the tracking endpoints and the artifact proxy under both of MLflow's prefixes."""
    for first, prefix in zip((True, False), TRACKING_PREFIXES, strict=True):
        for router in _TRACKING_ROUTERS:
            app.include_router(router, prefix=prefix, include_in_schema=first)
    for first, prefix in zip((True, False), ARTIFACTS_PREFIXES, strict=True):
        app.include_router(mlflow_artifacts.router, prefix=prefix, include_in_schema=first)
