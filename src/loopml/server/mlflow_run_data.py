"""MLflow's endpoints that record data on a run: metrics, params, tags, inputs, outputs.

``log-batch`` is the hot path (autologging and the bench send 1,000 metrics a
call): the validated request is turned into entities in one comprehension and
written in one transaction; nothing is written when any item is invalid.

A metric that names a logged model (``model_id``, MLflow 3) is also recorded on
that model. MLflow's client re-sends a run's existing points with a
``model_id`` when it logs a model; MLflow's store drops such exact duplicates
from the run, and so do we, because our run history otherwise keeps every
point a client sends.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from loopml.core.errors import InvalidParameter, NotSupported
from loopml.server import mlflow_schemas as s
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.idempotency import IdempotentRoute
from loopml.server.mlflow_runs import run_id_of
from loopml.server.openapi import body_doc
from loopml.server.state import Tracking
from loopml.server.wire import empty_response, json_body
from loopml.tracking import (
    Dataset,
    DatasetInput,
    Metric,
    Param,
    RunTag,
    TrackingClient,
)
from loopml.tracking.entities import LoggedModelMetric, ModelOutput

router = APIRouter(route_class=IdempotentRoute, tags=["MLflow run data"])

LOGGED_MODELS_TAG = "mlflow.log-model.history"
_LOG_MODEL_FIELDS = ("artifact_path", "flavors", "utc_time_created", "run_id")

RunEditor = Annotated[RequestContext, guard("run", Action.EDIT)]


@router.post("/runs/log-batch", openapi_extra=body_doc(s.LOG_BATCH))
def log_batch(
    ctx: RunEditor,
    body: Annotated[s.LogBatchBody, json_body(s.LOG_BATCH)],
    client: Tracking,
) -> Response:
    run_id = body["run_id"]
    ctx.authorize(run_id)
    items = body.get("metrics", [])
    params = [Param(p["key"], p.get("value", "")) for p in body.get("params", [])]
    tags = [RunTag(t["key"], t.get("value", "")) for t in body.get("tags", [])]
    _log(ctx, client, run_id, items, params, tags)
    ctx.record("run.log_batch", run_id, metrics=len(items), params=len(params), tags=len(tags))
    return empty_response()


@router.post("/runs/log-metric", openapi_extra=body_doc(s.LOG_METRIC))
def log_metric(
    ctx: RunEditor,
    body: Annotated[s.LogMetricBody, json_body(s.LOG_METRIC)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(body)
    ctx.authorize(run_id)
    _log(ctx, client, run_id, [_metric_item(body)], (), ())
    ctx.record("run.log_metric", run_id, key=body["key"])
    return empty_response()


@router.post("/runs/log-parameter", openapi_extra=body_doc(s.LOG_PARAM))
def log_param(
    ctx: RunEditor,
    body: Annotated[s.LogParamBody, json_body(s.LOG_PARAM)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(body)
    ctx.authorize(run_id)
    client.log_param(run_id, body["key"], body.get("value", ""))
    ctx.record("run.log_param", run_id, key=body["key"])
    return empty_response()


@router.post("/runs/set-tag", openapi_extra=body_doc(s.SET_TAG))
def set_tag(
    ctx: RunEditor,
    body: Annotated[s.LogParamBody, json_body(s.SET_TAG)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(body)
    ctx.authorize(run_id)
    client.set_tag(run_id, body["key"], body.get("value", ""))
    ctx.record("run.set_tag", run_id, key=body["key"])
    return empty_response()


@router.post("/runs/delete-tag", openapi_extra=body_doc(s.DELETE_TAG))
def delete_tag(
    ctx: RunEditor,
    body: Annotated[s.DeleteTagBody, json_body(s.DELETE_TAG)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(body)
    ctx.authorize(run_id)
    client.delete_tag(run_id, body["key"])
    ctx.record("run.delete_tag", run_id, key=body["key"])
    return empty_response()


@router.post("/runs/log-inputs", openapi_extra=body_doc(s.LOG_INPUTS))
def log_inputs(
    ctx: RunEditor,
    body: Annotated[s.LogInputsBody, json_body(s.LOG_INPUTS)],
    client: Tracking,
) -> Response:
    run_id = body["run_id"]
    ctx.authorize(run_id)
    if body.get("models"):
        raise NotSupported(
            "log-inputs: logged models as run inputs ('models') are not stored by this "
            "server yet; log datasets only"
        )
    datasets = [_dataset_input(item) for item in body.get("datasets", [])]
    if datasets:
        client.log_inputs(run_id, datasets)
    ctx.record("run.log_inputs", run_id, datasets=len(datasets))
    return empty_response()


@router.post("/runs/outputs", openapi_extra=body_doc(s.LOG_OUTPUTS))
def log_outputs(
    ctx: RunEditor,
    body: Annotated[s.LogOutputsBody, json_body(s.LOG_OUTPUTS)],
    client: Tracking,
) -> Response:
    run_id = body["run_id"]
    ctx.authorize(run_id)
    outputs = [ModelOutput(m["model_id"], m.get("step", 0)) for m in body["models"]]
    for output in outputs:  # linking a model shows its id on the run: it must be readable
        ctx.authorize(output.model_id, Action.READ, kind="logged_model")
    client.log_outputs(run_id, outputs)
    ctx.record("run.log_outputs", run_id, models=[o.model_id for o in outputs])
    return empty_response()


@router.post("/runs/log-model", openapi_extra=body_doc(s.LOG_MODEL))
def log_model(
    ctx: RunEditor,
    body: Annotated[s.LogModelBody, json_body(s.LOG_MODEL)],
    client: Tracking,
) -> Response:
    """MLflow 2's record of a logged model: appended to the run's model-history tag."""
    run_id = body["run_id"]
    ctx.authorize(run_id)
    model = _model_json(body["model_json"])
    history = client.get_run(run_id).data.tags.get(LOGGED_MODELS_TAG)
    entries = json.loads(history) if history else []
    client.set_tag(run_id, LOGGED_MODELS_TAG, json.dumps([*entries, model]))
    ctx.record("run.log_model", run_id, artifact_path=model["artifact_path"])
    return empty_response()


def _metric_item(body: s.LogMetricBody) -> s.MetricItem:
    item = s.MetricItem(
        key=body["key"],
        value=body["value"],
        timestamp=body["timestamp"],
        step=body.get("step", 0),
    )
    if "model_id" in body:
        item["model_id"] = body["model_id"]
    if "dataset_name" in body:
        item["dataset_name"] = body["dataset_name"]
    if "dataset_digest" in body:
        item["dataset_digest"] = body["dataset_digest"]
    return item


def _model_json(text: str) -> dict[str, object]:
    try:
        model = json.loads(text)
    except ValueError:
        raise InvalidParameter("model_json is not valid JSON") from None
    if not isinstance(model, dict):
        raise InvalidParameter("model_json must be a JSON object")
    missing = [name for name in _LOG_MODEL_FIELDS if name not in model]
    if missing:
        raise InvalidParameter(f"model_json is missing the fields {missing}")
    return model


def _dataset_input(item: s.DatasetInputItem) -> DatasetInput:
    d = item["dataset"]
    dataset = Dataset(
        d["name"], d["digest"], d["source_type"], d["source"], d.get("schema"), d.get("profile")
    )
    return DatasetInput(dataset, {t["key"]: t.get("value", "") for t in item.get("tags", [])})


def _log(
    ctx: RequestContext,
    client: TrackingClient,
    run_id: str,
    items: Sequence[s.MetricItem],
    params: Sequence[Param],
    tags: Sequence[RunTag],
) -> None:
    """Write a batch; metrics that name a logged model also go to that model.

    Such a model is written too, so the caller must be able to edit it as well.
    """
    metrics = [Metric(m["key"], m["value"], m["timestamp"], m.get("step", 0)) for m in items]
    linked = [m for m in items if m.get("model_id")]
    if not linked:
        client.log_batch(run_id, metrics, params, tags)
        return
    for model_id in {m["model_id"] for m in linked}:
        ctx.authorize(model_id, Action.EDIT, kind="logged_model")
        client.get_logged_model(model_id)  # 404 before anything is written
    fresh = _drop_known_points(client, run_id, metrics, items)
    client.log_batch(run_id, fresh, params, tags)
    for model_id, points in _by_model(run_id, linked).items():
        client.log_logged_model_metrics(model_id, points)


def _point(metric: Metric) -> tuple[str, int, int, float | str]:
    value = "nan" if math.isnan(metric.value) else metric.value
    return (metric.key, metric.step, metric.timestamp, value)


def _drop_known_points(
    client: TrackingClient, run_id: str, metrics: list[Metric], items: Sequence[s.MetricItem]
) -> list[Metric]:
    """Model-linked points the run already has are not logged on the run again."""
    linked_keys = {m["key"] for m in items if m.get("model_id")}
    known = {
        _point(point)
        for key in linked_keys
        for point in client.get_metric_history(run_id, key).items
    }
    return [
        metric
        for metric, item in zip(metrics, items, strict=True)
        if not (item.get("model_id") and _point(metric) in known)
    ]


def _by_model(run_id: str, linked: Sequence[s.MetricItem]) -> dict[str, list[LoggedModelMetric]]:
    grouped: dict[str, list[LoggedModelMetric]] = defaultdict(list)
    for m in linked:
        grouped[m["model_id"]].append(
            LoggedModelMetric(
                m["key"],
                m["value"],
                m["timestamp"],
                m.get("step", 0),
                run_id=m.get("run_id") or run_id,
                dataset_name=m.get("dataset_name") or None,
                dataset_digest=m.get("dataset_digest") or None,
            )
        )
    return grouped
