"""Dataset routes' own rules, beyond the permission matrix: what a suite or a version names."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient  # conftest imported it first, silencing its warning

from loopml.auth import Role, local_actor
from loopml.core.config import Settings
from loopml.server.app import create_app

DV = "/api/loopml/v1/datasets"
PASSWORD = "a-long-enough-password"
ROOT = ("root", PASSWORD)
EDITOR = ("editor", PASSWORD)


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr("loopml.auth.passwords._hasher", hasher)
    monkeypatch.setattr("loopml.auth.service._DUMMY_HASH", hasher.hash("not-a-real-password"))
    settings = dataclasses.replace(
        Settings.from_env(home=tmp_path / "home"), auth=True, auth_default_permission="none"
    )
    app = create_app(settings)
    service = app.state.access.service
    service.create_account(local_actor(), "root", role=Role.ADMIN, password=PASSWORD)
    service.create_account(local_actor(), "editor", role=Role.EDITOR, password=PASSWORD)
    with TestClient(app) as client:
        yield client
    app.state.tracking.store.db.dispose()


def _parquet(values: list[int]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": values}), sink)
    return sink.getvalue()


def _upload(api: TestClient, name: str, who: tuple[str, str], **params: str) -> httpx.Response:
    return api.post(f"{DV}/{name}/versions", content=_parquet([1, 2]), auth=who, params=params)


def test_a_suite_may_only_reference_datasets_the_caller_reads(api: TestClient) -> None:
    assert _upload(api, "secret", ROOT).status_code == 201
    assert _upload(api, "mine", EDITOR).status_code == 201
    peeking = {
        "suite": {
            "name": "peek",
            "expectations": [{"references": {"column": "id", "ref": "data:secret@1"}}],
        }
    }
    attach = api.put(f"{DV}/mine/suite", json=peeking, auth=EDITOR)
    assert attach.status_code == 403, attach.text
    validate = api.post(f"{DV}/mine/versions/1/validations", json=peeking, auth=EDITOR)
    assert validate.status_code == 403, validate.text
    own = {
        "suite": {
            **peeking["suite"],
            "expectations": [{"references": {"column": "id", "ref": "data:mine@1"}}],
        }
    }
    assert api.post(f"{DV}/mine/versions/1/validations", json=own, auth=EDITOR).status_code == 200


def test_parents_and_runs_a_version_names_are_checked(api: TestClient) -> None:
    assert _upload(api, "secret", ROOT).status_code == 201
    derived = _upload(api, "mine", EDITOR, parents="data:secret@1")
    assert derived.status_code == 403, derived.text
    missing_run = _upload(api, "mine", EDITOR, run_id="0" * 32)
    assert missing_run.status_code == 404, missing_run.text
    assert api.get(f"{DV}/mine", auth=EDITOR).status_code == 404  # nothing was created


def test_a_caller_lists_only_datasets_it_may_read(api: TestClient) -> None:
    _upload(api, "secret", ROOT)
    _upload(api, "mine", EDITOR)
    names = [d["name"] for d in api.get(DV, auth=EDITOR).json()["datasets"]]
    assert names == ["mine"]
    assert api.get(f"{DV}/secret/versions/1/content", auth=EDITOR).status_code == 403
