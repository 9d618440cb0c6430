"""Run scheduled pipelines when their cron fires or their events happen.

Each tick, for every enabled schedule:

- **cron**: the latest tick in (the last claimed due time, or the schedule's
  creation; now] is due. Missed ticks are not replayed one by one.
- **events**: the newest event after the last one handled (or the schedule's
  creation): a new version of a watched dataset, or an alert that started
  firing on a watched monitor (optionally one rule). Several new events
  since the last tick make one run, for the newest.

Before running, the due time (or the event's time) is claimed in the
database (:func:`loopml.store.claims.claim`), so with several server workers
exactly one runs it. The run gets the schedule's parameters and is tagged
with what triggered it. A failing run is logged and recorded by the pipeline
itself; it does not stop the other schedules.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from loopml.core.cron import latest_tick
from loopml.core.ticker import Ticker
from loopml.pipelines.schedules import Schedule, ScheduleStore, Trigger
from loopml.store.claims import claim, last_claimed
from loopml.store.database import Database
from loopml.store.tables import alerts, data_versions

logger = logging.getLogger("loopml.pipelines")

DEFAULT_TICK_S = 10.0
CRON_CLAIM = "pipeline"
EVENT_CLAIM = "pipeline-event"


@dataclass(frozen=True)
class Firing:
    """Why a scheduled run starts: ``schedule`` (cron) or an event, and when it was due."""

    schedule: str
    reason: str  # "cron", "dataset:NAME", "alert:MONITOR[/RULE]"
    due_ms: int
    detail: str = ""  # the dataset version, or the alert's id

    def tags(self) -> dict[str, str]:
        return {
            "loopml.schedule": self.schedule,
            "loopml.schedule.reason": self.reason,
            "loopml.schedule.due_ms": str(self.due_ms),
            **({"loopml.schedule.detail": self.detail} if self.detail else {}),
        }


Launch = Callable[[Schedule, Firing], Any]


class PipelineScheduler:
    """Checks every ``tick_s`` which schedules are due and runs them through ``launch``."""

    def __init__(
        self,
        store: ScheduleStore,
        launch: Launch,
        *,
        tick_s: float = DEFAULT_TICK_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.launch = launch
        self.tick_s = tick_s
        self.clock = clock
        self._ticker = Ticker("loopml-pipeline-scheduler", tick_s, self.run_due, logger)

    def run_due(self) -> list[Firing]:
        """Run every due schedule once; returns what ran (claimed by this worker)."""
        now = int(self.clock() * 1000)
        fired = []
        for schedule in self.store.list():
            if not schedule.enabled:
                continue
            for firing in self._due(schedule, now):
                if not claim(self.store.db, *_claim_key(firing)):
                    continue  # another worker has it
                fired.append(firing)
                try:
                    self.launch(schedule, firing)
                except Exception:
                    logger.exception("scheduled run of pipeline %s failed", schedule.name)
        return fired

    def _due(self, schedule: Schedule, now_ms: int) -> list[Firing]:
        found = []
        if schedule.cron is not None:
            since = last_claimed(self.store.db, CRON_CLAIM, schedule.name)
            tick = latest_tick(schedule.cron, since or schedule.created_ms, now_ms)
            if tick is not None:
                found.append(Firing(schedule.name, "cron", tick))
        if schedule.triggers:
            since = last_claimed(self.store.db, EVENT_CLAIM, schedule.name)
            event = newest_event(
                self.store.db,
                schedule.name,
                schedule.triggers,
                since or schedule.created_ms,
                now_ms,
            )
            if event is not None:
                found.append(event)
        return found

    def start(self) -> PipelineScheduler:
        self._ticker.start()
        return self

    def close(self) -> None:
        self._ticker.close()


def newest_event(
    db: Database, name: str, triggers: Sequence[Trigger], since_ms: int, now_ms: int
) -> Firing | None:
    """The newest event in (since, now] among ``triggers`` (a dataset version, an alert)."""
    events = [
        event
        for trigger in triggers
        if (event := _event(db, name, trigger, since_ms, now_ms)) is not None
    ]
    return max(events, key=lambda e: e.due_ms, default=None)


def _event(db: Database, name: str, trigger: Trigger, since_ms: int, now_ms: int) -> Firing | None:
    with db.read() as conn:
        if trigger.on == "dataset":
            row = conn.execute(
                select(data_versions.c.version, data_versions.c.created_ms)
                .where(
                    data_versions.c.name == trigger.name,
                    data_versions.c.created_ms > since_ms,
                    data_versions.c.created_ms <= now_ms,
                )
                .order_by(data_versions.c.created_ms.desc(), data_versions.c.version.desc())
                .limit(1)
            ).first()
            if row is None:
                return None
            detail = f"{trigger.name}@{row.version}"
            return Firing(name, str(trigger), int(row.created_ms), detail)
        return _alert_event(conn, name, trigger, since_ms, now_ms)


def _alert_event(
    conn: Any, name: str, trigger: Trigger, since_ms: int, now_ms: int
) -> Firing | None:
    """The newest alert of the monitor (and rule) that started firing in (since, now]."""
    rows = conn.execute(
        select(alerts.c.alert)
        .where(alerts.c.monitor == trigger.name, alerts.c.updated_ms > since_ms)
        .order_by(alerts.c.updated_ms.desc())
    )
    newest: Firing | None = None
    for (raw,) in rows:
        alert = json.loads(raw)
        started = int(alert.get("started_ms", 0))
        if trigger.rule is not None and alert.get("rule") != trigger.rule:
            continue
        if not since_ms < started <= now_ms:
            continue
        if newest is None or started > newest.due_ms:
            newest = Firing(name, str(trigger), started, str(alert.get("alert_id", "")))
    return newest


def run_scheduled(client: Any) -> Launch:
    """Launch a schedule's pipeline with ``client`` (the server's tracking client)."""

    def launch(schedule: Schedule, firing: Firing) -> Any:
        from loopml.pipelines.targets import load_target

        pipeline = load_target(schedule.target)
        logger.info("running pipeline %s (%s)", schedule.name, firing.reason)
        return pipeline.run(
            schedule.params,
            executor=schedule.executor,
            client=client,
            target=schedule.target,
            tags=firing.tags(),
        )

    return launch


def _claim_key(firing: Firing) -> tuple[str, str, int]:
    kind = CRON_CLAIM if firing.reason == "cron" else EVENT_CLAIM
    return kind, firing.schedule, firing.due_ms
