"""``loopml serve`` as a user starts it, called by the official V2 client and plain HTTP.

``tritonclient[http]`` in its default binary-tensor mode and in JSON mode
(health, metadata, infer), MLflow's input formats over plain HTTP, and auth:
a token whose account may read the model, refused without one or without a
grant.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopml.auth import AuthService, Permission, Role, Scope, local_actor
from loopml.client import Client
from loopml.models import infer_signature, save_model
from loopml.store.database import Database

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def iris() -> tuple[Any, LogisticRegression]:
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    return frame, LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["target"])


@pytest.fixture
def home(tmp_path: Path, iris: tuple[Any, LogisticRegression]) -> Path:
    frame, model = iris
    with Client(tmp_path / "home") as client:
        experiment_id = client.create_experiment("serving")
        run_id = client.create_run(experiment_id).info.run_id
        save_model(model, tmp_path / "saved", signature=infer_signature(frame[FEATURES]))
        client.log_artifact(run_id, tmp_path / "saved", "model")
        client.registry.create_registered_model("iris")
        client.registry.create_model_version("iris", f"runs:/{run_id}/model")
        client.registry.set_alias("iris", "champion", 1)
    return tmp_path / "home"


def test_tritonclient_binary_and_json_modes(
    home: Path, iris: tuple[Any, LogisticRegression], start_inference: Callable[..., Any]
) -> None:
    import tritonclient.http as triton

    frame, model = iris
    server = start_inference(home, "models:/iris@champion")
    rows = frame[FEATURES].to_numpy()[::15]
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("iris")
        assert client.get_model_metadata("iris")["versions"] == ["1"]
        for binary in (True, False):
            tensor = triton.InferInput("x", list(rows.shape), "FP64")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            predicted = client.infer("iris", [tensor]).as_numpy("predict")
            np.testing.assert_array_equal(predicted, model.predict(frame[FEATURES].iloc[::15]))
            wanted = triton.InferRequestedOutput("predict_proba", binary_data=binary)
            proba = client.infer("iris", [tensor], outputs=[wanted]).as_numpy("predict_proba")
            np.testing.assert_allclose(proba, model.predict_proba(frame[FEATURES].iloc[::15]))
        wrong = triton.InferInput("x", [1, 3], "FP64")
        wrong.set_data_from_numpy(np.zeros((1, 3)))
        with pytest.raises(Exception, match="has 3 columns"):
            client.infer("iris", [wrong])
    finally:
        client.close()


def test_plain_http_with_mlflow_formats(
    home: Path, iris: tuple[Any, LogisticRegression], start_inference: Callable[..., Any]
) -> None:
    frame, model = iris
    server = start_inference(home, "models:/iris/1")
    rows = frame[FEATURES].iloc[[0, 75, 149]]
    expected = {"predictions": model.predict(rows).tolist()}
    split = {"dataframe_split": {"columns": FEATURES, "data": rows.to_numpy().tolist()}}
    with httpx.Client(base_url=server.url) as http:
        assert http.post("/invocations", json=split).json() == expected
        records = {"dataframe_records": rows.to_dict(orient="records")}
        assert http.post("/invocations", json=records).json() == expected
        csv = http.post(
            "/invocations",
            content=rows.to_csv(index=False),
            headers={"content-type": "text/csv"},
        )
        assert csv.json() == expected
        assert http.get("/version").status_code == 200
        assert "loopml_requests_total" in http.get("/metrics").text


def test_auth_needs_a_token_that_may_read_the_model(
    home: Path, start_inference: Callable[..., Any]
) -> None:
    database = Database(f"sqlite:///{home / 'loopml.db'}")
    service = AuthService(database)
    local = local_actor()
    for name in ("reader", "stranger"):
        service.create_account(local, name, role=Role.VIEWER, password="a-long-password-1")
    service.grant(local, "reader", "registered_model", "iris", Permission.READ)
    tokens = {
        name: service.create_token(local, f"{name}-token", scope=Scope.READ, owner=name).secret
        for name in ("reader", "stranger")
    }
    database.dispose()
    server = start_inference(home, "models:/iris@champion", "--auth", default_permission="none")
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v2/health/live").status_code == 200  # probes need no credentials
        anonymous = http.post("/v2/models/iris/infer", json=body)
        assert anonymous.status_code == 401
        assert "authentication required" in anonymous.json()["error"]
        refused = http.post(
            "/v2/models/iris/infer",
            json=body,
            headers={"Authorization": f"Bearer {tokens['stranger']}"},
        )
        assert refused.status_code == 403
        assert "may not read registered model 'iris'" in refused.json()["error"]
        allowed = http.post(
            "/v2/models/iris/infer",
            json=body,
            headers={"Authorization": f"Bearer {tokens['reader']}"},
        )
        assert allowed.status_code == 200, allowed.text


CLIENTS_PYTHON = Path(
    os.environ.get(
        "LOOPML_TEST_CLIENTS_PYTHON",
        Path(__file__).resolve().parents[2] / ".venv" / "clients" / "bin" / "python",
    )
)


def test_the_kserve_client_gets_health_and_predictions(
    home: Path, iris: tuple[Any, LogisticRegression], start_inference: Callable[..., Any]
) -> None:
    """KServe's SDK (its own venv: it pins an older pandas) in JSON and binary mode."""
    if not CLIENTS_PYTHON.exists():
        message = f"{CLIENTS_PYTHON} is missing: `make test` creates it (.venv/clients with kserve)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    _, model = iris
    server = start_inference(home, "models:/iris@champion")
    script = Path(__file__).with_name("clients") / "kserve_check.py"
    done = subprocess.run(
        [str(CLIENTS_PYTHON), str(script), server.url, "iris"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    rows = pd.DataFrame(
        [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]], columns=FEATURES
    )
    expected = model.predict(rows).tolist()
    assert answers == {
        "live": True,
        "ready": True,
        "model_ready": True,
        "predictions": expected,
        "binary_predictions": expected,
    }


def test_a_clean_shutdown_leaves_exactly_the_requests_sent_in_the_log(
    home: Path, start_inference: Callable[..., Any]
) -> None:
    from loopml.predictions import log_ground_truth, read

    server = start_inference(home, "models:/iris@champion", "--log-flush-s", "30")
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
    with httpx.Client(base_url=server.url) as http:
        sent = [
            http.post("/v2/models/iris/infer", json={**body, "id": f"req-{i}"}).json()["id"]
            for i in range(300)
        ]
    server.stop()  # SIGTERM: the 30 s flush interval has not passed; shutdown flushes
    with Client(home) as client:
        log_ground_truth(client.artifacts, "iris", {"req-7": 2, "req-8": 0})
        logged = read(client.artifacts, endpoint="iris", with_ground_truth=True)
    assert sorted(logged.column("request_id").to_pylist()) == sorted(sent)
    labels = {r["request_id"]: r["ground_truth"] for r in logged.to_pylist() if r["ground_truth"]}
    assert labels == {"req-7": "2", "req-8": "0"}


def test_moving_the_alias_under_load_fails_no_request_on_a_real_server(
    home: Path, tmp_path: Path, start_inference: Callable[..., Any]
) -> None:
    import threading

    from sklearn.dummy import DummyClassifier

    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    with Client(home) as client:
        run_id = client.create_run(client.create_experiment("v2")).info.run_id
        always_two = DummyClassifier(strategy="constant", constant=2).fit(
            frame[FEATURES], frame["target"]
        )
        save_model(always_two, tmp_path / "v2", signature=infer_signature(frame[FEATURES]))
        client.log_artifact(run_id, tmp_path / "v2", "model")
        client.registry.create_model_version("iris", f"runs:/{run_id}/model")
    server = start_inference(home, "models:/iris@champion", "--poll-s", "0.2", "--no-log")
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
    statuses: list[tuple[int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                answer = http.post("/v2/models/iris/infer", json=body)
                version = answer.json().get("model_version", "") if answer.is_success else ""
                statuses.append((answer.status_code, version))

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        while len(statuses) < 200:
            stop.wait(0.05)
        with Client(home) as client:
            client.registry.set_alias("iris", "champion", 2)
        for _ in range(600):  # up to 30 s for the watcher to swap v2 in
            if statuses and statuses[-1][1] == "2":
                break
            stop.wait(0.05)
        seen = len(statuses)
        while len(statuses) < seen + 200:
            stop.wait(0.05)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    assert [s for s in statuses if s[0] != 200] == []
    assert statuses[0][1] == "1"
    assert statuses[-1][1] == "2"
