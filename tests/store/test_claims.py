"""Claims: many workers race for one due time and exactly one wins, on both databases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.store.claims import claim, forget
from loopml.store.database import Database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'claims.db'}"
    else:
        yield request.getfixturevalue("postgres_databases").create()


def test_of_eight_workers_racing_for_one_due_time_exactly_one_wins(url: str) -> None:
    workers = [Database(url) for _ in range(8)]
    workers[0].initialize()
    start = threading.Barrier(len(workers))
    won: list[str] = []

    def race(index: int) -> None:
        start.wait()
        for due_ms in (1_000, 2_000, 3_000):
            if claim(workers[index], "pipeline", "nightly", due_ms, claimed_by=f"w{index}"):
                won.append(f"{due_ms}:w{index}")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for db in workers:
        db.dispose()
    assert sorted(w.split(":")[0] for w in won) == ["1000", "2000", "3000"]


def test_claims_are_per_kind_name_and_due_time_and_forget_clears_a_name(url: str) -> None:
    db = Database(url)
    assert claim(db, "monitor", "m", 1)
    assert not claim(db, "monitor", "m", 1)
    assert claim(db, "monitor", "m", 2)
    assert claim(db, "pipeline", "m", 1)
    assert claim(db, "monitor", "other", 1)
    forget(db, "monitor", "m")
    assert claim(db, "monitor", "m", 1)
    assert not claim(db, "monitor", "other", 1)
    db.dispose()
