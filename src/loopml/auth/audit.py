"""The audit trail: an append-only, hash-chained log of every change of state.

Each event's hash covers its own fields and the previous event's hash, and
``audit_head`` holds the newest (seq, hash). Appends lock that head row, so
sequence numbers are gapless and the chain is linear even with several server
processes. :meth:`AuditLog.verify` walks the chain and names the first event
that was edited, inserted or deleted. The chain proves tampering to anyone who
did not also rewrite every later hash and the head; pin ``head_hash`` (printed
by ``loopml audit verify``) somewhere else to catch even that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from loopml.auth.entities import Actor, AuditEvent, AuditVerification
from loopml.core.clock import now_ms
from loopml.core.ids import new_id
from loopml.store.database import Database
from loopml.store.tables import audit_events, audit_head

GENESIS_HASH = "0" * 64
MAX_LIST = 10_000

# Built once: an append is on every write request's path.
_LOCK_HEAD = (
    select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_INSERT_EVENT = insert(audit_events)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def _json(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


def event_hash(fields: Mapping[Any, Any]) -> str:
    """SHA-256 over the stored form of every field but ``hash`` itself."""
    material = [
        fields["seq"],
        fields["event_id"],
        fields["at_ms"],
        fields["actor_id"],
        fields["actor_name"],
        fields["token_id"],
        fields["action"],
        fields["resource_kind"],
        fields["resource_id"],
        fields["before"],
        fields["after"],
        fields["request_id"],
        fields["client_addr"],
        fields["prev_hash"],
    ]
    return hashlib.sha256(orjson.dumps(material)).hexdigest()


@dataclass(frozen=True)
class AuditFilter:
    """Which events to list; every field narrows, ``None`` means any."""

    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." or "*": "experiment.*"
    resource_kind: str | None = None
    resource_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    before_seq: int | None = None


class AuditLog:
    """Append to, list and verify the audit chain in ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(
        self,
        actor: Actor,
        action: str,
        resource_kind: str,
        resource_id: str,
        *,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        request_id: str = "",
        conn: Connection | None = None,
    ) -> AuditEvent:
        """Record one event; inside ``conn``'s transaction when given, so it commits with it."""
        if conn is not None:
            return self._append(
                conn, actor, action, resource_kind, resource_id, before, after, request_id
            )
        with self.db.write() as own:
            return self._append(
                own, actor, action, resource_kind, resource_id, before, after, request_id
            )

    def _append(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        resource_kind: str,
        resource_id: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        request_id: str,
    ) -> AuditEvent:
        head = conn.execute(_LOCK_HEAD).one()
        fields: dict[str, Any] = {
            "seq": head.seq + 1,
            "event_id": new_id(),
            "at_ms": now_ms(),
            "actor_id": actor.principal_id,
            "actor_name": actor.name,
            "token_id": actor.token_id,
            "action": action,
            "resource_kind": resource_kind,
            "resource_id": str(resource_id),
            "before": _json(before),
            "after": _json(after),
            "request_id": request_id or new_id(),
            "client_addr": actor.client_addr[:64],
            "prev_hash": head.hash,
        }
        fields["hash"] = event_hash(fields)
        conn.execute(_INSERT_EVENT, fields)
        conn.execute(_MOVE_HEAD, {"new_seq": fields["seq"], "new_hash": fields["hash"]})
        return _event(fields)

    def list(self, where: AuditFilter | None = None, limit: int = 100) -> list[AuditEvent]:
        """Events matching ``where``, newest first; page with ``before_seq``."""
        where = where or AuditFilter()
        query = select(audit_events).order_by(audit_events.c.seq.desc()).limit(min(limit, MAX_LIST))
        if where.actor:
            query = query.where(
                (audit_events.c.actor_name == where.actor)
                | (audit_events.c.actor_id == where.actor)
            )
        if where.action:
            prefix = where.action.rstrip("*")
            if prefix != where.action or prefix.endswith("."):
                query = query.where(audit_events.c.action.startswith(prefix, autoescape=True))
            else:
                query = query.where(audit_events.c.action == where.action)
        if where.resource_kind:
            query = query.where(audit_events.c.resource_kind == where.resource_kind)
        if where.resource_id:
            query = query.where(audit_events.c.resource_id == where.resource_id)
        if where.since_ms is not None:
            query = query.where(audit_events.c.at_ms >= where.since_ms)
        if where.until_ms is not None:
            query = query.where(audit_events.c.at_ms < where.until_ms)
        if where.before_seq is not None:
            query = query.where(audit_events.c.seq < where.before_seq)
        with self.db.read() as conn:
            return [_event(row._mapping) for row in conn.execute(query)]

    def count(
        self,
        action: str,
        since_ms: int,
        *,
        resource_id: str | None = None,
        client_addr: str | None = None,
    ) -> int:
        """How many ``action`` events since ``since_ms``, on a resource or from an address."""
        query = (
            select(func.count())
            .select_from(audit_events)
            .where(audit_events.c.action == action)
            .where(audit_events.c.at_ms >= since_ms)
        )
        if resource_id is not None:
            query = query.where(audit_events.c.resource_id == resource_id)
        if client_addr is not None:
            query = query.where(audit_events.c.client_addr == client_addr)
        with self.db.read() as conn:
            return int(conn.execute(query).scalar_one())

    def verify(self) -> AuditVerification:
        """Walk the whole chain; report the first event that breaks it, if any."""
        with self.db.read() as conn:
            head = conn.execute(select(audit_head.c.seq, audit_head.c.hash)).one()
            # Closed explicitly: verification stops at the first bad event, and on
            # PostgreSQL an abandoned yield_per result leaks its server-side cursor.
            with conn.execution_options(yield_per=1000).execute(
                select(audit_events).order_by(audit_events.c.seq)
            ) as rows:
                return _verify_chain(iter(rows), head.seq, head.hash)


