"""loopml's own registry endpoints: ``/api/loopml/v1/models/...``.

What MLflow's registry API has no words for: alias policies, promotion with
gates and an audited override, approvals, evaluations, gate checks, trust and
the manifest a load verifies. Grants live on the registered model named in
the path; the registry client audits every change in its own transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Required, cast

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, with_config
from starlette.responses import Response
from typing_extensions import TypedDict

from loopml.core.errors import InvalidParameter, ResourceNotFound
from loopml.registry import RegistryClient
from loopml.registry.lineage import VersionLineage, version_lineage
from loopml.server.data_api import data_client
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.mlflow_registry import registry_client, version_json
from loopml.server.openapi import body_doc, query_doc
from loopml.server.platform import Platform
from loopml.server.state import Tracking
from loopml.server.wire import STRICT, empty_response, json_body, json_response, query_params

if TYPE_CHECKING:
    from loopml.client import Client

PREFIX = "/api/loopml/v1"
router = APIRouter(tags=["Model registry"])

Reader = Annotated[RequestContext, guard("registered_model", Action.READ)]
Editor = Annotated[RequestContext, guard("registered_model", Action.EDIT)]
Manager = Annotated[RequestContext, guard("registered_model", Action.MANAGE)]


@with_config(STRICT)
class PolicyBody(TypedDict, total=False):
    require_approval: bool
    four_eyes: bool
    gates: list[str]


@with_config(STRICT)
class PromoteBody(TypedDict, total=False):
    alias: Required[str]
    override_reason: str


@with_config(STRICT)
class ApprovalRequestBody(TypedDict, total=False):
    alias: Required[str]
    comment: str


@with_config(STRICT)
class DecisionBody(TypedDict, total=False):
    reason: str


@with_config(STRICT)
class EvaluationBody(TypedDict, total=False):
    result: Required[dict[str, Any]]
    run_id: str
    dataset: str


@with_config(STRICT)
class TrustBody(TypedDict):
    trusted: bool


@with_config(STRICT)
class ApprovalsQuery(TypedDict, total=False):
    version: str


@with_config(STRICT)
class CardQuery(TypedDict, total=False):
    format: str


@with_config(STRICT)
class DiffQuery(TypedDict):
    a: str
    b: str


POLICY = TypeAdapter(PolicyBody)
PROMOTE = TypeAdapter(PromoteBody)
APPROVAL_REQUEST = TypeAdapter(ApprovalRequestBody)
DECISION = TypeAdapter(DecisionBody)
EVALUATION = TypeAdapter(EvaluationBody)
TRUST = TypeAdapter(TrustBody)
APPROVALS = TypeAdapter(ApprovalsQuery)
CARD = TypeAdapter(CardQuery)
DIFF = TypeAdapter(DiffQuery)


def _client(request: Request, ctx: RequestContext, tracking: Any, name: str) -> RegistryClient:
    ctx.authorize(name)
    return registry_client(request, ctx, tracking)


# --- policies ------------------------------------------------------------------------


@router.get("/models/{name}/policies")
def list_policies(ctx: Reader, request: Request, name: str, tracking: Tracking) -> Response:
    found = _client(request, ctx, tracking, name).alias_policies(name)
    return json_response({"policies": [p.to_dict() for p in found]})


@router.put("/models/{name}/policies/{alias}", openapi_extra=body_doc(POLICY))
def set_policy(
    ctx: Manager,
    request: Request,
    name: str,
    alias: str,
    body: Annotated[PolicyBody, json_body(POLICY)],
    tracking: Tracking,
) -> Response:
    policy = _client(request, ctx, tracking, name).set_alias_policy(
        name,
        alias,
        require_approval=body.get("require_approval", False),
        four_eyes=body.get("four_eyes", False),
        gates=body.get("gates", []),
    )
    return json_response({"policy": policy.to_dict()})


@router.delete("/models/{name}/policies/{alias}")
def delete_policy(
    ctx: Manager, request: Request, name: str, alias: str, tracking: Tracking
) -> Response:
    _client(request, ctx, tracking, name).delete_alias_policy(name, alias)
    return empty_response()


# --- promotion and approvals ---------------------------------------------------------------


@router.post("/models/{name}/versions/{version}/promote", openapi_extra=body_doc(PROMOTE))
def promote(
    ctx: Editor,
    request: Request,
    name: str,
    version: str,
    body: Annotated[PromoteBody, json_body(PROMOTE)],
    tracking: Tracking,
) -> Response:
    """Move an alias under its policy; an override (admins only) is audited with its reason."""
    client = _client(request, ctx, tracking, name)
    with ctx.refusals_recorded(f"registered_model {name}"):
        done = client.promote(
            name, version, body["alias"], override_reason=body.get("override_reason")
        )
    return json_response(
        {
            "model_version": version_json(done.version),
            "alias": done.alias,
            "previous_version": done.previous,
            "gate_check": done.gate_check.to_dict() if done.gate_check else None,
            "approval": done.approval.to_dict() if done.approval else None,
        }
    )


@router.post(
    "/models/{name}/versions/{version}/approvals", openapi_extra=body_doc(APPROVAL_REQUEST)
)
def request_approval(
    ctx: Editor,
    request: Request,
    name: str,
    version: str,
    body: Annotated[ApprovalRequestBody, json_body(APPROVAL_REQUEST)],
    tracking: Tracking,
) -> Response:
    approval = _client(request, ctx, tracking, name).request_approval(
        name, version, body["alias"], body.get("comment", "")
    )
    return json_response({"approval": approval.to_dict()})


@router.get("/models/{name}/approvals", openapi_extra=query_doc(APPROVALS))
def list_approvals(
    ctx: Reader,
    request: Request,
    name: str,
    query: Annotated[ApprovalsQuery, query_params(APPROVALS)],
    tracking: Tracking,
) -> Response:
    found = _client(request, ctx, tracking, name).approvals(name, query.get("version"))
    return json_response({"approvals": [a.to_dict() for a in found]})


def _decide(
    ctx: RequestContext,
    request: Request,
    tracking: Any,
    name: str,
    approval_id: str,
    approve: bool,
    reason: str,
) -> Response:
    client = _client(request, ctx, tracking, name)
    if not any(a.approval_id == approval_id for a in client.approvals(name)):
        raise ResourceNotFound(f"no approval request {approval_id!r} for model {name!r}")
    with ctx.refusals_recorded(f"registered_model {name}"):
        decided = (
            client.approve(approval_id, reason) if approve else client.reject(approval_id, reason)
        )
    return json_response({"approval": decided.to_dict()})


@router.post("/models/{name}/approvals/{approval_id}/approve", openapi_extra=body_doc(DECISION))
def approve(
    ctx: Manager,
    request: Request,
    name: str,
    approval_id: str,
    body: Annotated[DecisionBody, json_body(DECISION)],
    tracking: Tracking,
) -> Response:
    """Approve a request: managers of the model only; four eyes: not the requester."""
    return _decide(ctx, request, tracking, name, approval_id, True, body.get("reason", ""))


@router.post("/models/{name}/approvals/{approval_id}/reject", openapi_extra=body_doc(DECISION))
def reject(
    ctx: Manager,
    request: Request,
    name: str,
    approval_id: str,
    body: Annotated[DecisionBody, json_body(DECISION)],
    tracking: Tracking,
) -> Response:
    return _decide(ctx, request, tracking, name, approval_id, False, body.get("reason", ""))


# --- evaluations, gate checks, trust, manifest -----------------------------------------------


@router.post("/models/{name}/versions/{version}/evaluations", openapi_extra=body_doc(EVALUATION))
def record_evaluation(
    ctx: Editor,
    request: Request,
    name: str,
    version: str,
    body: Annotated[EvaluationBody, json_body(EVALUATION)],
    tracking: Tracking,
) -> Response:
    client = _client(request, ctx, tracking, name)
    if body.get("run_id"):
        ctx.authorize(body["run_id"], Action.READ, kind="run")
    stored = client.record_evaluation(
        name,
        version,
        body["result"],
        run_id=body.get("run_id") or None,
        dataset=body.get("dataset", ""),
    )
    return json_response({"evaluation": stored.to_dict()})


@router.get("/models/{name}/versions/{version}/evaluations")
def list_evaluations(
    ctx: Reader, request: Request, name: str, version: str, tracking: Tracking
) -> Response:
    found = _client(request, ctx, tracking, name).evaluations(name, version)
    return json_response({"evaluations": [e.to_dict() for e in found]})


@router.get("/models/{name}/versions/{version}/gate-checks")
def list_gate_checks(
    ctx: Reader, request: Request, name: str, version: str, tracking: Tracking
) -> Response:
    found = _client(request, ctx, tracking, name).gate_checks(name, version)
    return json_response({"gate_checks": [c.to_dict() for c in found]})


@router.put("/models/{name}/versions/{version}/trust", openapi_extra=body_doc(TRUST))
def set_trust(
    ctx: Manager,
    request: Request,
    name: str,
    version: str,
    body: Annotated[TrustBody, json_body(TRUST)],
    tracking: Tracking,
) -> Response:
    """Let a version's code-executing formats load: admins only."""
    client = _client(request, ctx, tracking, name)
    ctx.authorize_admin("mark model versions trusted")
    done = client.set_trusted(name, version, body["trusted"])
    return json_response({"model_version": version_json(done)})


