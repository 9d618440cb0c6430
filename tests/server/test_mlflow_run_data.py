"""What runs record: metrics, params, tags, batches, inputs, outputs, legacy model records."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

Call = Callable[..., Any]
Expect = Callable[[Any, int, str], str]


def _run(get: Call, run_id: str) -> dict[str, Any]:
    return dict(get("runs/get", run_id=run_id).json()["run"])


def _metric(key: str = "m", value: Any = 1.0, step: int = 0) -> dict[str, Any]:
    return {"key": key, "value": value, "timestamp": 1_700_000_000_000 + step, "step": step}


def test_log_metric_param_and_tags_one_by_one(post: Call, get: Call, make_run: Call) -> None:
    run_id = make_run()
    # The mlflow client sends run_uuid and run_id together, and int64 fields as numbers.
    assert (
        post(
            "runs/log-metric", {"run_id": run_id, "run_uuid": run_id, **_metric("acc", 0.9)}
        ).json()
        == {}
    )
    post("runs/log-parameter", {"run_id": run_id, "run_uuid": run_id, "key": "lr", "value": "0.1"})
    post("runs/set-tag", {"run_id": run_id, "run_uuid": run_id, "key": "team", "value": "ml"})
    data = _run(get, run_id)["data"]
    assert data["metrics"] == [_metric("acc", 0.9)]
    assert data["params"] == [{"key": "lr", "value": "0.1"}]
    assert {"key": "team", "value": "ml"} in data["tags"]
    post("runs/delete-tag", {"run_id": run_id, "key": "team"})
    assert {"key": "team", "value": "ml"} not in _run(get, run_id)["data"]["tags"]


def test_non_finite_metric_values_round_trip(post: Call, get: Call, make_run: Call) -> None:
    run_id = make_run()
    for key, value in (("nan", "NaN"), ("inf", "Infinity"), ("neg", "-Infinity")):
        post("runs/log-metric", {"run_id": run_id, **_metric(key, value)})
    latest = {m["key"]: m["value"] for m in _run(get, run_id)["data"]["metrics"]}
    assert latest == {"nan": "NaN", "inf": "Infinity", "neg": "-Infinity"}


def test_timestamps_as_strings_are_accepted(post: Call, get: Call, make_run: Call) -> None:
    run_id = make_run()
    body = {"run_id": run_id, "key": "m", "value": 1, "timestamp": "1700000000000", "step": "3"}
    assert post("runs/log-metric", body).status_code == 200
    assert _run(get, run_id)["data"]["metrics"][0]["step"] == 3


def test_log_metric_validation(post: Call, make_run: Call, expect_error: Expect) -> None:
    run_id = make_run()
    missing = {"run_id": run_id, "key": "m", "value": 1}
    assert "timestamp" in expect_error(
        post("runs/log-metric", missing), 400, "INVALID_PARAMETER_VALUE"
    )
    wrong_type = {"run_id": run_id, **_metric(value="high")}
    assert "value" in expect_error(
        post("runs/log-metric", wrong_type), 400, "INVALID_PARAMETER_VALUE"
    )
    bad_key = {"run_id": run_id, **_metric(key="../etc")}
    expect_error(post("runs/log-metric", bad_key), 400, "INVALID_PARAMETER_VALUE")
    expect_error(post("runs/log-metric", _metric()), 400, "INVALID_PARAMETER_VALUE")


def test_params_are_write_once(post: Call, make_run: Call, expect_error: Expect) -> None:
    run_id = make_run()
    post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    assert (
        post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"}).status_code == 200
    )
    response = post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "2"})
    expect_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_log_batch_writes_everything(post: Call, get: Call, make_run: Call) -> None:
    run_id = make_run()
    body = {
        "run_id": run_id,
        "metrics": [_metric("loss", 1 / (step + 1), step) for step in range(899)],
        "params": [{"key": f"p{i}", "value": str(i)} for i in range(100)],
        "tags": [{"key": "t", "value": "v"}],
    }
    assert post("runs/log-batch", body).json() == {}
    data = _run(get, run_id)["data"]
    assert data["metrics"] == [_metric("loss", 1 / 899, 898)]
    assert len(data["params"]) == 100
    history = get("metrics/get-history", run_id=run_id, metric_key="loss").json()["metrics"]
    assert len(history) == 899  # with 100 params and a tag: MLflow's 1,000-entity limit


@pytest.mark.parametrize(
    ("field", "count", "item"),
    [
        ("metrics", 1001, lambda i: _metric("m", i, i)),
        ("params", 101, lambda i: {"key": f"p{i}", "value": "v"}),
        ("tags", 101, lambda i: {"key": f"t{i}", "value": "v"}),
    ],
)
def test_oversized_batches_write_nothing(
    post: Call,
    get: Call,
    make_run: Call,
    expect_error: Expect,
    field: str,
    count: int,
    item: Callable[[int], dict[str, Any]],
) -> None:
    run_id = make_run()
    before = _run(get, run_id)["data"]
    response = post("runs/log-batch", {"run_id": run_id, field: [item(i) for i in range(count)]})
    message = expect_error(response, 400, "INVALID_PARAMETER_VALUE")
    assert field in message
    assert str(count) in message
    assert _run(get, run_id)["data"] == before
    assert get("metrics/get-history", run_id=run_id, metric_key="m").json()["metrics"] == []


def test_one_bad_item_writes_nothing(
    post: Call, get: Call, make_run: Call, expect_error: Expect
) -> None:
    run_id = make_run()
    metrics = [_metric("ok", 1.0, 0), _metric("ok", 2.0, 1), {**_metric("bad"), "step": 1.5}]
    message = expect_error(
        post("runs/log-batch", {"run_id": run_id, "metrics": metrics}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "metrics[2].step" in message
    assert get("metrics/get-history", run_id=run_id, metric_key="ok").json()["metrics"] == []
    unknown = [_metric("ok"), {**_metric("ok"), "unit": "s"}]
    message = expect_error(
        post("runs/log-batch", {"run_id": run_id, "metrics": unknown}),
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "metrics[1].unit" in message
    assert get("metrics/get-history", run_id=run_id, metric_key="ok").json()["metrics"] == []


def test_log_batch_to_a_missing_run_is_404(post: Call, expect_error: Expect) -> None:
    response = post("runs/log-batch", {"run_id": "a" * 32, "metrics": [_metric()]})
    expect_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_log_inputs_records_datasets(post: Call, get: Call, make_run: Call) -> None:
    run_id = make_run()
    dataset = {
        "name": "iris",
        "digest": "abc123",
        "source_type": "local",
        "source": '{"uri": "iris.csv"}',
        "schema": '{"mlflow_colspec": []}',
    }
    body = {
        "run_id": run_id,
        "datasets": [
            {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "train"}]}
        ],
    }
    assert post("runs/log-inputs", body).json() == {}
    inputs = _run(get, run_id)["inputs"]["dataset_inputs"]
    assert inputs == [
        {"dataset": dataset, "tags": [{"key": "mlflow.data.context", "value": "train"}]}
    ]


def test_log_inputs_refuses_incomplete_datasets_and_model_inputs(
    post: Call, make_run: Call, expect_error: Expect
) -> None:
    run_id = make_run()
    incomplete = {"run_id": run_id, "datasets": [{"dataset": {"name": "x"}}]}
    message = expect_error(post("runs/log-inputs", incomplete), 400, "INVALID_PARAMETER_VALUE")
    assert "datasets[0].dataset.digest" in message
    models = {"run_id": run_id, "models": [{"model_id": "m-1"}]}
    expect_error(post("runs/log-inputs", models), 501, "NOT_IMPLEMENTED")


def test_log_model_appends_to_the_history_tag(
    post: Call, get: Call, make_run: Call, expect_error: Expect
) -> None:
    run_id = make_run()
    model = {"artifact_path": "model", "flavors": {}, "utc_time_created": "now", "run_id": run_id}
    for _ in range(2):
        post("runs/log-model", {"run_id": run_id, "model_json": json.dumps(model)})
    tags = {t["key"]: t["value"] for t in _run(get, run_id)["data"]["tags"]}
    assert json.loads(tags["mlflow.log-model.history"]) == [model, model]
    response = post("runs/log-model", {"run_id": run_id, "model_json": '{"flavors": {}}'})
    assert "artifact_path" in expect_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_model_linked_metrics_go_to_the_model_and_are_not_doubled_on_the_run(
    post: Call, get: Call, make_experiment: Call, make_run: Call
) -> None:
    experiment_id = make_experiment()
    run_id = make_run(experiment_id)
    post("runs/log-batch", {"run_id": run_id, "metrics": [_metric("acc", 0.5, 0)]})
    model = post(
        "logged-models", {"experiment_id": experiment_id, "source_run_id": run_id, "name": "m"}
    ).json()["model"]
    model_id = model["info"]["model_id"]
    post("runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]})
    # What the mlflow client does in log_model: re-send the run's points with the model id.
    linked = [
        {**_metric("acc", 0.5, 0), "model_id": model_id, "run_id": run_id},
        {**_metric("f1", 0.7, 0), "model_id": model_id},
    ]
    assert post("runs/log-batch", {"run_id": run_id, "metrics": linked}).status_code == 200
    assert len(get("metrics/get-history", run_id=run_id, metric_key="acc").json()["metrics"]) == 1
    assert len(get("metrics/get-history", run_id=run_id, metric_key="f1").json()["metrics"]) == 1
    stored = get(f"logged-models/{model_id}").json()["model"]["data"]["metrics"]
    assert sorted((m["key"], m["value"], m["run_id"]) for m in stored) == [
        ("acc", 0.5, run_id),
        ("f1", 0.7, run_id),
    ]
    run = _run(get, run_id)
    assert run["outputs"] == {"model_outputs": [{"model_id": model_id, "step": 0}]}


def test_metrics_linked_to_a_missing_model_write_nothing(
    post: Call, get: Call, make_run: Call, expect_error: Expect
) -> None:
    run_id = make_run()
    metrics = [_metric("a"), {**_metric("b"), "model_id": "m-missing"}]
    expect_error(
        post("runs/log-batch", {"run_id": run_id, "metrics": metrics}),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    assert get("metrics/get-history", run_id=run_id, metric_key="a").json()["metrics"] == []


def test_log_outputs_needs_an_existing_model(
    post: Call, make_run: Call, expect_error: Expect
) -> None:
    response = post(
        "runs/outputs", {"run_id": make_run(), "models": [{"model_id": "m-404", "step": 0}]}
    )
    expect_error(response, 404, "RESOURCE_DOES_NOT_EXIST")
