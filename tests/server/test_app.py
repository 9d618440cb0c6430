"""The app shell: public pages, error bodies, body limits, request ids, the OpenAPI document."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI

from loopml import __version__
from loopml.core.config import MAX_REQUEST_BYTES, Settings
from loopml.server.app import create_app, create_app_from_env

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

Expect = Callable[[Any, int, str], str]
API = "/api/2.0/mlflow"


def test_health_is_plain_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.text == "OK"


def test_version_is_the_package_version(client: TestClient) -> None:
    assert client.get("/version").text == __version__


def test_index_page_says_what_the_server_is_and_how_to_use_it(client: TestClient) -> None:
    response = client.get("/")
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "loopml tracking server" in page
    assert __version__ in page
    assert "MLFLOW_TRACKING_URI=http://testserver" in page
    assert 'href="/docs"' in page


def test_docs_and_openapi_describe_hand_validated_bodies(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    document = client.get("/openapi.json").json()
    operation = document["paths"][f"{API}/runs/log-batch"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"run_id", "metrics", "params", "tags"}
    assert "MetricItem" in document["components"]["schemas"]
    assert not any(path.startswith("/ajax-api/") for path in document["paths"])


def test_server_info_offers_no_multipart_transfers(client: TestClient) -> None:
    info = client.get("/api/3.0/mlflow/server-info").json()
    assert info["multipart_uploads_enabled"] is False
    assert info["multipart_downloads_enabled"] is False


def test_ajax_prefix_serves_the_same_api(client: TestClient, make_experiment: Any) -> None:
    experiment_id = make_experiment("via-ajax")
    response = client.get(
        "/ajax-api/2.0/mlflow/experiments/get", params={"experiment_id": experiment_id}
    )
    assert response.json()["experiment"]["name"] == "via-ajax"


def test_unknown_endpoint_is_endpoint_not_found(client: TestClient, expect_error: Expect) -> None:
    message = expect_error(client.get(f"{API}/traces/search"), 404, "ENDPOINT_NOT_FOUND")
    assert "traces/search" in message


def test_wrong_method_is_405_with_an_error_body(client: TestClient, expect_error: Expect) -> None:
    expect_error(client.get(f"{API}/runs/log-batch"), 405, "BAD_REQUEST")


def test_malformed_json_is_bad_request(client: TestClient, expect_error: Expect) -> None:
    response = client.post(
        f"{API}/experiments/create",
        content=b'{"name": "x",',
        headers={"content-type": "application/json"},
    )
    assert "not valid JSON" in expect_error(response, 400, "BAD_REQUEST")


def test_json_must_be_sent_as_json(client: TestClient, expect_error: Expect) -> None:
    response = client.post(
        f"{API}/experiments/create",
        content=b'{"name": "x"}',
        headers={"content-type": "text/plain"},
    )
    assert "Content-Type" in expect_error(response, 400, "BAD_REQUEST")


def test_a_body_that_is_not_an_object_is_refused(client: TestClient, expect_error: Expect) -> None:
    response = client.post(f"{API}/experiments/create", json=["x"])
    assert "JSON object" in expect_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_declared_oversized_body_is_413_before_reading(
    client: TestClient, expect_error: Expect
) -> None:
    response = client.post(
        f"{API}/runs/log-batch",
        content=b"x" * (MAX_REQUEST_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert "exceeds the limit" in expect_error(response, 413, "RESOURCE_LIMIT_EXCEEDED")


def test_streamed_oversized_body_is_413(client: TestClient, expect_error: Expect) -> None:
    chunk = b" " * (1 << 20)

    def body() -> Any:
        for _ in range(MAX_REQUEST_BYTES // len(chunk) + 1):
            yield chunk

    response = client.post(
        f"{API}/runs/log-batch", content=body(), headers={"content-type": "application/json"}
    )
    expect_error(response, 413, "RESOURCE_LIMIT_EXCEEDED")


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    assert len(client.get("/health").headers["x-request-id"]) == 32
    echoed = client.get("/health", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    replaced = client.get("/health", headers={"x-request-id": "bad id\twith tab"})
    assert replaced.headers["x-request-id"] != "bad id\twith tab"


def test_unexpected_errors_are_500_without_a_traceback(
    app: FastAPI,
    make_client: Callable[..., Any],
    expect_error: Expect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.state.tracking, "get_experiment", explode)
    client = make_client(app, raise_server_exceptions=False)
    response = client.get(f"{API}/experiments/get", params={"experiment_id": "0"})
    message = expect_error(response, 500, "INTERNAL_ERROR")
    assert "secret internals" not in message
    assert response.headers["x-request-id"] in message


def test_factory_reads_settings_from_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_HOME", str(settings.home))
    monkeypatch.delenv("LOOPML_DATABASE_URL", raising=False)
    monkeypatch.delenv("LOOPML_ARTIFACT_ROOT", raising=False)
    app = create_app_from_env()
    try:
        assert app.state.settings == settings
    finally:
        app.state.tracking.store.db.dispose()


def test_two_apps_do_not_share_state(
    settings: Settings, tmp_path: Any, make_client: Callable[..., Any]
) -> None:
    first = create_app(settings)
    second = create_app(Settings.from_env(home=tmp_path / "other"))
    try:
        make_client(first).post(f"{API}/experiments/create", json={"name": "only-in-first"})
        response = make_client(second).get(
            f"{API}/experiments/get-by-name", params={"experiment_name": "only-in-first"}
        )
        assert response.status_code == 404
    finally:
        first.state.tracking.store.db.dispose()
        second.state.tracking.store.db.dispose()


def test_the_schedulers_run_with_the_server_only_when_asked(
    settings: Settings, make_client: Callable[..., TestClient]
) -> None:
    import dataclasses
    import threading

    def scheduler_threads() -> list[threading.Thread]:
        names = ("loopml-monitor-scheduler", "loopml-pipeline-scheduler", "loopml-policy-scheduler")
        return [t for t in threading.enumerate() if t.name in names]

    with make_client(create_app(settings)):
        assert scheduler_threads() == []
    asked = dataclasses.replace(settings, scheduler=True)
    with make_client(create_app(asked)):
        assert len(scheduler_threads()) == 3
    assert scheduler_threads() == []
