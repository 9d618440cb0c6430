"""loopml's access-control API: accounts, tokens, grants and the audit log.

Mounted at ``/api/loopml/v1`` (MLflow's prefixes are MLflow's). Each handler
validates its input strictly (unknown fields and bad enum values are a 400
naming the field) and makes one :class:`~loopml.auth.AuthService` call as the
request's actor: the guard only authenticates these routes, and the service
applies every rule and writes every audit event, the same as for the
embedded CLI. A write the service refuses also leaves an ``access.denied``
event, as a refused write anywhere else on the server does.

These POSTs do not honour ``Idempotency-Key``: a stored response would keep a
new token's secret in the database, and a stored request hash would keep a
fast hash of a password. ``loopml.auth._rest.RestAuth`` retries a POST only
when the connection was never made.
"""

from __future__ import annotations

from typing import Annotated, Required

from fastapi import APIRouter, Request
from pydantic import Field, Strict, TypeAdapter, with_config
from starlette.responses import Response
from typing_extensions import TypedDict

from loopml.auth import AuditFilter, Permission, PrincipalKind, Role, Scope
from loopml.auth.access import GRANTABLE_KINDS
from loopml.auth.audit import MAX_LIST
from loopml.core.errors import InvalidParameter, NotSupported
from loopml.data._sql import SqlDataStore
from loopml.data.entities import check_dataset_name
from loopml.registry import SqlRegistryStore
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.openapi import body_doc, query_doc
from loopml.server.wire import (
    STRICT,
    Bool,
    Int64,
    empty_response,
    json_body,
    json_response,
    query_params,
)
from loopml.tracking import TrackingClient

PREFIX = "/api/loopml/v1"
router = APIRouter(tags=["Access control"])

# Query strings carry text, so enums there are matched by value, not by type.
KindQuery = Annotated[PrincipalKind, Strict(False)]


# --- request messages ------------------------------------------------------------


@with_config(STRICT)
class CreateAccountBody(TypedDict, total=False):
    name: Required[str]
    kind: PrincipalKind
    role: Role
    password: str
    description: str


@with_config(STRICT)
class AccountsQuery(TypedDict, total=False):
    kind: KindQuery


@with_config(STRICT)
class UpdateAccountBody(TypedDict, total=False):
    role: Role
    disabled: bool
    description: str


@with_config(STRICT)
class SetPasswordBody(TypedDict, total=False):
    new_password: Required[str]
    current_password: str


@with_config(STRICT)
class CreateTokenBody(TypedDict, total=False):
    name: Required[str]
    scope: Scope
    owner: str
    expires_ms: Int64


@with_config(STRICT)
class TokensQuery(TypedDict, total=False):
    owner: str
    everyone: Bool


@with_config(STRICT)
class GrantBody(TypedDict):
    account: str
    resource_kind: str
    resource_id: str
    permission: Permission


@with_config(STRICT)
class RevokeQuery(TypedDict):
    account: str
    resource_kind: str
    resource_id: str


@with_config(STRICT)
class GrantsQuery(TypedDict, total=False):
    resource_kind: str
    resource_id: str
    account: str


@with_config(STRICT)
class AuditQuery(TypedDict, total=False):
    actor: str
    action: str
    resource_kind: str
    resource_id: str
    since_ms: Int64
    until_ms: Int64
    before_seq: Int64
    limit: Annotated[Int64, Field(ge=1, le=MAX_LIST)]


CREATE_ACCOUNT = TypeAdapter(CreateAccountBody)
ACCOUNTS = TypeAdapter(AccountsQuery)
UPDATE_ACCOUNT = TypeAdapter(UpdateAccountBody)
SET_PASSWORD = TypeAdapter(SetPasswordBody)
CREATE_TOKEN = TypeAdapter(CreateTokenBody)
TOKENS = TypeAdapter(TokensQuery)
GRANT = TypeAdapter(GrantBody)
REVOKE = TypeAdapter(RevokeQuery)
GRANTS = TypeAdapter(GrantsQuery)
AUDIT = TypeAdapter(AuditQuery)

DEFAULT_AUDIT_LIMIT = 100

AccountReader = Annotated[RequestContext, guard("account", Action.READ)]
AccountEditor = Annotated[RequestContext, guard("account", Action.EDIT)]
AccountManager = Annotated[RequestContext, guard("account", Action.MANAGE)]
TokenReader = Annotated[RequestContext, guard("token", Action.READ)]
TokenEditor = Annotated[RequestContext, guard("token", Action.EDIT)]
TokenManager = Annotated[RequestContext, guard("token", Action.MANAGE)]
GrantReader = Annotated[RequestContext, guard("permission", Action.READ)]
GrantManager = Annotated[RequestContext, guard("permission", Action.MANAGE)]
AuditReader = Annotated[RequestContext, guard("audit", Action.READ)]


