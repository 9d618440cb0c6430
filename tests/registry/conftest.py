"""Factory fixtures for registry tests: an embedded client with real, registered versions.

``registered(...)`` trains a small scikit-learn model on the iris data in a
real run (params, metrics, context tags, a dataset version read as an input),
logs it as the run's ``model`` artifact and registers it, so lineage, diffs
and model cards are tested against what a user would really have.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from loopml.client import Client
from loopml.core.errors import ResourceNotFound
from loopml.models import save_model
from loopml.registry import ModelVersion


@dataclass(frozen=True)
class Registered:
    """What ``registered`` made: the version, its run, and the dataset version it read."""

    version: ModelVersion
    run_id: str
    dataset_ref: str | None


Register = Callable[..., Registered]


def iris_frame(rows: int = 150) -> pd.DataFrame:
    data = load_iris(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    return frame.head(rows)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    """An embedded client on a fresh store in ``tmp_path``."""
    with Client(str(tmp_path / "home")) as opened:
        yield opened


@pytest.fixture
def add_dataset(client: Client, tmp_path: Path) -> Callable[..., str]:
    """Add ``frame`` as a new version of ``name``; returns its ``data:`` reference."""
    count = [0]

    def add(name: str, frame: pd.DataFrame, parents: tuple[str, ...] = ()) -> str:
        count[0] += 1
        path = tmp_path / f"{name}-{count[0]}.csv"
        frame.to_csv(path, index=False)
        return client.data.add(name, path, parents=parents).version.ref

    return add


@pytest.fixture
def registered(client: Client, tmp_path: Path) -> Register:
    """Train, log and register a version of ``name``; every part can be varied or left out."""
    experiment = client.create_experiment("registry-tests")
    count = [0]

    def register(
        name: str = "iris",
        *,
        dataset: str | None = None,
        c: float = 1.0,
        max_iter: int = 300,
        tags: Mapping[str, str] | None = None,
        commit: str | None = "a" * 40,
        packages: Mapping[str, str] | None = None,
        environment: bool = True,
        description: str = "",
    ) -> Registered:
        count[0] += 1
        run_tags: dict[str, str] = {}
        if environment:
            run_tags["loopml.python_version"] = "3.12.1"
            run_tags["loopml.packages"] = json.dumps(dict(packages or {"scikit-learn": "1.5.0"}))
        if commit is not None:
            run_tags |= {"mlflow.source.git.commit": commit, "loopml.git.dirty": "false"}
        run = client.create_run(experiment, tags=run_tags, run_name=f"train-{count[0]}")
        run_id = run.info.run_id
        frame = client.read_dataset(dataset, run_id=run_id) if dataset else iris_frame()
        features, labels = frame.drop(columns="target"), frame["target"]
        model = LogisticRegression(C=c, max_iter=max_iter).fit(features, labels)
        client.log_param(run_id, "C", str(c))
        client.log_param(run_id, "max_iter", str(max_iter))
        client.log_metric(run_id, "accuracy", float(model.score(features, labels)))
        folder = tmp_path / f"model-{count[0]}"
        save_model(model, folder)
        client.log_artifact(run_id, folder, "model")
        client.update_run(run_id, status="FINISHED")
        try:
            client.registry.get_registered_model(name)
        except ResourceNotFound:  # the first version creates the model
            client.registry.create_registered_model(name, tags=tags)
        version = client.registry.create_model_version(
            name, f"runs:/{run_id}/model", run_id=run_id, description=description
        )
        return Registered(version, run_id, dataset and client.data.get(dataset).ref)

    return register
