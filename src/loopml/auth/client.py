"""``AuthApi``: accounts, tokens, grants and the audit log, embedded or over HTTP.

:class:`LocalAuth` runs :class:`~loopml.auth.service.AuthService` in process
as one actor (the local OS user for the embedded store: whoever can open the
database file owns it). ``loopml.auth._rest.RestAuth`` speaks the server's
``/api/loopml/v1`` endpoints with the caller's credentials. Both take the same
calls, so the CLI and the SDK never care which one they hold.
"""

from __future__ import annotations

from typing import Any, Protocol

from loopml.auth.audit import AuditFilter
from loopml.auth.entities import (
    Actor,
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
from loopml.auth.service import AuthService


class AuthApi(Protocol):
    def whoami(self) -> dict[str, Any]: ...
    def create_account(
        self,
        name: str,
        *,
        kind: PrincipalKind = PrincipalKind.USER,
        role: Role = Role.VIEWER,
        password: str | None = None,
        description: str = "",
    ) -> Principal: ...
    def get_account(self, name: str) -> Principal: ...
    def list_accounts(self, kind: PrincipalKind | None = None) -> list[Principal]: ...
    def update_account(
        self,
        name: str,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        description: str | None = None,
    ) -> Principal: ...
    def set_password(
        self, name: str, new_password: str, *, current_password: str | None = None
    ) -> None: ...
    def delete_account(self, name: str) -> None: ...
    def create_token(
        self,
        name: str,
        *,
        scope: Scope = Scope.READ,
        owner: str | None = None,
        expires_ms: int | None = None,
    ) -> NewToken: ...
    def list_tokens(
        self, owner: str | None = None, *, everyone: bool = False
    ) -> list[ApiToken]: ...
    def revoke_token(self, token_id: str) -> ApiToken: ...
    def grant(self, account: str, kind: str, resource_id: str, permission: Permission) -> Grant: ...
    def revoke(self, account: str, kind: str, resource_id: str) -> None: ...
    def list_grants(
        self, kind: str | None = None, resource_id: str | None = None, account: str | None = None
    ) -> list[Grant]: ...
    def audit_events(
        self, where: AuditFilter | None = None, limit: int = 100
    ) -> list[AuditEvent]: ...
    def verify_audit(self) -> AuditVerification: ...
    def close(self) -> None: ...


class LocalAuth:
    """:class:`AuthApi` in process, every call made as ``actor``."""

    def __init__(self, service: AuthService, actor: Actor) -> None:
        self.service = service
        self.actor = actor

    def whoami(self) -> dict[str, Any]:
        return {
            "name": self.actor.name,
            "role": self.actor.role.value,
            "scope": self.actor.scope.value if self.actor.scope else None,
            "token_id": self.actor.token_id,
        }

    def create_account(
        self,
        name: str,
        *,
        kind: PrincipalKind = PrincipalKind.USER,
        role: Role = Role.VIEWER,
        password: str | None = None,
        description: str = "",
    ) -> Principal:
        return self.service.create_account(
            self.actor, name, kind=kind, role=role, password=password, description=description
        )

    def get_account(self, name: str) -> Principal:
        return self.service.get_account(self.actor, name)

    def list_accounts(self, kind: PrincipalKind | None = None) -> list[Principal]:
        return self.service.list_accounts(self.actor, kind)

    def update_account(
        self,
        name: str,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        description: str | None = None,
    ) -> Principal:
        return self.service.update_account(
            self.actor, name, role=role, disabled=disabled, description=description
        )

    def set_password(
        self, name: str, new_password: str, *, current_password: str | None = None
    ) -> None:
        self.service.set_password(self.actor, name, new_password, current_password=current_password)

    def delete_account(self, name: str) -> None:
        self.service.delete_account(self.actor, name)

    def create_token(
        self,
        name: str,
        *,
        scope: Scope = Scope.READ,
        owner: str | None = None,
        expires_ms: int | None = None,
    ) -> NewToken:
        return self.service.create_token(
            self.actor, name, scope=scope, owner=owner, expires_ms=expires_ms
        )

    def list_tokens(self, owner: str | None = None, *, everyone: bool = False) -> list[ApiToken]:
        return self.service.list_tokens(self.actor, owner, everyone=everyone)

    def revoke_token(self, token_id: str) -> ApiToken:
        return self.service.revoke_token(self.actor, token_id)

    def grant(self, account: str, kind: str, resource_id: str, permission: Permission) -> Grant:
        return self.service.grant(self.actor, account, kind, resource_id, permission)

    def revoke(self, account: str, kind: str, resource_id: str) -> None:
        self.service.revoke(self.actor, account, kind, resource_id)

    def list_grants(
        self, kind: str | None = None, resource_id: str | None = None, account: str | None = None
    ) -> list[Grant]:
        return self.service.list_grants(self.actor, kind, resource_id, account)

    def audit_events(self, where: AuditFilter | None = None, limit: int = 100) -> list[AuditEvent]:
        return self.service.audit_events(self.actor, where, limit)

    def verify_audit(self) -> AuditVerification:
        return self.service.verify_audit(self.actor)

    def close(self) -> None:
        return None
