"""Releases through endpoints: canary split, sticky A/B, shadows, live swaps, rollback.

Two versions of an iris model that answer differently (v1 a logistic
regression, v2 a constant "always class 2"), so which route answered is
visible in every response. Requests go through the ASGI app on one event loop
while the endpoint's watcher swaps models in the background, as under uvicorn.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sklearn.dummy import DummyClassifier

from loopml.auth import local_actor
from loopml.client import Client
from loopml.models import infer_signature
from loopml.predictions import read
from loopml.serving import (
    EndpointConfig,
    EndpointsClient,
    Route,
    ServeOptions,
    ServingApp,
    create_serving_app,
)

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
BODY = {
    "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]
}


@pytest.fixture
def two_versions(home: Path, tmp_path: Path, iris: Any, registered: Callable[..., int]) -> Path:
    """``iris`` v1 (@champion) answers class 0 for BODY; v2 always answers class 2."""
    always_two = DummyClassifier(strategy="constant", constant=2).fit(
        iris[FEATURES], iris["target"]
    )
    with Client(home) as client:
        registered(client, tmp_path, "iris", always_two, signature=infer_signature(iris[FEATURES]))
    return home


def endpoint(home: Path, config: EndpointConfig, name: str = "iris-live") -> EndpointsClient:
    with Client(home) as client:
        endpoints = EndpointsClient(client.store.db, local_actor(), registry=client.registry)  # type: ignore[attr-defined]
        endpoints.create(name, config)
    return endpoints


async def _send(
    app: ServingApp, count: int, headers: Callable[[int], dict[str, str]] | None = None
) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
        for start in range(0, count, 100):
            batch = [
                client.post(
                    f"/v2/models/{app.endpoint}/infer",
                    json=BODY,
                    headers=headers(i) if headers else None,
                )
                for i in range(start, min(start + 100, count))
            ]
            answers += await asyncio.gather(*batch)
    return answers


def versions(answers: list[httpx.Response]) -> Counter[str]:
    assert {a.status_code for a in answers} == {200}
    return Counter(a.json()["model_version"] for a in answers)


def test_a_canary_at_ten_percent_gets_ten_percent_of_the_traffic(two_versions: Path) -> None:
    config = EndpointConfig(
        routes=[Route("primary", "models:/iris/1", 90), Route("canary", "models:/iris/2", 10)]
    )
    endpoint(two_versions, config)
    app = create_serving_app(ServeOptions("iris-live", registry_uri=str(two_versions), poll_s=0))
    counted = versions(asyncio.run(_send(app, 5000)))
    assert counted["1"] + counted["2"] == 5000
    assert 400 <= counted["2"] <= 600  # 10% +- 2%
    app.close()


def test_ab_by_header_is_sticky_per_user(two_versions: Path) -> None:
    config = EndpointConfig(
        routes=[Route("a", "models:/iris/1", 50), Route("b", "models:/iris/2", 50)],
        sticky="header:X-User",
    )
    endpoint(two_versions, config)
    app = create_serving_app(ServeOptions("iris-live", registry_uri=str(two_versions), poll_s=0))
    answers = asyncio.run(_send(app, 600, lambda i: {"X-User": f"user-{i % 200}"}))
    seen: dict[str, set[str]] = {}
    for i, answer in enumerate(answers):
        seen.setdefault(f"user-{i % 200}", set()).add(answer.json()["model_version"])
    assert all(len(got) == 1 for got in seen.values())  # each user always the same version
    assert {v for got in seen.values() for v in got} == {"1", "2"}
    app.close()


def test_shadow_copies_are_logged_and_never_returned(two_versions: Path) -> None:
    config = EndpointConfig(
        routes=[Route("primary", "models:/iris/1")], shadows=[Route("next", "models:/iris/2")]
    )
    endpoint(two_versions, config)
    app = create_serving_app(ServeOptions("iris-live", registry_uri=str(two_versions), poll_s=0))
    answers = asyncio.run(_send(app, 50))
    assert versions(answers) == Counter({"1": 50})
    assert {a.json()["outputs"][0]["data"][0] for a in answers} == {0}
    app.close()
    with Client(two_versions) as client:
        logged = read(client.artifacts, endpoint="iris-live").to_pylist()
    primary = [r for r in logged if not r["shadow"]]
    shadow = [r for r in logged if r["shadow"]]
    assert len(primary) == len(shadow) == 50
    assert {r["request_id"] for r in shadow} == {r["request_id"] for r in primary}
    assert {(r["route"], r["model_version"], r["outputs"]) for r in shadow} == {
        ("shadow:next", 2, "[2]")
    }


class Load:
    """Requests sent back to back from a thread's own event loop until stopped."""

    def __init__(self, app: ServingApp) -> None:
        self.app = app
        self.answers: list[httpx.Response] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _run(self) -> None:
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
            while not self.stop.is_set():
                batch = [client.post("/v2/models/iris/infer", json=BODY) for _ in range(8)]
                self.answers += await asyncio.gather(*batch)

    def until(self, done: Callable[[], bool], timeout_s: float = 30) -> None:
        waited = threading.Event()
        for _ in range(int(timeout_s / 0.05)):
            if done():
                return
            waited.wait(0.05)
        raise AssertionError("the server never picked the change up")


