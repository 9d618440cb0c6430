"""Optuna's journal in our database: gapless, ordered, all-or-nothing, many writers at once.

Several processes append batches to one journal at the same moment while
another reads it over and over. Every entry must arrive exactly once with
numbers 0..n-1, each batch contiguous, each writer's batches in its own order,
and every read (mid-race too) must be a prefix of the final sequence: that is
what lets every Optuna process replay the same study. On PostgreSQL the
writers really collide on the primary key and retry; on SQLite they queue.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages.journal import JournalStorage
from sqlalchemy import select

from loopml.store import tables as t
from loopml.store.database import Database
from loopml.tuning import SqlJournalBackend

WRITERS = 4
APPENDS = 25
BATCH = 3
WAIT_S = 120
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# Forked from a server that imported these once: starting interpreters would dominate.
# (Python 3.11's forkserver ignores sys.path while preloading, so not this module.)
_PRELOAD = ["pytest", "sqlalchemy", "psycopg", "optuna", "loopml.tuning.journal"]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loopml.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _journal() -> str:
    return f"test-{uuid.uuid4().hex}"


Backends = Callable[[str], SqlJournalBackend]


@pytest.fixture
def backend(database_url: str) -> Iterator[Backends]:
    """``backend(journal)``: a backend on the test database, closed after the test."""
    opened: list[SqlJournalBackend] = []

    def open_one(journal: str) -> SqlJournalBackend:
        opened.append(SqlJournalBackend(database_url, journal))
        return opened[-1]

    yield open_one
    for each in opened:
        each.close()


def _seqs(url: str, journal: str) -> list[int]:
    db = Database(url)
    try:
        with db.read() as conn:
            query = select(t.tuning_journal.c.seq).where(t.tuning_journal.c.journal == journal)
            return sorted(conn.execute(query).scalars())
    finally:
        db.dispose()


def test_entries_are_numbered_from_zero_and_read_from_any_number(
    database_url: str, backend: Backends
) -> None:
    journal = backend(_journal())
    other = backend(_journal())
    journal.append_logs([{"op": "a"}, {"op": "b"}])
    other.append_logs([{"op": "elsewhere"}])
    journal.append_logs([{"op": "c"}])
    journal.append_logs([])
    assert [log["op"] for log in journal.read_logs(0)] == ["a", "b", "c"]
    assert [log["op"] for log in journal.read_logs(2)] == ["c"]
    assert journal.read_logs(3) == []
    assert [log["op"] for log in other.read_logs(0)] == ["elsewhere"]
    assert _seqs(database_url, journal.journal) == [0, 1, 2]


def test_a_pickled_backend_reopens_the_same_journal(database_url: str, backend: Backends) -> None:
    journal = backend(_journal())
    journal.append_logs([{"op": "a"}])
    copy = pickle.loads(pickle.dumps(journal))
    try:
        assert (copy.url, copy.journal) == (database_url, journal.journal)
        assert copy.read_logs(0) == [{"op": "a"}]
    finally:
        copy.close()


def test_an_optuna_study_replays_the_same_from_a_second_storage(backend: Backends) -> None:
    journal = _journal()
    study = optuna.create_study(
        study_name=journal,
        storage=JournalStorage(backend(journal)),
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.optimize(lambda trial: trial.suggest_float("x", -1.0, 1.0) ** 2, n_trials=6)
    again = optuna.load_study(study_name=journal, storage=JournalStorage(backend(journal)))
    assert [(t.number, t.params, t.value) for t in again.trials] == [
        (t.number, t.params, t.value) for t in study.trials
    ]
    assert again.best_value == study.best_value


def _write(url: str, journal: str, writer: int, barrier: Barrier) -> None:
    backend = SqlJournalBackend(url, journal)
    backend.read_logs(0)  # migrate and connect before the race starts
    barrier.wait(WAIT_S)
    for append in range(APPENDS):
        backend.append_logs([{"w": writer, "a": append, "k": k} for k in range(BATCH)])
    backend.close()


def _read_until_complete(url: str, journal: str, barrier: Barrier, reads: Any) -> None:
    """Read the whole journal again and again while it grows; each read must be consistent."""
    backend = SqlJournalBackend(url, journal)
    backend.read_logs(0)
    barrier.wait(WAIT_S)
    snapshots, total = 0, WRITERS * APPENDS * BATCH
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        logs = backend.read_logs(0)
        _check_consistent(logs)
        snapshots += 1
        if len(logs) == total:
            break
        time.sleep(0.01)
    backend.close()
    reads.put(snapshots)


def _check_consistent(logs: list[dict[str, Any]]) -> None:
    """Each batch contiguous and whole; each writer's batches in the order it appended them."""
    assert len(logs) % BATCH == 0, "a batch was read in part"
    next_append = dict.fromkeys(range(WRITERS), 0)
    for start in range(0, len(logs), BATCH):
        batch = logs[start : start + BATCH]
        writer, append = batch[0]["w"], batch[0]["a"]
        assert batch == [{"w": writer, "a": append, "k": k} for k in range(BATCH)]
        assert append == next_append[writer], "a writer's batches out of order"
        next_append[writer] += 1


def test_concurrent_writer_processes_lose_and_reorder_nothing(database_url: str) -> None:
    journal = _journal()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    barrier, reads = context.Barrier(WRITERS + 1), context.Queue()
    processes = [
        context.Process(target=_write, args=(database_url, journal, writer, barrier))
        for writer in range(WRITERS)
    ]
    processes.append(
        context.Process(target=_read_until_complete, args=(database_url, journal, barrier, reads))
    )
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(WAIT_S)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
    assert [p.exitcode for p in processes] == [0] * len(processes)
    assert reads.get(timeout=WAIT_S) >= 1
    final = SqlJournalBackend(database_url, journal)
    logs = final.read_logs(0)
    final.close()
    assert len(logs) == WRITERS * APPENDS * BATCH
    _check_consistent(logs)
    assert sorted((log["w"], log["a"], log["k"]) for log in logs) == [
        (w, a, k) for w in range(WRITERS) for a in range(APPENDS) for k in range(BATCH)
    ]
    assert _seqs(database_url, journal) == list(range(WRITERS * APPENDS * BATCH))
