"""Dialect-aware ``INSERT ... ON CONFLICT`` for the two databases we support."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_on_conflict(conn: Connection, table: Table) -> Any:
    """An insert construct with ``on_conflict_do_update/nothing`` for this connection."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
