"""MLflow 3 logged models: create, get, finalize, tags, params, search, artifacts, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

Call = Callable[..., Any]
Expect = Callable[[Any, int, str], str]
API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def model(post: Call, make_experiment: Call, make_run: Call) -> dict[str, Any]:
    experiment_id = make_experiment()
    run_id = make_run(experiment_id)
    body = {
        "experiment_id": experiment_id,
        "name": "model",
        "model_type": "sklearn",
        "source_run_id": run_id,
        "params": [{"key": "C", "value": "1.0"}],
        "tags": [{"key": "mlflow.modelVersion", "value": "1"}],
    }
    response = post("logged-models", body)
    assert response.status_code == 200, response.text
    return dict(response.json()["model"])


def test_create_returns_a_pending_model_with_its_own_artifact_location(
    model: dict[str, Any],
) -> None:
    info = model["info"]
    assert info["model_id"].startswith("m-")
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["artifact_uri"] == (
        f"mlflow-artifacts:/{info['experiment_id']}/models/{info['model_id']}/artifacts"
    )
    assert (info["name"], info["model_type"]) == ("model", "sklearn")
    assert model["data"]["params"] == [{"key": "C", "value": "1.0"}]
    assert info["tags"] == [{"key": "mlflow.modelVersion", "value": "1"}]


def test_get_and_finalize(
    client: TestClient, get: Call, model: dict[str, Any], expect_error: Expect
) -> None:
    model_id = model["info"]["model_id"]
    assert get(f"logged-models/{model_id}").json()["model"] == model
    assert get(f"logged-models/{model_id}", allow_deleted="true").status_code == 200
    finalized = client.patch(
        f"{API}/logged-models/{model_id}",
        json={"model_id": model_id, "status": "LOGGED_MODEL_READY"},
    )
    assert finalized.json()["model"]["info"]["status"] == "LOGGED_MODEL_READY"
    mismatch = client.patch(
        f"{API}/logged-models/{model_id}", json={"model_id": "m-other", "status": 2}
    )
    assert "does not match" in expect_error(mismatch, 400, "INVALID_PARAMETER_VALUE")
    expect_error(get("logged-models/m-missing"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_tags_and_params(
    client: TestClient, post: Call, get: Call, model: dict[str, Any], expect_error: Expect
) -> None:
    model_id = model["info"]["model_id"]
    tagged = client.patch(
        f"{API}/logged-models/{model_id}/tags", json={"tags": [{"key": "stage", "value": "dev"}]}
    )
    assert {"key": "stage", "value": "dev"} in tagged.json()["model"]["info"]["tags"]
    assert client.delete(f"{API}/logged-models/{model_id}/tags/stage").json() == {}
    tags = get(f"logged-models/{model_id}").json()["model"]["info"]["tags"]
    assert {"key": "stage", "value": "dev"} not in tags
    expect_error(
        client.delete(f"{API}/logged-models/{model_id}/tags/stage"), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    post(
        f"logged-models/{model_id}/params",
        {"model_id": model_id, "params": [{"key": "max_iter", "value": "200"}]},
    )
    params = get(f"logged-models/{model_id}").json()["model"]["data"]["params"]
    assert {"key": "max_iter", "value": "200"} in params


def test_search_by_name_as_runs_uris_resolve(post: Call, model: dict[str, Any]) -> None:
    experiment_id = model["info"]["experiment_id"]
    found = post(
        "logged-models/search", {"experiment_ids": [experiment_id], "filter": "name = 'model'"}
    ).json()
    assert [m["info"]["model_id"] for m in found["models"]] == [model["info"]["model_id"]]
    none = post("logged-models/search", {"experiment_ids": [experiment_id], "filter": "name = 'x'"})
    assert none.json() == {"models": []}
    ordered = post(
        "logged-models/search",
        {
            "experiment_ids": [experiment_id],
            "order_by": [{"field_name": "creation_timestamp", "ascending": False}],
            "max_results": 1,
        },
    )
    assert ordered.status_code == 200, ordered.text


def test_search_needs_experiment_ids(post: Call, expect_error: Expect) -> None:
    assert "experiment_ids" in expect_error(
        post("logged-models/search", {}), 400, "INVALID_PARAMETER_VALUE"
    )


def test_list_model_artifacts(client: TestClient, get: Call, model: dict[str, Any]) -> None:
    info = model["info"]
    root = f"{ARTIFACTS}/{info['experiment_id']}/models/{info['model_id']}/artifacts"
    client.put(f"{root}/MLmodel", content=b"flavors: {}")
    client.put(f"{root}/data/model.pkl", content=b"\x80\x04")
    listed = get(f"logged-models/{info['model_id']}/artifacts/directories").json()
    assert listed["root_uri"] == info["artifact_uri"]
    assert listed["files"] == [
        {"path": "MLmodel", "is_dir": False, "file_size": 11},
        {"path": "data", "is_dir": True},
    ]
    inner = get(
        f"logged-models/{info['model_id']}/artifacts/directories", artifact_directory_path="data"
    )
    assert inner.json()["files"] == [{"path": "data/model.pkl", "is_dir": False, "file_size": 2}]


def test_delete_model(
    client: TestClient, get: Call, model: dict[str, Any], expect_error: Expect
) -> None:
    model_id = model["info"]["model_id"]
    # The mlflow client sends the model id in a DELETE body too.
    response = client.request(
        "DELETE", f"{API}/logged-models/{model_id}", json={"model_id": model_id}
    )
    assert response.json() == {}
    expect_error(get(f"logged-models/{model_id}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_create_validates(post: Call, make_experiment: Call, expect_error: Expect) -> None:
    expect_error(post("logged-models", {"name": "x"}), 400, "INVALID_PARAMETER_VALUE")
    response = post(
        "logged-models", {"experiment_id": make_experiment(), "source_run_id": "f" * 32}
    )
    expect_error(response, 404, "RESOURCE_DOES_NOT_EXIST")
