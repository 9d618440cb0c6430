"""Adaptive batching: concurrent requests share a model call, answers reach their callers.

Driven through the ASGI app with an async client, so requests really are in
flight together on one event loop, as under uvicorn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression

from loopml.client import Client
from loopml.models import infer_signature
from loopml.serving import ServeOptions, ServingApp, create_serving_app

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _body(rows: Any) -> dict[str, Any]:
    values = np.asarray(rows, dtype=float)
    return {"inputs": [{"name": "x", "shape": list(values.shape), "datatype": "FP64",
                        "data": values.tolist()}]}  # fmt: skip


async def _send_together(app: ServingApp, path: str, bodies: list[Any]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://serving") as client:
        return await asyncio.gather(*(client.post(path, json=b) for b in bodies))


def _batches(app: ServingApp, model: str) -> tuple[float, float]:
    """(model calls, requests answered by them) from the batch-size histogram."""
    samples = {
        s.name: s.value
        for metric in app.metrics.batch_size.collect()
        for s in metric.samples
        if s.labels.get("model") == model and s.name.endswith(("_count", "_sum"))
    }
    return samples.get("loopml_batch_size_count", 0.0), samples.get("loopml_batch_size_sum", 0.0)


def test_concurrent_requests_share_calls_and_get_their_own_answers(home: Path, iris: Any) -> None:
    app = create_serving_app(ServeOptions("models:/iris@champion", registry_uri=str(home)))
    model = LogisticRegression(max_iter=500).fit(iris[FEATURES], iris["target"])
    picks = [iris[FEATURES].iloc[i : i + 1 + i % 3] for i in range(0, 150, 3)]
    answers = asyncio.run(_send_together(app, "/v2/models/iris/infer", [_body(p) for p in picks]))
    for rows, answer in zip(picks, answers, strict=True):
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == model.predict(rows).tolist()
    calls, answered = _batches(app, "iris")
    assert answered == len(picks)
    assert calls < len(picks)  # some requests were answered together


def test_a_lone_request_is_answered_alone_and_batching_can_be_off(home: Path) -> None:
    app = create_serving_app(
        ServeOptions("models:/iris@champion", registry_uri=str(home), max_batch_delay_ms=500)
    )
    asyncio.run(_send_together(app, "/v2/models/iris/infer", [_body(np.ones((1, 4)))]))
    assert _batches(app, "iris") == (1.0, 1.0)
    off = create_serving_app(
        ServeOptions("models:/iris@champion", registry_uri=str(home), max_batch_size=1)
    )
    asyncio.run(_send_together(off, "/v2/models/iris/infer", [_body(np.ones((1, 4)))] * 8))
    assert _batches(off, "iris") == (0.0, 0.0)  # no batcher in the way


class Picky:
    """Fails on any row holding a negative number (a python_function model)."""

    def predict(self, rows: Any) -> Any:
        values = np.asarray(rows, dtype=float)
        if (values < 0).any():
            raise ValueError("negative input")
        return values.sum(axis=1)


def test_one_bad_request_in_a_batch_fails_alone(
    home: Path, tmp_path: Path, iris: Any, registered: Callable[..., int]
) -> None:
    with Client(home) as client:
        version = registered(
            client, tmp_path, "picky", Picky(), signature=infer_signature(iris[FEATURES].head(2))
        )
        client.registry.set_trusted("picky", version)
    app = create_serving_app(ServeOptions("models:/picky/1", registry_uri=str(home)))
    bodies = [_body(np.full((1, 4), -1.0 if i == 3 else float(i))) for i in range(8)]
    answers = asyncio.run(_send_together(app, "/v2/models/picky/infer", bodies))
    assert [a.status_code for a in answers] == [200, 200, 200, 500, 200, 200, 200, 200]
    assert answers[5].json()["outputs"][0]["data"] == [20.0]