@pytest.fixture
def load() -> Iterator[Callable[[ServingApp], Load]]:
    started: list[Load] = []

    def start(app: ServingApp) -> Load:
        running = Load(app)
        running.thread.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop.set()
        running.thread.join(timeout=30)


def test_moving_the_alias_under_load_fails_no_request(
    two_versions: Path, load: Callable[[ServingApp], Load]
) -> None:
    app = create_serving_app(
        ServeOptions("models:/iris@champion", registry_uri=str(two_versions), poll_s=0.05)
    )
    running = load(app)
    running.until(lambda: len(running.answers) > 200)
    with Client(two_versions) as client:
        client.registry.set_alias("iris", "champion", 2)
    running.until(lambda: running.answers[-1].json()["model_version"] == "2")
    seen = len(running.answers)
    running.until(lambda: len(running.answers) > seen + 200)
    running.stop.set()
    running.thread.join(timeout=30)
    assert [a.status_code for a in running.answers if a.status_code != 200] == []
    served = [a.json()["model_version"] for a in running.answers]
    assert served[0] == "1"
    assert served[-1] == "2"
    flips = sum(1 for a, b in itertools.pairwise(served) if a != b)
    assert flips == 1  # one clean switch: no request went back to the old version
    app.close()


def test_rollback_restores_the_previous_configuration(
    two_versions: Path, load: Callable[[ServingApp], Load]
) -> None:
    endpoints = endpoint(two_versions, EndpointConfig.single("models:/iris/1"), name="iris")
    app = create_serving_app(ServeOptions("iris", registry_uri=str(two_versions), poll_s=0.05))
    running = load(app)
    endpoints.update("iris", EndpointConfig.single("models:/iris/2"), comment="try v2")
    running.until(
        lambda: bool(running.answers) and running.answers[-1].json()["model_version"] == "2"
    )
    restored = endpoints.rollback("iris")
    assert restored.version == 3
    assert restored.config == EndpointConfig.single("models:/iris/1")
    running.until(lambda: running.answers[-1].json()["model_version"] == "1")
    running.stop.set()
    running.thread.join(timeout=30)
    assert {a.status_code for a in running.answers} == {200}
    assert [v.comment for v in endpoints.history("iris")] == ["", "try v2", "rollback to version 1"]
    app.close()


def test_a_version_that_fails_its_hash_check_is_never_swapped_in(
    two_versions: Path, make_client: Callable[[ServingApp], Any]
) -> None:
    with Client(two_versions) as client:
        manifest = client.registry.version_manifest("iris", 2)
        weights = next(p for p in manifest.files if p.endswith(".skops"))
        digest = manifest.files[weights].sha256
        root = Path(client.artifacts.root)  # type: ignore[attr-defined]
    blob = root / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
    blob.chmod(0o600)
    blob.write_bytes(blob.read_bytes() + b"!")
    app = create_serving_app(
        ServeOptions("models:/iris@champion", registry_uri=str(two_versions), poll_s=0)
    )
    with Client(two_versions) as client:
        client.registry.set_alias("iris", "champion", 2)
    assert app.live.refresh() is False  # refused: the old model keeps serving
    assert app.live.refresh() is False  # and is not retried until something changes
    with make_client(app) as http:
        answer = http.post("/v2/models/iris/infer", json=BODY).json()
        assert answer["model_version"] == "1"
        assert 'loopml_model_swap_failures_total{model="iris"} 1.0' in http.get("/metrics").text
