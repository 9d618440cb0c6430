"""Snapshotting from an ``s3://`` prefix: moto's server on 127.0.0.1, reached by s3fs over HTTP."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pandas as pd
import pytest
from moto.server import ThreadedMotoServer

from loopml.artifacts import ArtifactStore
from loopml.auth import local_actor
from loopml.core.errors import InvalidParameter
from loopml.data import DataClient
from loopml.data._sql import SqlDataStore
from loopml.store.database import Database

pytestmark = pytest.mark.slow
BUCKET = "raw-data"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """Credentials and endpoint as a user would set them: in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    if BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def data(tmp_path: Path) -> Iterator[DataClient]:
    db = Database(f"sqlite:///{tmp_path / 'loopml.db'}")
    db.initialize()
    yield DataClient(
        SqlDataStore(db),
        ArtifactStore(str(tmp_path / "artifacts")),
        local_actor(),
        tmp_path / "work",
        data_roots=[f"s3://{BUCKET}/allowed", str(tmp_path)],
    )
    db.dispose()


def _put_parquet(s3: object, key: str, frame: pd.DataFrame) -> None:
    sink = io.BytesIO()
    frame.to_parquet(sink, index=False)
    s3.put_object(Bucket=BUCKET, Key=key, Body=sink.getvalue())  # type: ignore[attr-defined]


def test_an_s3_prefix_of_parquet_parts_is_one_version_with_the_local_hash(
    s3: object, data: DataClient, tmp_path: Path
) -> None:
    frame = pd.DataFrame({"id": range(1000), "x": [i / 3 for i in range(1000)]})
    _put_parquet(s3, "allowed/sales/part-0.parquet", frame.iloc[:400])
    _put_parquet(s3, "allowed/sales/part-1.parquet", frame.iloc[400:].reset_index(drop=True))
    remote = data.add("sales", f"s3://{BUCKET}/allowed/sales").version
    assert remote.row_count == 1000
    assert remote.source_uri == f"s3://{BUCKET}/allowed/sales"
    frame.to_parquet(tmp_path / "local.parquet", index=False)
    local = data.add("sales", tmp_path / "local.parquet")
    assert not local.created  # the same content, however it was split or stored
    pd.testing.assert_frame_equal(data.read_pandas(remote.ref), frame)


def test_s3_sources_outside_the_roots_or_missing_are_clear_errors(
    s3: object, data: DataClient
) -> None:
    _put_parquet(s3, "elsewhere/t.parquet", pd.DataFrame({"x": [1]}))
    with pytest.raises(InvalidParameter, match="outside the allowed data roots"):
        data.add("t", f"s3://{BUCKET}/elsewhere/t.parquet")
    with pytest.raises(InvalidParameter, match="outside the allowed data roots"):
        data.add("t", f"s3://{BUCKET}/allowed/../elsewhere/t.parquet")
    with pytest.raises(InvalidParameter, match="no such file or prefix"):
        data.add("t", f"s3://{BUCKET}/allowed/nothing-here")
    assert data.list_datasets() == []
