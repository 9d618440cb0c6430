"""The permission rule, as pure functions the guard and the services share.

An actor's permission on a resource is the higher of its grant on that
resource and the server's default permission, capped by what its role allows
(viewer: read) and, for a token, by the token's scope (read: read). Admins —
acting with a password or an admin-scoped token — may do everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from loopml.auth import _sql
from loopml.auth.entities import Actor, Permission, Role, Scope

ROLE_CEILING = {
    Role.VIEWER: Permission.READ,
    Role.EDITOR: Permission.MANAGE,
    Role.ADMIN: Permission.MANAGE,
}
SCOPE_CEILING = {
    Scope.READ: Permission.READ,
    Scope.WRITE: Permission.MANAGE,
    Scope.ADMIN: Permission.MANAGE,
}
# The kinds of object that carry grants; everything else is checked through one of
# them (a run through its experiment). The one list the permissions API accepts.
GRANTABLE_KINDS = (
    "experiment",
    "dataset",
    "registered_model",
    "monitor",
    "pipeline",
    "policy",
)
# The scopes an account of each role may give its tokens.
ROLE_SCOPES = {
    Role.VIEWER: (Scope.READ,),
    Role.EDITOR: (Scope.READ, Scope.WRITE),
    Role.ADMIN: (Scope.READ, Scope.WRITE, Scope.ADMIN),
}


def is_admin(actor: Actor) -> bool:
    """An admin acting with full power (not through a read- or write-only token)."""
    return actor.role is Role.ADMIN and actor.scope in (None, Scope.ADMIN)


def ceiling(actor: Actor) -> Permission:
    """The most this actor may do to any resource, whatever it was granted."""
    cap = ROLE_CEILING[actor.role]
    if actor.scope is not None and SCOPE_CEILING[actor.scope].rank < cap.rank:
        cap = SCOPE_CEILING[actor.scope]
    return cap


def effective_permission(
    actor: Actor, granted: Permission | None, default: Permission
) -> Permission:
    if is_admin(actor):
        return Permission.MANAGE
    level = granted if granted is not None and granted.rank > default.rank else default
    cap = ceiling(actor)
    return level if level.rank <= cap.rank else cap


def may_issue_scope(actor: Actor, role: Role, scope: Scope) -> bool:
    """Whether ``actor`` may create a ``scope`` token for an account of ``role``.

    A token never carries more than its account's role allows, and nobody
    mints a token stronger than the credentials they are using.
    """
    if scope not in ROLE_SCOPES[role]:
        return False
    if actor.scope is None:
        return True
    order = (Scope.READ, Scope.WRITE, Scope.ADMIN)
    return order.index(scope) <= order.index(actor.scope)


@dataclass(frozen=True)
class ReadScope:
    """Which resources a search may return: all (``principal_id=None``) or one account's grants.

    Searches apply :meth:`where` in SQL, so pages and counts are right and
    nothing unreadable is ever loaded.
    """

    principal_id: str | None = None

    def where(self, kind: str, id_column: ColumnElement[Any]) -> ColumnElement[bool] | None:
        if self.principal_id is None:
            return None
        return _sql.id_in_granted(id_column, self.principal_id, kind, Permission.READ)


EVERYTHING = ReadScope()
