"""Optuna's journal in our metadata database: one append-only log per study.

Optuna's :class:`~optuna.storages.JournalStorage` keeps a study as a list of
operations that every process replays in the same order; all it asks of a
backend is ``append_logs`` and ``read_logs(from)``, safe across processes.
:class:`SqlJournalBackend` keeps those entries in ``tuning_journal`` (migration
0009), keyed by ``(journal, seq)``.

Why the order is safe with many writers, on SQLite and PostgreSQL alike:

* An append is one transaction: read ``max(seq)`` of the journal, insert its
  entries at ``max + 1, max + 2, ...``, commit. Two appenders that read the same
  maximum collide on the primary key; the loser's transaction rolls back whole
  and it retries with the new maximum. So numbers are unique and gapless, and an
  append is all of its entries or none.
* An entry ``k + 1`` commits only after its writer saw ``k`` committed (it read
  ``max = k``; an uncommitted ``k`` would have made it collide instead). So the
  committed entries are always a prefix ``0..n`` and any reader's snapshot is
  one: nobody reads entry ``k + 1`` before ``k``, and everyone reads the same
  sequence. SQLite serializes writers anyway (``BEGIN IMMEDIATE``); PostgreSQL
  at READ COMMITTED relies on the key, which is what the retry is for.

No snapshots: Optuna's snapshot format is a pickle, and unpickling what is in
a shared database would run whatever someone wrote there.

When the tracking URI is an ``http(s)://`` server there is no database to
share, so :func:`journal_for` falls back to Optuna's file journal under the
loopml home (``$LOOPML_HOME/tuning/<study>.journal``): processes and a local
Ray on this machine share it, trials are still recorded as runs on the server,
and a Ray cluster on other machines is refused up front (it could not read it).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import BaseJournalBackend, JournalFileBackend, JournalStorage
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from loopml.core.config import Settings
from loopml.core.errors import Conflict
from loopml.store import tables as t
from loopml.store.database import Database
from loopml.tuning.entities import JournalSpec

MAX_APPEND_ATTEMPTS = 200
_journal = t.tuning_journal


class SqlJournalBackend(BaseJournalBackend):
    """Optuna journal entries as rows of ``tuning_journal``; process- and thread-safe.

    Args:
        database: the metadata database (or its URL, for a worker process).
        journal: the journal's key, one per study (at most 256 characters).
    """

    def __init__(self, database: Database | str, journal: str) -> None:
        self._owns_db = isinstance(database, str)
        self._db = Database(database) if isinstance(database, str) else database
        self.journal = journal

    @property
    def url(self) -> str:
        return self._db.url

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        """Entries numbered ``log_number_from`` and up, in order (committed ones only)."""
        query = (
            select(_journal.c.seq, _journal.c.log)
            .where(_journal.c.journal == self.journal, _journal.c.seq >= log_number_from)
            .order_by(_journal.c.seq)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        return [json.loads(log) for log in _prefix(rows, log_number_from)]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Append ``logs`` as consecutive entries, all or none; retry a lost race."""
        if not logs:
            return
        texts = [json.dumps(log, separators=(",", ":")) for log in logs]
        for attempt in range(MAX_APPEND_ATTEMPTS):
            try:
                self._append(texts)
                return
            except IntegrityError:
                time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        raise Conflict(
            f"journal {self.journal!r}: gave up appending after {MAX_APPEND_ATTEMPTS} lost races"
        )

    def _append(self, texts: list[str]) -> None:
        last = select(func.max(_journal.c.seq)).where(_journal.c.journal == self.journal)
        with self._db.write() as conn:
            found = conn.execute(last).scalar()
            start = 0 if found is None else int(found) + 1
            rows = [
                {"journal": self.journal, "seq": start + i, "log": text}
                for i, text in enumerate(texts)
            ]
            # One multi-row INSERT, not executemany: a lost race is then one plain
            # statement error, not an aborted psycopg pipeline logged as noise.
            conn.execute(insert(_journal).values(rows))

    def close(self) -> None:
        """Release the connections of a database this backend opened from a URL."""
        if self._owns_db:
            self._db.dispose()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as (URL, journal): a copy in another process opens its own engine."""
        return (SqlJournalBackend, (self._db.url, self.journal))


def _prefix(rows: Any, first: int) -> Iterator[str]:
    """The logs of ``rows`` while their numbers run on from ``first`` without a gap."""
    expected = first
    for seq, log in rows:
        if seq != expected:
            return
        expected += 1
        yield log


def journal_for(client: Any, study_name: str) -> JournalSpec:
    """The journal a client's studies go to: its database, or a local file for a server."""
    uri = getattr(client, "uri", None) or ""
    db = getattr(getattr(client, "store", None), "db", None)
    if isinstance(db, Database) and not uri.startswith(("http://", "https://")):
        return JournalSpec("database", db.url, study_name)
    folder = Settings.from_env().home / "tuning"
    return JournalSpec("file", str(folder / f"{study_name}.journal"), study_name)


def open_backend(spec: JournalSpec, database: Database | None = None) -> BaseJournalBackend:
    """The journal backend of ``spec``; pass the open ``database`` to share its engine."""
    if spec.kind == "file":
        Path(spec.location).parent.mkdir(parents=True, exist_ok=True)
        return JournalFileBackend(spec.location)
    target = database if database is not None and database.url == spec.location else spec.location
    return SqlJournalBackend(target, spec.journal)


def close_backend(backend: BaseJournalBackend) -> None:
    if isinstance(backend, SqlJournalBackend):
        backend.close()


def load_study(
    backend: BaseJournalBackend, study_name: str, pruner: optuna.pruners.BasePruner
) -> optuna.Study:
    """The study as a worker sees it: the shared pruner, a sampler that is never asked."""
    return optuna.load_study(
        study_name=study_name,
        storage=JournalStorage(backend),
        sampler=optuna.samplers.RandomSampler(),
        pruner=pruner,
    )
