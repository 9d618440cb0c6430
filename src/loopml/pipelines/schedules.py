"""Pipeline schedules: when the server runs a pipeline by itself.

A schedule names an importable pipeline (``package.module:function``), its
parameters, and when to run it: a cron string, event triggers, or both. The
triggers are a new version of a dataset (``dataset:NAME``) and an alert that
fires on a monitor (``alert:MONITOR`` or ``alert:MONITOR/RULE``). The server's
scheduler (:mod:`loopml.pipelines.triggers`) runs them; creating, pausing,
resuming and deleting a schedule is audited, and its creator manages it
(grants of kind ``pipeline``).

The target is code the server imports and runs: only callers who may create
schedules can name one, and it must be importable on the server, as with a
Prefect deployment. A file path is refused here: a server must not import a
file a client names.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, insert, select, update

from loopml.auth import Actor, AuthService
from loopml.core.clock import now_ms
from loopml.core.cron import check_cron
from loopml.core.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from loopml.store.database import Database
from loopml.store.tables import pipeline_schedules

KIND = "pipeline"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_TRIGGER = re.compile(r"(dataset|alert):([A-Za-z0-9][A-Za-z0-9_.-]{0,127})(?:/([^/\s]{1,128}))?")
EXECUTORS = ("inline", "process", "ray")


@dataclass(frozen=True)
class Trigger:
    """An event that runs the pipeline: ``dataset:NAME``, ``alert:MONITOR[/RULE]``."""

    on: str  # "dataset" or "alert"
    name: str  # the dataset, or the monitor
    rule: str | None = None  # alerts only: one rule of the monitor (None: any)

    @classmethod
    def parse(cls, text: str) -> Trigger:
        found = _TRIGGER.fullmatch(text.strip()) if isinstance(text, str) else None
        if found is None or (found[1] == "dataset" and found[3]):
            raise InvalidParameter(
                f"trigger {text!r} must look like dataset:NAME, alert:MONITOR or alert:MONITOR/RULE"
            )
        return cls(found[1], found[2], found[3])

    def __str__(self) -> str:
        return f"{self.on}:{self.name}" + (f"/{self.rule}" if self.rule else "")


@dataclass(frozen=True)
class Schedule:
    name: str
    target: str
    cron: str | None = None
    triggers: tuple[Trigger, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    executor: str = "process"
    enabled: bool = True
    created_ms: int = 0
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "target": self.target,
            "cron": self.cron,
            "triggers": [str(t) for t in self.triggers],
            "params": self.params,
            "executor": self.executor,
            "enabled": self.enabled,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Schedule:
        return cls(
            name=raw["name"],
            target=raw["target"],
            cron=raw.get("cron"),
            triggers=tuple(Trigger.parse(t) for t in raw.get("triggers", ())),
            params=dict(raw.get("params") or {}),
            executor=raw.get("executor", "process"),
            enabled=bool(raw.get("enabled", True)),
            created_ms=int(raw.get("created_ms", 0)),
            created_by=raw.get("created_by", ""),
        )


def check_schedule(schedule: Schedule) -> Schedule:
    """The schedule, or an error naming its first bad field."""
    if not isinstance(schedule.name, str) or _NAME.fullmatch(schedule.name) is None:
        raise InvalidParameter(
            f"schedule name {schedule.name!r} must be 1-128 letters, digits, '_', '.' or '-'"
        )
    if not isinstance(schedule.target, str) or _TARGET.fullmatch(schedule.target) is None:
        raise InvalidParameter(
            f"target {schedule.target!r} must be an importable package.module:function "
            "(the server imports it; file paths are refused)"
        )
    check_cron(schedule.cron, "cron")
    if schedule.cron is None and not schedule.triggers:
        raise InvalidParameter("a schedule needs a cron string, a trigger, or both")
    if schedule.executor not in EXECUTORS:
        raise InvalidParameter(
            f"executor {schedule.executor!r} is not one of {', '.join(EXECUTORS)}"
        )
    try:
        json.dumps(schedule.params, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidParameter(f"params must be JSON values: {error}") from None
    return schedule


def _row(schedule: Schedule, at: int) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "target": schedule.target,
        "cron": schedule.cron,
        "triggers": json.dumps([str(t) for t in schedule.triggers]),
        "params": json.dumps(schedule.params),
        "settings": json.dumps({"executor": schedule.executor}),
        "enabled": schedule.enabled,
        "created_ms": schedule.created_ms,
        "created_by": schedule.created_by,
        "updated_ms": at,
    }


def _schedule(row: Mapping[Any, Any]) -> Schedule:
    settings = json.loads(row["settings"])
    return Schedule(
        name=row["name"],
        target=row["target"],
        cron=row["cron"],
        triggers=tuple(Trigger.parse(t) for t in json.loads(row["triggers"])),
        params=json.loads(row["params"]),
        executor=settings.get("executor", "process"),
        enabled=bool(row["enabled"]),
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
    )


class ScheduleStore:
    """Schedules in the metadata database; each change committed with its audit event."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.auth = AuthService(db)

    def create(self, schedule: Schedule, actor: Actor, request_id: str = "") -> Schedule:
        made = replace(check_schedule(schedule), created_ms=now_ms(), created_by=actor.name)
        with self.db.write() as conn:
            taken = select(pipeline_schedules.c.name).where(pipeline_schedules.c.name == made.name)
            if conn.execute(taken).first():
                raise ResourceAlreadyExists(f"schedule {made.name!r} already exists")
            conn.execute(insert(pipeline_schedules).values(_row(made, made.created_ms)))
            self.auth.grant_owner(actor, KIND, made.name, conn=conn)
            self.auth.audit.append(
                actor, "pipeline.schedule", KIND, made.name, after=made.to_dict(),
                request_id=request_id, conn=conn,
            )  # fmt: skip
        return made

    def get(self, name: str) -> Schedule:
        with self.db.read() as conn:
            row = (
                conn.execute(select(pipeline_schedules).where(pipeline_schedules.c.name == name))
                .mappings()
                .first()
            )
        if row is None:
            raise ResourceNotFound(f"no pipeline schedule named {name!r}")
        return _schedule(row)

    def list(self) -> builtins.list[Schedule]:
        with self.db.read() as conn:
            rows = conn.execute(select(pipeline_schedules).order_by(pipeline_schedules.c.name))
            return [_schedule(row) for row in rows.mappings()]

    def set_enabled(self, name: str, enabled: bool, actor: Actor, request_id: str = "") -> Schedule:
        """Pause (False) or resume (True) a schedule; audited."""
        with self.db.write() as conn:
            found = conn.execute(
                update(pipeline_schedules)
                .where(pipeline_schedules.c.name == name)
                .values(enabled=enabled, updated_ms=now_ms())
            )
            if found.rowcount == 0:
                raise ResourceNotFound(f"no pipeline schedule named {name!r}")
            self.auth.audit.append(
                actor, "pipeline.resume" if enabled else "pipeline.pause", KIND, name,
                after={"enabled": enabled}, request_id=request_id, conn=conn,
            )  # fmt: skip
        return self.get(name)

    def delete(self, name: str, actor: Actor, request_id: str = "") -> None:
        """Remove the schedule and its claims (a new one of that name starts clean)."""
        from loopml.store.claims import forget

        before = self.get(name)
        with self.db.write() as conn:
            conn.execute(delete(pipeline_schedules).where(pipeline_schedules.c.name == name))
            self.auth.audit.append(
                actor, "pipeline.unschedule", KIND, name, before=before.to_dict(),
                request_id=request_id, conn=conn,
            )  # fmt: skip
        for kind in CLAIM_KINDS:
            forget(self.db, kind, name)


CLAIM_KINDS = ("pipeline", "pipeline-event")
