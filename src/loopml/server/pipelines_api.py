"""Pipeline schedules over HTTP: ``/api/loopml/v1/pipelines/schedules/...``.

Grants live on the schedule itself (kind ``pipeline``; its creator manages
it). A schedule names code the server will import and run, so making one
needs edit permission (the default for readers is read only), pausing and
resuming need edit, deleting needs manage. Every change is audited by the
schedule store.
"""

from __future__ import annotations

from typing import Annotated, Any, Required

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, with_config
from starlette.responses import Response
from typing_extensions import TypedDict

from loopml.pipelines.schedules import Schedule, ScheduleStore, Trigger
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.openapi import body_doc
from loopml.server.wire import STRICT, empty_response, json_body, json_response

PREFIX = "/api/loopml/v1"
router = APIRouter(tags=["Pipelines"])

Reader = Annotated[RequestContext, guard("pipeline", Action.READ)]
Editor = Annotated[RequestContext, guard("pipeline", Action.EDIT)]
Manager = Annotated[RequestContext, guard("pipeline", Action.MANAGE)]


@with_config(STRICT)
class CreateScheduleBody(TypedDict, total=False):
    name: Required[str]
    target: Required[str]
    cron: str
    triggers: list[str]
    params: dict[str, Any]
    executor: str


@with_config(STRICT)
class EnabledBody(TypedDict):
    enabled: bool


CREATE_SCHEDULE = TypeAdapter(CreateScheduleBody)
SET_ENABLED = TypeAdapter(EnabledBody)


def _store(request: Request) -> ScheduleStore:
    return ScheduleStore(request.app.state.registry_store.db)


@router.get("/pipelines/schedules")
def list_schedules(ctx: Reader, request: Request) -> Response:
    """The schedules the caller may read."""
    found = [s for s in _store(request).list() if ctx.may(s.name)]
    return json_response({"schedules": [s.to_dict() for s in found]})


@router.post("/pipelines/schedules", openapi_extra=body_doc(CREATE_SCHEDULE))
def create_schedule(
    ctx: Editor,
    request: Request,
    body: Annotated[CreateScheduleBody, json_body(CREATE_SCHEDULE)],
) -> Response:
    ctx.authorize(body["name"])
    schedule = Schedule(
        name=body["name"],
        target=body["target"],
        cron=body.get("cron"),
        triggers=tuple(Trigger.parse(t) for t in body.get("triggers", [])),
        params=body.get("params", {}),
        executor=body.get("executor", "process"),
    )
    made = _store(request).create(schedule, ctx.actor, ctx.request_id)
    return json_response({"schedule": made.to_dict()})


@router.get("/pipelines/schedules/{name}")
def get_schedule(ctx: Reader, request: Request, name: str) -> Response:
    ctx.authorize(name)
    return json_response({"schedule": _store(request).get(name).to_dict()})


@router.put("/pipelines/schedules/{name}/enabled", openapi_extra=body_doc(SET_ENABLED))
def set_enabled(
    ctx: Editor,
    request: Request,
    name: str,
    body: Annotated[EnabledBody, json_body(SET_ENABLED)],
) -> Response:
    """Pause (``false``) or resume (``true``) a schedule."""
    ctx.authorize(name)
    done = _store(request).set_enabled(name, body["enabled"], ctx.actor, ctx.request_id)
    return json_response({"schedule": done.to_dict()})


@router.delete("/pipelines/schedules/{name}")
def delete_schedule(ctx: Manager, request: Request, name: str) -> Response:
    ctx.authorize(name)
    _store(request).delete(name, ctx.actor, ctx.request_id)
    return empty_response()
