"""Claims: how several server workers agree that exactly one runs a due job.

Every scheduler (monitors, pipelines, policies) computes the same due times
from the same cron strings, so two workers polling one database would both
run each job. Before running, a worker inserts ``(kind, name, due_ms)``;
the primary key lets exactly one insert win on SQLite and PostgreSQL alike,
and the losers skip. The row stays as the record of who ran it.
"""

from __future__ import annotations

import os
import socket

from sqlalchemy import Connection, delete, func, select

from loopml.core.clock import now_ms
from loopml.store.database import Database
from loopml.store.tables import schedule_claims
from loopml.store.upsert import insert_on_conflict


def worker_name() -> str:
    """Who claims: host and process id, so a claim row says which worker ran it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(
    db: Database,
    kind: str,
    name: str,
    due_ms: int,
    *,
    claimed_by: str | None = None,
    conn: Connection | None = None,
) -> bool:
    """Claim ``name`` of ``kind`` for ``due_ms``; True for exactly one caller."""
    if conn is None:
        with db.write() as own:
            return claim(db, kind, name, due_ms, claimed_by=claimed_by, conn=own)
    statement = (
        insert_on_conflict(conn, schedule_claims)
        .values(
            kind=kind,
            name=name,
            due_ms=int(due_ms),
            claimed_by=claimed_by or worker_name(),
            claimed_ms=now_ms(),
        )
        .on_conflict_do_nothing()
        .returning(schedule_claims.c.due_ms)  # rowcount is -1 on psycopg: ask for the row
    )
    return conn.execute(statement).first() is not None


def last_claimed(db: Database, kind: str, name: str) -> int | None:
    """The latest due time claimed for ``name`` of ``kind`` (None: never), a scheduler's cursor."""
    with db.read() as conn:
        found = conn.execute(
            select(func.max(schedule_claims.c.due_ms)).where(
                schedule_claims.c.kind == kind, schedule_claims.c.name == name
            )
        ).scalar_one_or_none()
    return None if found is None else int(found)


def forget(db: Database, kind: str, name: str) -> None:
    """Drop a deleted job's claims, so a new job of the same name starts clean."""
    with db.write() as conn:
        conn.execute(
            delete(schedule_claims).where(
                schedule_claims.c.kind == kind, schedule_claims.c.name == name
            )
        )
