"""The metadata database: engine set-up, transactions and migrate-once.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and write
transactions start with ``BEGIN IMMEDIATE`` so two processes writing the same
file queue up instead of failing on a lock upgrade. PostgreSQL is used through
psycopg 3. Constructing a :class:`Database` opens nothing; ``initialize()``
migrates the schema to head exactly once, even when several processes start on
a fresh database together.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from loopml.core.errors import InvalidParameter

SQLITE_BUSY_TIMEOUT_MS = 60_000
# The newest migration's revision; tests/store checks it against alembic's head, so a
# new migration that forgets to bump it fails there (and here it would only cost speed).
SCHEMA_HEAD = "0010"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _create_private_file(path: Path) -> None:
    """Create a new SQLite file (and its folder) readable by its owner only.

    It holds password and token hashes and the audit log; SQLite gives its
    ``-wal`` and ``-shm`` files the database file's mode. Existing files and
    folders keep the mode their owner chose.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class Database:
    """A lazily opened engine for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.RLock()
        self._initialized = False

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        url = make_url(self.url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            if url.database and url.database != ":memory:":
                _create_private_file(Path(url.database))
            engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                # An in-memory database lives as long as its one connection.
                poolclass=StaticPool if url.database in (None, "", ":memory:") else None,
            )
            _configure_sqlite(engine)
            return engine
        if backend == "postgresql":
            return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        raise InvalidParameter(
            f"database URL {url.render_as_string(hide_password=True)!r} is not supported; "
            "use sqlite:///PATH or postgresql+psycopg://..."
        )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that commits whole or rolls back whole."""
        self.initialize()
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction with a consistent snapshot."""
        self.initialize()
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def initialize(self) -> None:
        """Migrate the schema to head once per process (and once across processes)."""
        if self._initialized:
            return
        with self._lock:
            if not self._initialized:
                if not self._at_head():
                    from loopml.store.migrate import upgrade_to_head

                    upgrade_to_head(self)
                self._initialized = True

    def _at_head(self) -> bool:
        """One plain query, no alembic import (0.5 s off every cold command): whether the
        schema is already at :data:`SCHEMA_HEAD`."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.connect() as conn:
                found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
                return list(found) == [SCHEMA_HEAD]
        except SQLAlchemyError:
            return False  # no version table yet: a fresh database

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
