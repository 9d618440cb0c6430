"""The registry on SQLite and PostgreSQL: versions, aliases, governance, safe loading.

Real stores, real scikit-learn models saved by ``loopml.models``: promotion
through approvals and gates (and an audited admin override), tampered and
code-executing models refused on the load path, grants that follow a rename.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopml.artifacts import ArtifactStore
from loopml.auth import Actor, AuthService, Permission, Role
from loopml.auth.audit import AuditFilter
from loopml.core.errors import (
    InvalidParameter,
    InvalidState,
    ModelIntegrityError,
    PermissionDenied,
    ResourceNotFound,
    UntrustedModel,
)
from loopml.models import save_model
from loopml.registry import RegistryClient, SqlRegistryStore
from loopml.store.database import Database
from loopml.tracking import TrackingClient
from loopml.tracking._sql import SqlTrackingStore

ROOT = Actor("local", "local:root", Role.ADMIN)
ALICE = Actor("p-alice", "alice", Role.EDITOR)
BOB = Actor("p-bob", "bob", Role.EDITOR)


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


@pytest.fixture
def tracking(db: Database, tmp_path: Path) -> TrackingClient:
    return TrackingClient(SqlTrackingStore(db), ArtifactStore(str(tmp_path / "artifacts")))


def registry(tracking: TrackingClient, actor: Actor = ROOT) -> RegistryClient:
    store = tracking.store
    assert isinstance(store, SqlTrackingStore)
    return RegistryClient(SqlRegistryStore(store.db), tracking, actor)


@pytest.fixture
def iris() -> tuple[Any, Any, LogisticRegression]:
    features, labels = load_iris(return_X_y=True)
    return features, labels, LogisticRegression(max_iter=300).fit(features, labels)


def log_model(tracking: TrackingClient, tmp_path: Path, model: Any, **options: Any) -> str:
    """Save ``model`` with loopml.models into a new run's artifacts; its runs:/ URI."""
    experiment = tracking.get_experiment_by_name("models")
    experiment_id = experiment.experiment_id if experiment else tracking.create_experiment("models")
    run_id = tracking.create_run(experiment_id).info.run_id
    directory = tmp_path / f"saved-{run_id}"
    save_model(model, directory, **options)
    tracking.log_artifact(run_id, directory, "model")
    return f"runs:/{run_id}/model"


def actions(db: Database) -> list[str]:
    return [e.action for e in AuthService(db).audit.list(AuditFilter(), limit=500)]


