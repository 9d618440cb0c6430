"""MLflow's model-registry endpoints: ``/mlflow/registered-models/*`` and ``model-versions/*``.

A thin translation onto :class:`~loopml.registry.RegistryClient`, which
validates, audits every change in its own transaction and enforces alias
policies (so ``set_registered_model_alias`` from the mlflow client is a gated
promotion like ``loopml models promote``). Grants live on the registered
model; registering a version also needs read on what it registers (the run,
logged model, artifact path or other version), so nobody can copy files they
cannot read into a model they manage.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from loopml.registry import ModelVersion, RegisteredModel, RegistryClient
from loopml.registry.sources import parse_models_uri
from loopml.server import registry_schemas as s
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.idempotency import IdempotentRoute
from loopml.server.mlflow_json import key_values
from loopml.server.openapi import body_doc, query_doc
from loopml.server.state import Tracking
from loopml.server.wire import empty_response, json_body, json_response, query_params
from loopml.tracking.client import PROXY_SCHEME

router = APIRouter(route_class=IdempotentRoute, tags=["MLflow model registry"])

Reader = Annotated[RequestContext, guard("registered_model", Action.READ)]
Editor = Annotated[RequestContext, guard("registered_model", Action.EDIT)]
Manager = Annotated[RequestContext, guard("registered_model", Action.MANAGE)]

DEFAULT_MAX_MODELS = 100
DEFAULT_MAX_VERSIONS = 10_000


def registry_client(request: Request, ctx: RequestContext, tracking: Any) -> RegistryClient:
    """The registry acting as the caller, for this request."""
    store = request.app.state.registry_store
    return RegistryClient(store, tracking, ctx.actor, request_id=ctx.request_id)


# --- responses -------------------------------------------------------------------


def version_json(version: ModelVersion) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": version.created_ms,
        "last_updated_timestamp": version.updated_ms,
        "user_id": version.created_by,
        "current_stage": version.current_stage,
        "description": version.description,
        "source": version.source,
        "status": version.status,
        "tags": key_values(version.tags),
        "aliases": list(version.aliases),
        # loopml's own (the mlflow client ignores fields it does not know)
        "storage_location": version.storage_location,
        "manifest_digest": version.manifest_digest,
        "trusted": version.trusted,
    }
    for key in ("run_id", "run_link", "status_message", "model_id"):
        if value := getattr(version, key):
            body[key] = value
    return body


def model_json(model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "creation_timestamp": model.created_ms,
        "last_updated_timestamp": model.updated_ms,
        "user_id": model.created_by,
        "description": model.description,
        "latest_versions": [version_json(v) for v in model.latest_versions],
        "tags": key_values(model.tags),
        "aliases": [{"alias": a, "version": str(v)} for a, v in model.aliases.items()],
    }


def _page(key: str, items: list[dict[str, Any]], token: str | None) -> Response:
    payload: dict[str, Any] = {key: items}
    if token:
        payload["next_page_token"] = token
    return json_response(payload)


# --- registered models -------------------------------------------------------------


@router.post("/registered-models/create", openapi_extra=body_doc(s.CREATE_REGISTERED_MODEL))
def create_registered_model(
    ctx: Editor,
    request: Request,
    body: Annotated[s.CreateRegisteredModelBody, json_body(s.CREATE_REGISTERED_MODEL)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    model = registry_client(request, ctx, tracking).create_registered_model(
        body["name"],
        description=body.get("description", ""),
        tags={t["key"]: t.get("value", "") for t in body.get("tags", [])},
    )
    return json_response({"registered_model": model_json(model)})


@router.get("/registered-models/get", openapi_extra=query_doc(s.NAME))
def get_registered_model(
    ctx: Reader,
    request: Request,
    query: Annotated[s.NameBody, query_params(s.NAME)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(query["name"])
    model = registry_client(request, ctx, tracking).get_registered_model(query["name"])
    return json_response({"registered_model": model_json(model)})


@router.get("/registered-models/search", openapi_extra=query_doc(s.SEARCH))
def search_registered_models(
    ctx: Reader,
    request: Request,
    query: Annotated[s.SearchBody, query_params(s.SEARCH)],
    tracking: Tracking,
) -> Response:
    page = registry_client(request, ctx, tracking).search_registered_models(
        query.get("filter") or None,
        max_results=query.get("max_results") or DEFAULT_MAX_MODELS,
        order_by=query.get("order_by"),
        page_token=query.get("page_token") or None,
        readable=ctx.readable(),
    )
    return _page("registered_models", [model_json(m) for m in page.items], page.next_page_token)


@router.post("/registered-models/rename", openapi_extra=body_doc(s.RENAME_REGISTERED_MODEL))
def rename_registered_model(
    ctx: Manager,
    request: Request,
    body: Annotated[s.RenameRegisteredModelBody, json_body(s.RENAME_REGISTERED_MODEL)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    model = registry_client(request, ctx, tracking).rename_registered_model(
        body["name"], body.get("new_name", "")
    )
    return json_response({"registered_model": model_json(model)})


@router.patch("/registered-models/update", openapi_extra=body_doc(s.UPDATE_REGISTERED_MODEL))
def update_registered_model(
    ctx: Editor,
    request: Request,
    body: Annotated[s.UpdateRegisteredModelBody, json_body(s.UPDATE_REGISTERED_MODEL)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    model = registry_client(request, ctx, tracking).update_registered_model(
        body["name"], body.get("description", "")
    )
    return json_response({"registered_model": model_json(model)})


@router.delete("/registered-models/delete", openapi_extra=body_doc(s.NAME))
def delete_registered_model(
    ctx: Manager,
    request: Request,
    body: Annotated[s.NameBody, json_body(s.NAME)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).delete_registered_model(body["name"])
    return empty_response()


@router.post(
    "/registered-models/get-latest-versions", openapi_extra=body_doc(s.GET_LATEST_VERSIONS)
)
def get_latest_versions(
    ctx: Reader,
    request: Request,
    body: Annotated[s.GetLatestVersionsBody, json_body(s.GET_LATEST_VERSIONS)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    found = registry_client(request, ctx, tracking).get_latest_versions(
        body["name"], body.get("stages")
    )
    return json_response({"model_versions": [version_json(v) for v in found]})


@router.post("/registered-models/set-tag", openapi_extra=body_doc(s.SET_REGISTERED_MODEL_TAG))
def set_registered_model_tag(
    ctx: Editor,
    request: Request,
    body: Annotated[s.SetRegisteredModelTagBody, json_body(s.SET_REGISTERED_MODEL_TAG)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).set_registered_model_tag(
        body["name"], body["key"], body.get("value", "")
    )
    return empty_response()


@router.delete(
    "/registered-models/delete-tag", openapi_extra=body_doc(s.DELETE_REGISTERED_MODEL_TAG)
)
def delete_registered_model_tag(
    ctx: Manager,
    request: Request,
    body: Annotated[s.DeleteRegisteredModelTagBody, json_body(s.DELETE_REGISTERED_MODEL_TAG)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).delete_registered_model_tag(body["name"], body["key"])
    return empty_response()


@router.post("/registered-models/alias", openapi_extra=body_doc(s.SET_ALIAS))
def set_registered_model_alias(
    ctx: Editor,
    request: Request,
    body: Annotated[s.SetAliasBody, json_body(s.SET_ALIAS)],
    tracking: Tracking,
) -> Response:
    """A promotion: the alias's policy (approval, gates) applies, with no override."""
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).set_alias(body["name"], body["alias"], body["version"])
    return empty_response()


