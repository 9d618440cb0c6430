"""DataClient end to end on SQLite and PostgreSQL: diff, suites on add, masking, audit, roots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from loopml.artifacts import ArtifactStore
from loopml.auth import Actor, AuthService, Role
from loopml.auth.audit import AuditFilter
from loopml.auth.entities import Permission
from loopml.core.errors import InvalidParameter
from loopml.data import DataClient
from loopml.data._sql import SqlDataStore
from loopml.data.validation import Suite, expect
from loopml.store.database import Database

ROOT = Actor("local", "local:root", Role.ADMIN)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'loopml.db'}"
    else:
        url = request.getfixturevalue("postgres_databases").create()
    database = Database(url)
    database.initialize()
    yield database
    database.dispose()


def client_for(db: Database, tmp_path: Path, actor: Actor = ROOT, **options: object) -> DataClient:
    return DataClient(
        SqlDataStore(db),
        ArtifactStore(str(tmp_path / "artifacts")),
        actor,
        tmp_path / "work",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def data(db: Database, tmp_path: Path) -> DataClient:
    return client_for(db, tmp_path)


def customers(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(n),
            "email": [f"user{i}@example.com" for i in range(n)],
            "plan": ["free", "pro", "team", "free"] * (n // 4),
            "spend": [float(i % 50) for i in range(n)],
        }
    )


# --- diff ---------------------------------------------------------------------------


def test_diff_by_key_finds_exactly_the_changed_rows(data: DataClient) -> None:
    before = customers()
    after = before.copy()
    after.loc[[5, 17, 150], "spend"] = [999.0, 998.0, 997.0]
    after.loc[17, "plan"] = "enterprise"
    after = after.drop(index=[42])
    after = pd.concat(
        [
            after,
            pd.DataFrame({"id": [500, 501], "email": ["a@x", "b@x"], "plan": "pro", "spend": 1.0}),
        ]
    )
    data.add("customers", before)
    data.add("customers", after)

    result = data.diff("customers@1", "customers@2", keys=["id"])

    assert (result.added, result.removed, result.changed) == (2, 1, 3)
    assert sorted(row["id"] for row in result.changed_sample) == [5, 17, 150]
    assert result.changed_columns == {"spend": 3, "plan": 1}
    assert [row["id"] for row in result.removed_sample] == [42]
    assert sorted(row["id"] for row in result.added_sample) == [500, 501]
    changed_17 = next(row for row in result.changed_sample if row["id"] == 17)
    assert changed_17["plan"] == ["pro", "enterprise"]
    assert result.schema_changes == []
    assert (result.rows_before, result.rows_after) == (200, 201)


def test_diff_reports_schema_changes_and_refuses_a_non_unique_key(data: DataClient) -> None:
    data.add("t", pd.DataFrame({"id": [1, 1, 2], "x": [1, 2, 3]}))
    data.add("t", pd.DataFrame({"id": [1, 2], "x": [1.5, 2.5], "y": ["a", "b"]}))
    result = data.diff("t@1", "t@2")
    assert {(c.column, c.change) for c in result.schema_changes} == {("y", "added"), ("x", "type")}
    with pytest.raises(InvalidParameter, match="not unique in the old version"):
        data.diff("t@1", "t@2", keys=["id"])
    with pytest.raises(InvalidParameter, match="'nope' is not in both versions"):
        data.diff("t@1", "t@2", keys=["nope"])


def test_diff_without_keys_compares_rows_as_multisets(data: DataClient) -> None:
    data.add("t", pd.DataFrame({"x": [1, 2, 2, 3]}))
    data.add("t", pd.DataFrame({"x": [2, 3, 4]}))
    result = data.diff("t@1", "t@2")
    assert (result.added, result.removed, result.changed) == (1, 2, None)
    assert data.diff("t@1", "t@1").identical


# --- suites -------------------------------------------------------------------------


def test_inferred_suite_passes_clean_data_and_names_what_breaks_in_a_corrupted_copy(
    data: DataClient,
) -> None:
    clean = data.add("customers", customers()).version
    suite = data.infer_suite(clean.ref)
    assert data.validate(clean.ref, suite).success

    corrupted = customers()
    corrupted.loc[3, "id"] = 4  # a duplicate id
    corrupted.loc[7, "plan"] = "platinum"  # an unknown category
    corrupted.loc[9, "spend"] = -5.0  # below the observed minimum
    broken = data.add("customers", corrupted).version
    report = data.validate(broken.ref, suite)

    assert not report.success
    failed = {(r.expectation.kind, r.expectation.column) for r in report.results if not r.success}
    assert ("unique", "id") in failed
    assert ("in_set", "plan") in failed
    assert ("between", "spend") in failed
    assert not {(k, c) for k, c in failed if c == "email"}
    plan = next(
        r
        for r in report.results
        if (r.expectation.kind, r.expectation.column) == ("in_set", "plan")
    )
    assert [row["plan"] for row in plan.failing_rows] == ["platinum"]
    assert plan.failing_rows[0]["id"] == 7


def test_an_attached_suite_validates_each_new_version_and_marks_failures(
    data: DataClient,
) -> None:
    data.add("customers", customers())
    suite = Suite("guard", [expect.not_null("email"), expect.between("spend", min=0)])
    data.attach_suite("customers", suite)
    bad = customers()
    bad.loc[0, "email"] = None
    version = data.add("customers", bad).version
    assert version.validation_status == "failed"
    assert data.get(version.ref).validation_status == "failed"
    with pytest.raises(InvalidParameter, match="failed validation"):
        data.get(version.ref, require_valid=True)
    stored = data.validations(version.ref)
    assert [r.suite_name for r in stored] == ["guard"]
    assert not stored[0].success

    good = customers(204)
    assert data.add("customers", good).version.validation_status == "passed"
    assert data.get("customers@1").validation_status is None  # added before the suite

    data.attach_suite("customers", None)
    assert data.dataset("customers").suite is None


def test_validating_without_a_suite_needs_an_attached_one(data: DataClient) -> None:
    data.add("t", pd.DataFrame({"x": [1]}))
    with pytest.raises(InvalidParameter, match="no attached suite"):
        data.validate("t@1")


# --- masking and audit --------------------------------------------------------------


def test_sensitive_columns_are_masked_for_readers_without_a_grant(
    db: Database, tmp_path: Path
) -> None:
    service = AuthService(db)
    owner = service.create_account(ROOT, "owner", role=Role.EDITOR, password="owner-password-123")
    reader = service.create_account(ROOT, "reader", role=Role.VIEWER, password="reader-password-12")
    as_owner = client_for(
        db, tmp_path, Actor(owner.principal_id, "owner", Role.EDITOR), enforce_masking=True
    )
    as_reader = client_for(
        db, tmp_path, Actor(reader.principal_id, "reader", Role.VIEWER), enforce_masking=True
    )
    as_owner.add("customers", customers())
    as_owner.set_column_tags("customers", "email", ["pii"])

    seen = as_reader.read_pandas("customers@1")
    assert seen["email"].isna().all()
    assert seen["id"].tolist() == list(range(200))
    assert as_owner.read_pandas("customers@1")["email"][0] == "user0@example.com"
    assert as_owner.read_pandas("customers@1", mask=True)["email"].isna().all()
    profile = as_reader.profile("customers@1").column("email")
    assert (profile.top_values, profile.max_length) == ([], None)
    downloaded = tmp_path / "copy.parquet"
    as_reader.download("customers@1", downloaded)
    assert pd.read_parquet(downloaded)["email"].isna().all()

    service.grant(ROOT, "reader", "dataset", "customers", Permission.READ)
    assert as_reader.read_pandas("customers@1")["email"][0] == "user0@example.com"

    reads = service.audit.list(AuditFilter(action="dataset.read"))
    masked = [e.after["masked_columns"] for e in reads if e.actor_name == "reader"]
    assert ["email"] in masked
    assert [] in masked  # after the grant


def test_every_change_is_audited_with_its_actor(data: DataClient, db: Database) -> None:
    data.add("t", pd.DataFrame({"x": [1, 2]}))
    data.set_tag("t", "prod", 1)
    data.set_column_tags("t", "x", ["pii"])
    data.attach_suite("t", Suite("s", [expect.not_null("x")]))
    data.validate("t@1")
    events = AuthService(db).audit.list(AuditFilter(resource_kind="dataset"))
    actions = [e.action for e in reversed(events)]
    assert actions == [
        "dataset.create",
        "dataset.add_version",
        "dataset.tag",
        "dataset.tag_column",
        "dataset.attach_suite",
        "dataset.validate",
    ]
    assert {e.actor_name for e in events} == {"local:root"}
    assert AuthService(db).audit.verify().ok


def test_a_column_tag_must_name_a_column(data: DataClient) -> None:
    data.add("t", pd.DataFrame({"x": [1]}))
    with pytest.raises(InvalidParameter, match="no column 'y'"):
        data.set_column_tags("t", "y", ["pii"])


def test_paths_outside_the_data_roots_are_refused(db: Database, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text("x\n1\n")
    (allowed / "link.csv").symlink_to(outside)
    data = client_for(db, tmp_path, data_roots=[str(allowed)])
    for path in (outside, allowed / "link.csv", allowed / ".." / "outside.csv"):
        with pytest.raises(InvalidParameter, match="outside the allowed data roots"):
            data.add("t", path)
    (allowed / "ok.csv").write_text("x\n1\n")
    assert data.add("t", allowed / "ok.csv").created


INTERRUPTED_ADD = """
import sys, time
from pathlib import Path
from loopml.core.config import Settings
from loopml.data import open_data

marker = Path(sys.argv[2])

def stall(rows):
    marker.write_text(str(rows))
    time.sleep(600)

open_data(Settings.from_env(sys.argv[1])).add("big", sys.argv[3], progress=stall)
"""


@pytest.mark.slow
def test_a_killed_add_leaves_no_version_and_can_be_rerun(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from loopml.core.config import Settings
    from loopml.data import open_data

    source = tmp_path / "big.csv"
    pd.DataFrame({"id": range(300_000), "x": 0.5}).to_csv(source, index=False)
    home, marker = tmp_path / "home", tmp_path / "started"
    child = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_ADD, str(home), str(marker), str(source)]
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), "the add never started writing"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    data = open_data(Settings.from_env(home))
    try:
        assert data.list_datasets() == []
        added = data.add("big", source)
        assert (added.created, added.version.version, added.version.row_count) == (
            True,
            1,
            300_000,
        )
    finally:
        data.store.db.dispose()
