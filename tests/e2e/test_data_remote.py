"""Datasets over a real server with auth on: the SDK remote, permissions, masking, audit.

One server (SQLite, default permission read) with an admin, an owner who
creates the dataset, and a reader who has no grant: the reader may read by
default but sees sensitive columns masked until the owner grants it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest

from loopml.auth import AuditFilter
from loopml.client import Client
from loopml.core.errors import Conflict, InvalidParameter, PermissionDenied, ResourceNotFound
from loopml.data.validation import Suite, expect

if TYPE_CHECKING:
    from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.slow


def customers(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": range(n), "email": [f"u{i}@example.com" for i in range(n)], "spend": 1.5}
    )


@pytest.fixture(scope="module")
def server(data_server: ServerProcess) -> ServerProcess:
    return data_server


@pytest.fixture(scope="module")
def published(server: ServerProcess) -> str:
    """``customers`` v1 by ``owner``, with ``email`` tagged pii."""
    import os

    previous = os.environ.get("LOOPML_TRACKING_TOKEN")
    os.environ["LOOPML_TRACKING_TOKEN"] = server.accounts["owner"].token
    try:
        with Client(server.url) as owner:
            added = owner.data.add("customers", customers(), description="first")
            assert added.created
            owner.data.set_column_tags("customers", "email", ["pii"])
    finally:
        if previous is None:
            os.environ.pop("LOOPML_TRACKING_TOKEN")
        else:
            os.environ["LOOPML_TRACKING_TOKEN"] = previous
    return added.version.ref


def test_versions_round_trip_and_dedupe_over_http(
    client_as, published: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    owner = client_as("owner")
    again = owner.data.add("customers", customers())
    assert not again.created
    assert again.version.ref == published
    assert owner.data.get("customers@latest").row_count == 100
    assert [v.version for v in owner.data.list_versions("customers")] == [1]
    pd.testing.assert_frame_equal(owner.data.read_pandas(published), customers())
    assert owner.data.get(published).created_by == "owner"


def test_a_reader_without_a_grant_sees_pii_masked_until_granted(  # type: ignore[no-untyped-def]
    client_as, published: str, server: ServerProcess
) -> None:
    reader = client_as("reader")
    seen = reader.data.read_pandas(published)
    assert seen["email"].isna().all()
    assert seen["id"].tolist() == list(range(100))
    assert client_as("admin").data.read_pandas(published)["email"][0] == "u0@example.com"

    from loopml.auth.entities import Permission

    client_as("owner").auth.grant("reader", "dataset", "customers", Permission.READ)
    try:
        assert client_as("reader").data.read_pandas(published)["email"][0] == "u0@example.com"
    finally:
        client_as("owner").auth.revoke("reader", "dataset", "customers")

    events = client_as("admin").auth.audit_events(AuditFilter(action="dataset.read"))
    reader_reads = [e for e in events if e.actor_name == "reader"]
    assert {tuple(e.after["masked_columns"]) for e in reader_reads} == {("email",), ()}


def test_writes_need_edit_on_the_dataset_and_refusals_are_audited(  # type: ignore[no-untyped-def]
    client_as, published: str
) -> None:
    reader = client_as("reader")
    with pytest.raises(PermissionDenied):
        reader.data.add("customers", customers(5))
    with pytest.raises(PermissionDenied):
        reader.data.set_tag("customers", "prod", 1)
    with pytest.raises(PermissionDenied):
        reader.data.set_column_tags("customers", "email", [])
    denied = client_as("admin").auth.audit_events(AuditFilter(action="access.denied"))
    assert any(e.actor_name == "reader" and "customers" in e.resource_id for e in denied)
    # A dataset nobody has made yet may be created by any editor, who then manages it.
    assert reader.data.add("readers-own", customers(3)).created


def test_tags_move_by_compare_and_swap_over_http(client_as, published: str) -> None:  # type: ignore[no-untyped-def]
    owner = client_as("owner")
    owner.data.add("tagged", customers(3))
    owner.data.add("tagged", customers(4))
    assert owner.data.set_tag("tagged", "prod", 1) is None
    with pytest.raises(Conflict):
        owner.data.set_tag("tagged", "prod", 2, expected=None)
    assert owner.data.set_tag("tagged", "prod", 2, expected=1) == 1
    assert owner.data.get("tagged@prod").version == 2


def test_validation_profile_diff_and_suggested_suite_over_http(client_as) -> None:  # type: ignore[no-untyped-def]
    owner = client_as("owner")
    owner.data.add("orders", pd.DataFrame({"id": [1, 2, 3], "amount": [5.0, 6.0, 7.0]}))
    owner.data.add("orders", pd.DataFrame({"id": [1, 2, 4], "amount": [5.0, 60.0, 7.0]}))
    suite = owner.data.infer_suite("orders@1")
    assert owner.data.validate("orders@1", suite).success
    report = owner.data.validate("orders@2", suite)
    assert not report.success
    assert [r.suite_name for r in owner.data.validations("orders@2")] == [suite.name]
    assert owner.data.profile("orders@1").column("amount").max == 7.0
    result = owner.data.diff("orders@1", "orders@2", keys=["id"])
    assert (result.added, result.removed, result.changed) == (1, 1, 1)

    owner.data.attach_suite("orders", Suite("positive", [expect.between("amount", min=0)]))
    added = owner.data.add("orders", pd.DataFrame({"id": [9], "amount": [-1.0]}))
    assert added.version.validation_status == "failed"


def test_the_profile_page_is_html_under_the_page_policy(
    server: ServerProcess, published: str
) -> None:
    token = server.accounts["owner"].token
    response = httpx.get(
        f"{server.url}/api/loopml/v1/datasets/customers/versions/1/profile",
        params={"format": "html"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<script" not in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_bad_uploads_are_refused_and_leave_no_version(server: ServerProcess, client_as) -> None:  # type: ignore[no-untyped-def]
    token = server.accounts["owner"].token
    url = f"{server.url}/api/loopml/v1/datasets/garbage/versions"
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(url, content=b"not parquet at all", headers=headers)
    assert response.status_code == 400, response.text
    assert "cannot read" in response.json()["message"]
    empty = httpx.post(url, content=b"", headers=headers)
    assert empty.status_code == 400
    with pytest.raises(ResourceNotFound):
        client_as("owner").data.list_versions("garbage")
    with pytest.raises(InvalidParameter):
        client_as("owner").data.get("data:bad name@1")
