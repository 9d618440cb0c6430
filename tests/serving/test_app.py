"""The inference server in process: V2 and MLflow routes, signature checks, errors, metrics.

A logistic regression on iris, registered with a signature and served as
``models:/iris@champion``; every answer is compared with the model's own
predictions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.auth import AuditFilter
from loopml.client import Client
from loopml.models import infer_signature
from loopml.serving import ServeOptions, create_serving_app

V2 = "/v2/models/iris"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
ONES = dict.fromkeys(FEATURES, 1.0)


@pytest.fixture
def expected(iris: Any) -> tuple[Any, np.ndarray]:
    frame = iris
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["target"])
    rows = frame[FEATURES].iloc[[0, 60, 120]]
    return rows, model.predict(rows)


def _tensor(rows: Any) -> dict[str, Any]:
    values = np.asarray(rows, dtype=float)
    return {"name": "x", "shape": list(values.shape), "datatype": "FP64", "data": values.tolist()}


def test_health_server_and_model_metadata(client: Any) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/ping").status_code == 200
    assert client.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    metadata = client.get(V2).json()
    assert metadata["name"] == "iris"
    assert metadata["versions"] == ["1"]
    assert [i["name"] for i in metadata["inputs"]] == FEATURES
    assert {i["datatype"] for i in metadata["inputs"]} == {"FP64"}
    assert client.get(f"{V2}/versions/1/ready").json() == {"name": "iris", "ready": True}


def test_v2_infer_one_tensor_or_named_columns(client: Any, expected: Any) -> None:
    rows, predicted = expected
    answer = client.post(f"{V2}/infer", json={"id": "abc", "inputs": [_tensor(rows)]}).json()
    assert answer["id"] == "abc"
    assert answer["model_version"] == "1"
    assert answer["outputs"][0]["data"] == predicted.tolist()
    columns = [
        {"name": c, "shape": [3], "datatype": "FP64", "data": rows[c].tolist()}
        for c in reversed(FEATURES)  # any order: matched by name
    ]
    answer = client.post(f"{V2}/versions/1/infer", json={"inputs": columns}).json()
    assert answer["outputs"][0]["data"] == predicted.tolist()
    proba = client.post(
        f"{V2}/infer", json={"inputs": [_tensor(rows)], "outputs": [{"name": "predict_proba"}]}
    ).json()["outputs"][0]
    assert proba["shape"] == [3, 3]
    assert np.allclose(np.asarray(proba["data"]).reshape(3, 3).sum(axis=1), 1)


def test_every_mlflow_input_format(client: Any, expected: Any) -> None:
    rows, predicted = expected
    want = {"predictions": predicted.tolist()}
    values = rows.to_numpy().tolist()
    bodies = [
        {"dataframe_split": {"columns": FEATURES, "data": values}},
        {"dataframe_split": {"columns": FEATURES[::-1], "data": [v[::-1] for v in values]}},
        {"dataframe_records": rows.to_dict(orient="records")},
        {"instances": values},
        {"instances": rows.to_dict(orient="records")},
        {"inputs": values},
        {"inputs": {c: rows[c].tolist() for c in FEATURES}},
    ]
    for body in bodies:
        assert client.post("/invocations", json=body).json() == want, body
    csv = rows.to_csv(index=False).encode()
    answer = client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert answer.json() == want


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        (f"{V2}/infer", {"inputs": [_tensor(np.zeros((1, 3)))]}, 400, "has 3 columns"),
        (
            f"{V2}/infer",
            {"inputs": [{"name": "petal_colour", "shape": [1], "datatype": "FP64", "data": [1]}]},
            400,
            "'petal_colour' is not in the model's signature",
        ),
        (
            f"{V2}/infer",
            {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES",
                         "data": ["a", "b", "c", "d"]}]},
            400,
            "expects numbers",
        ),
        (f"{V2}/infer", {"inputs": [_tensor(np.zeros((1, 4)))], "outputs": [{"name": "x"}]},
         400, "output 'x' is not one of"),
        ("/v2/models/nope/infer", {"inputs": [_tensor(np.zeros((1, 4)))]}, 404, "'nope'"),
        (f"{V2}/versions/7/infer", {"inputs": [_tensor(np.zeros((1, 4)))]}, 404, "version '7'"),
        ("/invocations", {"dataframe_split": {"columns": FEATURES[:3], "data": [[1, 2, 3]]}},
         400, "missing column 'petal_width'"),
        ("/invocations", {"dataframe_records": [{**ONES, "petal_width": "x"}]},
         400, "'petal_width': the signature expects a number"),
        ("/invocations", {"rows": []}, 400, "exactly one of"),
    ],
)  # fmt: skip
def test_bad_requests_are_4xx_naming_the_problem(
    client: Any, path: str, body: Any, status: int, message: str
) -> None:
    answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    text = answer.json().get("error") or answer.json().get("message")
    assert message in text
    assert client.get("/v2/health/ready").status_code == 200  # still serving


def test_malformed_bodies_methods_and_sizes(home: Path, make_client: Callable[..., Any]) -> None:
    app = create_serving_app(
        ServeOptions("models:/iris/1", registry_uri=str(home), max_body_bytes=2_000)
    )
    with make_client(app) as client:
        assert "not valid JSON" in client.post(f"{V2}/infer", content=b"{nope").json()["error"]
        assert client.get(f"{V2}/infer").status_code == 405
        big = client.post(f"{V2}/infer", content=b" " * 5_000)
        assert big.status_code == 413
        assert "limit of 2000" in big.json()["error"]
        odd = client.post("/invocations", content=b"x", headers={"content-type": "text/plain"})
        assert "not supported" in odd.json()["message"]
        assert client.get("/nowhere").status_code == 404


class Flaky:
    """A python_function model that fails on negative inputs."""

    def predict(self, rows: Any) -> Any:
        values = np.asarray(rows, dtype=float)
        if (values < 0).any():
            raise RuntimeError("negative input")
        return values.sum(axis=1)


def test_a_model_that_raises_fails_only_that_request(
    home: Path,
    tmp_path: Path,
    iris: Any,
    registered: Callable[..., int],
    make_client: Callable[..., Any],
) -> None:
    frame = iris[FEATURES].head(3)
    with Client(home) as registry_client:
        version = registered(
            registry_client, tmp_path, "flaky", Flaky(), signature=infer_signature(frame)
        )
        registry_client.registry.set_trusted("flaky", version)
    app = create_serving_app(ServeOptions("models:/flaky/1", registry_uri=str(home)))
    with make_client(app) as client:
        bad = client.post("/v2/models/flaky/infer", json={"inputs": [_tensor(-np.ones((1, 4)))]})
        assert bad.status_code == 500
        assert "internal error" in bad.json()["error"]
        good = client.post("/v2/models/flaky/infer", json={"inputs": [_tensor(np.ones((2, 4)))]})
        assert good.json()["outputs"][0]["data"] == [4.0, 4.0]


def test_metrics_count_requests_by_model_route_and_status(client: Any, expected: Any) -> None:
    rows, _ = expected
    client.post(f"{V2}/infer", json={"inputs": [_tensor(rows)]})
    client.post(f"{V2}/infer", json={"inputs": [_tensor(np.zeros((1, 2)))]})
    text = client.get("/metrics").text
    counted = 'endpoint="iris",model="iris",route="primary",status="200",version="1"} 1.0'
    assert f"loopml_requests_total{{{counted}" in text
    assert 'route="primary",status="400"' in text
    assert "loopml_request_seconds_bucket" in text


def test_untrusted_and_tampered_models_are_never_served(
    home: Path, tmp_path: Path, iris: Any, registered: Callable[..., int]
) -> None:
    from loopml.core.errors import ModelIntegrityError, UntrustedModel

    frame = iris[FEATURES].head(3)
    with Client(home) as registry_client:
        registered(registry_client, tmp_path, "risky", Flaky(), signature=infer_signature(frame))
        store = registry_client.artifacts
        manifest = registry_client.registry.version_manifest("iris", 1)
    with pytest.raises(UntrustedModel, match="trust"):
        create_serving_app(ServeOptions("models:/risky/1", registry_uri=str(home)))
    weights = next(p for p in manifest.files if p.endswith(".skops"))
    digest = manifest.files[weights].sha256
    blob = Path(store.root) / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest  # type: ignore[attr-defined]
    blob.chmod(0o600)
    blob.write_bytes(blob.read_bytes() + b"tampered")
    with pytest.raises(ModelIntegrityError, match="has changed"):
        create_serving_app(ServeOptions("models:/iris@champion", registry_uri=str(home)))


def test_every_answer_is_in_the_prediction_log_and_labels_join_by_request_id(
    home: Path, iris: Any, make_client: Callable[..., Any]
) -> None:
    from loopml.predictions import read

    app = create_serving_app(ServeOptions("models:/iris@champion", registry_uri=str(home)))
    sent = []
    with make_client(app) as client:
        for i in range(5):
            answer = client.post(
                f"{V2}/infer",
                json={"id": f"v2-{i}", "inputs": [_tensor(iris[FEATURES][i : i + 1])]},
            )
            sent.append(answer.headers["x-request-id"])
        split = {"dataframe_split": {"columns": FEATURES, "data": [[5.0, 3.4, 1.5, 0.2]]}}
        answer = client.post("/invocations", json=split, headers={"x-request-id": "mlflow-1"})
        sent.append(answer.headers["x-request-id"])
        refused = client.post(f"{V2}/infer", json={"inputs": [_tensor(np.zeros((1, 2)))]})
        assert refused.status_code == 400
        labels = {
            "labels": [{"request_id": "v2-0", "value": 0}, {"request_id": "v2-1", "value": 1}]
        }
        assert client.post("/v2/feedback", json=labels).json() == {"stored": 2}
        bad = client.post("/v2/feedback", json={"labels": [{"id": "v2-0"}]})
        assert bad.status_code == 400
    # leaving the client shut the app down: the log is flushed whole
    with Client(home) as registry_client:
        logged = read(registry_client.artifacts, endpoint="iris", with_ground_truth=True)
    assert sent == [f"v2-{i}" for i in range(5)] + ["mlflow-1"]
    assert sorted(logged.column("request_id").to_pylist()) == sorted(sent)
    rows = {r["request_id"]: r for r in logged.to_pylist()}
    assert rows["v2-0"]["ground_truth"] == "0"
    assert rows["v2-1"]["ground_truth"] == "1"
    assert rows["v2-2"]["ground_truth"] is None
    assert rows["mlflow-1"]["model_version"] == 1
    assert json.loads(rows["mlflow-1"]["inputs"]) == dict(
        zip(FEATURES, [[5.0], [3.4], [1.5], [0.2]], strict=True)
    )
    with Client(home) as registry_client:
        events = registry_client.auth.audit_events(AuditFilter(action="endpoint.ground_truth"))
    assert [(e.resource_id, e.after["labels"]) for e in events] == [("iris", 2)]
