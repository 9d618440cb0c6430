"""The official mlflow client (3.17) against a real loopml server, on SQLite and PostgreSQL.

Each test is a user workflow, written the way MLflow's documentation writes it:
fluent runs, artifacts, datasets, search to a DataFrame, autologging, logging a
scikit-learn model and loading it back by ``runs:/`` and ``models:/`` URIs.
The last tests run servers of their own: two workers on one SQLite file under
concurrent writers, and a server killed in the middle of an upload.

Warnings mlflow, pandas and scikit-learn raise on their own account (not about
anything the server does) are ignored below, each by its message.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loopml.artifacts import ArtifactStore

pytestmark = [
    pytest.mark.slow,
    # mlflow's dataset source registry cannot tell its two local sources apart
    pytest.mark.filterwarnings(
        "ignore:The specified dataset source can be interpreted:UserWarning"
    ),
    # mlflow's dataset digest calls DataFrame.all positionally (deprecated by pandas)
    pytest.mark.filterwarnings("ignore:Starting with pandas version 4.0:DeprecationWarning"),
    # mlflow's schema inference hint about integer columns
    pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer column:UserWarning"),
    # mlflow's sklearn autolog passes y_pred to log_loss (renamed in scikit-learn 1.9)
    pytest.mark.filterwarnings("ignore:`y_pred` was renamed to `y_proba`:FutureWarning"),
    # mlflow's type-hint inference for pyfunc wrappers (coloured message, hence the .*)
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

Mlflow = Any


def _experiment(mlflow: Mlflow) -> str:
    """A fresh experiment for this test (experiments persist across a server's tests)."""
    return str(mlflow.set_experiment(f"compat-{uuid.uuid4().hex[:8]}").experiment_id)


def test_fluent_run_params_metrics_tags_and_nested_runs(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    experiment_id = _experiment(mlflow)
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "optimizer": "adam"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.5, "f1": 0.4}, step=4)
        mlflow.set_tag("team", "ml")
        mlflow.set_tags({"stage": "dev"})
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("child_metric", 1)
    client = mlflow.MlflowClient()
    run = client.get_run(parent.info.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "parent"
    assert run.info.experiment_id == experiment_id
    assert run.data.params == {"lr": "0.01", "layers": "3", "optimizer": "adam"}
    assert run.data.metrics == {"loss": 0.2, "acc": 0.5, "f1": 0.4}
    assert run.data.tags["team"] == "ml"
    assert run.data.tags["stage"] == "dev"
    nested = client.get_run(child.info.run_id)
    assert nested.data.tags["mlflow.parentRunId"] == parent.info.run_id
    history = client.get_metric_history(parent.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]


def test_non_finite_metrics_round_trip(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    _experiment(mlflow)
    with mlflow.start_run() as run:
        mlflow.log_metric("nan", float("nan"))
        mlflow.log_metric("inf", float("inf"))
        mlflow.log_metric("neg_inf", float("-inf"))
    metrics = mlflow.MlflowClient().get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] == math.inf
    assert metrics["neg_inf"] == -math.inf


def test_artifacts_up_list_and_down(mlflow_env: Mlflow, tmp_path: Path) -> None:
    mlflow = mlflow_env
    _experiment(mlflow)
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub" / "b.txt").write_text("beta")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source / "a.txt"))
        mlflow.log_artifacts(str(source), artifact_path="tree")
        mlflow.log_dict({"answer": 42}, "config/settings.json")
        mlflow.log_text("hello", "notes.txt")
    client = mlflow.MlflowClient()
    top = {(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)}
    assert top == {("a.txt", False), ("tree", True), ("config", True), ("notes.txt", False)}
    tree = {(f.path, f.file_size) for f in client.list_artifacts(run.info.run_id, "tree")}
    assert tree == {("tree/a.txt", 5), ("tree/sub", None)}
    loaded = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/config/settings.json")
    assert loaded == {"answer": 42}
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="tree", dst_path=str(tmp_path / "down")
    )
    assert (Path(local) / "sub" / "b.txt").read_text() == "beta"


def test_dataset_inputs(mlflow_env: Mlflow) -> None:
    import pandas as pd

    mlflow = mlflow_env
    _experiment(mlflow)
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame, source="train.csv", name="train", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    inputs = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "train"
    assert inputs[0].dataset.digest == dataset.digest
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}


