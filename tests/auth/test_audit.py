"""The audit chain: it verifies, it names the first event anyone tampered with, appends stay
linear under concurrency and commit with the caller, and listing filters and pages."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.synchronize import Barrier
from typing import Any

import pytest
from sqlalchemy import Connection, delete, insert, select, update

from loopml.auth import Actor, AuditEvent, AuditFilter, AuditLog, Role
from loopml.auth.audit import GENESIS_HASH, event_hash
from loopml.core.ids import new_id
from loopml.store.database import Database
from loopml.store.tables import audit_events, audit_head

from .conftest import Clock

EVENTS = 10
MIDDLE = 5
WAIT_S = 120

ALICE = Actor("a" * 32, "alice", Role.EDITOR, token_id="t" * 32, client_addr="10.0.0.1")
BOB = Actor("b" * 32, "bob", Role.ADMIN, client_addr="10.0.0.2")


@pytest.fixture
def log(db: Database) -> AuditLog:
    return AuditLog(db)


def _fill(log: AuditLog, count: int = EVENTS) -> list[AuditEvent]:
    """``count`` varied events: both actors, with and without before/after."""
    return [
        log.append(
            ALICE if i % 2 else BOB,
            f"experiment.{'update' if i % 3 else 'create'}",
            "experiment",
            str(i),
            before={"name": f"old-{i}"} if i % 3 else None,
            after={"name": f"new-{i}", "tags": {"k": i}},
            request_id=f"req-{i}",
        )
        for i in range(count)
    ]


def _row(conn: Connection, seq: int) -> dict[str, Any]:
    return dict(conn.execute(select(audit_events).where(audit_events.c.seq == seq)).one()._mapping)


def _set(conn: Connection, seq: int, /, **values: Any) -> None:
    conn.execute(update(audit_events).where(audit_events.c.seq == seq).values(**values))


# --- an intact chain ------------------------------------------------------------------------------


def test_an_empty_chain_verifies(log: AuditLog) -> None:
    result = log.verify()
    assert (result.ok, result.checked, result.head_seq, result.head_hash) == (
        True,
        0,
        0,
        GENESIS_HASH,
    )


def test_a_long_chain_verifies(log: AuditLog) -> None:
    events = _fill(log, 120)
    result = log.verify()
    assert (result.ok, result.checked, result.head_seq) == (True, 120, 120)
    assert result.head_hash == events[-1].hash
    assert (result.first_bad_seq, result.problem) == (None, "")


def test_each_event_links_to_the_one_before(log: AuditLog) -> None:
    events = _fill(log, 3)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]


def test_an_appended_event_reads_back_unchanged(log: AuditLog) -> None:
    event = log.append(
        ALICE, "model.create", "model", "m1", before=None, after={"b": 1, "a": [1, 2]}
    )
    assert log.list() == [event]
    assert (event.actor_id, event.token_id, event.client_addr) == (
        ALICE.principal_id,
        ALICE.token_id,
        "10.0.0.1",
    )
    assert event.request_id, "a request id is made up when none is given"


def test_a_long_client_address_is_cut_to_fit(log: AuditLog) -> None:
    actor = Actor("x", "x", Role.VIEWER, client_addr="f" * 100)
    assert log.append(actor, "a.b", "k", "1").client_addr == "f" * 64
    assert log.verify().ok


# --- tampering ------------------------------------------------------------------------------------


EDITS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    # column: (new value from the old row, what the problem says)
    "seq": (lambda row: 1_000, f"event {MIDDLE} is missing (next is {MIDDLE + 1}): deleted"),
    "event_id": (lambda row: new_id(), "was edited: its hash does not match its contents"),
    "at_ms": (lambda row: row["at_ms"] + 1, "was edited"),
    "actor_id": (lambda row: "c" * 32, "was edited"),
    "actor_name": (lambda row: "mallory", "was edited"),
    "token_id": (lambda row: None if row["token_id"] else "d" * 32, "was edited"),
    "action": (lambda row: "experiment.delete", "was edited"),
    "resource_kind": (lambda row: "model", "was edited"),
    "resource_id": (lambda row: "999", "was edited"),
    "before": (lambda row: '{"name":"forged"}', "was edited"),
    "after": (lambda row: None, "was edited"),
    "request_id": (lambda row: "req-forged", "was edited"),
    "client_addr": (lambda row: "192.0.2.1", "was edited"),
    "prev_hash": (lambda row: "1" * 64, f"does not follow event {MIDDLE - 1}"),
    "hash": (lambda row: "2" * 64, "was edited"),
}


@pytest.mark.parametrize("column", list(EDITS))
def test_editing_any_column_of_a_middle_event_is_caught(
    log: AuditLog, db: Database, column: str
) -> None:
    _fill(log)
    new_value, problem = EDITS[column]
    with db.write() as conn:
        _set(conn, MIDDLE, **{column: new_value(_row(conn, MIDDLE))})
    result = log.verify()
    assert not result.ok
    assert result.first_bad_seq == MIDDLE
    assert problem in result.problem
    assert result.checked == MIDDLE - 1


def test_editing_an_event_and_its_hash_is_caught_by_the_next(log: AuditLog, db: Database) -> None:
    _fill(log)
    with db.write() as conn:
        row = _row(conn, MIDDLE)
        row["actor_name"] = "mallory"
        _set(conn, MIDDLE, actor_name="mallory", hash=event_hash(row))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, MIDDLE + 1)
    assert f"event {MIDDLE + 1}" in result.problem
    assert "an event before it was inserted, deleted or edited" in result.problem


def test_deleting_a_middle_event_is_caught(log: AuditLog, db: Database) -> None:
    _fill(log)
    with db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == MIDDLE))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, MIDDLE)
    assert result.problem == f"event {MIDDLE} is missing (next is {MIDDLE + 1}): deleted"


def test_deleting_the_newest_event_is_caught(log: AuditLog, db: Database) -> None:
    _fill(log)
    with db.write() as conn:
        conn.execute(delete(audit_events).where(audit_events.c.seq == EVENTS))
    result = log.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, EVENTS, EVENTS - 1)
    assert result.problem == f"events {EVENTS} to {EVENTS} are missing: deleted"


def _forged(seq: int, prev_hash: str) -> dict[str, Any]:
    """An event that hashes correctly: what a forger with database access would write."""
    fields: dict[str, Any] = {
        "seq": seq,
        "event_id": new_id(),
        "at_ms": 1,
        "actor_id": BOB.principal_id,
        "actor_name": BOB.name,
        "token_id": None,
        "action": "account.update",
        "resource_kind": "account",
        "resource_id": ALICE.principal_id,
        "before": '{"role":"viewer"}',
        "after": '{"role":"admin"}',
        "request_id": "forged",
        "client_addr": "",
        "prev_hash": prev_hash,
    }
    return {**fields, "hash": event_hash(fields)}


def test_a_forged_event_at_the_end_is_caught(log: AuditLog, db: Database) -> None:
    events = _fill(log)
    with db.write() as conn:
        conn.execute(insert(audit_events).values(**_forged(EVENTS + 1, events[-1].hash)))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, EVENTS + 1)
    assert f"lies beyond the recorded head {EVENTS}: inserted" in result.problem


def test_a_forged_event_in_the_middle_is_caught(log: AuditLog, db: Database) -> None:
    events = _fill(log)
    with db.write() as conn:
        # Two steps, so no row ever collides with another's seq.
        shift = audit_events.c.seq >= MIDDLE
        conn.execute(update(audit_events).where(shift).values(seq=audit_events.c.seq + 1_000))
        moved = audit_events.c.seq >= 1_000
        conn.execute(update(audit_events).where(moved).values(seq=audit_events.c.seq - 999))
        conn.execute(insert(audit_events).values(**_forged(MIDDLE, events[MIDDLE - 2].hash)))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, MIDDLE + 1)
    assert f"does not follow event {MIDDLE}" in result.problem


def test_swapping_two_events_is_caught(log: AuditLog, db: Database) -> None:
    _fill(log)
    first, second = MIDDLE - 1, MIDDLE + 1
    with db.write() as conn:
        a, b = _row(conn, first), _row(conn, second)
        for row in (a, b):
            del row["seq"]
        _set(conn, first, event_id="swapping")  # free the unique event ids first
        _set(conn, second, **a)
        _set(conn, first, **b)
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, first)
    assert f"does not follow event {first - 1}" in result.problem


@pytest.mark.parametrize(
    ("head", "first_bad", "problem"),
    [
        pytest.param(
            {"hash": "3" * 64},
            EVENTS,
            f"event {EVENTS} does not match the recorded head hash: edited",
            id="hash",
        ),
        pytest.param(
            {"seq": EVENTS - 1},
            EVENTS,
            f"lies beyond the recorded head {EVENTS - 1}: inserted",
            id="seq-lower",
        ),
        pytest.param(
            {"seq": EVENTS + 1},
            EVENTS + 1,
            f"events {EVENTS + 1} to {EVENTS + 1} are missing: deleted",
            id="seq-higher",
        ),
    ],
)
def test_editing_the_head_is_caught(
    log: AuditLog, db: Database, head: dict[str, Any], first_bad: int, problem: str
) -> None:
    _fill(log)
    with db.write() as conn:
        conn.execute(update(audit_head).values(**head))
    result = log.verify()
    assert (result.ok, result.first_bad_seq) == (False, first_bad)
    assert problem in result.problem


def test_the_verification_reads_as_a_report(log: AuditLog, db: Database) -> None:
    _fill(log)
    with db.write() as conn:
        _set(conn, MIDDLE, actor_name="mallory")
    report = log.verify().to_dict()
    assert report["ok"] is False
    assert report["first_bad_seq"] == MIDDLE
    assert report["problem"].startswith(f"event {MIDDLE} (")


# --- transactions ---------------------------------------------------------------------------------


def _append_then_fail(log: AuditLog, db: Database) -> None:
    with db.write() as conn:
        log.append(ALICE, "experiment.delete", "experiment", "1", conn=conn)
        raise RuntimeError("the change failed")


def test_an_append_rolls_back_with_the_callers_transaction(log: AuditLog, db: Database) -> None:
    _fill(log, 2)
    with pytest.raises(RuntimeError, match="the change failed"):
        _append_then_fail(log, db)
    assert [e.action for e in log.list()] == ["experiment.update", "experiment.create"]
    result = log.verify()
    assert (result.ok, result.head_seq) == (True, 2)
    assert log.append(ALICE, "experiment.delete", "experiment", "1").seq == 3
    assert log.verify().ok


def test_appends_in_one_transaction_chain_together(log: AuditLog, db: Database) -> None:
    with db.write() as conn:
        first = log.append(ALICE, "a.one", "k", "1", conn=conn)
        second = log.append(ALICE, "a.two", "k", "1", conn=conn)
    assert (first.seq, second.seq, second.prev_hash) == (1, 2, first.hash)
    assert log.verify().ok


# --- concurrency ---------------------------------------------------------------------------------


WORKERS = 4
APPENDS = 50


def _append_many(log: AuditLog, worker: int) -> None:
    actor = Actor(f"w{worker}", f"worker-{worker}", Role.EDITOR)
    for i in range(APPENDS):
        log.append(actor, "experiment.update", "experiment", f"{worker}-{i}")


def _assert_gapless(log: AuditLog) -> None:
    events = log.list(limit=10_000)
    assert sorted(e.seq for e in events) == list(range(1, WORKERS * APPENDS + 1))
    per_worker = [sum(e.actor_name == f"worker-{w}" for e in events) for w in range(WORKERS)]
    assert per_worker == [APPENDS] * WORKERS
    result = log.verify()
    assert (result.ok, result.checked) == (True, WORKERS * APPENDS)


def test_threads_append_one_linear_chain(log: AuditLog) -> None:
    barrier = threading.Barrier(WORKERS)

    def work(worker: int) -> None:
        barrier.wait(WAIT_S)
        _append_many(log, worker)

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(work, w) for w in range(WORKERS)]:
            future.result()
    _assert_gapless(log)


def _append_from_process(url: str, worker: int, barrier: Barrier) -> None:
    db = Database(url)
    db.initialize()
    barrier.wait(WAIT_S)
    _append_many(AuditLog(db), worker)
    db.dispose()


@pytest.mark.postgres
def test_processes_append_one_linear_chain_on_postgresql(
    auth_postgres_url: str, postgres_db: Database
) -> None:
    """Several servers on one database: the head row's lock keeps the chain linear."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    processes = [
        context.Process(target=_append_from_process, args=(auth_postgres_url, w, barrier))
        for w in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(WAIT_S)
    assert [p.exitcode for p in processes] == [0] * WORKERS
    _assert_gapless(AuditLog(postgres_db))