def _grantable(kind: str) -> str:
    if kind not in GRANTABLE_KINDS:
        raise InvalidParameter(
            f"invalid value for 'resource_kind': {kind!r}; must be one of "
            + ", ".join(GRANTABLE_KINDS)
        )
    return kind


def _existing(request: Request, kind: str, resource_id: str) -> str:
    """The object's canonical id; 404 when it does not exist. Each grantable kind needs a lookup."""
    if kind == "experiment":
        tracking: TrackingClient = request.app.state.tracking
        return tracking.get_experiment(resource_id).experiment_id
    if kind == "dataset":
        store: SqlDataStore = request.app.state.data_store
        return store.dataset(check_dataset_name(resource_id)).name
    if kind == "monitor":
        from loopml.monitoring.monitors import MonitorStore

        return MonitorStore(request.app.state.registry_store.db).get(resource_id).name
    if kind == "policy":
        from loopml.automation.store import PolicyStore

        return PolicyStore(request.app.state.registry_store.db).get(resource_id).policy.name
    if kind == "pipeline":
        from loopml.pipelines.schedules import ScheduleStore

        return ScheduleStore(request.app.state.registry_store.db).get(resource_id).name
    if kind == "registered_model":
        registry: SqlRegistryStore = request.app.state.registry_store
        return registry.get_model(resource_id).name
    raise NotSupported(f"this server cannot grant permissions on {kind}s yet")


# --- who am I --------------------------------------------------------------------


@router.get("/auth/whoami")
def whoami(ctx: AccountReader) -> Response:
    """The caller as the server sees it: name, role, and the token's scope and id."""
    actor = ctx.actor
    return json_response(
        {
            "name": actor.name,
            "role": actor.role.value,
            "scope": actor.scope.value if actor.scope is not None else None,
            "token_id": actor.token_id,
            "authenticated": actor.authenticated,
        }
    )


# --- accounts --------------------------------------------------------------------


@router.post("/accounts", openapi_extra=body_doc(CREATE_ACCOUNT))
def create_account(
    ctx: AccountManager, body: Annotated[CreateAccountBody, json_body(CREATE_ACCOUNT)]
) -> Response:
    """Create a user (with a password) or a service account (tokens only); admins only."""
    with ctx.refusals_recorded(f"account {body['name']}"):
        account = ctx.service.create_account(
            ctx.actor,
            body["name"],
            kind=body.get("kind", PrincipalKind.USER),
            role=body.get("role", Role.VIEWER),
            password=body.get("password"),
            description=body.get("description", ""),
            request_id=ctx.request_id,
        )
    return json_response({"account": account.to_dict()})


@router.get("/accounts", openapi_extra=query_doc(ACCOUNTS))
def list_accounts(
    ctx: AccountReader, query: Annotated[AccountsQuery, query_params(ACCOUNTS)]
) -> Response:
    accounts = ctx.service.list_accounts(ctx.actor, query.get("kind"))
    return json_response({"accounts": [a.to_dict() for a in accounts]})


@router.get("/accounts/{name}")
def get_account(ctx: AccountReader, name: str) -> Response:
    """One account: your own, or anyone's for admins."""
    return json_response({"account": ctx.service.get_account(ctx.actor, name).to_dict()})


@router.patch("/accounts/{name}", openapi_extra=body_doc(UPDATE_ACCOUNT))
def update_account(
    ctx: AccountManager,
    name: str,
    body: Annotated[UpdateAccountBody, json_body(UPDATE_ACCOUNT)],
) -> Response:
    """Change an account's role or description, or disable / enable it; admins only."""
    with ctx.refusals_recorded(f"account {name}"):
        account = ctx.service.update_account(
            ctx.actor,
            name,
            role=body.get("role"),
            disabled=body.get("disabled"),
            description=body.get("description"),
            request_id=ctx.request_id,
        )
    return json_response({"account": account.to_dict()})


@router.post("/accounts/{name}/password", openapi_extra=body_doc(SET_PASSWORD))
def set_password(
    ctx: AccountEditor,
    name: str,
    body: Annotated[SetPasswordBody, json_body(SET_PASSWORD)],
) -> Response:
    """Admins reset anyone's password; a user changes its own with ``current_password``."""
    with ctx.refusals_recorded(f"account {name}"):
        ctx.service.set_password(
            ctx.actor,
            name,
            body["new_password"],
            current_password=body.get("current_password"),
            request_id=ctx.request_id,
        )
    return empty_response()


@router.delete("/accounts/{name}")
def delete_account(ctx: AccountManager, name: str) -> Response:
    """Delete an account with its tokens and grants; admins only, never the last admin."""
    with ctx.refusals_recorded(f"account {name}"):
        ctx.service.delete_account(ctx.actor, name, request_id=ctx.request_id)
    return empty_response()


