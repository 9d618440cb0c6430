"""The server's policy loop: start runs when triggers fire, then move runs along.

Each tick:

1. For every enabled policy, the newest trigger since the last one handled:
   a cron tick, a new dataset version, an alert on a watched monitor. The
   trigger is claimed in the database (one worker wins), then the store starts
   a run unless one is in flight or the cooldown has not passed, inside one
   transaction with the policy's row locked: triggers that arrive together
   start one run.
2. Every run in flight is leased (one worker at a time; a lease that a dead
   worker left expires) and advanced until it waits on the world: canary
   traffic, a human approval. A server that restarts finds the runs where
   they stopped and goes on.

``trigger(name)`` is the manual ``loopml policies run``: a run at once, past
the cooldown, never past the limit on runs in flight.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from loopml.automation.policies import parse_trigger
from loopml.automation.runner import PolicyRunner
from loopml.automation.store import PolicyRecord, PolicyRun, PolicyStore
from loopml.core.cron import latest_tick
from loopml.core.errors import InvalidState
from loopml.core.ids import new_id
from loopml.core.ticker import Ticker
from loopml.store.claims import claim, last_claimed, worker_name

logger = logging.getLogger("loopml.automation")

DEFAULT_TICK_S = 10.0
DEFAULT_LEASE_S = 600.0
CRON_CLAIM = "policy"
EVENT_CLAIM = "policy-event"


class PolicyScheduler:
    """Starts policy runs on their triggers and advances runs in flight."""

    def __init__(
        self,
        runner: PolicyRunner,
        *,
        tick_s: float = DEFAULT_TICK_S,
        lease_s: float = DEFAULT_LEASE_S,
        clock: Callable[[], float] = time.time,
        owner: str | None = None,
    ) -> None:
        self.runner = runner
        self.tick_s = tick_s
        self.lease_s = lease_s
        self.clock = clock
        # unique per scheduler, so two in one process (threads, tests) never share a lease
        self.owner = owner or f"{worker_name()}:{new_id()[:8]}"
        self._ticker = Ticker("loopml-policy-scheduler", tick_s, self.run_due, logger)

    @property
    def store(self) -> PolicyStore:
        return self.runner.store

    def run_due(self) -> list[PolicyRun]:
        """Start what triggered, advance what is in flight; returns the runs this tick touched."""
        started = [run for record in self.store.list() if (run := self._triggered(record))]
        touched = {run.run_id: run for run in started}
        for run in self.store.runs(active=True):
            touched[run.run_id] = self.advance(run)
        return list(touched.values())

    def trigger(self, name: str, *, reason: str = "manual") -> PolicyRun:
        """Start a run now (the cooldown does not apply) and advance it as far as it goes."""
        run = self.store.start_run(name, {"reason": reason}, self.runner.actor, force=True)
        if run is None:
            raise InvalidState(f"policy {name!r} already has a run in flight")
        return self.advance(run)

    def advance(self, run: PolicyRun) -> PolicyRun:
        """Advance one run under a lease, so no other worker moves it meanwhile."""
        if not self.store.lease(run.run_id, self.owner, self.lease_s):
            return run  # another worker holds it
        try:
            return self.runner.run_to_rest(self.store.get_run(run.run_id))
        finally:
            self.store.release(run.run_id, self.owner)

    def _triggered(self, record: PolicyRecord) -> PolicyRun | None:
        if not record.enabled:
            return None
        policy = record.policy
        now = int(self.clock() * 1000)
        for kind, trigger in self._due(record, now):
            if not claim(
                self.store.db, kind, policy.name, trigger["due_ms"], claimed_by=self.owner
            ):
                continue  # another worker has this one
            run = self.store.start_run(policy.name, trigger, self.runner.actor)
            if run is not None:
                return run
            logger.info(
                "policy %s: %s ignored (run in flight or cooling down)", policy.name, trigger
            )
        return None

    def _due(self, record: PolicyRecord, now_ms: int) -> list[tuple[str, dict[str, Any]]]:
        from loopml.pipelines.schedules import Trigger
        from loopml.pipelines.triggers import newest_event

        policy = record.policy
        found: list[tuple[str, dict[str, Any]]] = []
        parsed = [parse_trigger(text) for text in policy.triggers]
        since = last_claimed(self.store.db, CRON_CLAIM, policy.name) or record.created_ms
        for kind, rest in parsed:
            if kind == "cron" and (tick := latest_tick(rest, since, now_ms)) is not None:
                found.append((CRON_CLAIM, {"reason": f"cron:{rest}", "due_ms": tick}))
        events = [Trigger.parse(f"{kind}:{rest}") for kind, rest in parsed if kind != "cron"]
        if events:
            since = last_claimed(self.store.db, EVENT_CLAIM, policy.name) or record.created_ms
            event = newest_event(self.store.db, policy.name, events, since, now_ms)
            if event is not None:
                trigger = {"reason": event.reason, "due_ms": event.due_ms, "detail": event.detail}
                found.append((EVENT_CLAIM, trigger))
        return found

    def start(self) -> PolicyScheduler:
        self._ticker.start()
        return self

    def close(self) -> None:
        self._ticker.close()