@router.get("/models/{name}/versions/{version}/manifest")
def get_manifest(
    ctx: Reader, request: Request, name: str, version: str, tracking: Tracking
) -> Response:
    """The sha256 of every file, taken at registration: what a remote load verifies."""
    manifest = _client(request, ctx, tracking, name).version_manifest(name, version)
    return json_response({"manifest": manifest.to_dict(), "digest": manifest.digest})


# --- lineage, diff and the model card --------------------------------------------------


def _platform(request: Request, ctx: RequestContext, tracking: Any, name: str) -> Client:
    registry = _client(request, ctx, tracking, name)
    return cast("Client", Platform(tracking, registry, data_client(request, ctx)))


def _readable(ctx: RequestContext, lineage: VersionLineage) -> VersionLineage:
    """Refuse (403) a lineage that shows a run, logged model or dataset the caller cannot read."""
    for node in lineage.nodes:
        if node.missing:
            continue
        key = node.id.split(":", 1)[1]
        if node.kind in ("run", "logged_model"):
            ctx.authorize(key, Action.READ, kind=node.kind)
        elif node.kind == "dataset_version":
            ctx.authorize(key.removeprefix("data:").split("@", 1)[0], Action.READ, kind="dataset")
    return lineage


@router.get("/models/{name}/versions/{version}/lineage")
def get_lineage(
    ctx: Reader, request: Request, name: str, version: str, tracking: Tracking
) -> Response:
    """Version → logged model → run (params, metrics) → dataset versions, code, environment."""
    lineage = version_lineage(_platform(request, ctx, tracking, name), name, version)
    return json_response({"lineage": _readable(ctx, lineage).to_dict()})