def test_search_runs_to_a_dataframe(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    experiment_id = _experiment(mlflow)
    for lr in (0.1, 0.01, 0.001):
        with mlflow.start_run():
            mlflow.log_param("lr", lr)
            mlflow.log_metric("loss", lr * 10)
    frame = mlflow.search_runs([experiment_id], order_by=["metrics.loss ASC"])
    assert list(frame["params.lr"]) == ["0.001", "0.01", "0.1"]
    assert list(frame["status"]) == ["FINISHED"] * 3
    filtered = mlflow.search_runs([experiment_id], filter_string="metrics.loss > 0.05")
    assert sorted(filtered["params.lr"]) == ["0.01", "0.1"]
    runs = mlflow.MlflowClient().search_runs([experiment_id], max_results=2)
    assert len(runs) == 2
    assert runs.token


def test_experiment_management_with_the_client(mlflow_env: Mlflow) -> None:
    from mlflow.exceptions import MlflowException

    client = mlflow_env.MlflowClient()
    name = f"managed-{uuid.uuid4().hex[:8]}"
    experiment_id = client.create_experiment(name, tags={"owner": "ana"})
    assert client.get_experiment_by_name(name).tags == {"owner": "ana"}
    client.set_experiment_tag(experiment_id, "stage", "dev")
    client.rename_experiment(experiment_id, f"{name}-renamed")
    assert client.get_experiment(experiment_id).name == f"{name}-renamed"
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    client.restore_experiment(experiment_id)
    assert client.get_experiment_by_name("no-such-experiment") is None
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST") as caught:
        client.get_run("0" * 32)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException, match="RESOURCE_ALREADY_EXISTS"):
        client.create_experiment(f"{name}-renamed", tags={"different": "tags"})


def test_sklearn_autolog(mlflow_env: Mlflow) -> None:
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow = mlflow_env
    _experiment(mlflow)
    features, labels = load_iris(return_X_y=True)
    mlflow.sklearn.autolog(log_models=False)
    try:
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=300).fit(features, labels)
    finally:
        mlflow.sklearn.autolog(disable=True)
    data = mlflow.MlflowClient().get_run(run.info.run_id).data
    assert data.params["max_iter"] == "300"
    assert data.metrics["training_accuracy_score"] > 0.9
    assert data.tags["estimator_name"] == "LogisticRegression"


def test_log_model_then_load_by_runs_and_models_uris(mlflow_env: Mlflow) -> None:
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow = mlflow_env
    _experiment(mlflow)
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(features, labels)
    with mlflow.start_run() as run:
        mlflow.log_metric("train_acc", model.score(features, labels))
        info = mlflow.sklearn.log_model(model, name="model")
    expected = model.predict(features[:10])
    by_run = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/model")
    assert list(by_run.predict(features[:10])) == list(expected)
    by_id = mlflow.sklearn.load_model(info.model_uri)
    assert list(by_id.predict(features[:10])) == list(expected)
    logged = mlflow.MlflowClient().get_logged_model(info.model_id)
    assert logged.status.to_int() == 2  # LOGGED_MODEL_READY
    assert logged.source_run_id == run.info.run_id
    assert {m.key for m in logged.metrics} == {"train_acc"}
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train_acc")
    assert len(history) == 1  # re-sent for the model, not doubled on the run


# --- servers of their own (SQLite) --------------------------------------------


def test_two_workers_on_one_sqlite_file_lose_no_metric_point(
    start_server: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    server = start_server(workers=2)
    client = MlflowClient(tracking_uri=server.url)
    experiment_id = client.create_experiment("concurrent")
    runs = [client.create_run(experiment_id).info.run_id for _ in range(2)]
    writers, batches, batch_size = 4, 10, 1000
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        own = MlflowClient(tracking_uri=server.url)
        run_id = runs[writer % len(runs)]
        try:
            for batch in range(batches):
                first = (writer * batches + batch) * batch_size
                points = [
                    Metric("loss", float(step), 1_700_000_000_000 + step, step)
                    for step in range(first, first + batch_size)
                ]
                own.log_batch(run_id, metrics=points)
        except BaseException as error:  # reported after the join
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    per_run = writers // len(runs) * batches * batch_size
    for run_id in runs:
        history = client.get_metric_history(run_id, "loss")
        assert len(history) == per_run
        assert len({m.step for m in history}) == per_run
        newest = max(m.step for m in history)
        assert client.get_run(run_id).data.metrics["loss"] == float(newest)


def test_a_server_killed_mid_upload_leaves_no_visible_artifact(
    start_server: Callable[..., Any], tmp_path: Path
) -> None:
    home = tmp_path / "killed"
    server = start_server(home)
    path = "1/run/artifacts/huge.bin"
    declared = 200 * (1 << 20)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        head = (
            f"PUT /api/2.0/mlflow-artifacts/artifacts/{path} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Length: {declared}\r\n\r\n"
        )
        sock.sendall(head.encode())
        chunk = b"\xab" * (1 << 20)
        for _ in range(8):
            sock.sendall(chunk)
        _wait_for_partial_write(home / "artifacts" / "tmp")
        server.kill()
    store = ArtifactStore(str(home / "artifacts"))
    assert store.exists(path) is False
    assert store.list("1/run/artifacts") == []
    restarted = start_server(home)
    import urllib.request

    url = f"{restarted.url}/api/2.0/mlflow-artifacts/artifacts?path=1/run/artifacts"
    with urllib.request.urlopen(url) as response:
        assert json.loads(response.read()) == {"files": []}


def _wait_for_partial_write(tmp_dir: Path, timeout_s: float = 30.0) -> None:
    """Until the upload is streaming into a temporary file (proof it is mid-way)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if tmp_dir.is_dir() and any(f.stat().st_size > 0 for f in tmp_dir.iterdir()):
            return
        time.sleep(0.02)
    raise AssertionError(f"no partial upload appeared in {tmp_dir}")
