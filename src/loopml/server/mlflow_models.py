"""MLflow 3's logged-model endpoints: ``/mlflow/logged-models/*``.

``mlflow.<flavor>.log_model`` creates a logged model, uploads its files to the
model's own artifact location through the ``mlflow-artifacts`` proxy and then
finalizes it; ``load_model("runs:/...")`` finds it again by searching on name
and source run, and ``models:/m-...`` URIs read it by id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from loopml.core.errors import InvalidParameter
from loopml.core.paths import safe_relpath
from loopml.server import mlflow_schemas as s
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.idempotency import IdempotentRoute
from loopml.server.mlflow_json import file_info_json, logged_model_json
from loopml.server.openapi import body_doc, query_doc
from loopml.server.state import Tracking
from loopml.server.wire import empty_response, json_body, json_response, query_params
from loopml.tracking.client import artifact_key
from loopml.tracking.validation import check_key

router = APIRouter(route_class=IdempotentRoute, tags=["MLflow logged models"])

DEFAULT_MAX_RESULTS = 100  # what MLflow's store uses when the client sends none

ModelReader = Annotated[RequestContext, guard("logged_model", Action.READ)]
ModelEditor = Annotated[RequestContext, guard("logged_model", Action.EDIT)]
ModelManager = Annotated[RequestContext, guard("logged_model", Action.MANAGE)]


def _same_model(model_id: str, body: s.ModelIdBody | s.FinalizeLoggedModelBody) -> None:
    """The body may repeat the path's model id (the client does); it must not contradict it."""
    if body.get("model_id", model_id) != model_id:
        raise InvalidParameter(
            f"model_id {body.get('model_id')!r} in the body does not match {model_id!r} in the path"
        )


@router.post("/logged-models", openapi_extra=body_doc(s.CREATE_LOGGED_MODEL))
def create_logged_model(
    ctx: Annotated[RequestContext, guard("experiment", Action.EDIT)],
    body: Annotated[s.CreateLoggedModelBody, json_body(s.CREATE_LOGGED_MODEL)],
    client: Tracking,
) -> Response:
    ctx.authorize(body["experiment_id"])
    if body.get("source_run_id"):  # the model shows its source run: it must be readable
        ctx.authorize(body["source_run_id"], Action.READ, kind="run")
    model = client.create_logged_model(
        body["experiment_id"],
        name=body.get("name") or None,
        source_run_id=body.get("source_run_id") or None,
        model_type=body.get("model_type") or None,
        tags={t["key"]: t.get("value", "") for t in body.get("tags", [])},
        params={p["key"]: p.get("value", "") for p in body.get("params", [])},
    )
    ctx.record("logged_model.create", model.model_id, experiment_id=model.experiment_id)
    return json_response({"model": logged_model_json(model)})


@router.post("/logged-models/search", openapi_extra=body_doc(s.SEARCH_LOGGED_MODELS))
def search_logged_models(
    ctx: Annotated[RequestContext, guard("experiment", Action.READ)],
    body: Annotated[s.SearchLoggedModelsBody, json_body(s.SEARCH_LOGGED_MODELS)],
    client: Tracking,
) -> Response:
    for experiment_id in body["experiment_ids"]:
        ctx.authorize(experiment_id)
    page = client.search_logged_models(
        body["experiment_ids"],
        filter_string=body.get("filter") or None,
        max_results=body.get("max_results") or DEFAULT_MAX_RESULTS,
        order_by=[dict(o) for o in body.get("order_by", [])],
        page_token=body.get("page_token") or None,
        datasets=[
            {"dataset_name": d["dataset_name"], "dataset_digest": d.get("dataset_digest")}
            for d in body.get("datasets", [])
        ],
    )
    payload: dict[str, object] = {"models": [logged_model_json(m) for m in page.items]}
    if page.next_page_token:
        payload["next_page_token"] = page.next_page_token
    return json_response(payload)


