"""Policies and their runs in the metadata database.

Every change commits with its audit event. A run is a row whose ``state``
only moves by compare-and-swap (:meth:`PolicyStore.transition` names the state
it expects), so two workers can never both move one run; each move is also an
event row, the run's history. Starting a run locks the policy's row and
checks the cooldown and the number of runs in flight inside that same
transaction, so triggers that arrive together start one run, not two.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from loopml.auth import Actor, AuthService
from loopml.automation.policies import Policy
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidState, ResourceAlreadyExists, ResourceNotFound
from loopml.core.ids import new_id
from loopml.store.database import Database
from loopml.store.tables import policies, policy_events, policy_runs

KIND = "policy"
TERMINAL = ("promoted", "rolled back", "rejected", "failed")
STATES = ("triggered", "training", "gating", "canary", "awaiting approval", *TERMINAL)


@dataclass(frozen=True)
class PolicyRecord:
    policy: Policy
    enabled: bool = True
    created_ms: int = 0
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.policy.to_dict(),
            "enabled": self.enabled,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class PolicyRun:
    run_id: str
    policy: str
    state: str
    trigger: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    created_ms: int = 0
    updated_ms: int = 0

    @property
    def done(self) -> bool:
        return self.state in TERMINAL

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "policy": self.policy,
            "state": self.state,
            "trigger": self.trigger,
            "data": self.data,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
        }


@dataclass(frozen=True)
class Transition:
    run_id: str
    from_state: str | None
    to_state: str
    at_ms: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _describe(trigger: Mapping[str, Any]) -> str:
    """``alert:watch/drift (alert 3f2a...)``: what started a run, for people."""
    detail = trigger.get("detail")
    return str(trigger.get("reason", "?")) + (f" ({detail})" if detail else "")


def _record(row: Mapping[Any, Any]) -> PolicyRecord:
    return PolicyRecord(
        Policy.from_dict(json.loads(row["spec"])),
        bool(row["enabled"]),
        int(row["created_ms"]),
        row["created_by"],
    )


def _run(row: Mapping[Any, Any]) -> PolicyRun:
    return PolicyRun(
        row["run_id"], row["policy"], row["state"], json.loads(row["trigger"]),
        json.loads(row["data"]), int(row["created_ms"]), int(row["updated_ms"]),
    )  # fmt: skip


class PolicyStore:
    """Policies, runs and transitions; every change audited in its own transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.auth = AuthService(db)

    # --- policies -------------------------------------------------------------------

    def create(self, policy: Policy, actor: Actor, request_id: str = "") -> PolicyRecord:
        at = now_ms()
        record = PolicyRecord(policy, True, at, actor.name)
        with self.db.write() as conn:
            if conn.execute(select(policies.c.name).where(policies.c.name == policy.name)).first():
                raise ResourceAlreadyExists(f"policy {policy.name!r} already exists")
            conn.execute(
                insert(policies).values(
                    name=policy.name,
                    spec=json.dumps(policy.to_dict()),
                    enabled=True,
                    created_ms=at,
                    created_by=actor.name,
                    updated_ms=at,
                )
            )
            self.auth.grant_owner(actor, KIND, policy.name, conn=conn)
            self._audit(conn, actor, "policy.create", policy.name, record.to_dict(), request_id)
        return record

    def get(self, name: str) -> PolicyRecord:
        with self.db.read() as conn:
            row = conn.execute(select(policies).where(policies.c.name == name)).mappings().first()
        if row is None:
            raise ResourceNotFound(f"no policy named {name!r}")
        return _record(row)

    def list(self) -> builtins.list[PolicyRecord]:
        with self.db.read() as conn:
            rows = conn.execute(select(policies).order_by(policies.c.name)).mappings()
            return [_record(row) for row in rows]

    def set_enabled(self, name: str, enabled: bool, actor: Actor, request_id: str = "") -> None:
        """Pause (no new runs; runs in flight go on) or resume a policy; audited."""
        with self.db.write() as conn:
            found = conn.execute(
                update(policies)
                .where(policies.c.name == name)
                .values(enabled=enabled, updated_ms=now_ms())
            )
            if found.rowcount == 0:
                raise ResourceNotFound(f"no policy named {name!r}")
            action = "policy.resume" if enabled else "policy.pause"
            self._audit(conn, actor, action, name, {"enabled": enabled}, request_id)

    def delete(self, name: str, actor: Actor, request_id: str = "") -> None:
        with self.db.write() as conn:
            self._active(conn, name, refuse=True)
            found = conn.execute(delete(policies).where(policies.c.name == name))
            if found.rowcount == 0:
                raise ResourceNotFound(f"no policy named {name!r}")
            self._audit(conn, actor, "policy.delete", name, None, request_id)

    # --- runs -----------------------------------------------------------------------

    def start_run(
        self, name: str, trigger: Mapping[str, Any], actor: Actor, *, force: bool = False
    ) -> PolicyRun | None:
        """A new run in ``triggered``, or None when a run is in flight or cooling down.

        ``force`` (a manual run) skips the cooldown, never the limit on runs in flight.
        """
        at = now_ms()
        with self.db.write() as conn:
            row = (
                conn.execute(select(policies).where(policies.c.name == name).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                raise ResourceNotFound(f"no policy named {name!r}")
            limits = _record(row).policy.limits
            if len(self._active(conn, name)) >= limits.max_concurrent:
                return None
            last = conn.execute(
                select(func.max(policy_runs.c.created_ms)).where(policy_runs.c.policy == name)
            ).scalar_one_or_none()
            if not force and last is not None and at - int(last) < limits.cooldown_s * 1000:
                return None
            run = PolicyRun(new_id(), name, "triggered", dict(trigger), {}, at, at)
            conn.execute(
                insert(policy_runs).values(
                    run_id=run.run_id,
                    policy=name,
                    state=run.state,
                    trigger=json.dumps(run.trigger),
                    data="{}",
                    created_ms=at,
                    updated_ms=at,
                )
            )
            self._event(conn, run.run_id, None, "triggered", at, _describe(run.trigger))
            self._audit(conn, actor, "policy.run", name, run.to_dict(), "")
        return run

    def get_run(self, run_id: str) -> PolicyRun:
        with self.db.read() as conn:
            row = (
                conn.execute(select(policy_runs).where(policy_runs.c.run_id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            raise ResourceNotFound(f"no policy run {run_id!r}")
        return _run(row)

    def runs(self, name: str | None = None, *, active: bool = False) -> builtins.list[PolicyRun]:
        """Runs oldest first: of one policy, or all; only those in flight with ``active``."""
        query = select(policy_runs).order_by(policy_runs.c.created_ms, policy_runs.c.run_id)
        if name is not None:
            query = query.where(policy_runs.c.policy == name)
        if active:
            query = query.where(policy_runs.c.state.not_in(TERMINAL))
        with self.db.read() as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def transitions(self, run_id: str) -> builtins.list[Transition]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(policy_events)
                .where(policy_events.c.run_id == run_id)
                .order_by(policy_events.c.event_id)
            ).mappings()
            return [
                Transition(
                    r["run_id"], r["from_state"], r["to_state"], int(r["at_ms"]), r["detail"]
                )
                for r in rows
            ]

    def transition(
        self,
        run: PolicyRun,
        to_state: str,
        actor: Actor,
        *,
        data: Mapping[str, Any] | None = None,
        detail: str = "",
    ) -> PolicyRun:
        """Move ``run`` from the state it holds to ``to_state`` (and merge ``data``), audited.

        Raises:
            InvalidState: the run is no longer in ``run.state`` (another worker moved it).
        """
        at = now_ms()
        merged = {**run.data, **(data or {})}
        with self.db.write() as conn:
            moved = conn.execute(
                update(policy_runs)
                .where(policy_runs.c.run_id == run.run_id, policy_runs.c.state == run.state)
                .values(state=to_state, data=json.dumps(merged), updated_ms=at)
            )
            if moved.rowcount != 1:
                raise InvalidState(f"policy run {run.run_id} is no longer {run.state!r}")
            self._event(conn, run.run_id, run.state, to_state, at, detail)
            after = {"run_id": run.run_id, "from": run.state, "to": to_state, "detail": detail}
            self._audit(conn, actor, "policy.transition", run.policy, after, "")
        return replace(run, state=to_state, data=merged, updated_ms=at)

    def save(self, run: PolicyRun, data: Mapping[str, Any]) -> PolicyRun:
        """Keep what a state has learned (e.g. the canary's numbers) without moving it."""
        merged = {**run.data, **data}
        with self.db.write() as conn:
            conn.execute(
                update(policy_runs)
                .where(policy_runs.c.run_id == run.run_id, policy_runs.c.state == run.state)
                .values(data=json.dumps(merged), updated_ms=now_ms())
            )
        return replace(run, data=merged)

    def lease(self, run_id: str, owner: str, duration_s: float) -> bool:
        """Hold ``run_id`` for ``duration_s``: True when free, expired, or already ``owner``'s."""
        at = now_ms()
        with self.db.write() as conn:
            taken = conn.execute(
                update(policy_runs)
                .where(
                    policy_runs.c.run_id == run_id,
                    or_(
                        policy_runs.c.lease_owner.is_(None),
                        policy_runs.c.lease_owner == owner,
                        policy_runs.c.lease_until_ms < at,
                    ),
                )
                .values(lease_owner=owner, lease_until_ms=at + int(duration_s * 1000))
            )
            return bool(taken.rowcount == 1)

    def release(self, run_id: str, owner: str) -> None:
        with self.db.write() as conn:
            conn.execute(
                update(policy_runs)
                .where(and_(policy_runs.c.run_id == run_id, policy_runs.c.lease_owner == owner))
                .values(lease_owner=None, lease_until_ms=None)
            )

    # --- helpers ----------------------------------------------------------------------

    def _active(self, conn: Connection, name: str, *, refuse: bool = False) -> builtins.list[str]:
        found = [
            row.run_id
            for row in conn.execute(
                select(policy_runs.c.run_id).where(
                    policy_runs.c.policy == name, policy_runs.c.state.not_in(TERMINAL)
                )
            )
        ]
        if refuse and found:
            raise InvalidState(f"policy {name!r} has runs in flight ({', '.join(found)})")
        return found

    def _event(
        self, conn: Connection, run_id: str, before: str | None, after: str, at: int, detail: str
    ) -> None:
        conn.execute(
            insert(policy_events).values(
                run_id=run_id, from_state=before, to_state=after, at_ms=at, detail=detail
            )
        )

    def _audit(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        name: str,
        after: dict[str, Any] | None,
        request_id: str,
    ) -> None:
        self.auth.audit.append(
            actor, action, KIND, name, after=after, request_id=request_id, conn=conn
        )
