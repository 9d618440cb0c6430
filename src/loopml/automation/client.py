"""What ``loopml policies`` and the policies API call: one surface, embedded or remote.

``PoliciesClient`` works on the metadata store directly, acting as one actor;
a manual run is advanced right here until it waits on the world (canary
traffic, an approval) — later ticks of a server's scheduler, or another
``loopml policies run``, carry it on. :class:`~loopml.automation._rest.RestPolicies`
has the same methods over HTTP.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

from loopml.auth import Actor
from loopml.automation.policies import Policy
from loopml.automation.scheduler import PolicyScheduler
from loopml.automation.store import PolicyRecord, PolicyRun, PolicyStore, Transition


@dataclass(frozen=True)
class RunHistory:
    run: PolicyRun
    transitions: list[Transition]

    def to_dict(self) -> dict[str, Any]:
        return {**self.run.to_dict(), "transitions": [t.to_dict() for t in self.transitions]}


@dataclass
class PoliciesClient:
    store: PolicyStore
    scheduler: PolicyScheduler
    actor: Actor
    request_id: str = ""

    def create(self, policy: Policy) -> PolicyRecord:
        return self.store.create(policy, self.actor, self.request_id)

    def get(self, name: str) -> PolicyRecord:
        return self.store.get(name)

    def list(self) -> builtins.list[PolicyRecord]:
        return self.store.list()

    def set_enabled(self, name: str, enabled: bool) -> PolicyRecord:
        self.store.set_enabled(name, enabled, self.actor, self.request_id)
        return self.store.get(name)

    def delete(self, name: str) -> None:
        self.store.delete(name, self.actor, self.request_id)

    def run(self, name: str) -> PolicyRun:
        """A manual run, advanced as far as it goes now (past the cooldown, not the limit)."""
        self.store.get(name)
        return self.scheduler.trigger(name)

    def history(self, name: str) -> builtins.list[RunHistory]:
        self.store.get(name)
        return [
            RunHistory(run, self.store.transitions(run.run_id)) for run in self.store.runs(name)
        ]
