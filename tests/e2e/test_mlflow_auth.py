"""Auth through the official mlflow client and raw HTTP, against a real server with auth on.

The server is ``auth_server`` (SQLite, default permission none). Experiment A
belongs to ``auth-owner`` (an editor); ``auth-reader`` is granted READ on it
and ``auth-viewer`` EDIT (a viewer's role caps that to read). Experiment B is
the admin's. Calls without credentials, with a wrong password or a revoked
token are refused with 401; calls beyond what a caller may do with 403, and
nothing they asked for is written.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import requests

from loopml.auth import Permission, Role, Scope, local_actor

if TYPE_CHECKING:
    from tests.e2e.conftest import Account, ServerProcess

pytestmark = pytest.mark.slow

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass(frozen=True)
class Setup:
    server: ServerProcess
    admin: Account
    owner: Account
    reader: Account
    viewer: Account
    revoked_token: str
    experiment_a: str
    run_a: str
    experiment_b: str
    run_b: str

    def http(self, account: Account | None = None) -> httpx.Client:
        return _http(self.server, account)

    def history(self, run_id: str) -> list[float]:
        """A run's ``loss`` history, read as the admin."""
        with self.http(self.admin) as client:
            query = {"run_id": run_id, "metric_key": "loss"}
            response = client.get(f"{API}/metrics/get-history", params=query)
        assert response.status_code == 200, response.text
        return [m["value"] for m in response.json().get("metrics", [])]

    def experiment_names(self) -> set[str]:
        with self.http(self.admin) as client:
            found = client.post(f"{API}/experiments/search", json={"max_results": 1000})
        assert found.status_code == 200, found.text
        return {e["name"] for e in found.json()["experiments"]}


def _http(server: ServerProcess, account: Account | None = None) -> httpx.Client:
    """Raw HTTP to ``server``, with ``account``'s token (or no credentials)."""
    headers = {"Authorization": f"Bearer {account.token}"} if account else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def _experiment_with_a_run(client: httpx.Client, name: str) -> tuple[str, str]:
    """An experiment with a run that has one ``loss`` point and ``file.txt``."""
    experiment_id = client.post(f"{API}/experiments/create", json={"name": name}).json()[
        "experiment_id"
    ]
    run = client.post(f"{API}/runs/create", json={"experiment_id": experiment_id}).json()
    run_id = run["run"]["info"]["run_id"]
    point = {"run_id": run_id, "key": "loss", "value": 0.5, "timestamp": 1, "step": 0}
    assert client.post(f"{API}/runs/log-metric", json=point).status_code == 200
    path = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/file.txt"
    assert client.put(path, content=f"{name} data".encode()).status_code == 200
    return str(experiment_id), run_id


@pytest.fixture(scope="module")
def setup(auth_server: ServerProcess) -> Setup:
    admin = auth_server.accounts["admin"]
    owner = auth_server.add_account("auth-owner", Role.EDITOR, password=False)
    reader = auth_server.add_account("auth-reader", Role.EDITOR, password=False)
    viewer = auth_server.add_account("auth-viewer", Role.VIEWER, scope=Scope.READ, password=False)
    with auth_server.auth_service() as service:
        revoked = service.create_token(local_actor(), "old", scope=Scope.WRITE, owner="auth-owner")
        service.revoke_token(local_actor(), revoked.token.token_id)
    with _http(auth_server, owner) as client:
        experiment_a, run_a = _experiment_with_a_run(client, "auth-exp-a")
    with _http(auth_server, admin) as client:
        experiment_b, run_b = _experiment_with_a_run(client, "auth-exp-b")
    auth_server.grant("auth-reader", experiment_a, Permission.READ)
    auth_server.grant("auth-viewer", experiment_a, Permission.EDIT)
    return Setup(
        auth_server,
        admin,
        owner,
        reader,
        viewer,
        revoked.secret,
        experiment_a,
        run_a,
        experiment_b,
        run_b,
    )


def _refused(code: str) -> Any:
    from mlflow.exceptions import MlflowException

    return pytest.raises(MlflowException, match=code)


def test_no_credentials_are_refused_with_401(mlflow_as: Any, setup: Setup) -> None:
    mlflow = mlflow_as({})
    client = mlflow.MlflowClient()
    with _refused("UNAUTHENTICATED") as caught:
        client.search_experiments()
    assert caught.value.error_code == "UNAUTHENTICATED"
    assert "MLFLOW_TRACKING_TOKEN" in str(caught.value)  # the message says what to send
    with _refused("UNAUTHENTICATED"):
        client.log_metric(setup.run_a, "loss", 9.0)
    with _refused("UNAUTHENTICATED"):
        mlflow.start_run(experiment_id=setup.experiment_a)
    assert setup.history(setup.run_a) == [0.5]


