"""The ``mlflow-artifacts`` proxy: streaming up and down, listings, deletes, and path tricks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import pytest
from fastapi import FastAPI

from loopml.core.config import MAX_REQUEST_BYTES
from loopml.server.mlflow_artifacts import MULTIPART_UNSUPPORTED

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

Expect = Callable[[Any, int, str], str]
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def test_upload_download_list_delete(
    client: TestClient, app: FastAPI, expect_error: Expect
) -> None:
    assert client.put(f"{ARTIFACTS}/1/run/artifacts/a/b.txt", content=b"hello").json() == {}
    client.put(f"{ARTIFACTS}/1/run/artifacts/c.json", content=b"{}")
    download = client.get(f"{ARTIFACTS}/1/run/artifacts/a/b.txt")
    assert download.content == b"hello"
    assert download.headers["content-length"] == "5"
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in download.headers["content-disposition"]
    listing = client.get(ARTIFACTS, params={"path": "1/run/artifacts"}).json()
    assert listing == {
        "files": [
            {"path": "a", "is_dir": True},
            {"path": "c.json", "is_dir": False, "file_size": 2},
        ]
    }
    assert client.delete(f"{ARTIFACTS}/1/run/artifacts/a").json() == {}
    expect_error(client.get(f"{ARTIFACTS}/1/run/artifacts/a/b.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    expect_error(client.delete(f"{ARTIFACTS}/1/run/artifacts/a"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert app.state.tracking.artifacts.exists("1/run/artifacts/c.json")


def test_large_uploads_stream_and_keep_their_content(client: TestClient, app: FastAPI) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()

    def body() -> Iterator[bytes]:
        for _ in range(20):
            digest.update(chunk)
            yield chunk

    assert client.put(f"{ARTIFACTS}/1/big.bin", content=body()).status_code == 200
    entry = app.state.tracking.artifacts.stat("1/big.bin")
    assert (entry.size, entry.sha256) == (20 * len(chunk), digest.hexdigest())
    download = client.get(f"{ARTIFACTS}/1/big.bin")
    assert hashlib.sha256(download.content).hexdigest() == digest.hexdigest()


def test_upload_replaces_and_empty_files_work(client: TestClient) -> None:
    client.put(f"{ARTIFACTS}/1/f", content=b"one")
    client.put(f"{ARTIFACTS}/1/f", content=b"")
    assert client.get(f"{ARTIFACTS}/1/f").content == b""


def test_directories_and_missing_files(client: TestClient, expect_error: Expect) -> None:
    client.put(f"{ARTIFACTS}/1/dir/file", content=b"x")
    assert "directory" in expect_error(
        client.get(f"{ARTIFACTS}/1/dir"), 400, "INVALID_PARAMETER_VALUE"
    )
    expect_error(client.get(f"{ARTIFACTS}/1/nothing"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert client.get(ARTIFACTS, params={"path": "1/nothing"}).json() == {"files": []}
    # A file cannot be a directory too.
    response = client.put(f"{ARTIFACTS}/1/dir/file/inner", content=b"x")
    expect_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_multipart_and_presigned_transfers_are_not_offered(
    client: TestClient, expect_error: Expect
) -> None:
    response = client.post(
        "/api/2.0/mlflow-artifacts/mpu/create/1/run/f", json={"path": "f", "num_parts": 2}
    )
    assert expect_error(response, 501, "NOT_IMPLEMENTED").startswith(MULTIPART_UNSUPPORTED)
    expect_error(client.get("/api/2.0/mlflow-artifacts/presigned/1/f"), 501, "NOT_IMPLEMENTED")


def _raw_request(app: FastAPI, method: str, raw_path: bytes, body: bytes = b"") -> tuple[int, Any]:
    """Send a request exactly as written: HTTP clients would normalise ``..`` away."""

    async def call() -> tuple[int, Any]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": unquote(raw_path.decode("latin-1")),
            "raw_path": raw_path,
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        messages: list[dict[str, Any]] = []
        delivered = False

        async def receive() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await app(scope, receive, send)
        status = next(m["status"] for m in messages if m["type"] == "http.response.start")
        payload = b"".join(
            m.get("body", b"") for m in messages if m["type"] == "http.response.body"
        )
        return status, json.loads(payload)

    return anyio.run(call)


TRICKS = [
    pytest.param(b"1/../../evil", "..", id="dot-dot"),
    pytest.param(b"1/%2e%2e/%2e%2e/evil", "..", id="encoded-dot-dot"),
    pytest.param(b"1/%252e%252e/%252e%252e/evil", "..", id="double-encoded-dot-dot"),
    pytest.param(b"1/..%2fevil", "..", id="encoded-slash"),
    pytest.param(b"/etc/evil", "absolute", id="absolute"),
    pytest.param(b"1/evil%00.txt", "control character", id="nul"),
    pytest.param(b"1/..%5cevil", "backslash", id="backslash"),
]


@pytest.mark.parametrize(("tail", "reason"), TRICKS)
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_path_tricks_are_refused_before_any_io(
    app: FastAPI, tmp_path: Path, method: str, tail: bytes, reason: str
) -> None:
    status, body = _raw_request(app, method, ARTIFACTS.encode() + b"/" + tail, b"payload")
    assert status == 400, body
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    assert reason in body["message"]
    assert app.state.tracking.artifacts.list_files("") == []
    assert not [p for p in tmp_path.rglob("*evil*")]


@pytest.mark.parametrize("path", ["../x", "/etc", "a/%2e%2e/%2e%2e/b", "a\x00b"])
def test_listing_refuses_path_tricks(client: TestClient, expect_error: Expect, path: str) -> None:
    expect_error(client.get(ARTIFACTS, params={"path": path}), 400, "INVALID_PARAMETER_VALUE")


def test_uploads_are_exempt_from_the_json_body_limit(client: TestClient, app: FastAPI) -> None:
    chunk = b"x" * (1 << 20)
    chunks = MAX_REQUEST_BYTES // len(chunk) + 1
    response = client.put(f"{ARTIFACTS}/1/over-limit.bin", content=iter([chunk] * chunks))
    assert response.status_code == 200, response.text
    assert app.state.tracking.artifacts.stat("1/over-limit.bin").size == chunks * len(chunk)
