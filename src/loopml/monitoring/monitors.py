"""Monitors: an endpoint's prediction log compared with a reference, window by window.

A monitor binds an endpoint to a reference profile (computed once when the
monitor is made, from a dataset version or a frame, and kept in the artifact
store: Evidently recomputes it every run), a window (``1h``, ``1d``) and an
optional cron schedule. A run reads the window's requests from the prediction
log (inputs as named columns, primary routes only), compares them with the
reference (:func:`loopml.monitoring.compare`) and keeps the result, so each
column's score is a time series. Creating and deleting a monitor is audited.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select

from loopml.auth import Actor, AuthService
from loopml.core.clock import now_ms
from loopml.core.cron import check_cron
from loopml.core.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from loopml.core.ids import new_id
from loopml.store.database import Database
from loopml.store.tables import monitor_runs, monitors

KIND = "monitor"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_WINDOW = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_window(text: str) -> int:
    """``30m``, ``1h``, ``1d``, ``1w`` in seconds; anything else names the format."""
    found = _WINDOW.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None or int(found[1]) <= 0:
        raise InvalidParameter(f"window {text!r} must look like 30m, 1h, 1d or 1w")
    return int(found[1]) * _UNIT_S[found[2]]


def check_schedule(schedule: str | None) -> str | None:
    return check_cron(schedule)


@dataclass(frozen=True)
class Monitor:
    name: str
    endpoint: str
    reference: str  # where the reference profile is kept (artifact path) and what it came from
    window_s: int
    schedule: str | None
    settings: dict[str, Any] = field(default_factory=dict)
    created_ms: int = 0
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "endpoint": self.endpoint,
            "reference": self.reference,
            "window_s": self.window_s,
            "schedule": self.schedule,
            "settings": self.settings,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class MonitorRun:
    run_id: str
    monitor: str
    window_start_ms: int
    window_end_ms: int
    rows: int
    status: str  # "ok", "insufficient data"
    result: dict[str, Any]
    created_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "monitor": self.monitor,
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "rows": self.rows,
            "status": self.status,
            "result": self.result,
            "created_ms": self.created_ms,
        }


def _monitor(row: Mapping[Any, Any]) -> Monitor:
    return Monitor(
        name=row["name"],
        endpoint=row["endpoint"],
        reference=row["reference"],
        window_s=int(row["window_s"]),
        schedule=row["schedule"],
        settings=json.loads(row["settings"]),
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
    )


def _run(row: Mapping[Any, Any]) -> MonitorRun:
    return MonitorRun(
        run_id=row["run_id"],
        monitor=row["monitor"],
        window_start_ms=int(row["window_start_ms"]),
        window_end_ms=int(row["window_end_ms"]),
        rows=int(row["rows"]),
        status=row["status"],
        result=json.loads(row["result"]),
        created_ms=int(row["created_ms"]),
    )


class MonitorStore:
    """Monitors and their runs in the metadata database; changes audited in one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.auth = AuthService(db)

    def create(self, monitor: Monitor, actor: Actor, request_id: str = "") -> Monitor:
        if _NAME.fullmatch(monitor.name) is None:
            raise InvalidParameter(
                f"monitor name {monitor.name!r} must be 1-128 letters, digits, '_', '.' or '-'"
            )
        at = now_ms()
        made = Monitor(**{**monitor.__dict__, "created_ms": at, "created_by": actor.name})
        with self.db.write() as conn:
            if conn.execute(select(monitors.c.name).where(monitors.c.name == made.name)).first():
                raise ResourceAlreadyExists(f"monitor {made.name!r} already exists")
            conn.execute(
                insert(monitors).values(
                    **{**made.to_dict(), "settings": json.dumps(made.settings)}, updated_ms=at
                )
            )
            self.auth.grant_owner(actor, KIND, made.name, conn=conn)
            self.auth.audit.append(
                actor, "monitor.create", KIND, made.name, after=made.to_dict(),
                request_id=request_id, conn=conn,
            )  # fmt: skip
        return made

    def get(self, name: str) -> Monitor:
        with self.db.read() as conn:
            row = conn.execute(select(monitors).where(monitors.c.name == name)).mappings().first()
        if row is None:
            raise ResourceNotFound(f"no monitor named {name!r}")
        return _monitor(row)

    def list(self) -> builtins.list[Monitor]:
        with self.db.read() as conn:
            rows = conn.execute(select(monitors).order_by(monitors.c.name)).mappings()
            return [_monitor(r) for r in rows]

    def delete(self, name: str, actor: Actor, request_id: str = "") -> None:
        with self.db.write() as conn:
            row = conn.execute(select(monitors).where(monitors.c.name == name)).mappings().first()
            if row is None:
                raise ResourceNotFound(f"no monitor named {name!r}")
            conn.execute(delete(monitors).where(monitors.c.name == name))
            self.auth.audit.append(
                actor, "monitor.delete", KIND, name, before=_monitor(row).to_dict(),
                request_id=request_id, conn=conn,
            )  # fmt: skip

    def add_run(self, run: MonitorRun, actor: Actor, request_id: str = "") -> MonitorRun:
        with self.db.write() as conn:
            conn.execute(
                insert(monitor_runs).values(
                    **{**run.to_dict(), "result": json.dumps(run.result, allow_nan=True)}
                )
            )
            summary = {
                "run_id": run.run_id,
                "window_end_ms": run.window_end_ms,
                "rows": run.rows,
                "status": run.status,
                "share_drifted": run.result.get("share_drifted"),
            }
            self.auth.audit.append(
                actor, "monitor.run", KIND, run.monitor, after=summary,
                request_id=request_id, conn=conn,
            )  # fmt: skip
        return run

    def runs(self, name: str, limit: int = 100) -> builtins.list[MonitorRun]:
        """The monitor's latest runs, oldest first."""
        self.get(name)
        with self.db.read() as conn:
            rows = conn.execute(
                select(monitor_runs)
                .where(monitor_runs.c.monitor == name)
                .order_by(monitor_runs.c.window_end_ms.desc(), monitor_runs.c.created_ms.desc())
                .limit(limit)
            ).mappings()
            return [_run(r) for r in reversed(list(rows))]


def new_run_id() -> str:
    return new_id()
