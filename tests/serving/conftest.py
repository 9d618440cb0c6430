"""A registry with real scikit-learn models, and the inference server over it, in process."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopml.client import Client
from loopml.models import infer_signature, save_model
from loopml.serving import ServeOptions, ServingApp, create_serving_app

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris_frame() -> Any:
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    return frame


def register(client: Client, tmp_path: Path, name: str, model: Any, **save: Any) -> int:
    """Save ``model`` with loopml.models in a new run and register it as the next version."""
    experiment = client.get_experiment_by_name("serving")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("serving")
    run_id = client.create_run(experiment_id).info.run_id
    folder = tmp_path / f"model-{run_id}"
    save_model(model, folder, **save)
    client.log_artifact(run_id, folder, "model")
    try:
        client.registry.get_registered_model(name)
    except Exception:
        client.registry.create_registered_model(name)
    return client.registry.create_model_version(name, f"runs:/{run_id}/model").version


@pytest.fixture
def registered() -> Callable[..., int]:
    """``registered(client, tmp_path, name, model, **save_options)`` → the new version."""
    return register


@pytest.fixture
def iris() -> Any:
    """The iris frame with snake_case feature names and ``target``."""
    return iris_frame()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """``iris`` v1 (logistic regression, with a signature) as ``@champion``."""
    frame = iris_frame()
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["target"])
    with Client(tmp_path / "home") as client:
        version = register(
            client,
            tmp_path,
            "iris",
            model,
            signature=infer_signature(frame[FEATURES]),
            input_example=frame[FEATURES].head(3),
        )
        client.registry.set_alias("iris", "champion", version)
    return tmp_path / "home"


@pytest.fixture
def serving_app(home: Path) -> ServingApp:
    return create_serving_app(ServeOptions("models:/iris@champion", registry_uri=str(home)))


@pytest.fixture
def client(serving_app: ServingApp) -> Iterator[TestClient]:
    with TestClient(serving_app) as opened:
        yield opened


@pytest.fixture
def make_client() -> Callable[[ServingApp], TestClient]:
    return TestClient
