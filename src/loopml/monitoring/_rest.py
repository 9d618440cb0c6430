"""Monitors over HTTP: the server's ``/api/loopml/v1/monitors`` with ``MonitorsClient``'s methods.

The server profiles references, runs monitors, checks permissions and audits;
this client only carries requests and turns answers back into entities.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from loopml.core.errors import LoopmlError
from loopml.core.http import ServerConnection
from loopml.monitoring.alerts import Alert, AlertRule
from loopml.monitoring.monitors import Monitor, MonitorRun
from loopml.monitoring.runner import Checked

API = "/api/loopml/v1/monitors"


def _segment(value: str) -> str:
    return quote(value, safe="")


class RestMonitors(ServerConnection):
    """Monitors on the server at ``base_url``, as the caller's credentials allow."""

    def _call(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        return self.send_json(method, API + path, body, params)

    def create(
        self,
        name: str,
        endpoint: str,
        reference: Any,
        *,
        window: str = "1h",
        schedule: str | None = None,
        task: str | None = None,
        segments: tuple[str, ...] = (),
        alerts: tuple[AlertRule, ...] = (),
        webhooks: tuple[str, ...] = (),
        batch: bool = False,
    ) -> Monitor:
        if not isinstance(reference, str):
            raise LoopmlError("a remote monitor's reference is a data: or models:/ reference")
        body: dict[str, Any] = {
            "name": name,
            "endpoint": endpoint,
            "reference": reference,
            "window": window,
            "segments": list(segments),
            "alerts": [_rule(rule) for rule in alerts],
            "webhooks": list(webhooks),
            "batch": batch,
        }
        if schedule is not None:
            body["schedule"] = schedule
        if task is not None:
            body["task"] = task
        return Monitor(**self._call("POST", "", body)["monitor"])

    def get(self, name: str) -> Monitor:
        return Monitor(**self._call("GET", f"/{_segment(name)}")["monitor"])

    def list(self) -> builtins.list[Monitor]:
        return [Monitor(**m) for m in self._call("GET", "")["monitors"]]

    def runs(self, name: str, limit: int = 100) -> builtins.list[MonitorRun]:
        found = [MonitorRun(**r) for r in self._call("GET", f"/{_segment(name)}/runs")["runs"]]
        return found[-limit:]

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/{_segment(name)}")

    def run(self, name: str) -> Checked:
        """Run on the server; the comparison object stays there (the run holds its values)."""
        return Checked(MonitorRun(**self._call("POST", f"/{_segment(name)}/runs")["run"]), None)

    def report(self, name: str, run_id: str | None = None) -> str:
        params = {"run_id": run_id} if run_id else None
        return self.send("GET", f"{API}/{_segment(name)}/report", params=params).text

    def alerts(self, name: str, state: str | None = None) -> builtins.list[Alert]:
        found = [Alert(**a) for a in self._call("GET", f"/{_segment(name)}/alerts")["alerts"]]
        return [a for a in found if state is None or a.state == state]

    def acknowledge(self, alert_id: str, monitor: str | None = None) -> Alert:
        if monitor is None:
            raise LoopmlError("acknowledging on a server needs the monitor's name")
        path = f"/{_segment(monitor)}/alerts/{_segment(alert_id)}/ack"
        return Alert(**self._call("POST", path)["alert"])


def _rule(rule: AlertRule) -> dict[str, Any]:
    found = asdict(rule)
    found.pop("labels", None)  # the API takes the rule's own fields
    return found
