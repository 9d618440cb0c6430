"""Access control and audit: the one seam every API route goes through.

Every route outside :data:`PUBLIC_PATHS` declares its policy as a dependency::

    def get_run(ctx: Annotated[RequestContext, guard("run", Action.READ)], ...) -> Response:
        ctx.authorize(run_id)          # the resource the request turned out to target
        ...
        ctx.record("run.update", run_id, status=status)   # state changes only

Today :func:`authenticate` answers with the anonymous actor, :func:`authorize`
allows everything and the audit sink drops events. Authentication, permission
checks and the audit log are filled in here, behind these three functions; the
handlers already call them at the right moments. :func:`route_policies` lists
every route with its policy, so a test proves no route was left unguarded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant

from loopml.core.clock import now_ms
from loopml.core.ids import new_id

RESOURCE_KINDS = frozenset({"experiment", "run", "artifact", "logged_model"})

# Reachable without credentials: liveness, version, the landing page, the API
# docs, and server-info (MLflow clients read it before they authenticate).
PUBLIC_PATHS = frozenset(
    {
        "/",
        "/health",
        "/version",
        "/docs",
        "/docs/oauth2-redirect",
        "/openapi.json",
        "/api/3.0/mlflow/server-info",
        "/ajax-api/3.0/mlflow/server-info",
    }
)


class Action(StrEnum):
    """What a request does to a resource; MANAGE covers deletion and permissions."""

    READ = "read"
    EDIT = "edit"
    MANAGE = "manage"


@dataclass(frozen=True)
class Policy:
    resource: str
    action: Action


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user or a service token, or nobody in particular."""

    actor_id: str
    authenticated: bool


ANONYMOUS = Actor("anonymous", authenticated=False)


@dataclass(frozen=True)
class AuditEvent:
    request_id: str
    actor_id: str
    action: str
    resource: str
    resource_id: str
    at_ms: int
    details: dict[str, Any] = field(default_factory=dict)


class AuditSink(Protocol):
    def record(self, event: AuditEvent) -> None: ...


class NullAuditSink:
    """Drops events: the default until the audit log exists."""

    def record(self, event: AuditEvent) -> None:
        return None


class MemoryAuditSink:
    """Keeps events in a list: for tests, and for embedding the server in a process."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


def authenticate(request: Request) -> Actor:
    """The actor behind a request. Raises ``Unauthenticated`` once credentials exist."""
    return ANONYMOUS


def authorize(actor: Actor, policy: Policy, resource_id: str | None) -> None:
    """Allow or refuse. Raises ``PermissionDenied`` once permissions exist.

    Called once per request with ``resource_id=None`` (may the actor do this kind
    of thing at all?) and again by the handler with the id the request targets.
    """
    return None


@dataclass(frozen=True)
class RequestContext:
    """What a handler knows about its caller; passed to the audit sink with each change."""

    request_id: str
    actor: Actor
    policy: Policy
    audit: AuditSink

    def authorize(self, resource_id: str) -> None:
        authorize(self.actor, self.policy, resource_id)

    def record(self, action: str, resource_id: str, **details: Any) -> None:
        self.audit.record(
            AuditEvent(
                request_id=self.request_id,
                actor_id=self.actor.actor_id,
                action=action,
                resource=self.policy.resource,
                resource_id=resource_id,
                at_ms=now_ms(),
                details=details,
            )
        )


def request_id(request: Request) -> str:
    """The id the request-id middleware assigned (a fresh one outside it)."""
    found = getattr(request.state, "request_id", None)
    return found if isinstance(found, str) else new_id()


class Guard:
    """The dependency behind :func:`guard`; holds the route's policy for the registry."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def __repr__(self) -> str:
        return f"Guard({self.policy.resource!r}, {self.policy.action.value!r})"

    async def __call__(self, request: Request) -> RequestContext:
        actor = authenticate(request)
        authorize(actor, self.policy, None)
        sink = getattr(request.app.state, "audit_sink", None) or NullAuditSink()
        return RequestContext(request_id(request), actor, self.policy, sink)


def guard(resource: str, action: Action) -> Any:
    """Declare a route's policy: ``ctx: Annotated[RequestContext, guard("run", Action.READ)]``."""
    if resource not in RESOURCE_KINDS:
        raise ValueError(f"unknown resource kind {resource!r}; known: {sorted(RESOURCE_KINDS)}")
    return Depends(Guard(Policy(resource, Action(action))))


def _guards(dependant: Dependant) -> Iterator[Guard]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Guard):
            yield dependency.call
        yield from _guards(dependency)


def _routes(app: FastAPI) -> Iterator[Any]:
    """Every route as served, through included routers (FastAPI >= 0.165 nests them)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    return iter(flatten(app.routes)) if flatten is not None else iter(app.routes)


def route_policies(app: FastAPI) -> dict[tuple[str, str], list[Policy]]:
    """Every (method, path) the app serves, with the policies its guards declare."""
    found: dict[tuple[str, str], list[Policy]] = {}
    for route in _routes(app):
        dependant = getattr(route, "dependant", None)
        policies = list(_guards(dependant)) if isinstance(dependant, Dependant) else []
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            found[(method, str(route.path))] = [g.policy for g in policies]
    return found
