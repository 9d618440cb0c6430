"""Fixtures for the auth tests: a migrated database on each backend and a service over it.

SQLite gets a new file per test. PostgreSQL gets one fresh database per session
(creating and dropping one per test would cost most of the suite's time), and
every test starts by emptying the access-control and audit tables there, so each
test sees the same state as on a new database.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import delete, update

from loopml.auth import Actor, AuthService, Permission, PrincipalKind, Role, Scope, local_actor
from loopml.auth.audit import GENESIS_HASH
from loopml.core.clock import now_ms
from loopml.store import tables as t
from loopml.store.database import Database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

ActorFactory = Callable[..., Actor]


@pytest.fixture(scope="session")
def auth_postgres_url(postgres_databases: Any) -> str:
    """One fresh PostgreSQL database for the auth tests, emptied again before each test."""
    return str(postgres_databases.create())


def _empty(db: Database) -> None:
    """Back to a just-migrated state: no accounts, grants, events or experiments but Default."""
    with db.write() as conn:
        for table in (t.api_tokens, t.resource_permissions, t.principals, t.audit_events):
            conn.execute(delete(table))
        conn.execute(delete(t.experiments).where(t.experiments.c.experiment_id != 0))
        conn.execute(update(t.audit_head).values(seq=0, hash=GENESIS_HASH))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy: a copy costs a fifth of migrating."""
    path = tmp_path_factory.mktemp("template") / "loopml.db"
    database = Database(f"sqlite:///{path}")
    database.initialize()
    database.dispose()  # the last connection to close folds the WAL back into the file
    return path


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    """A migrated, empty metadata database on each backend."""
    if request.param == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "loopml.db")
        database = Database(f"sqlite:///{tmp_path / 'loopml.db'}")
        database.initialize()
        yield database
        database.dispose()
    else:
        yield request.getfixturevalue("postgres_db")


@pytest.fixture
def postgres_db(auth_postgres_url: str) -> Iterator[Database]:
    """The session's PostgreSQL database, migrated and emptied (for PostgreSQL-only tests)."""
    database = Database(auth_postgres_url)
    database.initialize()
    _empty(database)
    yield database
    database.dispose()


@pytest.fixture
def service(db: Database, cheap_argon2: None) -> AuthService:
    """Access control that grants nothing by default, so every grant is visible."""
    return AuthService(db, Permission.NONE)


@pytest.fixture
def root() -> Actor:
    """The embedded owner of the database: an admin that is not an account."""
    return local_actor()


@pytest.fixture
def make_actor(service: AuthService, root: Actor) -> ActorFactory:
    """Make a service account of ``role`` and return it as an actor (cheap: no password).

    ``scope`` is the scope of the token the actor acts with (``None``: no token).
    """
    count = 0

    def make(role: Role = Role.EDITOR, scope: Scope | None = None, name: str = "") -> Actor:
        nonlocal count
        count += 1
        name = name or f"{role.value}-{count}"
        account = service.create_account(root, name, kind=PrincipalKind.SERVICE, role=role)
        return Actor(account.principal_id, account.name, account.role, scope=scope)

    return make


class Clock:
    """A settable stand-in for ``now_ms``: starts at the real time, moves only when told."""

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def __call__(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the time the service and the audit log see; ``clock.advance`` moves both."""
    fake = Clock(now_ms())
    monkeypatch.setattr("loopml.auth.service.now_ms", fake)
    monkeypatch.setattr("loopml.auth.audit.now_ms", fake)
    return fake


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at its lowest cost, so tests that make users stay fast.

    ``test_passwords`` checks the production parameters; everything else only
    needs hashing to behave like hashing.
    """
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr("loopml.auth.passwords._hasher", hasher)
    monkeypatch.setattr("loopml.auth.service._DUMMY_HASH", hasher.hash("not-a-real-password"))
