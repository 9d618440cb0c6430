"""Who may do what: accounts, tokens, grants, the acting identity and audit events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """What an account may do in general: read, also write and create, or everything."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


class Permission(StrEnum):
    """What an account may do to one resource; each level includes the ones below."""

    NONE = "none"
    READ = "read"
    EDIT = "edit"
    MANAGE = "manage"

    @property
    def rank(self) -> int:
        return _PERMISSION_RANK[self]

    def covers(self, needed: Permission) -> bool:
        return self.rank >= needed.rank


_PERMISSION_RANK = {
    Permission.NONE: 0,
    Permission.READ: 1,
    Permission.EDIT: 2,
    Permission.MANAGE: 3,
}


class Scope(StrEnum):
    """What a token may be used for: at most reading, writing, or what its owner may do."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class PrincipalKind(StrEnum):
    USER = "user"
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    """A user (signs in with a password or a token) or a service account (tokens only)."""

    principal_id: str
    name: str
    kind: PrincipalKind
    role: Role
    description: str
    disabled: bool
    created_ms: int
    created_by: str
    updated_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal_id": self.principal_id,
            "name": self.name,
            "kind": self.kind.value,
            "role": self.role.value,
            "description": self.description,
            "disabled": self.disabled,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "updated_ms": self.updated_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Principal:
        return cls(
            principal_id=str(data["principal_id"]),
            name=str(data["name"]),
            kind=PrincipalKind(data["kind"]),
            role=Role(data["role"]),
            description=str(data.get("description") or ""),
            disabled=bool(data["disabled"]),
            created_ms=int(data["created_ms"]),
            created_by=str(data["created_by"]),
            updated_ms=int(data["updated_ms"]),
        )


@dataclass(frozen=True)
class ApiToken:
    """A token's public record; its secret is never stored, only shown once."""

    token_id: str
    principal_id: str
    principal_name: str
    name: str
    scope: Scope
    created_ms: int
    created_by: str
    expires_ms: int | None
    revoked_ms: int | None
    last_used_ms: int | None

    def state(self, now_ms: int) -> str:
        if self.revoked_ms is not None:
            return "revoked"
        if self.expires_ms is not None and self.expires_ms <= now_ms:
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "principal_id": self.principal_id,
            "principal_name": self.principal_name,
            "name": self.name,
            "scope": self.scope.value,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "expires_ms": self.expires_ms,
            "revoked_ms": self.revoked_ms,
            "last_used_ms": self.last_used_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ApiToken:
        return cls(
            token_id=str(data["token_id"]),
            principal_id=str(data["principal_id"]),
            principal_name=str(data["principal_name"]),
            name=str(data["name"]),
            scope=Scope(data["scope"]),
            created_ms=int(data["created_ms"]),
            created_by=str(data["created_by"]),
            expires_ms=_optional_int(data.get("expires_ms")),
            revoked_ms=_optional_int(data.get("revoked_ms")),
            last_used_ms=_optional_int(data.get("last_used_ms")),
        )


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is the bearer string, shown this once."""

    token: ApiToken
    secret: str


@dataclass(frozen=True)
class Grant:
    principal_id: str
    principal_name: str
    resource_kind: str
    resource_id: str
    permission: Permission
    granted_ms: int
    granted_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal_id": self.principal_id,
            "principal_name": self.principal_name,
            "resource_kind": self.resource_kind,
            "resource_id": self.resource_id,
            "permission": self.permission.value,
            "granted_ms": self.granted_ms,
            "granted_by": self.granted_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grant:
        return cls(
            principal_id=str(data["principal_id"]),
            principal_name=str(data["principal_name"]),
            resource_kind=str(data["resource_kind"]),
            resource_id=str(data["resource_id"]),
            permission=Permission(data["permission"]),
            granted_ms=int(data["granted_ms"]),
            granted_by=str(data["granted_by"]),
        )


@dataclass(frozen=True)
class Actor:
    """The identity a change is made by, and how it proved it.

    ``scope`` is the token's scope when the actor came with a token, ``None``
    for a password or a local (embedded) actor.
    """

    principal_id: str
    name: str
    role: Role
    scope: Scope | None = None
    token_id: str | None = None
    client_addr: str = ""
    authenticated: bool = True


@dataclass(frozen=True)
class AuditEvent:
    """One link of the audit chain; ``hash`` covers every other field and ``prev_hash``."""

    seq: int
    event_id: str
    at_ms: int
    actor_id: str
    actor_name: str
    token_id: str | None
    action: str
    resource_kind: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str
    client_addr: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event_id": self.event_id,
            "at_ms": self.at_ms,
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "token_id": self.token_id,
            "action": self.action,
            "resource_kind": self.resource_kind,
            "resource_id": self.resource_id,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
            "client_addr": self.client_addr,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditEvent:
        return cls(
            seq=int(data["seq"]),
            event_id=str(data["event_id"]),
            at_ms=int(data["at_ms"]),
            actor_id=str(data["actor_id"]),
            actor_name=str(data["actor_name"]),
            token_id=data.get("token_id"),
            action=str(data["action"]),
            resource_kind=str(data["resource_kind"]),
            resource_id=str(data["resource_id"]),
            before=data.get("before"),
            after=data.get("after"),
            request_id=str(data["request_id"]),
            client_addr=str(data["client_addr"]),
            prev_hash=str(data["prev_hash"]),
            hash=str(data["hash"]),
        )


@dataclass(frozen=True)
class AuditVerification:
    """What ``verify`` found: ``ok``, how many events it checked, and the first bad one."""

    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditVerification:
        return cls(
            ok=bool(data["ok"]),
            checked=int(data["checked"]),
            head_seq=int(data["head_seq"]),
            head_hash=str(data["head_hash"]),
            first_bad_seq=_optional_int(data.get("first_bad_seq")),
            problem=str(data.get("problem") or ""),
        )


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)
