"""Access control and audit: the one seam every API route goes through.

Every route outside :data:`PUBLIC_PATHS` declares its policy as a dependency::

    def get_run(ctx: Annotated[RequestContext, guard("run", Action.READ)], ...) -> Response:
        ctx.authorize(run_id)          # the resource the request turned out to target
        ...
        ctx.record("run.update", run_id, status=status)   # state changes only

The guard authenticates the request (a bearer token, or HTTP basic auth with
a password or a token as the password) into an :class:`~loopml.auth.Actor`,
refuses what the actor's role or token scope can never do, and hands the
handler a :class:`RequestContext` whose ``authorize`` checks the one resource
the request targets (a run is checked through its experiment) and whose
``record`` appends to the audit chain. With auth off (a loopback server) every
request acts as ``anonymous`` with full rights, and changes are still audited.
:func:`route_policies` lists every route with its policy, so a test proves no
route was left unguarded.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from starlette.concurrency import run_in_threadpool

from loopml.auth import ANONYMOUS, EVERYTHING, Actor, AuthService, Permission, ReadScope
from loopml.auth.access import ceiling, is_admin
from loopml.auth.credentials import authenticate_header
from loopml.core.errors import PermissionDenied
from loopml.core.ids import new_id

logger = logging.getLogger("loopml.server")

# Resources whose permission is checked per object (through a resolver to the
# resource that carries the grant), and resources whose rules the auth service
# applies itself (accounts, tokens, grants, the audit log).
OBJECT_KINDS = frozenset(
    {
        "experiment",
        "run",
        "artifact",
        "logged_model",
        "dataset",
        "registered_model",
        "monitor",
        "pipeline",
        "policy",
    }
)
SERVICE_KINDS = frozenset({"account", "token", "permission", "audit"})
RESOURCE_KINDS = OBJECT_KINDS | SERVICE_KINDS

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

    @property
    def permission(self) -> Permission:
        return Permission(self.value)


@dataclass(frozen=True)
class Policy:
    resource: str
    action: Action


# Maps a resource id of some kind to the (kind, id) that carries its grants,
# e.g. a run id to ("experiment", "3"); None when the resource does not exist.
Resolver = Callable[[str], tuple[str, str] | None]


@dataclass
class AccessControl:
    """What the guard needs, built once per app: the auth service, the switch, the resolvers."""

    service: AuthService
    enabled: bool
    resolvers: dict[str, Resolver] = dataclasses.field(default_factory=dict)

    def resolve(self, kind: str, resource_id: str) -> tuple[str, str] | None:
        resolver = self.resolvers.get(kind)
        return resolver(resource_id) if resolver is not None else (kind, resource_id)


@dataclass(frozen=True)
class RequestContext:
    """What a handler knows about its caller; every check and audit event goes through it."""

    request_id: str
    actor: Actor
    policy: Policy
    access: AccessControl

    @property
    def service(self) -> AuthService:
        return self.access.service

    def authorize(
        self, resource_id: str, action: Action | None = None, kind: str | None = None
    ) -> None:
        """Refuse (403) unless the actor may do the route's action to ``resource_id``.

        ``action`` and ``kind`` default to the route's policy; a request that
        also touches another object (a run naming a model) checks it with them.
        A resource that does not exist passes: the handler answers 404 for it.
        """
        try:
            self._check(resource_id, action, kind, raising=True)
        except PermissionDenied:  # the resolver's too: artifact paths outside experiments
            self.record_denial(f"{self.policy.resource} {resource_id}")
            raise

    def may(self, resource_id: str, action: Action | None = None, kind: str | None = None) -> bool:
        """Whether :meth:`authorize` would pass; a question, so nothing is audited."""
        try:
            return self._check(resource_id, action, kind, raising=False)
        except PermissionDenied:
            return False

    def _check(
        self, resource_id: str, action: Action | None, kind: str | None, raising: bool
    ) -> bool:
        if not self.access.enabled or is_admin(self.actor):
            return True
        target = self.access.resolve(kind or self.policy.resource, str(resource_id))
        if target is None:
            return True
        needed = (action or self.policy.action).permission
        if raising:
            self.service.require(self.actor, target[0], target[1], needed)
            return True
        return self.service.permission(self.actor, target[0], target[1]).covers(needed)

    def authorize_admin(self, what: str) -> None:
        """Refuse (403) unless the caller is an admin (or auth is off)."""
        if self.access.enabled and not is_admin(self.actor):
            self.record_denial(what)
            raise PermissionDenied(f"only admins may {what}; {self.actor.name!r} is not one")

    def readable(self) -> ReadScope:
        """The scope a search by this caller runs in (filtered in SQL)."""
        return self.service.readable(self.actor) if self.access.enabled else EVERYTHING

    def record(
        self,
        action: str,
        resource_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        **details: Any,
    ) -> None:
        """Append a change to the audit chain; ``details`` join ``after``.

        The resource kind is the action's prefix (``run.create`` → ``run``), which
        is not always the route's policy kind (creating a run needs the experiment).
        """
        if details:
            after = {**(after or {}), **details}
        self.service.record(
            self.actor,
            action,
            action.split(".", 1)[0],
            str(resource_id),
            before=before,
            after=after,
            request_id=self.request_id,
        )

    def grant_owner(self, kind: str, resource_id: str) -> None:
        """Give the caller MANAGE on what it just created."""
        if self.access.enabled:
            self.service.grant_owner(self.actor, kind, resource_id)

    @contextmanager
    def refusals_recorded(self, target: str) -> Iterator[None]:
        """Record a write the domain refuses (a rule beyond the route's policy) as
        ``access.denied``, then let the 403 go."""
        try:
            yield
        except PermissionDenied:
            self.record_denial(target)
            raise

    def record_denial(self, target: str) -> None:
        """Audit a refused write (``access.denied``); refused reads are not recorded."""
        if self.policy.action is Action.READ:
            return
        self.service.record(
            self.actor,
            "access.denied",
            self.policy.resource,
            target,
            after={"action": self.policy.action.value},
            request_id=self.request_id,
        )


def request_id(request: Request) -> str:
    """The id the request-id middleware assigned (a fresh one outside it)."""
    found = getattr(request.state, "request_id", None)
    return found if isinstance(found, str) else new_id()


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else ""


def authenticate(request: Request, access: AccessControl) -> Actor:
    """The actor behind a request: ``anonymous`` with auth off, else from its credentials.

    Worked out once per request and kept on ``request.state``: the idempotency
    layer authenticates before a replay, and the guard then reuses the answer.
    """
    known = getattr(request.state, "actor", None)
    if isinstance(known, Actor):
        return known
    actor = _authenticate(request, access)
    request.state.actor = actor
    return actor


def _authenticate(request: Request, access: AccessControl) -> Actor:
    address = client_address(request)
    if not access.enabled:
        return dataclasses.replace(ANONYMOUS, client_addr=address)
    header = request.headers.get("authorization", "")
    return authenticate_header(access.service, header, address, request_id(request))


class Guard:
    """The dependency behind :func:`guard`; holds the route's policy for the registry."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def __repr__(self) -> str:
        return f"Guard({self.policy.resource!r}, {self.policy.action.value!r})"

    async def __call__(self, request: Request) -> RequestContext:
        access = request.app.state.access
        assert isinstance(access, AccessControl)
        if not access.enabled:  # nothing to look up: no thread hop
            return self.admit(request, access)
        return await run_in_threadpool(self.admit, request, access)

    def admit(self, request: Request, access: AccessControl) -> RequestContext:
        """Authenticate, and refuse what the actor's role or scope can never do."""
        actor = authenticate(request, access)
        ctx = RequestContext(request_id(request), actor, self.policy, access)
        needed = self.policy.action.permission
        in_reach = self.policy.resource in SERVICE_KINDS or ceiling(actor).covers(needed)
        if access.enabled and not in_reach:
            ctx.record_denial(self.policy.resource)
            how = f"a {actor.scope.value!r} token" if actor.scope is not None else "its role"
            raise PermissionDenied(
                f"{actor.name!r} ({actor.role.value}) may not {self.policy.action.value} "
                f"{self.policy.resource}s: {how} does not allow it"
            )
        return ctx


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
