"""Policies over HTTP: the server's ``/api/loopml/v1/policies``, as ``PoliciesClient`` offers."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from loopml.automation.client import RunHistory
from loopml.automation.policies import Policy
from loopml.automation.store import PolicyRecord, PolicyRun, Transition
from loopml.core.http import ServerConnection

API = "/api/loopml/v1/policies"


def _record(raw: dict[str, Any]) -> PolicyRecord:
    extra = {key: raw.pop(key) for key in ("enabled", "created_ms", "created_by")}
    return PolicyRecord(Policy.from_dict(raw), **extra)


def _run(raw: dict[str, Any]) -> PolicyRun:
    raw.pop("transitions", None)
    return PolicyRun(**raw)


class RestPolicies(ServerConnection):
    """Policies on the server at ``base_url``, as the caller's credentials allow."""

    def _call(self, method: str, path: str = "", body: Any = None) -> Any:
        return self.send_json(method, API + path, body)

    def create(self, policy: Policy) -> PolicyRecord:
        return _record(self._call("POST", "", policy.to_dict())["policy"])

    def get(self, name: str) -> PolicyRecord:
        return _record(self._call("GET", f"/{quote(name, safe='')}")["policy"])

    def list(self) -> builtins.list[PolicyRecord]:
        return [_record(p) for p in self._call("GET")["policies"]]

    def set_enabled(self, name: str, enabled: bool) -> PolicyRecord:
        body = {"enabled": enabled}
        return _record(self._call("PUT", f"/{quote(name, safe='')}/enabled", body)["policy"])

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/{quote(name, safe='')}")

    def run(self, name: str) -> PolicyRun:
        """Start a run on the server; it goes on there (``history`` follows it)."""
        return _run(self._call("POST", f"/{quote(name, safe='')}/runs")["run"])

    def history(self, name: str) -> builtins.list[RunHistory]:
        found = self._call("GET", f"/{quote(name, safe='')}/runs")["runs"]
        return [
            RunHistory(_run(dict(r)), [Transition(**t) for t in r["transitions"]]) for r in found
        ]
