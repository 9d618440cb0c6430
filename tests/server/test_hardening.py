"""Hardening: the Host allowlist, CORS, security headers, request limits and private temp files."""

from __future__ import annotations

import dataclasses
import re
import stat
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import pytest
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from loopml.core.config import LOOPBACK_HOSTS, Settings
from loopml.server import mlflow_artifacts
from loopml.server.hardening import (
    MAX_HEADER_BYTES,
    MAX_QUERY_STRING_BYTES,
    HostAllowlistMiddleware,
    RequestHeadLimitMiddleware,
    SecurityHeadersMiddleware,
    host_name,
)
from loopml.server.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    UnexpectedErrorMiddleware,
)

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

Expect = Callable[[Any, int, str], str]
MakeApp = Callable[..., FastAPI]
API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
ORIGIN = "https://ui.example"


@pytest.fixture
def make_app(settings: Settings) -> Iterator[MakeApp]:
    """``create_app`` on the test's settings with some fields replaced."""
    from loopml.server.app import create_app

    made: list[FastAPI] = []

    def make(**changes: Any) -> FastAPI:
        made.append(create_app(dataclasses.replace(settings, **changes)))
        return made[-1]

    yield make
    for app in made:
        app.state.tracking.store.db.dispose()


def _raw_get(
    app: FastAPI, path: str, query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A GET exactly as given: no Host header unless one is passed, any query length."""

    async def call() -> tuple[int, dict[str, str], bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query,
            "headers": headers or [],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 5000),
        }
        messages: list[MutableMapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            messages.append(message)

        await app(scope, receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        found = {k.decode(): v.decode() for k, v in start["headers"]}
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return start["status"], found, body

    return anyio.run(call)


# --- order ---------------------------------------------------------------------


def test_middleware_runs_in_the_documented_order(make_app: MakeApp) -> None:
    app = make_app(cors_origins=(ORIGIN,))
    outermost_first: list[Any] = [middleware.cls for middleware in app.user_middleware]
    assert outermost_first == [
        RequestIdMiddleware,
        SecurityHeadersMiddleware,
        UnexpectedErrorMiddleware,
        HostAllowlistMiddleware,
        CORSMiddleware,
        RequestHeadLimitMiddleware,
        BodyLimitMiddleware,
    ]
    without_cors: list[Any] = [middleware.cls for middleware in make_app().user_middleware]
    assert CORSMiddleware not in without_cors


# --- Host allowlist ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost", "localhost"),
        ("LocalHost:5000", "localhost"),
        ("127.0.0.1:5000", "127.0.0.1"),
        ("[::1]:5000", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("example.org.", "example.org"),
    ],
)
def test_host_name_drops_port_brackets_and_case(header: str, name: str) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize("host", ["localhost:5000", "LOCALHOST", "127.0.0.1:5000", "[::1]:5000"])
def test_allowed_hosts_are_served(
    make_app: MakeApp, make_client: Callable[..., TestClient], host: str
) -> None:
    client = make_client(make_app(allowed_hosts=LOOPBACK_HOSTS))
    assert client.get("/health", headers={"host": host}).text == "OK"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:5000", "localhost.evil.example"])
def test_other_hosts_are_refused_with_an_error_body(
    make_app: MakeApp, make_client: Callable[..., TestClient], expect_error: Expect, host: str
) -> None:
    client = make_client(make_app(allowed_hosts=LOOPBACK_HOSTS))
    response = client.get(f"{API}/experiments/search", headers={"host": host})
    name = host.split(":")[0]
    message = expect_error(response, 400, "BAD_REQUEST")
    assert message == f"host {name!r} is not allowed; set LOOPML_ALLOWED_HOSTS to serve it"
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_a_request_without_host_is_refused(make_app: MakeApp) -> None:
    status, headers, raw = _raw_get(make_app(allowed_hosts=LOOPBACK_HOSTS), "/health")
    assert status == 400
    body = orjson.loads(raw)
    assert body["error_code"] == "BAD_REQUEST"
    assert "no Host header" in body["message"]
    assert "x-request-id" in headers
    assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("allowed", [(), ("*",), ("localhost", "*")])
def test_no_list_or_a_star_serves_any_host(
    make_app: MakeApp, make_client: Callable[..., TestClient], allowed: tuple[str, ...]
) -> None:
    app = make_app(allowed_hosts=allowed)
    response = make_client(app).get("/health", headers={"host": "anything.example"})
    assert response.text == "OK"
    assert _raw_get(app, "/health")[0] == 200


# --- CORS ----------------------------------------------------------------------------

PREFLIGHT = {
    "origin": ORIGIN,
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type, idempotency-key",
}


def _cors_headers(response: Any) -> list[str]:
    return [name for name in response.headers if name.lower().startswith("access-control-")]


def test_cors_is_off_by_default(client: TestClient) -> None:
    simple = client.get(f"{API}/experiments/search", headers={"origin": ORIGIN})
    assert simple.status_code == 200
    assert _cors_headers(simple) == []
    preflight = client.options(f"{API}/experiments/create", headers=PREFLIGHT)
    assert preflight.status_code == 405
    assert _cors_headers(preflight) == []


def test_configured_origins_get_cors_and_nothing_else(
    make_app: MakeApp, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(make_app(cors_origins=(ORIGIN,)))
    preflight = client.options(f"{API}/experiments/create", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    methods = preflight.headers["access-control-allow-methods"]
    assert set(methods.replace(" ", "").split(",")) >= {"GET", "POST", "PATCH", "PUT", "DELETE"}
    allowed = preflight.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "idempotency-key", "x-request-id"):
        assert header in allowed
    assert "access-control-allow-credentials" not in preflight.headers

    simple = client.get(f"{API}/experiments/search", headers={"origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()

    stranger = {**PREFLIGHT, "origin": "https://evil.example"}
    refused = client.options(f"{API}/experiments/create", headers=stranger)
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    other = client.get(f"{API}/experiments/search", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_a_disallowed_host_is_refused_before_cors(
    make_app: MakeApp, make_client: Callable[..., TestClient]
) -> None:
    app = make_app(cors_origins=(ORIGIN,), allowed_hosts=("localhost",))
    response = make_client(app).options(
        f"{API}/experiments/create", headers={**PREFLIGHT, "host": "evil.example"}
    )
    assert response.status_code == 400
    assert _cors_headers(response) == []


# --- security headers -------------------------------------------------------------------

API_CSP = "default-src 'none'; frame-ancestors 'none'"


def _assert_secured(response: Any, *, csp: str | None = API_CSP, api: bool = True) -> None:
    headers = response.headers
    for name, value in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ]:
        assert headers.get_list(name) == [value], (name, response.status_code)
    if csp is not None:
        assert headers["content-security-policy"] == csp
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers.get("cache-control") == ("no-store" if api else None)
    assert "x-request-id" in headers


def test_json_and_text_responses_carry_the_security_headers(client: TestClient) -> None:
    _assert_secured(client.get(f"{API}/experiments/search"))
    _assert_secured(client.get("/api/3.0/mlflow/server-info"))
    _assert_secured(client.get("/health"), api=False)
    _assert_secured(client.get("/openapi.json"), api=False)


def test_error_responses_carry_the_security_headers(
    client: TestClient, make_app: MakeApp, make_client: Callable[..., TestClient]
) -> None:
    _assert_secured(client.get(f"{API}/experiments/get", params={"experiment_id": "x"}))  # 400
    _assert_secured(client.get(f"{API}/experiments/get", params={"experiment_id": "99"}))  # 404
    _assert_secured(client.get(f"{API}/no-such-endpoint"))  # 404 from the router
    _assert_secured(client.get("/no-such-page"), api=False)
    _assert_secured(client.get(f"{API}/runs/log-batch"))  # 405
    small = make_client(make_app(max_request_bytes=1024))
    too_large = small.post(f"{API}/runs/log-batch", content=b" " * 2048)
    assert too_large.status_code == 413
    _assert_secured(too_large)


def test_a_500_carries_the_security_headers(
    app: FastAPI,
    make_client: Callable[..., TestClient],
    expect_error: Expect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.tracking, "get_experiment", explode)
    client = make_client(app, raise_server_exceptions=False)
    response = client.get(f"{API}/experiments/get", params={"experiment_id": "0"})
    expect_error(response, 500, "INTERNAL_ERROR")
    _assert_secured(response)


def test_the_landing_page_may_use_only_its_inline_style(client: TestClient) -> None:
    response = client.get("/")
    _assert_secured(response, csp=None, api=False)
    policy = _policy(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["style-src"] == ["'unsafe-inline'"]
    assert "script-src" not in policy


def test_the_api_docs_may_load_exactly_what_swagger_ui_needs(client: TestClient) -> None:
    response = client.get("/docs")
    _assert_secured(response, csp=None, api=False)
    policy = _policy(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]  # /openapi.json and "Try it out"
    assert "'unsafe-eval'" not in policy["script-src"]
    page = response.text
    assert "<script>" in page  # the inline bootstrap
    assert "'unsafe-inline'" in policy["script-src"]
    loads = {
        "script-src": re.findall(r'<script src="(https://[^/"]+)/', page),
        "style-src": re.findall(r'<link[^>]*stylesheet[^>]*href="(https://[^/"]+)/', page),
        "img-src": re.findall(r'<link[^>]*icon[^>]*href="(https://[^/"]+)/', page),
    }
    assert loads["script-src"]
    assert loads["style-src"]
    for directive, origins in loads.items():
        for origin in origins:
            assert origin in policy[directive], (directive, origin)
    assert set(policy["script-src"]) == {"'unsafe-inline'", *loads["script-src"]}


def _policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in directives}


def test_a_header_the_handler_set_is_not_repeated(client: TestClient) -> None:
    client.put(f"{ARTIFACTS}/1/page.html", content=b"<script>alert(1)</script>")
    download = client.get(f"{ARTIFACTS}/1/page.html")
    assert download.headers.get_list("x-content-type-options") == ["nosniff"]
    assert download.headers["content-type"].startswith("text/html")
    # An uploaded HTML file is an attachment and never a page the API origin runs.
    assert "attachment" in download.headers["content-disposition"]
    assert "script-src" not in download.headers["content-security-policy"]
    _assert_secured(download)


# --- request limits ------------------------------------------------------------------------


def test_query_strings_over_64_kib_are_414(app: FastAPI) -> None:
    # httpx refuses such URLs itself, so the request goes to the app as a server would pass it.
    host = [(b"host", b"testserver")]
    search = f"{API}/experiments/search"
    fits = b"filter=" + b"x" * (MAX_QUERY_STRING_BYTES - len("filter="))
    assert _raw_get(app, search, fits, host)[0] == 400  # reached the handler: bad filter grammar
    status, headers, body = _raw_get(app, search, fits + b"x", host)
    assert status == 414
    error = orjson.loads(body)
    assert error["error_code"] == "RESOURCE_LIMIT_EXCEEDED"
    assert f"exceeds the limit of {MAX_QUERY_STRING_BYTES} bytes" in error["message"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert "x-request-id" in headers


def test_header_blocks_over_64_kib_are_431(client: TestClient, expect_error: Expect) -> None:
    headers = {f"x-filler-{i}": "v" * 1000 for i in range(MAX_HEADER_BYTES // 1000 + 1)}
    response = client.get("/health", headers=headers)
    assert "request headers" in expect_error(response, 431, "RESOURCE_LIMIT_EXCEEDED")
    assert client.get("/health", headers={"x-filler": "v" * 8000}).text == "OK"


def test_the_body_limit_comes_from_the_settings(
    make_app: MakeApp, make_client: Callable[..., TestClient], expect_error: Expect
) -> None:
    client = make_client(make_app(max_request_bytes=4096))
    body = orjson.dumps({"name": "x" * 3000})
    assert client.post(f"{API}/experiments/create", content=body).status_code != 413
    too_large = orjson.dumps({"name": "x" * 5000})
    response = client.post(f"{API}/experiments/create", content=too_large)
    assert "4096 bytes" in expect_error(response, 413, "RESOURCE_LIMIT_EXCEEDED")
    upload = client.put(f"{ARTIFACTS}/1/big.bin", content=b"x" * 10_000)
    assert upload.status_code == 200  # uploads stream and are exempt


# --- temp files ------------------------------------------------------------------------------


def _modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.rglob("*") if p.is_file()}


def test_uploads_are_private_while_written_and_after(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(settings.artifact_root)
    seen: dict[str, int] = {}
    original = mlflow_artifacts._request_chunks

    def spying(request: Any) -> Iterator[bytes]:
        for chunk in original(request):
            yield chunk
            seen.update(_modes(root / "tmp"))  # the chunk is on disk, not yet renamed

    monkeypatch.setattr(mlflow_artifacts, "_request_chunks", spying)
    assert client.put(f"{ARTIFACTS}/1/model.bin", content=b"weights").status_code == 200
    assert set(seen.values()) == {0o600}  # not empty: the spy saw the temp file
    assert _modes(root / "tmp") == {}
    for name, mode in {**_modes(root / "blobs"), **_modes(root / "refs")}.items():
        assert mode & 0o077 == 0, (name, oct(mode))


def test_a_cut_off_upload_leaves_no_temp_file(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(settings.artifact_root)
    seen: dict[str, int] = {}
    original = mlflow_artifacts._request_chunks

    def cut_off(request: Any) -> Iterator[bytes]:
        for chunk in original(request):
            yield chunk
            seen.update(_modes(root / "tmp"))
            raise OSError("client went away")

    monkeypatch.setattr(mlflow_artifacts, "_request_chunks", cut_off)
    assert client.put(f"{ARTIFACTS}/1/partial.bin", content=b"half").status_code == 500
    assert set(seen.values()) == {0o600}
    assert _modes(root / "tmp") == {}
    assert not (root / "refs" / "1" / "partial.bin").exists()