# --- listing --------------------------------------------------------------------------------------


@pytest.fixture
def history(log: AuditLog, clock: Clock) -> list[AuditEvent]:
    """Six events one second apart, at_ms 1000 .. 6000."""
    clock.ms = 0
    steps = [
        (ALICE, "experiment.create", "experiment", "1"),
        (BOB, "experiment.update", "experiment", "1"),
        (ALICE, "experiment.delete", "experiment", "2"),
        (ALICE, "model.create", "model", "1"),
        (BOB, "experimental.run", "experiment", "2"),
        (Actor("c" * 32, "carol", Role.VIEWER), "account.create", "account", "c"),
    ]
    events = []
    for actor, action, kind, resource_id in steps:
        clock.advance(1_000)
        events.append(log.append(actor, action, kind, resource_id))
    return events


def _seqs(log: AuditLog, limit: int = 100, **where: Any) -> list[int]:
    return [e.seq for e in log.list(AuditFilter(**where), limit)]


def test_list_is_newest_first(log: AuditLog, history: list[AuditEvent]) -> None:
    assert log.list() == history[::-1]
    assert [e.at_ms for e in history] == [1_000, 2_000, 3_000, 4_000, 5_000, 6_000]


@pytest.mark.parametrize(
    ("where", "seqs"),
    [
        ({"actor": "alice"}, [4, 3, 1]),
        ({"actor": "a" * 32}, [4, 3, 1]),
        ({"actor": "nobody"}, []),
        ({"action": "experiment.update"}, [2]),
        ({"action": "experiment"}, []),
        ({"action": "experiment.*"}, [3, 2, 1]),
        ({"action": "experiment."}, [3, 2, 1]),
        ({"action": "experiment*"}, [5, 3, 2, 1]),
        ({"action": "experimen_.*"}, []),
        ({"action": "*"}, [6, 5, 4, 3, 2, 1]),
        ({"resource_kind": "experiment"}, [5, 3, 2, 1]),
        ({"resource_kind": "experiment", "resource_id": "1"}, [2, 1]),
        ({"resource_id": "1"}, [4, 2, 1]),
        ({"since_ms": 2_000}, [6, 5, 4, 3, 2]),
        ({"until_ms": 3_000}, [2, 1]),
        ({"since_ms": 2_000, "until_ms": 4_000}, [3, 2]),
        ({"actor": "bob", "action": "experiment*", "since_ms": 3_000}, [5]),
    ],
)
def test_list_filters(
    log: AuditLog, history: list[AuditEvent], where: dict[str, Any], seqs: list[int]
) -> None:
    assert _seqs(log, **where) == seqs


def test_list_pages_back_with_before_seq(log: AuditLog, history: list[AuditEvent]) -> None:
    pages, before = [], None
    while True:
        page = _seqs(log, limit=4, before_seq=before)
        if not page:
            break
        pages.append(page)
        before = page[-1]
    assert pages == [[6, 5, 4, 3], [2, 1]]
    assert _seqs(log, limit=2, actor="alice", before_seq=4) == [3, 1]
