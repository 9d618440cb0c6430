"""Continuous-training policies over HTTP: ``/api/loopml/v1/policies/...``.

Grants live on the policy (kind ``policy``; its creator manages it). A policy
names code the server imports and runs and moves a registered model's alias,
so making one needs edit on the new policy and on that registered model.
Pausing, resuming and a manual run need edit; deleting needs manage. A
manual run is started here and advanced in the background, as the server's
scheduler would; ``GET .../runs`` follows it. Every change is audited by the
policy store.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, with_config
from starlette.responses import Response
from typing_extensions import TypedDict

from loopml.automation import Policy, PolicyRunner, PolicyScheduler, PolicyStore
from loopml.automation.client import PoliciesClient
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.openapi import body_doc
from loopml.server.wire import STRICT, empty_response, json_body, json_response

PREFIX = "/api/loopml/v1"
router = APIRouter(tags=["Policies"])

Reader = Annotated[RequestContext, guard("policy", Action.READ)]
Editor = Annotated[RequestContext, guard("policy", Action.EDIT)]
Manager = Annotated[RequestContext, guard("policy", Action.MANAGE)]

POLICY_BODY = TypeAdapter(dict[str, Any])


@with_config(STRICT)
class EnabledBody(TypedDict):
    enabled: bool


SET_ENABLED = TypeAdapter(EnabledBody)


def shared_runner(app: Any) -> PolicyRunner:
    """The server's policy runner, made once: it acts as the server, with the whole
    platform (registry, data, endpoints) on the server's own store."""
    runner = getattr(app.state, "policy_runner", None)
    if runner is None:
        from loopml.auth import local_actor
        from loopml.client import Client
        from loopml.serving.endpoints import EndpointsClient

        db = app.state.registry_store.db
        client = Client(settings=app.state.settings)
        endpoints = EndpointsClient(db, local_actor(), registry=client.registry)
        runner = PolicyRunner(PolicyStore(db), client, endpoints, local_actor())
        app.state.policy_runner = runner
    return runner


def policies_client(request: Request, ctx: RequestContext) -> PoliciesClient:
    """Policies acting as the caller; runs advance with the server's runner."""
    runner = replace(shared_runner(request.app), actor=ctx.actor)
    return PoliciesClient(runner.store, PolicyScheduler(runner), ctx.actor, ctx.request_id)


@router.get("/policies")
def list_policies(ctx: Reader, request: Request) -> Response:
    found = [
        p for p in PolicyStore(request.app.state.registry_store.db).list() if ctx.may(p.policy.name)
    ]
    return json_response({"policies": [p.to_dict() for p in found]})


@router.post("/policies", openapi_extra=body_doc(POLICY_BODY))
def create_policy(
    ctx: Editor, request: Request, body: Annotated[dict[str, Any], json_body(POLICY_BODY)]
) -> Response:
    policy = Policy.from_dict(body)
    ctx.authorize(policy.name)
    ctx.authorize(policy.model, Action.EDIT, kind="registered_model")
    made = policies_client(request, ctx).create(policy)
    return json_response({"policy": made.to_dict()})


@router.get("/policies/{name}")
def get_policy(ctx: Reader, request: Request, name: str) -> Response:
    ctx.authorize(name)
    found = PolicyStore(request.app.state.registry_store.db).get(name)
    return json_response({"policy": found.to_dict()})


@router.put("/policies/{name}/enabled", openapi_extra=body_doc(SET_ENABLED))
def set_enabled(
    ctx: Editor, request: Request, name: str, body: Annotated[EnabledBody, json_body(SET_ENABLED)]
) -> Response:
    """Pause (``false``: no new runs; runs in flight go on) or resume (``true``)."""
    ctx.authorize(name)
    done = policies_client(request, ctx).set_enabled(name, body["enabled"])
    return json_response({"policy": done.to_dict()})


@router.delete("/policies/{name}")
def delete_policy(ctx: Manager, request: Request, name: str) -> Response:
    ctx.authorize(name)
    policies_client(request, ctx).delete(name)
    return empty_response()


@router.post("/policies/{name}/runs")
def run_policy(ctx: Editor, request: Request, name: str) -> Response:
    """Start a run now (past the cooldown, never past the limit on runs in flight)."""
    ctx.authorize(name)
    client = policies_client(request, ctx)
    client.store.get(name)
    run = client.store.start_run(name, {"reason": "manual"}, ctx.actor, force=True)
    if run is None:
        from loopml.core.errors import InvalidState

        raise InvalidState(f"policy {name!r} already has a run in flight")
    threading.Thread(
        target=client.scheduler.advance, args=(run,), name=f"policy-run-{run.run_id}", daemon=True
    ).start()
    return json_response({"run": run.to_dict()})


@router.get("/policies/{name}/runs")
def list_runs(ctx: Reader, request: Request, name: str) -> Response:
    """Every run of the policy with its transitions, oldest first."""
    ctx.authorize(name)
    history = policies_client(request, ctx).history(name)
    return json_response({"runs": [h.to_dict() for h in history]})
