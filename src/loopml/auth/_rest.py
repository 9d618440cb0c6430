"""``AuthApi`` over HTTP: a loopml server's ``/api/loopml/v1`` access-control endpoints.

Every call is made with the credentials in the environment (a token, or a
name and password; see :mod:`loopml.core.credentials`), so the server decides
what the caller may do, exactly as the embedded :class:`~loopml.auth.client.LocalAuth`
does for the local user. Error bodies come back as loopml errors: 401
``Unauthenticated``, 403 ``PermissionDenied``, 404 ``ResourceNotFound``, 429
``TooManyRequests``.

Reads, updates and deletions (idempotent here) are retried on connection
errors and 502/503/504. A POST is retried only when the connection was never
made: the server keeps no idempotency record for these (it would hold a new
token's secret), so a replayed create could mint a second token. 429 is never
retried: it means failed sign-ins, and retrying is one more.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from loopml.auth.audit import AuditFilter
from loopml.auth.entities import (
    ApiToken,
    AuditEvent,
    AuditVerification,
    Grant,
    NewToken,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    Scope,
)
from loopml.core.errors import LoopmlError, NotSupported
from loopml.core.http import ServerConnection, raise_for_error

API = "/api/loopml/v1"
RETRY_STATUSES = frozenset({502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "PATCH", "DELETE"})


def _segment(value: str) -> str:
    """One path segment: ``/``, ``?`` and ``%`` in an account name stay part of the name."""
    return quote(value, safe="")


class RestAuth(ServerConnection):
    """:class:`~loopml.auth.client.AuthApi` against the server at ``base_url``."""

    def __init__(self, base_url: str, retries: int = 3, timeout_s: float = 60.0) -> None:
        super().__init__(base_url, timeout_s)
        self.retries = retries

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        content = orjson.dumps(body) if body is not None else None
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.http.request(
                    method, API + path, content=content, params=params, headers=headers
                )
            except httpx.TransportError as error:
                never_sent = isinstance(error, httpx.ConnectError)
                if last or not (never_sent or method in _IDEMPOTENT):
                    raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
            else:
                if last or method not in _IDEMPOTENT or response.status_code not in RETRY_STATUSES:
                    return self._result(response)
            time.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    def _result(self, response: httpx.Response) -> Any:
        if response.status_code == 404 and _error_code(response) == "ENDPOINT_NOT_FOUND":
            raise NotSupported(
                f"{self.base_url} does not serve loopml's access-control API ({API}); "
                "is it a loopml server, and as new as this client?"
            )
        raise_for_error(response)
        return response.json() if response.content else {}

    # --- who am I ----------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        found = self._call("GET", "/auth/whoami")
        assert isinstance(found, dict)
        return found

    # --- accounts ----------------------------------------------------------------

    def create_account(
        self,
        name: str,
        *,
        kind: PrincipalKind = PrincipalKind.USER,
        role: Role = Role.VIEWER,
        password: str | None = None,
        description: str = "",
    ) -> Principal:
        body: dict[str, Any] = {
            "name": name,
            "kind": PrincipalKind(kind).value,
            "role": Role(role).value,
            "description": description,
        }
        if password is not None:
            body["password"] = password
        return Principal.from_dict(self._call("POST", "/accounts", body)["account"])

    def get_account(self, name: str) -> Principal:
        return Principal.from_dict(self._call("GET", f"/accounts/{_segment(name)}")["account"])

    def list_accounts(self, kind: PrincipalKind | None = None) -> list[Principal]:
        params = {"kind": PrincipalKind(kind).value} if kind is not None else None
        found = self._call("GET", "/accounts", params=params)
        return [Principal.from_dict(a) for a in found["accounts"]]

    def update_account(
        self,
        name: str,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        description: str | None = None,
    ) -> Principal:
        body: dict[str, Any] = {}
        if role is not None:
            body["role"] = Role(role).value
        if disabled is not None:
            body["disabled"] = disabled
        if description is not None:
            body["description"] = description
        found = self._call("PATCH", f"/accounts/{_segment(name)}", body)
        return Principal.from_dict(found["account"])

    def set_password(
        self, name: str, new_password: str, *, current_password: str | None = None
    ) -> None:
        body = {"new_password": new_password}
        if current_password is not None:
            body["current_password"] = current_password
        self._call("POST", f"/accounts/{_segment(name)}/password", body)

    def delete_account(self, name: str) -> None:
        self._call("DELETE", f"/accounts/{_segment(name)}")

    # --- tokens ------------------------------------------------------------------

    def create_token(
        self,
        name: str,
        *,
        scope: Scope = Scope.READ,
        owner: str | None = None,
        expires_ms: int | None = None,
    ) -> NewToken:
        body: dict[str, Any] = {"name": name, "scope": Scope(scope).value}
        if owner is not None:
            body["owner"] = owner
        if expires_ms is not None:
            body["expires_ms"] = expires_ms
        found = self._call("POST", "/tokens", body)
        return NewToken(ApiToken.from_dict(found["token"]), str(found["secret"]))

    def list_tokens(self, owner: str | None = None, *, everyone: bool = False) -> list[ApiToken]:
        params: dict[str, Any] = {"everyone": "true" if everyone else "false"}
        if owner is not None:
            params["owner"] = owner
        found = self._call("GET", "/tokens", params=params)
        return [ApiToken.from_dict(t) for t in found["tokens"]]

    def revoke_token(self, token_id: str) -> ApiToken:
        found = self._call("DELETE", f"/tokens/{_segment(token_id)}")
        return ApiToken.from_dict(found["token"])

    # --- permissions -------------------------------------------------------------

    def grant(self, account: str, kind: str, resource_id: str, permission: Permission) -> Grant:
        body = {
            "account": account,
            "resource_kind": kind,
            "resource_id": str(resource_id),
            "permission": Permission(permission).value,
        }
        return Grant.from_dict(self._call("POST", "/permissions", body)["grant"])

    def revoke(self, account: str, kind: str, resource_id: str) -> None:
        params = {"account": account, "resource_kind": kind, "resource_id": str(resource_id)}
        self._call("DELETE", "/permissions", params=params)

    def list_grants(
        self, kind: str | None = None, resource_id: str | None = None, account: str | None = None
    ) -> list[Grant]:
        params = _present(resource_kind=kind, resource_id=resource_id, account=account)
        found = self._call("GET", "/permissions", params=params)
        return [Grant.from_dict(g) for g in found["grants"]]

    # --- audit -------------------------------------------------------------------

    def audit_events(self, where: AuditFilter | None = None, limit: int = 100) -> list[AuditEvent]:
        where = where or AuditFilter()
        params = _present(
            actor=where.actor,
            action=where.action,
            resource_kind=where.resource_kind,
            resource_id=where.resource_id,
            since_ms=where.since_ms,
            until_ms=where.until_ms,
            before_seq=where.before_seq,
            limit=limit,
        )
        found = self._call("GET", "/audit/events", params=params)
        return [AuditEvent.from_dict(e) for e in found["events"]]

    def verify_audit(self) -> AuditVerification:
        found = self._call("GET", "/audit/verify")
        return AuditVerification.from_dict(found["verification"])


def _present(**params: Any) -> dict[str, Any]:
    """The query parameters that were given (None means "not given")."""
    return {key: value for key, value in params.items() if value is not None}


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error_code", "")) if isinstance(body, dict) else ""
