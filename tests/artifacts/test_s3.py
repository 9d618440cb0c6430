"""ArtifactStore against S3: moto's server on 127.0.0.1, reached over real HTTP by s3fs.

Runs every assertion of ``StoreBehaviour`` plus what only an object store can get
wrong: aborted multipart uploads and listings cached across writers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from loopml.artifacts import ArtifactStore, FileInfo
from loopml.core.ids import new_id

from .test_store import StoreBehaviour

BUCKET = "loopml-artifacts"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint_url() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    _client(url).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def _client(endpoint_url: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1", **CREDENTIALS)


def _options(endpoint_url: str, **extra: Any) -> dict[str, Any]:
    client_kwargs = {"endpoint_url": endpoint_url, "region_name": "us-east-1"}
    return {"key": "testing", "secret": "testing", "client_kwargs": client_kwargs, **extra}


class _S3Raw:
    def __init__(self, endpoint_url: str, prefix: str) -> None:
        self.client = _client(endpoint_url)
        self.prefix = prefix

    def stored(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{self.prefix}/"
        )
        found = [obj["Key"] for page in pages for obj in page.get("Contents", [])]
        return sorted(key.removeprefix(f"{self.prefix}/") for key in found)

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=BUCKET, Key=f"{self.prefix}/{key}", Body=data)


@pytest.fixture
def prefix() -> str:
    return f"runs-{new_id()}"


@pytest.fixture
def store(endpoint_url: str, prefix: str) -> ArtifactStore:
    return ArtifactStore(f"s3://{BUCKET}/{prefix}", _options(endpoint_url))


@pytest.fixture
def raw(endpoint_url: str, prefix: str) -> _S3Raw:
    return _S3Raw(endpoint_url, prefix)


class TestS3Store(StoreBehaviour):
    pass


def _multipart_store(endpoint_url: str, prefix: str) -> ArtifactStore:
    options = _options(endpoint_url, default_block_size=5 * 2**20)
    return ArtifactStore(f"s3://{BUCKET}/{prefix}", options)


def _big_then_failure(total: int) -> Iterator[bytes]:
    chunk = b"z" * (1 << 20)
    for _ in range(total // len(chunk)):
        yield chunk
    raise RuntimeError("connection reset")


def test_failed_multipart_upload_is_aborted(endpoint_url: str, prefix: str, raw: _S3Raw) -> None:
    block = 5 * 2**20  # S3's smallest multipart part, so 12 MiB starts a multipart upload
    store = ArtifactStore(
        f"s3://{BUCKET}/{prefix}", _options(endpoint_url, default_block_size=block)
    )

    with pytest.raises(RuntimeError, match="connection reset"):
        store.put("big.bin", _big_then_failure(12 * 2**20))

    assert raw.stored() == []
    uploads = raw.client.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{prefix}/")
    assert uploads.get("Uploads", []) == []


def test_large_multipart_round_trip(endpoint_url: str, prefix: str) -> None:
    block = 5 * 2**20
    store = ArtifactStore(
        f"s3://{BUCKET}/{prefix}", _options(endpoint_url, default_block_size=block)
    )
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB

    entry = store.put("big.bin", iter([data[i : i + 2**20] for i in range(0, len(data), 2**20)]))

    assert entry.size == len(data)
    assert b"".join(store.iter_bytes("big.bin")) == data


def test_listing_sees_other_writers(store: ArtifactStore, raw: _S3Raw) -> None:
    store.put("run/a.txt", b"a")
    assert [info.path for info in store.list("run")] == ["run/a.txt"]

    other = store.put("elsewhere/b.txt", b"bb")
    raw.write("refs/run/b.txt", json.dumps({"sha256": other.sha256, "size": 2}).encode())

    assert store.list("run") == [
        FileInfo("run/a.txt", is_dir=False, file_size=1),
        FileInfo("run/b.txt", is_dir=False, file_size=2),
    ]
    assert store.get_bytes("run/b.txt") == b"bb"
