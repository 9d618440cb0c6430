"""Monitors over HTTP: ``/api/loopml/v1/monitors/...``.

Grants live on the monitor itself (its creator manages it). Making one also
needs read on what it profiles (the dataset version, or the registered model
and the data its run trained on); running one needs edit; acknowledging an
alert needs edit. Every change is audited by the monitoring store.
"""

from __future__ import annotations

from typing import Annotated, Any, Required

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, with_config
from starlette.responses import HTMLResponse, Response
from typing_extensions import TypedDict

from loopml.monitoring.alerts import AlertRule
from loopml.monitoring.monitors import MonitorStore
from loopml.monitoring.runner import MonitorsClient, training_data
from loopml.registry.sources import parse_models_uri
from loopml.server.data_api import data_client
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.mlflow_registry import registry_client
from loopml.server.openapi import body_doc
from loopml.server.platform import Platform
from loopml.server.state import Tracking
from loopml.server.wire import STRICT, empty_response, json_body, json_response

PREFIX = "/api/loopml/v1"
router = APIRouter(tags=["Monitoring"])

Reader = Annotated[RequestContext, guard("monitor", Action.READ)]
Editor = Annotated[RequestContext, guard("monitor", Action.EDIT)]
Manager = Annotated[RequestContext, guard("monitor", Action.MANAGE)]


@with_config(STRICT)
class RuleBody(TypedDict, total=False):
    name: Required[str]
    metric: Required[str]
    op: Required[str]
    threshold: Required[float]
    for_windows: int
    cooldown_s: float
    severity: str


@with_config(STRICT)
class CreateMonitorBody(TypedDict, total=False):
    name: Required[str]
    endpoint: Required[str]
    reference: Required[str]
    window: str
    schedule: str
    task: str
    segments: list[str]
    alerts: list[RuleBody]
    webhooks: list[str]
    batch: bool


CREATE_MONITOR = TypeAdapter(CreateMonitorBody)


def monitors_client(request: Request, ctx: RequestContext, tracking: Any) -> MonitorsClient:
    """Monitors acting as the caller; references are read with the caller's permissions."""
    store = MonitorStore(request.app.state.registry_store.db)
    platform = Platform(
        tracking, registry_client(request, ctx, tracking), data_client(request, ctx)
    )
    return MonitorsClient(store, tracking.artifacts, ctx.actor, platform, request_id=ctx.request_id)


def _authorize_reference(ctx: RequestContext, client: MonitorsClient, reference: str) -> None:
    """The caller must be able to read what the monitor profiles."""
    if reference.startswith("models:/"):
        ctx.authorize(parse_models_uri(reference)[0], Action.READ, kind="registered_model")
        reference = training_data(client.client, reference)
    if reference.startswith("data:"):
        name = reference.removeprefix("data:").split("@", 1)[0]
        ctx.authorize(name, Action.READ, kind="dataset")


@router.get("/monitors")
def list_monitors(ctx: Reader, request: Request, tracking: Tracking) -> Response:
    """The monitors the caller may read."""
    client = monitors_client(request, ctx, tracking)
    found = [m for m in client.store.list() if ctx.may(m.name)]
    return json_response({"monitors": [m.to_dict() for m in found]})


@router.post("/monitors", openapi_extra=body_doc(CREATE_MONITOR))
def create_monitor(
    ctx: Editor,
    request: Request,
    body: Annotated[CreateMonitorBody, json_body(CREATE_MONITOR)],
    tracking: Tracking,
) -> Response:
    ctx.authorize(body["name"])
    client = monitors_client(request, ctx, tracking)
    _authorize_reference(ctx, client, body["reference"])
    made = client.create(
        body["name"],
        body["endpoint"],
        body["reference"],
        window=body.get("window", "1h"),
        schedule=body.get("schedule"),
        task=body.get("task"),
        segments=tuple(body.get("segments", [])),
        alerts=tuple(AlertRule(**rule) for rule in body.get("alerts", [])),
        webhooks=tuple(body.get("webhooks", [])),
        batch=body.get("batch", False),
    )
    return json_response({"monitor": made.to_dict()})


@router.get("/monitors/{name}")
def get_monitor(ctx: Reader, request: Request, name: str, tracking: Tracking) -> Response:
    ctx.authorize(name)
    client = monitors_client(request, ctx, tracking)
    return json_response({"monitor": client.store.get(name).to_dict()})


@router.delete("/monitors/{name}")
def delete_monitor(ctx: Manager, request: Request, name: str, tracking: Tracking) -> Response:
    ctx.authorize(name)
    monitors_client(request, ctx, tracking).delete(name)
    return empty_response()


@router.post("/monitors/{name}/runs")
def run_monitor(ctx: Editor, request: Request, name: str, tracking: Tracking) -> Response:
    """Run the monitor on the window that ends now."""
    ctx.authorize(name)
    checked = monitors_client(request, ctx, tracking).run(name)
    return json_response({"run": checked.run.to_dict()})


@router.get("/monitors/{name}/runs")
def list_runs(ctx: Reader, request: Request, name: str, tracking: Tracking) -> Response:
    ctx.authorize(name)
    runs = monitors_client(request, ctx, tracking).store.runs(name)
    return json_response({"runs": [r.to_dict() for r in runs]})


@router.get("/monitors/{name}/report")
def get_report(
    ctx: Reader, request: Request, name: str, tracking: Tracking, run_id: str | None = None
) -> Response:
    """A run's HTML report (default: the latest run's), with the monitor's history."""
    ctx.authorize(name)
    return HTMLResponse(monitors_client(request, ctx, tracking).report(name, run_id))


@router.get("/monitors/{name}/alerts")
def list_alerts(ctx: Reader, request: Request, name: str, tracking: Tracking) -> Response:
    ctx.authorize(name)
    found = monitors_client(request, ctx, tracking).alerts(name)
    return json_response({"alerts": [a.to_dict() for a in found]})


@router.post("/monitors/{name}/alerts/{alert_id}/ack")
def acknowledge_alert(
    ctx: Editor, request: Request, name: str, alert_id: str, tracking: Tracking
) -> Response:
    """Acknowledge a firing alert of this monitor: no notifications until it resolves."""
    ctx.authorize(name)
    done = monitors_client(request, ctx, tracking).acknowledge(alert_id, name)
    return json_response({"alert": done.to_dict()})