def test_versions_number_up_under_concurrent_writers(
    tracking: TrackingClient, tmp_path: Path, iris: Any
) -> None:
    source = log_model(tracking, tmp_path, iris[2])
    registry(tracking).create_registered_model("iris")
    made: list[int] = []

    def register() -> None:
        for _ in range(3):
            made.append(registry(tracking).create_model_version("iris", source).version)

    threads = [threading.Thread(target=register) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(made) == list(range(1, 10))


def test_load_by_alias_predicts_as_the_model_and_verifies_the_manifest(
    tracking: TrackingClient, tmp_path: Path, iris: Any
) -> None:
    features, _, model = iris
    client = registry(tracking)
    client.create_registered_model("iris")
    version = client.create_model_version("iris", log_model(tracking, tmp_path, model))
    assert version.manifest_digest == client.version_manifest("iris", 1).digest
    client.set_alias("iris", "champion", 1)
    loaded = client.load_model("models:/iris@champion")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(loaded.predict_proba(features), model.predict_proba(features))


def test_a_model_file_edited_after_registration_fails_its_hash_check(
    tracking: TrackingClient, tmp_path: Path, iris: Any
) -> None:
    client = registry(tracking)
    client.create_registered_model("iris")
    client.create_model_version("iris", log_model(tracking, tmp_path, iris[2]))
    store = tracking.artifacts
    assert isinstance(store, ArtifactStore)
    skops = next(e for e in store.list_files("") if e.path.endswith(".skops"))
    blob = Path(store.root) / "blobs" / "sha256" / skops.sha256[:2] / skops.sha256[2:4]
    path = blob / skops.sha256
    os.chmod(path, 0o600)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model\.skops.*has changed"):
        client.load_model("models:/iris/1")


class _Planted:
    """Unpickling this creates a file: what an attacker's pickle would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.target,))


def test_a_code_executing_model_loads_only_when_trusted(
    tracking: TrackingClient, tmp_path: Path
) -> None:
    planted = tmp_path / "pwned"
    directory = tmp_path / "hostile"
    save_model(LogisticRegression(), directory, serialization="pickle")
    model_file = next(p for p in directory.iterdir() if p.suffix == ".pkl")
    model_file.write_bytes(pickle.dumps(_Planted(planted)))
    from loopml.models import write_manifest

    write_manifest(directory)
    experiment_id = tracking.create_experiment("hostile")
    run_id = tracking.create_run(experiment_id).info.run_id
    tracking.log_artifact(run_id, directory, "model")

    admin, editor = registry(tracking), registry(tracking, ALICE)
    admin.create_registered_model("hostile")
    admin.create_model_version("hostile", f"runs:/{run_id}/model")
    with pytest.raises(UntrustedModel, match="trust"):
        admin.load_model("models:/hostile/1")
    assert not planted.exists()
    with pytest.raises(PermissionDenied, match="only admins may mark model versions trusted"):
        editor.set_trusted("hostile", 1)
    assert admin.set_trusted("hostile", 1).trusted
    assert "model_version.trust" in actions(admin.store.db)
    admin.load_model("models:/hostile/1")  # trusted: it runs, and does what a pickle does
    assert planted.exists()


def test_promotion_needs_the_approval_and_gates_its_policy_names(
    tracking: TrackingClient, tmp_path: Path, iris: Any
) -> None:
    admin, alice, bob = registry(tracking), registry(tracking, ALICE), registry(tracking, BOB)
    source = log_model(tracking, tmp_path, iris[2])
    admin.create_registered_model("iris")
    for _ in range(2):
        admin.create_model_version("iris", source)
    admin.set_alias("iris", "champion", 1)
    with pytest.raises(InvalidParameter, match="expected"):
        admin.set_alias_policy("iris", "champion", gates=["roc_auc >= "])
    assert admin.alias_policies("iris") == []
    admin.set_alias_policy(
        "iris",
        "champion",
        require_approval=True,
        four_eyes=True,
        gates=["accuracy >= baseline.accuracy - 0.005", "min(segment.region.recall) >= 0.6"],
    )
    with pytest.raises(InvalidState, match="needs an approval"):
        alice.promote("iris", 2, "champion")
    request = alice.request_approval("iris", 2, "champion", "retrained on October data")
    with pytest.raises(PermissionDenied, match="four eyes"):
        alice.approve(request.approval_id)
    bob.approve(request.approval_id, "looked at the report")

    with pytest.raises(InvalidState, match="has no evaluation"):
        alice.promote("iris", 2, "champion")
    admin.record_evaluation(
        "iris",
        2,
        {
            "accuracy": 0.95,
            "baseline": {"accuracy": 0.97},
            "segment": {"region": {"recall": {"north": 0.9, "south": 0.5}}},
        },
    )
    with pytest.raises(InvalidState, match=r"0\.95 >= 0\.965 failed.*0\.5 >= 0\.6 failed"):
        alice.promote("iris", 2, "champion")
    assert admin.get_model_version_by_alias("iris", "champion").version == 1
    assert [c.passed for c in admin.gate_checks("iris", 2)] == [False, False]

    with pytest.raises(PermissionDenied, match="only admins may override"):
        alice.promote("iris", 2, "champion", override_reason="trust me")
    done = admin.promote("iris", 2, "champion", override_reason="accepted for the holiday peak")
    assert (done.previous, done.version.version) == (1, 2)
    assert done.gate_check is not None
    assert done.gate_check.overridden_by == "local:root"
    assert done.approval is not None
    assert done.approval.approval_id == request.approval_id
    events = AuthService(admin.store.db).audit.list(
        AuditFilter(action="registered_model.set_alias"), limit=10
    )
    assert events[0].after is not None
    assert events[0].after["override_reason"] == "accepted for the holiday peak"
    assert events[0].after["approval"] == request.approval_id


def test_a_rejection_needs_a_reason_and_a_decision_is_final(
    tracking: TrackingClient, tmp_path: Path, iris: Any
) -> None:
    admin, alice = registry(tracking), registry(tracking, ALICE)
    admin.create_registered_model("iris")
    admin.create_model_version("iris", log_model(tracking, tmp_path, iris[2]))
    request = alice.request_approval("iris", 1, "champion")
    with pytest.raises(InvalidParameter, match="needs a reason"):
        admin.reject(request.approval_id, " ")
    assert admin.reject(request.approval_id, "no report attached").state.value == "rejected"
    with pytest.raises(InvalidState, match="already rejected"):
        admin.approve(request.approval_id)


def test_deleting_a_version_drops_its_aliases_and_never_reuses_its_number(
    tracking: TrackingClient, tmp_path: Path, iris: Any
) -> None:
    client = registry(tracking)
    source = log_model(tracking, tmp_path, iris[2])
    client.create_registered_model("iris")
    client.create_model_version("iris", source)
    client.set_alias("iris", "champion", 1)
    client.delete_model_version("iris", 1)
    with pytest.raises(ResourceNotFound, match="alias champion not found"):
        client.load_model("models:/iris@champion")
    with pytest.raises(ResourceNotFound, match="version=1"):
        client.set_alias("iris", "champion", 1)
    assert client.create_model_version("iris", source).version == 2


def test_grants_follow_a_rename_and_go_with_a_delete(
    tracking: TrackingClient, db: Database
) -> None:
    service = AuthService(db)
    alice = service.create_account(ROOT, "alice", role=Role.EDITOR, password="a" * 12)
    actor = Actor(alice.principal_id, "alice", Role.EDITOR)
    client = registry(tracking, actor)
    client.create_registered_model("churn")
    assert service.permission(actor, "registered_model", "churn") is Permission.MANAGE
    client.rename_registered_model("churn", "churn-v2")
    assert service.has_grant(actor, "registered_model", "churn-v2")
    assert not service.has_grant(actor, "registered_model", "churn")
    client.delete_registered_model("churn-v2")
    assert not service.has_grant(actor, "registered_model", "churn-v2")
    assert registry(tracking).create_registered_model("churn-v2").name == "churn-v2"
    assert not service.has_grant(actor, "registered_model", "churn-v2")


def test_bad_sources_and_names_are_refused_and_change_nothing(
    tracking: TrackingClient, tmp_path: Path
) -> None:
    client = registry(tracking)
    client.create_registered_model("m")
    experiment_id = tracking.create_experiment("plain")
    run_id = tracking.create_run(experiment_id).info.run_id
    tracking.log_artifact_bytes(run_id, b"not a model", "notes/readme.txt")
    with pytest.raises(InvalidParameter, match="not a model directory"):
        client.create_model_version("m", f"runs:/{run_id}/notes")
    with pytest.raises(InvalidParameter, match="not in this registry's artifact store"):
        client.create_model_version("m", "s3://bucket/model")
    with pytest.raises(InvalidParameter, match=r"'\.\.'|\.\."):
        client.create_model_version("m", "mlflow-artifacts:/1/../../etc")
    with pytest.raises(InvalidParameter, match="may not contain '/'"):
        client.create_registered_model("a/b")
    with pytest.raises(InvalidParameter, match="reserved"):
        client.set_alias_policy("m", "v3")
    assert client.search_model_versions("name = 'm'").items == []
