"""Dialect-aware ``INSERT ... ON CONFLICT`` for the two databases we support."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_on_conflict(conn: Connection, table: Table) -> Any:
    """An insert construct with ``on_conflict_do_update/nothing`` for this connection."""
    return dialect_insert(conn.dialect.name, table)


def dialect_insert(dialect: str, table: Table) -> Any:
    """The same, by dialect name, for statements built once and cached."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def placeholder(conn: Connection) -> str:
    """The DB-API parameter marker for raw SQL on the hot paths."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"
