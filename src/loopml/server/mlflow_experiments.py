"""MLflow's experiment endpoints: ``/mlflow/experiments/*``.

A thin translation of each request message into one
:class:`~loopml.tracking.TrackingClient` call; the client validates and raises
the errors MLflow's server raises, with the same codes.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Request
from starlette.responses import Response

from loopml.core.errors import ResourceAlreadyExists, ResourceNotFound
from loopml.core.paths import safe_relpath
from loopml.server import mlflow_schemas as s
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.idempotency import HEADER as IDEMPOTENCY_HEADER
from loopml.server.idempotency import IdempotentRoute, recent_duplicate_experiment
from loopml.server.mlflow_json import experiment_json
from loopml.server.openapi import body_doc, query_doc
from loopml.server.state import Tracking
from loopml.server.wire import empty_response, json_body, json_response, query_params
from loopml.tracking import ViewType

router = APIRouter(route_class=IdempotentRoute, tags=["MLflow experiments"])
# A URI scheme, or a Windows drive letter: what precedes a location's path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

DEFAULT_MAX_RESULTS = 1000

Reader = Annotated[RequestContext, guard("experiment", Action.READ)]
Editor = Annotated[RequestContext, guard("experiment", Action.EDIT)]
Manager = Annotated[RequestContext, guard("experiment", Action.MANAGE)]


@router.post("/experiments/create", openapi_extra=body_doc(s.CREATE_EXPERIMENT))
def create_experiment(
    ctx: Editor,
    request: Request,
    body: Annotated[s.CreateExperimentBody, json_body(s.CREATE_EXPERIMENT)],
    client: Tracking,
) -> Response:
    """Create an experiment; a keyless retry of the same create gets the same id."""
    name = body["name"]
    location = body.get("artifact_location") or None
    _check_location(location)
    if location is not None:
        ctx.authorize_admin("choose an experiment's artifact location")
    tags = {tag["key"]: tag.get("value", "") for tag in body.get("tags", [])}
    try:
        experiment_id = client.create_experiment(name, location, tags)
    except ResourceAlreadyExists:
        if IDEMPOTENCY_HEADER in request.headers:
            raise  # the key already makes retries exact; a second create is a conflict
        experiment_id = recent_duplicate_experiment(client, name, location, tags) or ""
        if not experiment_id or not ctx.may(experiment_id, Action.READ):
            raise  # only a caller who may see the experiment learns its id
    else:
        ctx.grant_owner("experiment", experiment_id)
        ctx.record("experiment.create", experiment_id, name=name)
    return json_response({"experiment_id": experiment_id})


def _check_location(location: str | None) -> None:
    """Refuse a location that could name two places: ``..``, control characters, URL tricks.

    Any scheme, and absolute paths, stay allowed: the client writes there itself,
    and this server serves only ``mlflow-artifacts:`` locations (501 for others).
    The scheme and a drive letter are set aside; the rest must be a safe path.
    """
    if location:
        rest = _SCHEME.sub("", location, count=1).lstrip("/")
        safe_relpath(_SCHEME.sub("", rest, count=1).lstrip("/"), field="artifact_location")


@router.get("/experiments/get", openapi_extra=query_doc(s.EXPERIMENT_ID))
def get_experiment(
    ctx: Reader,
    query: Annotated[s.ExperimentIdBody, query_params(s.EXPERIMENT_ID)],
    client: Tracking,
) -> Response:
    ctx.authorize(query["experiment_id"])
    experiment = client.get_experiment(query["experiment_id"])
    return json_response({"experiment": experiment_json(experiment)})


@router.get("/experiments/get-by-name", openapi_extra=query_doc(s.EXPERIMENT_NAME))
def get_experiment_by_name(
    ctx: Reader,
    query: Annotated[s.ExperimentNameQuery, query_params(s.EXPERIMENT_NAME)],
    client: Tracking,
) -> Response:
    name = query["experiment_name"]
    experiment = client.get_experiment_by_name(name)
    if experiment is None or not ctx.may(experiment.experiment_id):
        # One answer for "missing" and "not yours", so names cannot be probed.
        raise ResourceNotFound(f"Could not find experiment with name {name!r}")
    return json_response({"experiment": experiment_json(experiment)})


def _search(ctx: RequestContext, client: Tracking, request: s.SearchExperimentsBody) -> Response:
    page = client.search_experiments(
        readable=ctx.readable(),
        view_type=ViewType(request.get("view_type", ViewType.ACTIVE_ONLY)),
        max_results=request.get("max_results", DEFAULT_MAX_RESULTS),
        filter_string=request.get("filter") or None,
        order_by=request.get("order_by", []),
        page_token=request.get("page_token") or None,
    )
    payload: dict[str, object] = {"experiments": [experiment_json(e) for e in page.items]}
    if page.next_page_token:
        payload["next_page_token"] = page.next_page_token
    return json_response(payload)


@router.post("/experiments/search", openapi_extra=body_doc(s.SEARCH_EXPERIMENTS))
def search_experiments(
    ctx: Reader,
    body: Annotated[s.SearchExperimentsBody, json_body(s.SEARCH_EXPERIMENTS)],
    client: Tracking,
) -> Response:
    return _search(ctx, client, body)


@router.get("/experiments/search", openapi_extra=query_doc(s.SEARCH_EXPERIMENTS))
def search_experiments_get(
    ctx: Reader,
    query: Annotated[s.SearchExperimentsBody, query_params(s.SEARCH_EXPERIMENTS)],
    client: Tracking,
) -> Response:
    return _search(ctx, client, query)


@router.post("/experiments/update", openapi_extra=body_doc(s.UPDATE_EXPERIMENT))
def update_experiment(
    ctx: Editor,
    body: Annotated[s.UpdateExperimentBody, json_body(s.UPDATE_EXPERIMENT)],
    client: Tracking,
) -> Response:
    experiment_id = body["experiment_id"]
    ctx.authorize(experiment_id)
    before = client.get_experiment(experiment_id).name
    client.rename_experiment(experiment_id, body["new_name"])
    ctx.record(
        "experiment.rename",
        experiment_id,
        before={"name": before},
        after={"name": body["new_name"]},
    )
    return empty_response()


@router.post("/experiments/delete", openapi_extra=body_doc(s.EXPERIMENT_ID))
def delete_experiment(
    ctx: Manager,
    body: Annotated[s.ExperimentIdBody, json_body(s.EXPERIMENT_ID)],
    client: Tracking,
) -> Response:
    ctx.authorize(body["experiment_id"])
    client.delete_experiment(body["experiment_id"])
    ctx.record("experiment.delete", body["experiment_id"])
    return empty_response()


@router.post("/experiments/restore", openapi_extra=body_doc(s.EXPERIMENT_ID))
def restore_experiment(
    ctx: Manager,
    body: Annotated[s.ExperimentIdBody, json_body(s.EXPERIMENT_ID)],
    client: Tracking,
) -> Response:
    ctx.authorize(body["experiment_id"])
    client.restore_experiment(body["experiment_id"])
    ctx.record("experiment.restore", body["experiment_id"])
    return empty_response()


@router.post("/experiments/set-experiment-tag", openapi_extra=body_doc(s.SET_EXPERIMENT_TAG))
def set_experiment_tag(
    ctx: Editor,
    body: Annotated[s.SetExperimentTagBody, json_body(s.SET_EXPERIMENT_TAG)],
    client: Tracking,
) -> Response:
    experiment_id, key = body["experiment_id"], body["key"]
    ctx.authorize(experiment_id)
    client.set_experiment_tag(experiment_id, key, body.get("value", ""))
    ctx.record("experiment.set_tag", experiment_id, key=key)
    return empty_response()


@router.post("/experiments/delete-experiment-tag", openapi_extra=body_doc(s.DELETE_EXPERIMENT_TAG))
def delete_experiment_tag(
    ctx: Editor,
    body: Annotated[s.DeleteExperimentTagBody, json_body(s.DELETE_EXPERIMENT_TAG)],
    client: Tracking,
) -> Response:
    experiment_id, key = body["experiment_id"], body["key"]
    ctx.authorize(experiment_id)
    client.delete_experiment_tag(experiment_id, key)
    ctx.record("experiment.delete_tag", experiment_id, key=key)
    return empty_response()
