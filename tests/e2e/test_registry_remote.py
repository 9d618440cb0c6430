"""Register, evaluate, promote over a real server with auth on: the SDK remote end to end.

One server (SQLite, default permission read): ``owner`` trains and registers two
models on scikit-learn's breast-cancer data, evaluates the challenger against
the champion with ``loopml.evaluate``, and tries to promote it past an alias
that needs a manager's approval (four eyes) and release gates; ``reader`` may
read but not approve; ``admin`` approves and overrides a failing gate, which
the audit log keeps with its reason. Loads verify the files against the
server's manifest: a file edited on the server is refused, and a pickle logged
by the ``mlflow`` client loads only once an admin trusts it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from loopml.auth import AuditFilter
from loopml.core.errors import (
    InvalidState,
    ModelIntegrityError,
    PermissionDenied,
    UntrustedModel,
)
from loopml.evaluation.workflow import evaluate
from loopml.models import infer_signature, save_model

if TYPE_CHECKING:
    from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.slow

GATES = [
    "roc_auc >= baseline.roc_auc - 0.005",
    "min(segment.region.recall) >= 0.6",
    "fairness.sex.demographic_parity_difference <= 0.1",
]


def _cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["region"] = np.where(frame["mean radius"] > 14, "north", "south")
    frame["sex"] = np.where(np.arange(len(frame)) % 2 == 0, "f", "m")
    return frame


def _register(client: Any, tmp_path: Path, name: str, model: Any, frame: pd.DataFrame) -> int:
    features = frame.drop(columns=["target", "region", "sex"])
    model.fit(features, frame["target"])
    experiment = client.get_experiment_by_name("cancer")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("cancer")
    run_id = client.create_run(experiment_id).info.run_id
    directory = tmp_path / f"saved-{run_id}"
    save_model(model, directory, signature=infer_signature(features))
    client.log_artifact(run_id, directory, "model")
    return int(client.registry.create_model_version(name, f"runs:/{run_id}/model").version)


def test_register_evaluate_and_promote_through_approval_and_gates(
    client_as: Callable[[str], Any], tmp_path: Path
) -> None:
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # A client sends the token in the environment when its connection first opens,
    # so each step opens a fresh client as the account it acts as.
    def owner() -> Any:
        return client_as("owner")

    frame = _cancer()
    owner().registry.create_registered_model("cancer", description="malignant or benign")
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    assert _register(owner(), tmp_path, "cancer", champion, frame) == 1
    challenger = GradientBoostingClassifier(n_estimators=15, random_state=0)
    assert _register(owner(), tmp_path, "cancer", challenger, frame) == 2
    owner().registry.set_alias("cancer", "champion", 1)
    owner().registry.set_alias_policy(
        "cancer", "champion", require_approval=True, four_eyes=True, gates=GATES
    )

    features = [c for c in frame.columns if c not in ("target", "region", "sex")]
    done = evaluate(
        owner(),
        "models:/cancer/2",
        frame,
        target="target",
        task="classification",
        segments=["region"],
        sensitive=["sex"],
        baseline="models:/cancer@champion",
        feature_columns=features,
    )
    assert done.recorded is not None
    assert {"roc_auc", "baseline", "segment", "fairness"} <= set(done.values())
    stored = owner().registry.evaluations("cancer", 2)
    assert stored[-1].run_id == done.run_id
    reports = {f.path for f in owner().list_artifacts(done.run_id, "evaluation")}
    assert reports == {"evaluation/report.json", "evaluation/report.html"}

    with pytest.raises(InvalidState, match="needs an approval"):
        owner().registry.promote("cancer", 2, "champion")
    request = owner().registry.request_approval("cancer", 2, "champion", "GBM beats the LR")
    with pytest.raises(PermissionDenied, match="four eyes"):
        owner().registry.approve(request.approval_id, name="cancer")
    with pytest.raises(PermissionDenied, match="reader"):
        client_as("reader").registry.approve(request.approval_id, name="cancer")
    client_as("admin").registry.approve(request.approval_id, "report read", name="cancer")

    # The challenger passes on the training rows; a stricter recall floor makes it fail.
    strict = [*GATES[:2], "min(segment.region.recall) >= 1.01"]
    owner().registry.set_alias_policy(
        "cancer", "champion", require_approval=True, four_eyes=True, gates=strict
    )
    with pytest.raises(InvalidState, match=r"min\(segment\.region\.recall\) >= 1\.01: 1 >= 1\.01"):
        owner().registry.promote("cancer", 2, "champion")
    assert owner().registry.get_model_version_by_alias("cancer", "champion").version == 1
    with pytest.raises(PermissionDenied, match="only admins may override"):
        owner().registry.promote("cancer", 2, "champion", override_reason="please")
    moved = client_as("admin").registry.promote(
        "cancer", 2, "champion", override_reason="recall floor is aspirational"
    )
    assert (moved.previous, moved.version.version) == (1, 2)
    assert moved.gate_check is not None
    assert moved.gate_check.overridden_by == "admin"
    events = client_as("admin").auth.audit_events(AuditFilter(action="registered_model.set_alias"))
    assert events[0].after["override_reason"] == "recall floor is aspirational"
    refused = client_as("admin").auth.audit_events(AuditFilter(action="model_version.gates_failed"))
    assert [e.actor_name for e in refused] == ["owner"]

    loaded = client_as("reader").registry.load_model("models:/cancer@champion")
    expected = challenger.predict(frame[features])
    np.testing.assert_array_equal(loaded.predict(frame[features]), expected)


def test_a_file_edited_on_the_server_is_refused_on_a_remote_load(
    client_as: Callable[[str], Any], data_server: ServerProcess, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    owner = client_as("owner")  # the only account this test acts as
    owner.registry.create_registered_model("tampered")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    _register(owner, tmp_path, "tampered", model, _cancer())
    version = owner.registry.get_model_version("tampered", 1)
    manifest = owner.registry.version_manifest("tampered", 1)
    weights = next(path for path in manifest.files if path.endswith(".skops"))
    digest = manifest.files[weights].sha256
    blob = data_server.home / "artifacts" / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
    blob.chmod(0o600)
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelIntegrityError, match="has changed"):
        owner.registry.load_model(version.uri)


@pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning")
def test_what_the_mlflow_client_logged_loads_safely_and_its_pickles_only_once_trusted(
    client_as: Callable[[str], Any], data_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", data_server.accounts["owner"].token)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", data_server.url)
    mlflow.set_tracking_uri(data_server.url)
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(features, labels)
    mlflow.set_experiment("mlflow-logged")
    try:
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="safe", registered_model_name="mlflow-skops")
            mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="from-mlflow",
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            )
    finally:
        mlflow.set_tracking_uri(None)
    safe = client_as("owner").registry.load_model("models:/mlflow-skops/1")  # skops: no trust
    np.testing.assert_array_equal(safe.predict(features), model.predict(features))
    with pytest.raises(UntrustedModel, match="trust"):
        client_as("owner").registry.load_model("models:/from-mlflow/1")
    with pytest.raises(PermissionDenied, match="only admins"):
        client_as("owner").registry.set_trusted("from-mlflow", 1)
    client_as("admin").registry.set_trusted("from-mlflow", 1)
    loaded = client_as("owner").registry.load_model("models:/from-mlflow/1")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))


def test_lineage_and_cards_show_only_what_the_caller_may_read(
    auth_server: ServerProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Default permission none: a grant on the model alone does not open its run."""
    import httpx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from loopml.auth import Permission, local_actor
    from loopml.client import Client

    monkeypatch.setenv("LOOPML_TRACKING_TOKEN", auth_server.accounts["compat-token"].token)
    with Client(auth_server.url) as maker:
        maker.registry.create_registered_model("lineage-guarded")
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        _register(maker, tmp_path, "lineage-guarded", model, _cancer())
        experiment_id = maker.get_experiment_by_name("cancer").experiment_id
    with auth_server.auth_service() as service:
        service.grant(
            local_actor(), "compat-basic", "registered_model", "lineage-guarded", Permission.READ
        )
    account = auth_server.accounts["compat-basic"]
    assert account.password is not None
    looker = httpx.Client(base_url=auth_server.url, auth=(account.name, account.password))
    base = "/api/loopml/v1/models/lineage-guarded"
    assert looker.get(f"{base}/versions/1/manifest").status_code == 200
    for path in ("versions/1/lineage", "versions/1/card", "diff?a=1&b=1"):
        refused = looker.get(f"{base}/{path}")
        assert refused.status_code == 403, refused.text
        assert "may not read" in refused.json()["message"]
    with auth_server.auth_service() as service:
        service.grant(local_actor(), "compat-basic", "experiment", experiment_id, Permission.READ)
    graph = looker.get(f"{base}/versions/1/lineage").json()["lineage"]
    assert {n["kind"] for n in graph["nodes"]} >= {"model_version", "run", "code", "environment"}
    card = looker.get(f"{base}/versions/1/card", params={"format": "html"})
    assert card.status_code == 200
    assert "<script" not in card.text
    looker.close()