@router.get("/models/{name}/diff", openapi_extra=query_doc(DIFF))
def get_diff(
    ctx: Reader,
    request: Request,
    name: str,
    query: Annotated[DiffQuery, query_params(DIFF)],
    tracking: Tracking,
) -> Response:
    """What changed between two versions: params, metrics, data, code, environment."""
    from loopml.registry.diff import diff_versions

    platform = _platform(request, ctx, tracking, name)
    for version in (query["a"], query["b"]):
        _readable(ctx, version_lineage(platform, name, version))
    return json_response({"diff": diff_versions(platform, name, query["a"], query["b"]).to_dict()})


@router.get("/models/{name}/versions/{version}/card", openapi_extra=query_doc(CARD))
def get_card(
    ctx: Reader,
    request: Request,
    name: str,
    version: str,
    query: Annotated[CardQuery, query_params(CARD)],
    tracking: Tracking,
) -> Response:
    """The model card as Markdown (default) or a self-contained HTML page."""
    from starlette.responses import HTMLResponse, PlainTextResponse

    from loopml.registry.card import model_card

    shape = query.get("format", "markdown")
    if shape not in ("markdown", "html"):
        raise InvalidParameter(f"format must be markdown or html, got {shape!r}")
    platform = _platform(request, ctx, tracking, name)
    _readable(ctx, version_lineage(platform, name, version))
    card = model_card(platform, name, version)
    if shape == "html":
        return HTMLResponse(card.render_html())
    return PlainTextResponse(card.render_markdown(), media_type="text/markdown")
