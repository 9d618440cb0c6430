"""Runs as a whole: create, get, update, delete, restore, search, metric history, artifact lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

Call = Callable[..., Any]
Expect = Callable[[Any, int, str], str]
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def test_create_run_returns_the_whole_run(post: Call, make_experiment: Call) -> None:
    experiment_id = make_experiment()
    body = {
        "experiment_id": experiment_id,
        "user_id": "ana",
        "start_time": 1_700_000_000_000,
        "run_name": "first",
        "tags": [{"key": "mlflow.source.name", "value": "train.py"}],
    }
    run = post("runs/create", body).json()["run"]
    info = run["info"]
    assert info["run_id"] == info["run_uuid"]
    assert (info["run_name"], info["user_id"], info["status"]) == ("first", "ana", "RUNNING")
    assert info["start_time"] == 1_700_000_000_000
    assert "end_time" not in info
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{info['run_id']}/artifacts"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags == {"mlflow.source.name": "train.py", "mlflow.runName": "first"}
    assert run["inputs"] == {"dataset_inputs": []}
    assert run["outputs"] == {"model_outputs": []}


def test_create_run_in_missing_or_deleted_experiment(
    post: Call, make_experiment: Call, expect_error: Expect
) -> None:
    expect_error(post("runs/create", {"experiment_id": "404"}), 404, "RESOURCE_DOES_NOT_EXIST")
    experiment_id = make_experiment()
    post("experiments/delete", {"experiment_id": experiment_id})
    expect_error(
        post("runs/create", {"experiment_id": experiment_id}), 400, "INVALID_PARAMETER_VALUE"
    )


def test_get_run_by_run_id_or_legacy_run_uuid(
    get: Call, make_run: Call, expect_error: Expect
) -> None:
    run_id = make_run()
    assert get("runs/get", run_id=run_id).json()["run"]["info"]["run_id"] == run_id
    assert get("runs/get", run_uuid=run_id).json()["run"]["info"]["run_id"] == run_id
    both = get("runs/get", run_id=run_id, run_uuid=run_id)  # what the mlflow client sends
    assert both.status_code == 200
    expect_error(get("runs/get", run_id="0" * 32), 404, "RESOURCE_DOES_NOT_EXIST")
    assert "run_id" in expect_error(get("runs/get"), 400, "INVALID_PARAMETER_VALUE")


def test_update_run_status_end_time_and_name(post: Call, get: Call, make_run: Call) -> None:
    run_id = make_run()
    body = {
        "run_id": run_id,
        "run_uuid": run_id,
        "status": "FINISHED",
        "end_time": 1_700_000_001_000,
        "run_name": "renamed",
    }
    info = post("runs/update", body).json()["run_info"]
    assert (info["status"], info["end_time"], info["run_name"]) == (
        "FINISHED",
        1_700_000_001_000,
        "renamed",
    )
    tags = get("runs/get", run_id=run_id).json()["run"]["data"]["tags"]
    assert {"key": "mlflow.runName", "value": "renamed"} in tags


def test_update_run_refuses_unknown_status(
    post: Call, make_run: Call, expect_error: Expect
) -> None:
    message = expect_error(
        post("runs/update", {"run_id": make_run(), "status": "DONE"}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "status" in message


def test_delete_and_restore_run(
    post: Call, get: Call, make_run: Call, expect_error: Expect
) -> None:
    run_id = make_run()
    post("runs/delete", {"run_id": run_id})
    assert get("runs/get", run_id=run_id).json()["run"]["info"]["lifecycle_stage"] == "deleted"
    response = post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    expect_error(response, 400, "INVALID_PARAMETER_VALUE")
    post("runs/restore", {"run_id": run_id})
    assert get("runs/get", run_id=run_id).json()["run"]["info"]["lifecycle_stage"] == "active"


def test_search_runs_filters_orders_and_pages(
    post: Call, make_experiment: Call, make_run: Call
) -> None:
    experiment_id = make_experiment()
    for loss in (0.3, 0.1, 0.2):
        run_id = make_run(experiment_id)
        post("runs/log-metric", {"run_id": run_id, "key": "loss", "value": loss, "timestamp": 1})
    body = {
        "experiment_ids": [experiment_id],
        "filter": "metrics.loss < 0.25",
        "order_by": ["metrics.loss ASC"],
        "max_results": 1,
    }
    first = post("runs/search", body).json()
    assert [r["data"]["metrics"][0]["value"] for r in first["runs"]] == [0.1]
    second = post("runs/search", {**body, "page_token": first["next_page_token"]}).json()
    assert [r["data"]["metrics"][0]["value"] for r in second["runs"]] == [0.2]
    assert "next_page_token" not in second


def test_search_runs_view_types(post: Call, make_experiment: Call, make_run: Call) -> None:
    experiment_id = make_experiment()
    kept, deleted = make_run(experiment_id), make_run(experiment_id)
    post("runs/delete", {"run_id": deleted})

    def ids(view: Any) -> set[str]:
        body = {"experiment_ids": [experiment_id], "run_view_type": view}
        return {r["info"]["run_id"] for r in post("runs/search", body).json()["runs"]}

    assert ids("ACTIVE_ONLY") == {kept}
    assert ids(2) == {deleted}  # enums may come by number
    assert ids("ALL") == {kept, deleted}


def test_search_runs_refuses_bad_input(
    post: Call, make_experiment: Call, expect_error: Expect
) -> None:
    experiment_id = make_experiment()
    bad_filter = {"experiment_ids": [experiment_id], "filter": "metrics.loss <<< 1"}
    expect_error(post("runs/search", bad_filter), 400, "INVALID_PARAMETER_VALUE")
    too_many = {"experiment_ids": [experiment_id], "max_results": 50_001}
    assert "max_results" in expect_error(
        post("runs/search", too_many), 400, "INVALID_PARAMETER_VALUE"
    )


def test_metric_history_pages_and_keeps_nan(post: Call, get: Call, make_run: Call) -> None:
    run_id = make_run()
    metrics = [
        {
            "key": "loss",
            "value": "NaN" if step == 2 else step / 10,
            "timestamp": 100 + step,
            "step": step,
        }
        for step in range(5)
    ]
    post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
    everything = get("metrics/get-history", run_id=run_id, metric_key="loss").json()
    assert [m["step"] for m in everything["metrics"]] == [0, 1, 2, 3, 4]
    assert everything["metrics"][2]["value"] == "NaN"
    assert "next_page_token" not in everything
    page = get(
        "metrics/get-history", run_id=run_id, run_uuid=run_id, metric_key="loss", max_results=2
    ).json()
    assert [m["step"] for m in page["metrics"]] == [0, 1]
    rest = get(
        "metrics/get-history",
        run_id=run_id,
        metric_key="loss",
        max_results=10,
        page_token=page["next_page_token"],
    ).json()
    assert [m["step"] for m in rest["metrics"]] == [2, 3, 4]


def test_metric_history_of_finite_values_has_the_metric_message_shape(
    post: Call, get: Call, make_run: Call
) -> None:
    run_id = make_run()
    metrics = [{"key": "acc", "value": v, "timestamp": 5, "step": 2} for v in (0.5, 1)]
    post("runs/log-batch", {"run_id": run_id, "metrics": metrics})
    history = get("metrics/get-history", run_id=run_id, metric_key="acc").json()
    assert history == {
        "metrics": [
            {"key": "acc", "value": 0.5, "timestamp": 5, "step": 2},
            {"key": "acc", "value": 1.0, "timestamp": 5, "step": 2},
        ]
    }


def test_metric_history_errors(get: Call, make_run: Call, expect_error: Expect) -> None:
    run_id = make_run()
    assert get("metrics/get-history", run_id=run_id, metric_key="none").json() == {"metrics": []}
    assert "metric_key" in expect_error(
        get("metrics/get-history", run_id=run_id), 400, "INVALID_PARAMETER_VALUE"
    )
    response = get("metrics/get-history", run_id=run_id, metric_key="m", max_results=0)
    expect_error(response, 400, "INVALID_PARAMETER_VALUE")
    response = get("metrics/get-history", run_id="f" * 32, metric_key="m")
    expect_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_list_run_artifacts_relative_to_the_run_root(
    client: TestClient, get: Call, make_experiment: Call, make_run: Call, expect_error: Expect
) -> None:
    experiment_id = make_experiment()
    run_id = make_run(experiment_id)
    root = f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts"
    client.put(f"{root}/model/MLmodel", content=b"flavors: {}")
    client.put(f"{root}/notes.txt", content=b"hello")
    top = get("artifacts/list", run_id=run_id).json()
    assert top["root_uri"] == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"
    assert top["files"] == [
        {"path": "model", "is_dir": True},
        {"path": "notes.txt", "is_dir": False, "file_size": 5},
    ]
    inner = get("artifacts/list", run_id=run_id, path="model").json()["files"]
    assert inner == [{"path": "model/MLmodel", "is_dir": False, "file_size": 11}]
    assert get("artifacts/list", run_id=run_id, path="missing").json()["files"] == []
    message = expect_error(
        get("artifacts/list", run_id=run_id, path="../x"), 400, "INVALID_PARAMETER_VALUE"
    )
    assert ".." in message