def _verify_chain(rows: Iterator[Row[Any]], head_seq: int, head_hash: str) -> AuditVerification:
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0

    def bad(seq: int, problem: str) -> AuditVerification:
        return AuditVerification(False, checked, head_seq, head_hash, seq, problem)

    for row in rows:
        fields = row._mapping
        seq, event_id = fields["seq"], fields["event_id"]
        if seq > head_seq:
            return bad(
                seq, f"event {seq} ({event_id}) lies beyond the recorded head {head_seq}: inserted"
            )
        if seq != expected_seq:
            return bad(expected_seq, f"event {expected_seq} is missing (next is {seq}): deleted")
        if fields["prev_hash"] != prev_hash:
            return bad(
                seq,
                f"event {seq} ({event_id}) does not follow event {seq - 1}: "
                "an event before it was inserted, deleted or edited",
            )
        if event_hash(fields) != fields["hash"]:
            return bad(
                seq, f"event {seq} ({event_id}) was edited: its hash does not match its contents"
            )
        prev_hash, expected_seq, checked = fields["hash"], seq + 1, checked + 1
    if checked != head_seq:
        return bad(checked + 1, f"events {checked + 1} to {head_seq} are missing: deleted")
    if prev_hash != head_hash:
        return bad(head_seq, f"event {head_seq} does not match the recorded head hash: edited")
    return AuditVerification(True, checked, head_seq, head_hash)


def _event(fields: Mapping[Any, Any]) -> AuditEvent:
    return AuditEvent(
        seq=int(fields["seq"]),
        event_id=fields["event_id"],
        at_ms=int(fields["at_ms"]),
        actor_id=fields["actor_id"],
        actor_name=fields["actor_name"],
        token_id=fields["token_id"],
        action=fields["action"],
        resource_kind=fields["resource_kind"],
        resource_id=fields["resource_id"],
        before=orjson.loads(fields["before"]) if fields["before"] is not None else None,
        after=orjson.loads(fields["after"]) if fields["after"] is not None else None,
        request_id=fields["request_id"],
        client_addr=fields["client_addr"],
        prev_hash=fields["prev_hash"],
        hash=fields["hash"],
    )
