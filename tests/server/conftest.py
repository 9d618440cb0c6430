"""An app on a throwaway home per test, a client for it, and factories for what tests need.

``starlette.testclient`` warns when it runs on ``httpx`` rather than ``httpx2``;
that warning is silenced here, at the one import, and nowhere else.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from loopml.auth import AuditLog
from loopml.core.config import Settings
from loopml.server.app import create_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(home=tmp_path / "home")


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.tracking.store.db.dispose()


@pytest.fixture
def audit(app: FastAPI) -> AuditLog:
    """The app's audit chain, newest event first from ``audit.list()``."""
    log = app.state.access.service.audit
    assert isinstance(log, AuditLog)
    return log


@pytest.fixture
def make_client() -> Callable[..., TestClient]:
    """``TestClient(app, **options)``, for tests that need their own client."""
    return TestClient


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


@pytest.fixture
def post(client: TestClient) -> Callable[..., Any]:
    """POST JSON to an MLflow endpoint (path relative to ``/api/2.0/mlflow``)."""

    def call(endpoint: str, body: Any, /, **kwargs: Any) -> Any:
        return client.post(f"{API}/{endpoint}", json=body, **kwargs)

    return call


@pytest.fixture
def get(client: TestClient) -> Callable[..., Any]:
    """GET an MLflow endpoint with query parameters."""

    def call(endpoint: str, /, **params: Any) -> Any:
        return client.get(f"{API}/{endpoint}", params=params)

    return call


@pytest.fixture
def make_experiment(post: Callable[..., Any]) -> Callable[..., str]:
    counter = iter(range(1_000_000))

    def make(name: str | None = None, **fields: Any) -> str:
        body = {"name": name or f"exp-{next(counter)}", **fields}
        response = post("experiments/create", body)
        assert response.status_code == 200, response.text
        return str(response.json()["experiment_id"])

    return make


@pytest.fixture
def make_run(post: Callable[..., Any], make_experiment: Callable[..., str]) -> Callable[..., str]:
    def make(experiment_id: str | None = None, **fields: Any) -> str:
        body = {"experiment_id": experiment_id or make_experiment(), **fields}
        response = post("runs/create", body)
        assert response.status_code == 200, response.text
        return str(response.json()["run"]["info"]["run_id"])

    return make


def _expect_error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error_code", "message"}, body
    assert body["error_code"] == code, body
    return str(body["message"])


@pytest.fixture
def expect_error() -> Callable[[Any, int, str], str]:
    """Assert an MLflow error body with this status and code; return its message."""
    return _expect_error
