"""Alembic migrations, run programmatically under a cross-process lock.

The fast path (schema already at head) takes one query. Otherwise the first
process takes a lock (a file lock beside the SQLite file, an advisory lock on
PostgreSQL), re-checks, and upgrades; the others wait and then find it done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from loopml.store.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK_KEY = 7_317_001


def _alembic_config(conn: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(db: Database, conn: Connection) -> Iterator[None]:
    if db.dialect == "postgresql":
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
            conn.commit()
        return
    from filelock import FileLock

    database = make_url(db.url).database
    if not database or database == ":memory:":
        yield
        return
    with FileLock(f"{database}.migrate.lock", timeout=120, mode=0o600):
        yield


def upgrade_to_head(db: Database) -> bool:
    """Bring ``db`` to the newest schema; return True when this call migrated it."""
    head = head_revision()
    with db.engine.connect() as conn:
        if current_revision(conn) == head:
            return False
        conn.rollback()
        with _migration_lock(db, conn):
            if current_revision(conn) == head:
                conn.rollback()
                return False
            conn.rollback()
            command.upgrade(_alembic_config(conn), "head")
            conn.commit()
            return True
