"""A small world for policies: a classifier served behind an endpoint, a retraining pipeline.

``clf`` v1 (trained on ``data:train@1``) is the champion behind endpoint
``clf-api``. The pipeline ``loop_flows:retrain`` (a real module written into a
temporary folder) trains on a dataset version and registers the result; with
``quality="bad"`` it trains on shuffled labels, a model that gates or a
canary must catch. Traffic goes through the real serving app, labels through
``log_ground_truth``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.auth import local_actor
from loopml.automation import Policy, PolicyRunner, PolicyScheduler, PolicyStore
from loopml.client import Client

FEATURES = [f"x{i}" for i in range(6)]

PIPELINE = """
import tempfile

import loopml
from sklearn.linear_model import LogisticRegression


@loopml.step(cache=False)  # registering a version is a side effect: never skip it
def train(data: str, quality: str) -> str:
    from loopml.models import infer_signature, save_model

    client = loopml.get_client()
    features = [f"x{i}" for i in range(6)]
    with loopml.start_run(experiment="clf-train") as run:
        frame = loopml.read_dataset(data)
        labels = frame["y"]
        if quality == "bad":
            labels = labels.sample(frac=1.0, random_state=1).to_numpy()
        model = LogisticRegression(max_iter=300).fit(frame[features], labels)
        folder = tempfile.mkdtemp()
        save_model(model, folder + "/m", signature=infer_signature(frame[features]))
        client.log_artifact(run.info.run_id, folder + "/m", "model")
    made = client.registry.create_model_version(
        "clf", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    return f"models:/clf/{made.version}"


@loopml.pipeline
def retrain(data: str = "data:train@2", quality: str = "good") -> str:
    return train(data, quality)
"""


def table(rows: int, seed: int) -> pd.DataFrame:
    """A linearly separable-ish binary task; the same rule at every seed."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    logits = x @ np.array([2.0, -1.5, 1.0, 0.5, 0.0, 0.0]) + rng.normal(0, 0.5, rows)
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["y"] = (logits > 0).astype(int)
    return frame


@dataclass
class World:
    home: Path
    client: Client
    store: PolicyStore
    runner: PolicyRunner
    endpoints: Any

    @staticmethod
    def table(rows: int, seed: int) -> pd.DataFrame:
        return table(rows, seed)

    def scheduler(self, **options: Any) -> PolicyScheduler:
        return PolicyScheduler(self.runner, **options)

    def restarted(self) -> World:
        """The same home opened afresh, as a server process after a restart would."""
        from loopml.serving.endpoints import EndpointsClient

        client = Client(self.home)
        db = client.store.db  # type: ignore[attr-defined]
        endpoints = EndpointsClient(db, local_actor(), registry=client.registry)
        store = PolicyStore(db)
        return World(
            self.home,
            client,
            store,
            PolicyRunner(store, client, endpoints, local_actor()),
            endpoints,
        )

    def serve(self, rows: pd.DataFrame, prefix: str) -> dict[str, int]:
        """Send each row as one request to ``clf-api``; label them; count answers per version."""
        from loopml.predictions import log_ground_truth
        from loopml.serving import ServeOptions, create_serving_app

        app = create_serving_app(ServeOptions("clf-api", registry_uri=str(self.home), poll_s=0))
        versions: dict[str, int] = {}

        async def post_all() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serving") as http:
                for i, row in rows[FEATURES].iterrows():
                    body = {"dataframe_split": {"columns": FEATURES, "data": [row.tolist()]}}
                    answer = await http.post(
                        "/invocations", json=body, headers={"x-request-id": f"{prefix}-{i}"}
                    )
                    assert answer.status_code == 200, answer.text
                    version = answer.headers.get("x-model-version", "?")
                    versions[version] = versions.get(version, 0) + 1

        asyncio.run(post_all())
        app.close()
        truth = {f"{prefix}-{i}": [int(y)] for i, y in rows["y"].items()}
        log_ground_truth(self.client.artifacts, "clf-api", truth)
        return versions


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from sklearn.linear_model import LogisticRegression

    from loopml.models import infer_signature, save_model
    from loopml.serving.endpoints import EndpointsClient
    from loopml.serving.entities import EndpointConfig, Route

    code = tmp_path / "code"
    code.mkdir()
    (code / "loop_flows.py").write_text(PIPELINE)
    monkeypatch.syspath_prepend(str(code))
    home = tmp_path / "home"
    monkeypatch.setenv("LOOPML_HOME", str(home))
    loopml.set_tracking_uri(home)
    client = Client(home)
    client.data.add("train", table(2000, 0))
    client.data.add("train", table(2000, 1))
    client.data.add("holdout", table(1000, 2))
    with loopml.start_run(experiment="clf-train") as run:
        frame = loopml.read_dataset("data:train@1")
        model = LogisticRegression(max_iter=300).fit(frame[FEATURES], frame["y"])
        save_model(model, tmp_path / "v1", signature=infer_signature(frame[FEATURES]))
        client.log_artifact(run.info.run_id, tmp_path / "v1", "model")
    client.registry.create_registered_model("clf")
    client.registry.create_model_version(
        "clf", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.registry.set_alias("clf", "champion", 1)
    db = client.store.db  # type: ignore[attr-defined]
    endpoints = EndpointsClient(db, local_actor(), registry=client.registry)
    endpoints.create("clf-api", EndpointConfig([Route("main", "models:/clf@champion")]))
    store = PolicyStore(db)
    yield World(
        home, client, store, PolicyRunner(store, client, endpoints, local_actor()), endpoints
    )
    loopml.set_tracking_uri(None)
    client.close()


@pytest.fixture
def make_policy() -> Callable[..., Policy]:
    def make(name: str = "clf-retrain", **changes: Any) -> Policy:
        raw: dict[str, Any] = {
            "name": name,
            "endpoint": "clf-api",
            "model": "clf",
            "triggers": ["alert:clf-watch/drift", "dataset:train"],
            "action": {"pipeline": "loop_flows:retrain", "params": {"quality": "good"}},
            "gates": {
                "data": "data:holdout@1",
                "target": "y",
                "task": "classification",
                "rules": ["accuracy >= baseline.accuracy - 0.02"],
            },
            "rollout": {
                "weight": 50,
                "min_requests": 20,
                "min_duration_s": 0,
                "guards": ["error_rate <= 0.05", "accuracy >= baseline.accuracy - 0.1"],
            },
            "limits": {"cooldown_s": 3600},
        }
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(raw.get(key), dict):
                raw[key] = {**raw[key], **value}
            else:
                raw[key] = value
        return Policy.from_dict(raw)

    return make