@router.get("/logged-models/{model_id}", openapi_extra=query_doc(s.GET_LOGGED_MODEL))
def get_logged_model(
    ctx: ModelReader,
    model_id: str,
    query: Annotated[s.GetLoggedModelQuery, query_params(s.GET_LOGGED_MODEL)],
    client: Tracking,
) -> Response:
    ctx.authorize(model_id)
    return json_response({"model": logged_model_json(client.get_logged_model(model_id))})


@router.patch("/logged-models/{model_id}", openapi_extra=body_doc(s.FINALIZE_LOGGED_MODEL))
def finalize_logged_model(
    ctx: ModelEditor,
    model_id: str,
    body: Annotated[s.FinalizeLoggedModelBody, json_body(s.FINALIZE_LOGGED_MODEL)],
    client: Tracking,
) -> Response:
    _same_model(model_id, body)
    ctx.authorize(model_id)
    model = client.finalize_logged_model(model_id, body["status"])
    ctx.record("logged_model.finalize", model_id, status=body["status"])
    return json_response({"model": logged_model_json(model)})


@router.delete("/logged-models/{model_id}", openapi_extra=body_doc(s.MODEL_ID))
def delete_logged_model(
    ctx: ModelManager,
    model_id: str,
    body: Annotated[s.ModelIdBody, json_body(s.MODEL_ID)],
    client: Tracking,
) -> Response:
    _same_model(model_id, body)
    ctx.authorize(model_id)
    client.delete_logged_model(model_id)
    ctx.record("logged_model.delete", model_id)
    return empty_response()


@router.patch("/logged-models/{model_id}/tags", openapi_extra=body_doc(s.LOGGED_MODEL_TAGS))
def set_logged_model_tags(
    ctx: ModelEditor,
    model_id: str,
    body: Annotated[s.LoggedModelTagsBody, json_body(s.LOGGED_MODEL_TAGS)],
    client: Tracking,
) -> Response:
    _same_model(model_id, body)
    ctx.authorize(model_id)
    tags = {t["key"]: t.get("value", "") for t in body.get("tags", [])}
    client.set_logged_model_tags(model_id, tags)
    ctx.record("logged_model.set_tags", model_id, keys=sorted(tags))
    return json_response({"model": logged_model_json(client.get_logged_model(model_id))})


@router.delete("/logged-models/{model_id}/tags/{tag_key:path}")
def delete_logged_model_tag(
    ctx: ModelEditor, model_id: str, tag_key: str, client: Tracking
) -> Response:
    ctx.authorize(model_id)
    check_key(tag_key, "tag_key")  # as set-tags checks it: refuses '..', '/x', control chars
    client.delete_logged_model_tag(model_id, tag_key)
    ctx.record("logged_model.delete_tag", model_id, key=tag_key)
    return empty_response()


@router.post("/logged-models/{model_id}/params", openapi_extra=body_doc(s.LOGGED_MODEL_PARAMS))
def log_logged_model_params(
    ctx: ModelEditor,
    model_id: str,
    body: Annotated[s.LoggedModelParamsBody, json_body(s.LOGGED_MODEL_PARAMS)],
    client: Tracking,
) -> Response:
    _same_model(model_id, body)
    ctx.authorize(model_id)
    params = {p["key"]: p.get("value", "") for p in body.get("params", [])}
    client.log_logged_model_params(model_id, params)
    ctx.record("logged_model.log_params", model_id, keys=sorted(params))
    return empty_response()


@router.get(
    "/logged-models/{model_id}/artifacts/directories",
    openapi_extra=query_doc(s.LIST_MODEL_ARTIFACTS),
)
def list_logged_model_artifacts(
    ctx: ModelReader,
    model_id: str,
    query: Annotated[s.ListModelArtifactsQuery, query_params(s.LIST_MODEL_ARTIFACTS)],
    client: Tracking,
) -> Response:
    """One directory level of a model's artifacts, paths relative to the model's root."""
    ctx.authorize(model_id)
    location = client.get_logged_model(model_id).artifact_location
    path = safe_relpath(query.get("artifact_directory_path", ""), field="artifact_directory_path")
    root = artifact_key(location)
    found = client.artifacts.list(artifact_key(location, path))
    files = [file_info_json(f, f.path[len(root) + 1 :]) for f in found]
    return json_response({"root_uri": location, "files": files})
