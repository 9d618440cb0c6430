"""Pipeline schedules over HTTP: the server's ``/api/loopml/v1/pipelines/schedules``."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from loopml.core.errors import LoopmlError
from loopml.core.http import ServerConnection, raise_for_error
from loopml.pipelines.schedules import Schedule

API = "/api/loopml/v1/pipelines/schedules"


class RestSchedules(ServerConnection):
    """The server's schedules, with :class:`~loopml.pipelines.schedules.ScheduleStore`'s verbs."""

    def _call(self, method: str, path: str = "", body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        content = orjson.dumps(body) if body is not None else None
        try:
            response = self.http.request(method, API + path, content=content, headers=headers)
        except httpx.TransportError as error:
            raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
        raise_for_error(response)
        return response.json() if response.content else {}

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