@router.delete("/registered-models/alias", openapi_extra=body_doc(s.ALIAS))
def delete_registered_model_alias(
    ctx: Manager,
    request: Request,
    body: Annotated[s.AliasBody, json_body(s.ALIAS)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).delete_registered_model_alias(
        body["name"], body["alias"]
    )
    return empty_response()


@router.get("/registered-models/alias", openapi_extra=query_doc(s.ALIAS))
def get_model_version_by_alias(
    ctx: Reader,
    request: Request,
    query: Annotated[s.AliasBody, query_params(s.ALIAS)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(query["name"])
    version = registry_client(request, ctx, tracking).get_model_version_by_alias(
        query["name"], query["alias"]
    )
    return json_response({"model_version": version_json(version)})


# --- model versions -----------------------------------------------------------------


def _authorize_source(ctx: RequestContext, body: s.CreateModelVersionBody) -> None:
    """The caller must be able to read what it registers."""
    source = body["source"]
    if body.get("run_id"):
        ctx.authorize(body["run_id"], Action.READ, kind="run")
    if body.get("model_id"):
        ctx.authorize(body["model_id"], Action.READ, kind="logged_model")
    if source.startswith("models:/m-") and "/" not in source[len("models:/") :]:
        ctx.authorize(source[len("models:/") :], Action.READ, kind="logged_model")
    elif source.startswith("models:/"):
        ctx.authorize(parse_models_uri(source)[0], Action.READ)
    elif source.startswith("runs:/"):
        ctx.authorize(source[len("runs:/") :].split("/", 1)[0], Action.READ, kind="run")
    elif source.startswith(PROXY_SCHEME):
        ctx.authorize(source[len(PROXY_SCHEME) :].lstrip("/"), Action.READ, kind="artifact")


@router.post("/model-versions/create", openapi_extra=body_doc(s.CREATE_MODEL_VERSION))
def create_model_version(
    ctx: Editor,
    request: Request,
    body: Annotated[s.CreateModelVersionBody, json_body(s.CREATE_MODEL_VERSION)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    _authorize_source(ctx, body)
    version = registry_client(request, ctx, tracking).create_model_version(
        body["name"],
        body["source"],
        run_id=body.get("run_id") or None,
        tags={t["key"]: t.get("value", "") for t in body.get("tags", [])},
        run_link=body.get("run_link", ""),
        description=body.get("description", ""),
        model_id=body.get("model_id") or None,
    )
    return json_response({"model_version": version_json(version)})


@router.get("/model-versions/get", openapi_extra=query_doc(s.VERSION))
def get_model_version(
    ctx: Reader,
    request: Request,
    query: Annotated[s.VersionBody, query_params(s.VERSION)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(query["name"])
    version = registry_client(request, ctx, tracking).get_model_version(
        query["name"], query["version"]
    )
    return json_response({"model_version": version_json(version)})


@router.get("/model-versions/search", openapi_extra=query_doc(s.SEARCH))
def search_model_versions(
    ctx: Reader,
    request: Request,
    query: Annotated[s.SearchBody, query_params(s.SEARCH)],
    tracking: Tracking,
) -> Response:
    page = registry_client(request, ctx, tracking).search_model_versions(
        query.get("filter") or None,
        max_results=query.get("max_results") or DEFAULT_MAX_VERSIONS,
        order_by=query.get("order_by"),
        page_token=query.get("page_token") or None,
        readable=ctx.readable(),
    )
    return _page("model_versions", [version_json(v) for v in page.items], page.next_page_token)


@router.patch("/model-versions/update", openapi_extra=body_doc(s.UPDATE_MODEL_VERSION))
def update_model_version(
    ctx: Editor,
    request: Request,
    body: Annotated[s.UpdateModelVersionBody, json_body(s.UPDATE_MODEL_VERSION)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    version = registry_client(request, ctx, tracking).update_model_version(
        body["name"], body["version"], body.get("description", "")
    )
    return json_response({"model_version": version_json(version)})


@router.post("/model-versions/transition-stage", openapi_extra=body_doc(s.TRANSITION_STAGE))
def transition_model_version_stage(
    ctx: Editor,
    request: Request,
    body: Annotated[s.TransitionStageBody, json_body(s.TRANSITION_STAGE)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    version = registry_client(request, ctx, tracking).transition_model_version_stage(
        body["name"],
        body["version"],
        body["stage"],
        archive_existing_versions=body.get("archive_existing_versions", False),
    )
    return json_response({"model_version": version_json(version)})


@router.delete("/model-versions/delete", openapi_extra=body_doc(s.VERSION))
def delete_model_version(
    ctx: Manager,
    request: Request,
    body: Annotated[s.VersionBody, json_body(s.VERSION)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).delete_model_version(body["name"], body["version"])
    return empty_response()


@router.get("/model-versions/get-download-uri", openapi_extra=query_doc(s.VERSION))
def get_model_version_download_uri(
    ctx: Reader,
    request: Request,
    query: Annotated[s.VersionBody, query_params(s.VERSION)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(query["name"])
    uri = registry_client(request, ctx, tracking).get_model_version_download_uri(
        query["name"], query["version"]
    )
    return json_response({"artifact_uri": uri})


@router.post("/model-versions/set-tag", openapi_extra=body_doc(s.SET_MODEL_VERSION_TAG))
def set_model_version_tag(
    ctx: Editor,
    request: Request,
    body: Annotated[s.SetModelVersionTagBody, json_body(s.SET_MODEL_VERSION_TAG)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).set_model_version_tag(
        body["name"], body["version"], body["key"], body.get("value", "")
    )
    return empty_response()


@router.delete("/model-versions/delete-tag", openapi_extra=body_doc(s.DELETE_MODEL_VERSION_TAG))
def delete_model_version_tag(
    ctx: Manager,
    request: Request,
    body: Annotated[s.DeleteModelVersionTagBody, json_body(s.DELETE_MODEL_VERSION_TAG)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    registry_client(request, ctx, tracking).delete_model_version_tag(
        body["name"], body["version"], body["key"]
    )
    return empty_response()
