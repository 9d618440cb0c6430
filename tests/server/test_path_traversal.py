"""Every route that takes a path refuses every path trick, and touches nothing outside its root.

The routes are found from the app itself: a ``{name:path}`` segment in the URL,
or a query or body field whose name says it is a path, URI or location. A new
route of that kind fails :func:`test_every_route_that_takes_a_path_is_covered`
until it is added to :data:`TARGETS`.

Each trick is sent as an attacker would send it: URL tricks as raw request
targets (HTTP clients would normalise ``..`` away), query and body tricks as
literal values. ``#`` and ``?`` can reach a handler inside a URL path only
percent-encoded (unencoded, the HTTP parser splits them off), so that is how
they go there. A secret is planted beside the artifact root; it must never
appear in a response, nothing outside the root may be opened, listed or
written, and nothing may be written inside it either.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import anyio
import orjson
import pytest
from fastapi import FastAPI

from loopml.core.config import Settings
from loopml.server.guard import route_policies

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

PREFIXES = ("/api", "/ajax-api")
SECRET = b"the-secret-outside-the-artifact-root"
ETC_PASSWD_LINE = b"root:x:0:0"
PATHISH = re.compile(r"(^|_)(path|uri|location|dir|directory|file)(_|$)")
# Words one of which every refusal's message uses to say what is wrong.
REASONS = (
    "'..'",
    "must be relative",
    "control character",
    "backslash",
    "'#'",
    "'?'",
    "';'",
    "resolves outside",
    "may only contain",
    "normalised relative path",
)
ABSOLUTE = "/etc/passwd"
PAYLOADS = [
    "..",
    "../../etc/passwd",
    "../../../outside/secret.txt",
    "1/../../../../outside/secret.txt",
    "a/../../b",
    ABSOLUTE,
    "%2e%2e/%2e%2e/x",
    "%2E%2E%2F%2E%2E%2Fx",
    "%252e%252e%252fx",
    "..%2fx",
    "..\\..\\x",
    "..%5c..%5cx",
    "..;/x",
    "a;/../../x",
    "a#/../../x",
    "a?/../../x",
    "a%00b",
    "a%0ab",
    "a\x00b",
    "a\nb",
]


@dataclass(frozen=True)
class Target:
    """Where a route takes its path: a URL segment, a query parameter or a body field."""

    where: str  # "url" | "query" | "body"
    field: str
    # A location may be absolute: it points elsewhere, and this server never reads it
    # (see test_an_absolute_location_is_only_a_pointer).
    absolute_allowed: bool = False


TARGETS: dict[tuple[str, str], Target] = {
    ("PUT", "/2.0/mlflow-artifacts/artifacts/{path:path}"): Target("url", "path"),
    ("GET", "/2.0/mlflow-artifacts/artifacts/{path:path}"): Target("url", "path"),
    ("DELETE", "/2.0/mlflow-artifacts/artifacts/{path:path}"): Target("url", "path"),
    ("GET", "/2.0/mlflow-artifacts/artifacts"): Target("query", "path"),
    ("POST", "/2.0/mlflow-artifacts/mpu/create/{path:path}"): Target("url", "path"),
    ("POST", "/2.0/mlflow-artifacts/mpu/complete/{path:path}"): Target("url", "path"),
    ("POST", "/2.0/mlflow-artifacts/mpu/abort/{path:path}"): Target("url", "path"),
    ("GET", "/2.0/mlflow-artifacts/presigned/{path:path}"): Target("url", "path"),
    ("GET", "/2.0/mlflow/artifacts/list"): Target("query", "path"),
    (
        "GET",
        "/2.0/mlflow/logged-models/{model_id}/artifacts/directories",
    ): Target("query", "artifact_directory_path"),
    ("DELETE", "/2.0/mlflow/logged-models/{model_id}/tags/{tag_key:path}"): Target(
        "url", "tag_key"
    ),
    ("POST", "/2.0/mlflow/experiments/create"): Target("body", "artifact_location", True),
}


# --- finding the routes ------------------------------------------------------------------


def _without_prefix(path: str) -> str | None:
    for prefix in PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return None


def _field_names(schema: Any, components: dict[str, Any], seen: set[str]) -> Iterator[str]:
    """Every property name in a JSON schema, following ``$ref`` into the components."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            yield from _field_names(components.get(ref.rsplit("/", 1)[-1]), components, seen)
        yield from schema.get("properties", {})
        for value in schema.values():
            yield from _field_names(value, components, seen)
    elif isinstance(schema, list):
        for item in schema:
            yield from _field_names(item, components, seen)