# --- tokens ----------------------------------------------------------------------


@router.post("/tokens", openapi_extra=body_doc(CREATE_TOKEN))
def create_token(
    ctx: TokenEditor, body: Annotated[CreateTokenBody, json_body(CREATE_TOKEN)]
) -> Response:
    """Mint a token (for yourself, or for ``owner`` as an admin); its secret is shown only here."""
    owner = body.get("owner") or None
    with ctx.refusals_recorded(f"token for {owner or ctx.actor.name}"):
        created = ctx.service.create_token(
            ctx.actor,
            body["name"],
            scope=body.get("scope", Scope.READ),
            owner=owner,
            expires_ms=body.get("expires_ms"),
            request_id=ctx.request_id,
        )
    response = json_response({"token": created.token.to_dict(), "secret": created.secret})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/tokens", openapi_extra=query_doc(TOKENS))
def list_tokens(ctx: TokenReader, query: Annotated[TokensQuery, query_params(TOKENS)]) -> Response:
    """Your tokens; admins may ask for ``owner``'s or ``everyone``'s. Never their secrets."""
    tokens = ctx.service.list_tokens(
        ctx.actor, query.get("owner") or None, everyone=query.get("everyone", False)
    )
    return json_response({"tokens": [t.to_dict() for t in tokens]})


@router.delete("/tokens/{token_id}")
def revoke_token(ctx: TokenManager, token_id: str) -> Response:
    """Revoke a token (your own, or anyone's as an admin); revoking twice changes nothing."""
    with ctx.refusals_recorded(f"token {token_id}"):
        token = ctx.service.revoke_token(ctx.actor, token_id, request_id=ctx.request_id)
    return json_response({"token": token.to_dict()})


# --- permissions -----------------------------------------------------------------


@router.post("/permissions", openapi_extra=body_doc(GRANT))
def grant(
    ctx: GrantManager, body: Annotated[GrantBody, json_body(GRANT)], request: Request
) -> Response:
    """Give an account read, edit or manage on an object you manage; 404 if it does not exist."""
    kind, resource_id = _grantable(body["resource_kind"]), body["resource_id"]
    with ctx.refusals_recorded(f"{kind} {resource_id}"):
        # Authorized before the lookup, so a 404 never tells a stranger what exists.
        ctx.service.require(ctx.actor, kind, resource_id, Permission.MANAGE)
        resource_id = _existing(request, kind, resource_id)
        granted = ctx.service.grant(
            ctx.actor,
            body["account"],
            kind,
            resource_id,
            body["permission"],
            request_id=ctx.request_id,
        )
    return json_response({"grant": granted.to_dict()})


@router.delete("/permissions", openapi_extra=query_doc(REVOKE))
def revoke(ctx: GrantManager, query: Annotated[RevokeQuery, query_params(REVOKE)]) -> Response:
    """Take an account's grant on an object away; 404 when it has none."""
    kind, resource_id = _grantable(query["resource_kind"]), query["resource_id"]
    with ctx.refusals_recorded(f"{kind} {resource_id}"):
        ctx.service.revoke(
            ctx.actor, query["account"], kind, resource_id, request_id=ctx.request_id
        )
    return empty_response()


@router.get("/permissions", openapi_extra=query_doc(GRANTS))
def list_grants(ctx: GrantReader, query: Annotated[GrantsQuery, query_params(GRANTS)]) -> Response:
    """Grants on an object (its readers may look) or of an account (itself, or admins)."""
    kind = query.get("resource_kind") or None
    grants = ctx.service.list_grants(
        ctx.actor,
        _grantable(kind) if kind is not None else None,
        query.get("resource_id") or None,
        query.get("account") or None,
    )
    return json_response({"grants": [g.to_dict() for g in grants]})


# --- audit -----------------------------------------------------------------------


@router.get("/audit/events", openapi_extra=query_doc(AUDIT))
def audit_events(ctx: AuditReader, query: Annotated[AuditQuery, query_params(AUDIT)]) -> Response:
    """Audit events, newest first; page with ``before_seq``. Admins only."""
    where = AuditFilter(
        actor=query.get("actor") or None,
        action=query.get("action") or None,
        resource_kind=query.get("resource_kind") or None,
        resource_id=query.get("resource_id") or None,
        since_ms=query.get("since_ms"),
        until_ms=query.get("until_ms"),
        before_seq=query.get("before_seq"),
    )
    events = ctx.service.audit_events(ctx.actor, where, query.get("limit", DEFAULT_AUDIT_LIMIT))
    return json_response({"events": [e.to_dict() for e in events]})


@router.get("/audit/verify")
def verify_audit(ctx: AuditReader) -> Response:
    """Walk the whole audit chain; name the first edited, inserted or deleted event."""
    return json_response({"verification": ctx.service.verify_audit(ctx.actor).to_dict()})
