"""Pipeline schedules over HTTP: the server's ``/api/loopml/v1/pipelines/schedules``."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from loopml.core.http import ServerConnection
from loopml.pipelines.schedules import Schedule

API = "/api/loopml/v1/pipelines/schedules"


class RestSchedules(ServerConnection):
    """The server's schedules, with :class:`~loopml.pipelines.schedules.ScheduleStore`'s verbs."""

    def _call(self, method: str, path: str = "", body: Any = None) -> Any:
        return self.send_json(method, API + path, body)

    def create(self, schedule: Schedule) -> Schedule:
        body = schedule.to_dict()
        for key in ("enabled", "created_ms", "created_by"):
            body.pop(key)
        if body["cron"] is None:
            body.pop("cron")
        return Schedule.from_dict(self._call("POST", "", body)["schedule"])

    def get(self, name: str) -> Schedule:
        return Schedule.from_dict(self._call("GET", f"/{quote(name, safe='')}")["schedule"])

    def list(self) -> builtins.list[Schedule]:
        return [Schedule.from_dict(s) for s in self._call("GET")["schedules"]]

    def set_enabled(self, name: str, enabled: bool) -> Schedule:
        path = f"/{quote(name, safe='')}/enabled"
        return Schedule.from_dict(self._call("PUT", path, {"enabled": enabled})["schedule"])

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/{quote(name, safe='')}")
