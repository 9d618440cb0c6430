"""The metadata database: SQLite set-up, URL checks, transactions and migrate-once."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from loopml.core.errors import InvalidParameter
from loopml.store import tables as t
from loopml.store.database import SQLITE_BUSY_TIMEOUT_MS, Database
from loopml.store.migrate import current_revision, head_revision, upgrade_to_head


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'meta' / 'loopml.db'}")
    yield database
    database.dispose()


def _pragma(conn: Connection, name: str) -> object:
    return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_constructing_opens_nothing(tmp_path: Path) -> None:
    Database(f"sqlite:///{tmp_path / 'later' / 'loopml.db'}")
    assert not (tmp_path / "later").exists()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(db: Database) -> None:
    db.initialize()
    with db.read() as conn:
        assert _pragma(conn, "journal_mode") == "wal"
        assert _pragma(conn, "foreign_keys") == 1
        assert _pragma(conn, "busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
        assert _pragma(conn, "synchronous") == 1  # NORMAL: safe in WAL, fast


def test_sqlite_enforces_foreign_keys(db: Database) -> None:
    with pytest.raises(IntegrityError, match="FOREIGN KEY"), db.write() as conn:
        conn.execute(insert(t.params).values(run_uuid="no-such-run", key="k", value="v"))


def test_sqlite_writes_begin_immediate(db: Database) -> None:
    """Writers take the lock up front, so two processes queue instead of deadlocking."""
    db.initialize()
    statements = _recorder(db)
    with db.write() as conn:
        conn.execute(select(t.experiments.c.name))
    with db.read() as conn:
        conn.execute(select(t.experiments.c.name))
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN DEFERRED"]


def _insert_then_fail(db: Database) -> None:
    with db.write() as conn:
        row = {"name": "half", "artifact_location": "x", "lifecycle_stage": "active"}
        conn.execute(insert(t.experiments).values(**row, creation_time=1, last_update_time=1))
        raise RuntimeError("boom")


def test_a_failed_write_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _insert_then_fail(db)
    with db.read() as conn:
        found = conn.execute(select(t.experiments).where(t.experiments.c.name == "half"))
        assert found.all() == []


@pytest.mark.parametrize(
    "url",
    ["mysql://root:s3cret@localhost/loopml", "oracle://scott:s3cret@db/orcl", "duckdb:///x.db"],
)
def test_unsupported_url_names_the_supported_ones_and_hides_the_password(url: str) -> None:
    database = Database(url)
    with pytest.raises(
        InvalidParameter, match=r"not supported; use sqlite:///PATH or postgresql"
    ) as err:
        database.engine  # noqa: B018
    assert "s3cret" not in str(err.value)


def test_dialect_is_the_backend_name() -> None:
    assert Database("sqlite:///x.db").dialect == "sqlite"
    assert Database("postgresql+psycopg://u@h/db").dialect == "postgresql"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database nothing has migrated yet, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = request.getfixturevalue("postgres_databases").create()
    database = Database(url)
    yield database
    database.dispose()


def _recorder(db: Database) -> list[str]:
    """Every statement ``db`` sends from now on."""
    statements: list[str] = []

    def record(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    return statements


def test_initialize_migrates_a_fresh_database_to_head(fresh_db: Database) -> None:
    fresh_db.initialize()
    with fresh_db.read() as conn:
        assert current_revision(conn) == head_revision()
        assert (
            conn.execute(text("SELECT name FROM experiments WHERE experiment_id = 0")).scalar()
            == "Default"
        )


def test_migrate_once_fast_path_only_reads_the_version(fresh_db: Database) -> None:
    assert upgrade_to_head(fresh_db) is True
    other = Database(fresh_db.url)
    assert upgrade_to_head(other) is False
    other.dispose()
    statements = _recorder(fresh_db)
    assert upgrade_to_head(fresh_db) is False
    queries = [s for s in statements if not s.startswith(("BEGIN", "PRAGMA"))]
    # Reading the version (PostgreSQL first asks whether the table exists): no lock, no DDL.
    assert 1 <= len(queries) <= 2, queries
    assert all(q.lstrip().upper().startswith("SELECT") for q in queries), queries
    assert "alembic_version" in queries[-1]
    assert not any("advisory" in q for q in queries)


def test_the_schema_head_constant_is_alembics_head() -> None:
    from loopml.store.database import SCHEMA_HEAD

    assert head_revision() == SCHEMA_HEAD


def test_opening_a_current_database_does_not_import_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'current.db'}"
    Database(url).initialize()
    code = (
        "import sys; from loopml.store.database import Database; "
        f"Database({url!r}).initialize(); print('alembic' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_initialize_runs_once_per_database_object(db: Database) -> None:
    db.initialize()
    statements = _recorder(db)
    db.initialize()
    db.initialize()
    assert statements == []


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_sqlite_keeps_its_schema(url: str) -> None:
    database = Database(url)
    database.initialize()
    with database.read() as conn:
        assert conn.execute(text("SELECT name FROM experiments")).scalars().all() == ["Default"]


def test_migrations_create_exactly_the_tables_the_code_declares(tmp_path: Path) -> None:
    """A change to tables.py without a migration (or the reverse) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from loopml.store.tables import metadata

    db = Database(f"sqlite:///{tmp_path / 'schema.db'}")
    db.initialize()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    db.dispose()


def test_a_new_sqlite_database_is_private_to_its_owner(tmp_path: Path) -> None:
    """It holds password and token hashes and the audit log: no other local user reads it."""
    home = tmp_path / "home"
    db = Database(f"sqlite:///{home / 'loopml.db'}")
    db.initialize()
    with db.write() as conn:
        conn.exec_driver_sql("SELECT 1")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in home.iterdir()}
    assert modes["loopml.db"] == 0o600
    assert all(mode == 0o600 for mode in modes.values()), modes
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    db.dispose()
