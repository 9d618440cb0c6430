"""Concurrent writers on SQLite and PostgreSQL: nothing lost, nothing regressed, migrated once.

Threads (and, on SQLite, separate processes) log metric batches to one run at
the same moment; every point must arrive and the latest metric must be the
highest step even when it was written first. Several processes starting on a
fresh database must migrate it exactly once.
"""

from __future__ import annotations

import functools
import multiprocessing
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.context import BaseContext
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from loopml.artifacts import ArtifactStore
from loopml.store.database import Database
from loopml.store.migrate import head_revision, upgrade_to_head
from loopml.tracking import Dataset, DatasetInput, Metric, TrackingClient
from loopml.tracking._sql import SqlTrackingStore

THREADS = 6
BATCHES = 4
POINTS = 100
WAIT_S = 120

_PRELOAD = [
    "pytest",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "loopml.store.migrate",
    "loopml.tracking._sql",
]
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _open(url: str, home: Path) -> tuple[TrackingClient, Database]:
    db = Database(url)
    return TrackingClient(SqlTrackingStore(db), ArtifactStore(str(home / "artifacts"))), db


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'loopml.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=BACKENDS)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database nothing has migrated yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("postgres_databases").create())


@pytest.fixture
def client(database_url: str, tmp_path: Path) -> Iterator[TrackingClient]:
    tracking, db = _open(database_url, tmp_path)
    db.initialize()
    yield tracking
    db.dispose()


def _new_run(client: TrackingClient) -> str:
    experiment_id = client.create_experiment(f"concurrency-{uuid.uuid4().hex}")
    return client.create_run(experiment_id).info.run_id


def _log_batches(client: TrackingClient, run_id: str, worker: int, workers: int) -> None:
    """Steps count down from the first batch of worker 0, which holds the highest one."""
    total = workers * BATCHES * POINTS
    for batch in range(BATCHES):
        first = (worker * BATCHES + batch) * POINTS
        metrics = [
            Metric("loss", float(worker), 1_000 + batch, total - 1 - (first + i))
            for i in range(POINTS)
        ]
        client.log_batch(run_id, metrics=metrics)


def _all_at_once(workers: int, task: Callable[[int], None]) -> None:
    """Run ``task(0..workers-1)`` on threads released together; re-raise the first error."""
    barrier = threading.Barrier(workers)

    def run(worker: int) -> None:
        barrier.wait(WAIT_S)
        task(worker)

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(run, worker) for worker in range(workers)]:
            future.result()


def _assert_every_point_arrived(client: TrackingClient, run_id: str, workers: int) -> None:
    total = workers * BATCHES * POINTS
    history = client.get_metric_history(run_id, "loss").items
    assert len(history) == total
    assert sorted(point.step for point in history) == list(range(total))
    (latest,) = client.get_run(run_id).data.metrics
    assert (latest.step, latest.value) == (total - 1, 0.0), "the latest never regresses"


def test_threads_log_metric_batches_to_one_run(client: TrackingClient) -> None:
    run_id = _new_run(client)
    _all_at_once(THREADS, lambda worker: _log_batches(client, run_id, worker, THREADS))
    _assert_every_point_arrived(client, run_id, THREADS)


def _log_from_process(
    url: str, home: str, run_id: str, first_worker: int, workers: int, barrier: Barrier
) -> None:
    tracking, db = _open(url, Path(home))
    db.initialize()
    barrier.wait(WAIT_S)
    threads = THREADS // 2
    _all_at_once(threads, lambda i: _log_batches(tracking, run_id, first_worker + i, workers))
    db.dispose()


def _forkserver() -> BaseContext:
    """Fresh processes forked from one server that has imported the heavy modules once.

    Starting interpreters dominates these tests; the server pays for the imports
    once per session and never opens a database, so each child starts clean.
    (Python 3.11's forkserver ignores the parent's sys.path while preloading,
    so this module itself cannot be preloaded; its dependencies can.)
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _start_all(
    context: BaseContext, target: Callable[..., None], args_per_process: list[tuple[Any, ...]]
) -> None:
    """Run ``target`` in one process per argument tuple; each must exit cleanly."""
    processes = [context.Process(target=target, args=args) for args in args_per_process]
    for process in processes:
        process.start()
    for process in processes:
        process.join(WAIT_S)
    assert [p.exitcode for p in processes] == [0] * len(processes)


def test_processes_log_metric_batches_to_one_sqlite_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'loopml.db'}"
    tracking, db = _open(url, tmp_path)
    run_id = _new_run(tracking)
    context = multiprocessing.get_context("spawn")
    half = THREADS // 2
    barrier = context.Barrier(2)
    _start_all(
        context,
        _log_from_process,
        [(url, str(tmp_path), run_id, first, THREADS, barrier) for first in (0, half)],
    )
    _assert_every_point_arrived(tracking, run_id, THREADS)
    db.dispose()


def _migrate_from_process(url: str, barrier: Barrier, results: Any) -> None:
    db = Database(url)
    barrier.wait(WAIT_S)
    migrated = upgrade_to_head(db)
    db.initialize()
    results.put(migrated)
    db.dispose()


def test_processes_starting_on_a_fresh_database_migrate_it_once(fresh_database_url: str) -> None:
    processes = 3
    context = _forkserver()
    barrier, results = context.Barrier(processes), context.Queue()
    _start_all(context, _migrate_from_process, [(fresh_database_url, barrier, results)] * processes)
    outcomes = sorted(results.get(timeout=WAIT_S) for _ in range(processes))
    assert outcomes == [False] * (processes - 1) + [True]
    db = Database(fresh_database_url)
    with db.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        defaults = conn.execute(text("SELECT name FROM experiments WHERE experiment_id = 0"))
        assert versions == [head_revision()]
        assert defaults.scalars().all() == ["Default"]
    db.dispose()


def _log_same_param(client: TrackingClient, run_id: str, _worker: int) -> None:
    client.log_param(run_id, "lr", "0.1")


def test_threads_logging_the_same_param_value_all_succeed(
    client: TrackingClient, database_url: str, request: pytest.FixtureRequest
) -> None:
    for run_id in [_new_run(client) for _ in range(3)]:
        _all_at_once(THREADS, functools.partial(_log_same_param, client, run_id))
        assert client.get_run(run_id).data.params == {"lr": "0.1"}


def test_threads_logging_the_same_dataset_all_succeed(
    client: TrackingClient, database_url: str, request: pytest.FixtureRequest
) -> None:
    experiment_id = client.create_experiment(f"concurrency-datasets-{uuid.uuid4().hex}")
    runs = [client.create_run(experiment_id).info.run_id for _ in range(THREADS)]
    dataset = DatasetInput(Dataset("train", "d1", "local", "/data/train.csv"))
    _all_at_once(THREADS, lambda worker: client.log_inputs(runs[worker], [dataset]))
    _all_at_once(THREADS, lambda _worker: client.log_inputs(runs[0], [dataset]))
    for run_id in runs:
        assert client.get_run(run_id).dataset_inputs == [dataset]