def path_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path without prefix) whose URL, query or body carries a path."""
    document = app.openapi()
    components = document.get("components", {}).get("schemas", {})
    found = set()
    for method, path in route_policies(app):
        bare = _without_prefix(path)
        if bare is None:
            continue
        documented = re.sub(r"\{(\w+):\w+\}", r"{\1}", "/api" + bare)
        operation = document["paths"].get(documented, {}).get(method.lower(), {})
        params = [parameter["name"] for parameter in operation.get("parameters", [])]
        body = operation.get("requestBody", {})
        names = [*params, *_field_names(body, components, set())]
        if ":path}" in path or any(PATHISH.search(name) for name in names):
            found.add((method, bare))
    return found


def test_every_route_that_takes_a_path_is_covered(app: FastAPI) -> None:
    found = path_routes(app)
    assert found - set(TARGETS) == set(), "add these routes to TARGETS"
    assert set(TARGETS) - found == set(), "these routes no longer exist or take no path"
    served = set(route_policies(app))
    for method, bare in TARGETS:
        assert {(method, prefix + bare) for prefix in PREFIXES} <= served


# --- the world: a server, a run, a logged model, a secret beside the root -----------------


@dataclass
class World:
    app: FastAPI
    client: TestClient
    tmp_path: Path
    root: Path
    run_id: str
    model_id: str


@pytest.fixture
def world(
    app: FastAPI,
    client: TestClient,
    settings: Settings,
    tmp_path: Path,
    make_run: Callable[..., str],
) -> World:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    run_id = make_run()
    experiment = client.get("/api/2.0/mlflow/runs/get", params={"run_id": run_id})
    experiment_id = experiment.json()["run"]["info"]["experiment_id"]
    model = client.post("/api/2.0/mlflow/logged-models", json={"experiment_id": experiment_id})
    model_id = model.json()["model"]["info"]["model_id"]
    client.put(f"/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/kept.txt", content=b"kept")
    root = Path(settings.artifact_root).resolve()
    return World(app, client, tmp_path.resolve(), root, run_id, model_id)


def _in_url(payload: str) -> str:
    """The payload as a raw URL segment: only what cannot be sent bare is percent-encoded."""
    return "".join(quote(ch, safe="") if ch in "#? " or ord(ch) < 32 else ch for ch in payload)


def _raw_request(
    app: FastAPI, method: str, target: str, body: bytes, content_type: bytes
) -> tuple[int, bytes]:
    """Send a request target exactly as written, as uvicorn hands it to the app."""
    raw_path, _, query = target.encode("latin-1").partition(b"?")

    async def call() -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": query,
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        messages: list[MutableMapping[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            messages.append(message)

        await app(scope, receive, send)
        status = next(m["status"] for m in messages if m["type"] == "http.response.start")
        payload = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )
        return status, payload

    return anyio.run(call)


def _send(world: World, method: str, prefix: str, bare: str, payload: str) -> tuple[int, bytes]:
    target = TARGETS[(method, bare)]
    url = prefix + bare.replace("{model_id}", world.model_id)
    if target.where == "url":
        url = re.sub(r"\{\w+:path\}", lambda _: _in_url(payload), url)
        body = b"{}" if method == "POST" else b"payload"
        return _raw_request(world.app, method, url, body, b"application/json")
    if target.where == "query":
        params = {target.field: payload}
        if "{model_id}" not in bare and "/mlflow/" in bare:
            params["run_id"] = world.run_id
        response = world.client.request(method, url, params=params)
    else:
        name = f"exp-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
        response = world.client.request(method, url, json={"name": name, target.field: payload})
    return response.status_code, response.content


# --- watching the disk ---------------------------------------------------------------------

_opened: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    opened = _opened
    watched = event in ("open", "os.listdir", "os.scandir") and args
    if opened is not None and watched and isinstance(args[0], str | bytes | os.PathLike):
        opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # hooks stay for the process, so it records only inside _watching()


@contextmanager
def _watching(world: World) -> Iterator[None]:
    """Fail if anything outside the artifact root is opened, listed or written meanwhile."""
    global _opened
    before_outside = _files_outside(world)
    before_inside = world.app.state.tracking.artifacts.list_files("")
    _opened = []
    try:
        yield
        touched = [p for p in _opened if _outside(world, Path(p).resolve())]
    finally:
        _opened = None
    assert touched == [], "opened or listed outside the artifact root"
    assert _files_outside(world) == before_outside, "written outside the artifact root"
    assert world.app.state.tracking.artifacts.list_files("") == before_inside


def _outside(world: World, path: Path) -> bool:
    if path.is_relative_to("/etc"):
        return True
    if not path.is_relative_to(world.tmp_path) or path.is_relative_to(world.root):
        return False
    return not path.name.startswith("loopml.db")  # the metadata database, beside the root


def _files_outside(world: World) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for p in world.tmp_path.rglob("*")
        if p.is_file() and _outside(world, p.resolve())
    }


# --- the tricks --------------------------------------------------------------------------


def _problem(status: int, content: bytes, *, accepted: bool = False) -> str | None:
    """What is wrong with an answer to a trick, or None when it is a proper refusal.

    ``accepted``: the request is harmless and must succeed (``_watching`` proves it).
    """
    if SECRET in content or ETC_PASSWD_LINE in content:
        return "leaked a file from outside the root"
    body = orjson.loads(content)
    if accepted:
        return None if status == 200 else f"answered {status} {body}"
    if status == 404 and body.get("error_code") == "ENDPOINT_NOT_FOUND":
        return None  # the router itself matched nothing
    if status != 400 or body.get("error_code") != "INVALID_PARAMETER_VALUE":
        return f"answered {status} {body}"
    if not any(reason in body["message"] for reason in REASONS):
        return f"the message does not name the problem: {body['message']!r}"
    return None


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize(("method", "bare"), sorted(TARGETS))
def test_every_path_trick_is_refused(world: World, method: str, bare: str, prefix: str) -> None:
    failures = {}
    accept_absolute = TARGETS[(method, bare)].absolute_allowed
    with _watching(world):
        for payload in PAYLOADS:
            accepted = accept_absolute and payload == ABSOLUTE
            problem = _problem(*_send(world, method, prefix, bare, payload), accepted=accepted)
            if problem:
                failures[payload] = problem
    assert failures == {}


def test_proxy_locations_are_checked_as_paths(world: World) -> None:
    """``mlflow-artifacts:/<trick>`` is refused; ``mlflow-artifacts://etc/passwd`` is the
    store path ``etc/passwd``, inside the root, as the tracking client reads these URIs."""
    failures = {}
    with _watching(world):
        for payload in PAYLOADS:
            name = f"proxy-{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
            body = {"name": name, "artifact_location": f"mlflow-artifacts:/{payload}"}
            response = world.client.post("/api/2.0/mlflow/experiments/create", json=body)
            accepted = payload == ABSOLUTE
            problem = _problem(response.status_code, response.content, accepted=accepted)
            if problem:
                failures[payload] = problem
    assert failures == {}


def test_an_absolute_location_is_only_a_pointer(world: World) -> None:
    """Absolute and remote locations stay allowed (the client writes there itself, as with
    MLflow), but this server never reads them: their artifacts are 501, not a file listing."""
    client = world.client
    with _watching(world):
        for location in ("/etc", f"file://{world.tmp_path}/outside", f"{world.tmp_path}/outside"):
            name = f"abs-{hashlib.sha256(location.encode()).hexdigest()[:12]}"
            created = client.post(
                "/api/2.0/mlflow/experiments/create",
                json={"name": name, "artifact_location": location},
            )
            assert created.status_code == 200, created.text
            run = client.post(
                "/api/2.0/mlflow/runs/create",
                json={"experiment_id": created.json()["experiment_id"]},
            ).json()["run"]["info"]
            assert run["artifact_uri"].startswith(location)
            for path in ("", "secret.txt", "passwd"):
                listing = client.get(
                    "/api/2.0/mlflow/artifacts/list",
                    params={"run_id": run["run_id"], "path": path},
                )
                assert listing.status_code == 501, listing.text
                assert SECRET not in listing.content
                assert b"secret.txt" not in listing.content


# --- symlinks inside the root ------------------------------------------------------------


def _plant_links(world: World, under: str) -> None:
    refs = world.root / "refs" / under
    refs.mkdir(parents=True, exist_ok=True)
    (refs / "escape").symlink_to(world.tmp_path / "outside", target_is_directory=True)
    (refs / "leak.txt").symlink_to(world.tmp_path / "outside" / "secret.txt")


def test_symlinks_in_the_root_do_not_lead_out(world: World) -> None:
    _plant_links(world, "1")
    artifacts = "/api/2.0/mlflow-artifacts/artifacts"
    client = world.client
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{artifacts}/1/escape/secret.txt", {}),
        ("GET", f"{artifacts}/1/leak.txt", {}),
        ("GET", artifacts, {"params": {"path": "1/escape"}}),
        ("PUT", f"{artifacts}/1/escape/new.txt", {"content": b"planted"}),
        ("PUT", f"{artifacts}/1/leak.txt", {"content": b"overwritten"}),
        ("DELETE", f"{artifacts}/1/escape", {}),
        ("DELETE", f"{artifacts}/1/leak.txt", {}),
    ]
    failures = {}
    with _watching(world):
        for method, url, options in requests:
            response = client.request(method, url, **options)
            problem = _problem(response.status_code, response.content)
            if problem:
                failures[f"{method} {url}"] = problem
        listing = client.get(artifacts, params={"path": "1"})
        assert listing.status_code == 200
        assert SECRET not in listing.content
        assert "leak.txt" not in {f["path"] for f in listing.json().get("files", [])}
    assert failures == {}
    assert (world.tmp_path / "outside" / "secret.txt").read_bytes() == SECRET
    assert sorted(p.name for p in (world.tmp_path / "outside").iterdir()) == ["secret.txt"]


def test_symlinks_under_a_run_or_model_do_not_lead_out(world: World) -> None:
    client = world.client
    run = client.get("/api/2.0/mlflow/runs/get", params={"run_id": world.run_id}).json()
    run_root = run["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    model = client.get(f"/api/2.0/mlflow/logged-models/{world.model_id}").json()
    model_root = model["model"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:/")
    _plant_links(world, run_root)
    _plant_links(world, model_root)
    failures = {}
    with _watching(world):
        for path in ("escape", "leak.txt"):
            run_listing = client.get(
                "/api/2.0/mlflow/artifacts/list", params={"run_id": world.run_id, "path": path}
            )
            model_listing = client.get(
                f"/api/2.0/mlflow/logged-models/{world.model_id}/artifacts/directories",
                params={"artifact_directory_path": path},
            )
            for name, response in (("run", run_listing), ("model", model_listing)):
                problem = _problem(response.status_code, response.content)
                if problem:
                    failures[f"{name} {path}"] = problem
    assert failures == {}
