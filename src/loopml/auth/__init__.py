"""Access control and the audit trail: accounts, tokens, grants, sign-in, audit chain.

The server's guard (``loopml.server.guard``) authenticates each request into
an :class:`Actor` through :class:`AuthService` and checks the route's policy;
domain packages ask :meth:`AuthService.readable` for a WHERE clause so that
searches return only what the caller may read.
"""

from loopml.auth.access import EVERYTHING, ReadScope, ceiling, effective_permission, is_admin
from loopml.auth.audit import AuditFilter, AuditLog
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
from loopml.auth.service import ANONYMOUS, AuthService, local_actor, parse_duration_ms

__all__ = [
    "ANONYMOUS",
    "EVERYTHING",
    "Actor",
    "ApiToken",
    "AuditEvent",
    "AuditFilter",
    "AuditLog",
    "AuditVerification",
    "AuthService",
    "Grant",
    "NewToken",
    "Permission",
    "Principal",
    "PrincipalKind",
    "ReadScope",
    "Role",
    "Scope",
    "ceiling",
    "effective_permission",
    "is_admin",
    "local_actor",
    "parse_duration_ms",
]
