"""MLflow's run endpoints that read or change a run as a whole.

Create, get, update, delete, restore and search runs, read a metric's history
and list a run's artifacts. What a run records (metrics, params, tags, inputs,
outputs) is in :mod:`loopml.server.mlflow_run_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter
from starlette.responses import Response

from loopml.core.errors import InvalidParameter
from loopml.core.paths import safe_relpath
from loopml.server import mlflow_schemas as s
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.idempotency import IdempotentRoute
from loopml.server.mlflow_json import (
    file_info_json,
    metric_history_json,
    run_info_json,
    run_json,
)
from loopml.server.openapi import body_doc, query_doc
from loopml.server.state import Tracking
from loopml.server.wire import empty_response, json_body, json_response, query_params
from loopml.tracking import RunTag, ViewType

router = APIRouter(route_class=IdempotentRoute, tags=["MLflow runs"])

DEFAULT_MAX_RESULTS = 1000  # SearchRuns.max_results' proto default

RunReader = Annotated[RequestContext, guard("run", Action.READ)]
RunEditor = Annotated[RequestContext, guard("run", Action.EDIT)]
RunManager = Annotated[RequestContext, guard("run", Action.MANAGE)]


def run_id_of(message: Mapping[str, Any]) -> str:
    """``run_id``, or its legacy alias ``run_uuid`` (old clients send only that one)."""
    run_id = message.get("run_id") or message.get("run_uuid")
    if not isinstance(run_id, str) or not run_id:
        raise InvalidParameter("missing required field 'run_id'")
    return run_id


@router.post("/runs/create", openapi_extra=body_doc(s.CREATE_RUN))
def create_run(
    ctx: Annotated[RequestContext, guard("experiment", Action.EDIT)],
    body: Annotated[s.CreateRunBody, json_body(s.CREATE_RUN)],
    client: Tracking,
) -> Response:
    ctx.authorize(body["experiment_id"])
    run = client.create_run(
        body["experiment_id"],
        user_id=body.get("user_id", ""),
        start_time=body.get("start_time"),
        tags=[RunTag(t["key"], t.get("value", "")) for t in body.get("tags", [])],
        run_name=body.get("run_name") or None,
    )
    ctx.record("run.create", run.info.run_id, experiment_id=run.info.experiment_id)
    return json_response({"run": run_json(run)})


@router.get("/runs/get", openapi_extra=query_doc(s.RUN_ID))
def get_run(
    ctx: RunReader,
    query: Annotated[s.RunIdBody, query_params(s.RUN_ID)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(query)
    ctx.authorize(run_id)
    return json_response({"run": run_json(client.get_run(run_id))})


@router.post("/runs/update", openapi_extra=body_doc(s.UPDATE_RUN))
def update_run(
    ctx: RunEditor,
    body: Annotated[s.UpdateRunBody, json_body(s.UPDATE_RUN)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(body)
    ctx.authorize(run_id)
    info = client.update_run(
        run_id,
        status=body.get("status"),
        end_time=body.get("end_time"),
        run_name=body.get("run_name") or None,
    )
    changes: dict[str, Any] = {
        k: v for k, v in body.items() if k in ("status", "end_time", "run_name")
    }
    ctx.record("run.update", run_id, **changes)
    return json_response({"run_info": run_info_json(info)})


@router.post("/runs/delete", openapi_extra=body_doc(s.RUN_ID))
def delete_run(
    ctx: RunManager,
    body: Annotated[s.RunIdBody, json_body(s.RUN_ID)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(body)
    ctx.authorize(run_id)
    client.delete_run(run_id)
    ctx.record("run.delete", run_id)
    return empty_response()


@router.post("/runs/restore", openapi_extra=body_doc(s.RUN_ID))
def restore_run(
    ctx: RunManager,
    body: Annotated[s.RunIdBody, json_body(s.RUN_ID)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(body)
    ctx.authorize(run_id)
    client.restore_run(run_id)
    ctx.record("run.restore", run_id)
    return empty_response()


@router.post("/runs/search", openapi_extra=body_doc(s.SEARCH_RUNS))
def search_runs(
    ctx: Annotated[RequestContext, guard("experiment", Action.READ)],
    body: Annotated[s.SearchRunsBody, json_body(s.SEARCH_RUNS)],
    client: Tracking,
) -> Response:
    experiment_ids = body.get("experiment_ids", [])
    for experiment_id in experiment_ids:
        ctx.authorize(experiment_id)
    page = client.search_runs(
        experiment_ids,
        filter_string=body.get("filter") or None,
        view_type=ViewType(body.get("run_view_type", ViewType.ACTIVE_ONLY)),
        max_results=body.get("max_results", DEFAULT_MAX_RESULTS),
        order_by=body.get("order_by", []),
        page_token=body.get("page_token") or None,
    )
    payload: dict[str, object] = {"runs": [run_json(run) for run in page.items]}
    if page.next_page_token:
        payload["next_page_token"] = page.next_page_token
    return json_response(payload)


@router.get("/metrics/get-history", openapi_extra=query_doc(s.METRIC_HISTORY))
def get_metric_history(
    ctx: RunReader,
    query: Annotated[s.MetricHistoryQuery, query_params(s.METRIC_HISTORY)],
    client: Tracking,
) -> Response:
    run_id = run_id_of(query)
    ctx.authorize(run_id)
    page = client.get_metric_history(
        run_id,
        query["metric_key"],
        max_results=query.get("max_results"),
        page_token=query.get("page_token") or None,
    )
    payload: dict[str, object] = {"metrics": metric_history_json(page.items)}
    if page.next_page_token:
        payload["next_page_token"] = page.next_page_token
    return json_response(payload)


@router.get("/artifacts/list", openapi_extra=query_doc(s.LIST_ARTIFACTS))
def list_artifacts(
    ctx: RunReader,
    query: Annotated[s.ListArtifactsQuery, query_params(s.LIST_ARTIFACTS)],
    client: Tracking,
) -> Response:
    """One directory level of a run's artifacts, paths relative to the run's artifact root."""
    run_id = run_id_of(query)
    ctx.authorize(run_id)
    path = safe_relpath(query["path"], field="path") if "path" in query else None
    files = client.list_artifacts(run_id, path or None)
    root_uri = client.get_run(run_id).info.artifact_uri
    return json_response(
        {"root_uri": root_uri, "files": [file_info_json(f, f.path) for f in files]}
    )