def test_a_wrong_password_or_a_revoked_token_is_refused_with_401(
    mlflow_as: Any, setup: Setup
) -> None:
    mlflow = mlflow_as({"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "nope"})
    with _refused("UNAUTHENTICATED"):
        mlflow.MlflowClient().search_experiments()
    mlflow = mlflow_as({"MLFLOW_TRACKING_TOKEN": setup.revoked_token})
    with _refused("UNAUTHENTICATED") as caught:
        mlflow.MlflowClient().log_metric(setup.run_a, "loss", 9.0)
    assert "revoked" in str(caught.value)
    assert setup.history(setup.run_a) == [0.5]


def test_a_viewer_reads_but_cannot_write(mlflow_as: Any, setup: Setup, tmp_path: Path) -> None:
    mlflow = mlflow_as(setup.viewer.token_env())
    client = mlflow.MlflowClient()
    assert [e.name for e in client.search_experiments()] == ["auth-exp-a"]
    assert client.get_run(setup.run_a).data.metrics == {"loss": 0.5}
    with _refused("PERMISSION_DENIED") as caught:
        mlflow.create_experiment("viewer-made")
    assert caught.value.error_code == "PERMISSION_DENIED"
    with _refused("PERMISSION_DENIED"):
        client.log_metric(setup.run_a, "loss", 9.0)
    with _refused("PERMISSION_DENIED"):
        client.set_tag(setup.run_a, "by", "viewer")
    (tmp_path / "up.txt").write_text("viewer")
    with pytest.raises(requests.HTTPError, match=r"403.*PERMISSION_DENIED"):
        client.log_artifact(setup.run_a, str(tmp_path / "up.txt"))
    assert setup.history(setup.run_a) == [0.5]
    assert "viewer-made" not in setup.experiment_names()
    mlflow_as(setup.owner.token_env())
    assert "by" not in client.get_run(setup.run_a).data.tags
    assert [f.path for f in client.list_artifacts(setup.run_a)] == ["file.txt"]


def test_a_reader_of_a_cannot_read_the_runs_of_b(
    mlflow_as: Any, setup: Setup, tmp_path: Path
) -> None:
    mlflow = mlflow_as(setup.reader.token_env())
    client = mlflow.MlflowClient()
    with _refused("PERMISSION_DENIED"):
        client.get_run(setup.run_b)
    with _refused("PERMISSION_DENIED"):
        client.get_metric_history(setup.run_b, "loss")
    with _refused("PERMISSION_DENIED"):
        client.search_runs([setup.experiment_b])
    with _refused("PERMISSION_DENIED"):
        mlflow.artifacts.download_artifacts(run_id=setup.run_b, dst_path=str(tmp_path / "b"))
    direct = f"mlflow-artifacts:/{setup.experiment_b}/{setup.run_b}/artifacts/file.txt"
    with pytest.raises(requests.HTTPError, match=r"403.*PERMISSION_DENIED"):
        mlflow.artifacts.download_artifacts(artifact_uri=direct, dst_path=str(tmp_path / "b2"))
    assert not (tmp_path / "b2" / "file.txt").exists()
    # A is readable, artifacts included
    assert [m.value for m in client.get_metric_history(setup.run_a, "loss")] == [0.5]
    local = mlflow.artifacts.download_artifacts(
        run_id=setup.run_a, artifact_path="file.txt", dst_path=str(tmp_path / "a")
    )
    assert Path(local).read_text() == "auth-exp-a data"


def test_raw_http_answers_401_with_a_challenge_and_403_without(setup: Setup) -> None:
    with setup.http() as anonymous:
        assert anonymous.get("/health").status_code == 200
        assert anonymous.get("/api/3.0/mlflow/server-info").status_code == 200
        refused = anonymous.get(f"{API}/experiments/search")
        malformed = anonymous.get(
            f"{API}/experiments/search", headers={"Authorization": "Bearer lml_nope"}
        )
        basic = base64.b64encode(b"auth-owner:wrong").decode()
        service_password = anonymous.get(
            f"{API}/experiments/search", headers={"Authorization": f"Basic {basic}"}
        )
    for response in (refused, malformed, service_password):
        assert response.status_code == 401, response.text
        assert set(response.json()) == {"error_code", "message"}
        assert response.json()["error_code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"] == 'Basic realm="loopml", charset="UTF-8"'
    with setup.http(setup.viewer) as viewer:
        created = viewer.post(f"{API}/experiments/create", json={"name": "raw-viewer"})
    assert created.status_code == 403
    assert created.json()["error_code"] == "PERMISSION_DENIED"
    assert "www-authenticate" not in created.headers
    path = f"{ARTIFACTS}/{setup.experiment_b}/{setup.run_b}/artifacts/file.txt"
    with setup.http(setup.reader) as reader:
        download = reader.get(path)
        upload = reader.put(f"{ARTIFACTS}/{setup.experiment_a}/{setup.run_a}/artifacts/x.txt")
    assert download.status_code == 403
    assert b"auth-exp-b data" not in download.content
    assert upload.status_code == 403
    assert "raw-viewer" not in setup.experiment_names()
