"""Pipeline schedules: cron ticks, dataset and alert triggers, one run per due time.

A real pipeline module written into a temporary folder is the target; the
scheduler runs it with the inline executor against a loopml home, and the
tracking runs it leaves (tagged with what triggered them) are the evidence.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from loopml.auth import AuditFilter, local_actor
from loopml.client import Client
from loopml.core.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from loopml.pipelines.schedules import Schedule, ScheduleStore, Trigger
from loopml.pipelines.triggers import PipelineScheduler, run_scheduled
from loopml.store.database import Database

PIPELINE = """
import loopml


@loopml.step
def count(rows: int) -> int:
    return rows + 1


@loopml.pipeline
def nightly(rows: int = 1) -> int:
    return count(rows)
"""

MINUTE_MS = 60_000


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "scheduled_flows.py").write_text(PIPELINE)
    monkeypatch.syspath_prepend(str(folder))
    return tmp_path / "home"


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with Client(home) as made:
        yield made


def store_of(client: Client) -> ScheduleStore:
    return ScheduleStore(client.store.db)  # type: ignore[attr-defined]


def scheduled_runs(client: Client) -> list[dict[str, str]]:
    """The tags of every pipeline run a schedule started, oldest first."""
    experiment = client.get_experiment_by_name("pipelines")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], "tags.`loopml.schedule` != ''").items
    return sorted((r.data.tags for r in runs), key=lambda t: int(t["loopml.schedule.due_ms"]))


def scheduler(client: Client, clock: dict[str, float]) -> PipelineScheduler:
    return PipelineScheduler(store_of(client), run_scheduled(client), clock=lambda: clock["now"])


def nightly(name: str = "nightly", **changes: Any) -> Schedule:
    fields: dict[str, Any] = {
        "name": name, "target": "scheduled_flows:nightly", "cron": "* * * * *",
        "params": {"rows": 41}, "executor": "inline", **changes,
    }  # fmt: skip
    return Schedule(**fields)


def test_a_cron_schedule_runs_once_per_tick_and_only_the_latest_missed_one(
    client: Client,
) -> None:
    made = store_of(client).create(nightly(), local_actor())
    first_tick = (made.created_ms // MINUTE_MS + 1) * MINUTE_MS
    clock = {"now": (first_tick - 1) / 1000}
    ticking = scheduler(client, clock)
    assert ticking.run_due() == []
    clock["now"] = (first_tick + 500) / 1000
    assert [f.due_ms for f in ticking.run_due()] == [first_tick]
    assert ticking.run_due() == []  # the same tick never runs twice
    clock["now"] += 5 * 60  # five ticks missed: one run, for the latest
    assert [f.due_ms for f in ticking.run_due()] == [first_tick + 5 * MINUTE_MS]
    runs = scheduled_runs(client)
    assert [r["loopml.schedule.reason"] for r in runs] == ["cron", "cron"]
    assert [int(r["loopml.schedule.due_ms"]) for r in runs] == [
        first_tick,
        first_tick + 5 * MINUTE_MS,
    ]


def test_a_paused_schedule_does_not_run_until_resumed(client: Client) -> None:
    store = store_of(client)
    made = store.create(nightly(), local_actor())
    assert store.set_enabled("nightly", False, local_actor()).enabled is False
    clock = {"now": (made.created_ms + 2 * MINUTE_MS) / 1000}
    assert scheduler(client, clock).run_due() == []
    store.set_enabled("nightly", True, local_actor())
    assert len(scheduler(client, clock).run_due()) == 1


def test_a_new_dataset_version_runs_the_pipeline_once_for_the_newest(client: Client) -> None:
    store_of(client).create(
        nightly(cron=None, triggers=(Trigger.parse("dataset:orders"),)), local_actor()
    )
    client.data.add("orders", pd.DataFrame({"x": [1, 2]}))
    client.data.add("orders", pd.DataFrame({"x": [1, 2, 3]}))
    client.data.add("other", pd.DataFrame({"x": [1]}))
    clock = {"now": 4_000_000_000.0}
    ticking = scheduler(client, clock)
    [fired] = ticking.run_due()
    assert (fired.reason, fired.detail) == ("dataset:orders", "orders@2")  # two versions, one run
    assert ticking.run_due() == []
    client.data.add("orders", pd.DataFrame({"x": [4]}))
    [again] = ticking.run_due()
    assert again.detail == "orders@3"
    assert [r["loopml.schedule.detail"] for r in scheduled_runs(client)] == [
        "orders@2",
        "orders@3",
    ]


def test_an_alert_on_the_watched_monitor_and_rule_runs_the_pipeline(client: Client) -> None:
    from loopml.monitoring._sql_alerts import SqlAlertStore
    from loopml.monitoring.alerts import Alert

    store = store_of(client)
    made = store.create(
        nightly(cron=None, triggers=(Trigger.parse("alert:churn-watch/drift"),)), local_actor()
    )
    alerts = SqlAlertStore(client.store.db)  # type: ignore[attr-defined]

    def fire(alert_id: str, monitor: str, rule: str, at: int) -> None:
        alerts.put_alert(
            Alert(
                alert_id,
                rule,
                monitor,
                "share_drifted",
                "warning",
                "firing",
                0.6,
                0.3,
                "drifted",
                at,
                at,
                window_end_ms=at,
            )
        )

    at = made.created_ms + 1_000
    fire("other-rule", "churn-watch", "latency", at)
    fire("other-monitor", "fraud-watch", "drift", at)
    clock = {"now": (at + 10_000) / 1000}
    ticking = scheduler(client, clock)
    assert ticking.run_due() == []
    fire("the-one", "churn-watch", "drift", at + 5_000)
    [fired] = ticking.run_due()
    assert (fired.reason, fired.detail) == ("alert:churn-watch/drift", "the-one")
    assert ticking.run_due() == []


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_two_workers_run_each_due_time_exactly_once(
    backend: str,
    tmp_path: Path,
    home: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_databases").create()
    )
    clients = [_client_on(url, tmp_path / "shared", monkeypatch) for _ in range(2)]
    made = store_of(clients[0]).create(nightly(), local_actor())
    first_tick = (made.created_ms // MINUTE_MS + 1) * MINUTE_MS
    fired: list[int] = []
    for tick in range(3):
        clock = {"now": (first_tick + tick * MINUTE_MS + 200) / 1000}
        workers = [scheduler(c, clock) for c in clients]
        start = threading.Barrier(2)

        def work(each: PipelineScheduler, start: threading.Barrier = start) -> None:
            start.wait()
            fired.extend(f.due_ms for f in each.run_due())

        _in_threads(work, workers)
    assert sorted(fired) == [first_tick + i * MINUTE_MS for i in range(3)]
    due = [int(r["loopml.schedule.due_ms"]) for r in scheduled_runs(clients[0])]
    assert due == sorted(fired)  # one pipeline run per due time
    for each in clients:
        each.close()


def _client_on(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Client:
    """A client of the shared database, as a server worker configured by environment is."""
    monkeypatch.setenv("LOOPML_HOME", str(home))
    monkeypatch.setenv("LOOPML_DATABASE_URL", url)
    monkeypatch.setenv("LOOPML_ARTIFACT_ROOT", str(home / "artifacts"))
    return Client()


def _in_threads(work: Callable[[Any], None], items: list[Any]) -> None:
    threads = [threading.Thread(target=work, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_bad_schedules_are_refused_naming_the_field_and_changes_are_audited(
    client: Client,
) -> None:
    store = store_of(client)
    refused = {
        "schedule name 'bad name'": nightly("bad name"),
        "file paths are refused": nightly(target="/tmp/flows.py:nightly"),
        "cron '61 \\* \\* \\* \\*' is not a cron expression": nightly(cron="61 * * * *"),
        "needs a cron string, a trigger, or both": nightly(cron=None),
        "executor 'threads' is not one of": nightly(executor="threads"),
        "params must be JSON values": nightly(params={"when": object()}),
    }
    for message, schedule in refused.items():
        with pytest.raises(InvalidParameter, match=message):
            store.create(schedule, local_actor())
    with pytest.raises(InvalidParameter, match="trigger 'table:x' must look like"):
        Trigger.parse("table:x")
    assert store.list() == []
    store.create(nightly(), local_actor())
    with pytest.raises(ResourceAlreadyExists, match="schedule 'nightly' already exists"):
        store.create(nightly(), local_actor())
    store.set_enabled("nightly", False, local_actor())
    store.delete("nightly", local_actor())
    with pytest.raises(ResourceNotFound, match="no pipeline schedule named 'nightly'"):
        store.get("nightly")
    events = client.auth.audit_events(AuditFilter(action="pipeline.*"))  # type: ignore[attr-defined]
    assert [e.action for e in reversed(events)] == [
        "pipeline.schedule",
        "pipeline.pause",
        "pipeline.unschedule",
    ]


def test_a_deleted_schedule_made_again_starts_clean(client: Client) -> None:
    store = store_of(client)
    made = store.create(nightly(), local_actor())
    clock = {"now": (made.created_ms + MINUTE_MS) / 1000}
    assert len(scheduler(client, clock).run_due()) == 1
    store.delete("nightly", local_actor())
    db: Database = client.store.db  # type: ignore[attr-defined]
    from loopml.store.claims import last_claimed

    assert last_claimed(db, "pipeline", "nightly") is None


def test_the_cli_schedules_lists_pauses_and_unschedules(
    client: Client, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from loopml.cli.main import app

    monkeypatch.setenv("LOOPML_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    made = runner.invoke(
        app,
        ["pipelines", "schedule", "nightly", "scheduled_flows:nightly", "--cron", "0 3 * * *",
         "--on", "dataset:orders", "--param", "rows=7", "--executor", "inline"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "scheduled nightly: scheduled_flows:nightly on cron 0 3 * * * and dataset:orders" in (
        made.output
    )
    [listed] = json.loads(runner.invoke(app, ["pipelines", "schedules", "--json"]).output)
    assert listed["params"] == {"rows": 7}  # typed by the pipeline's annotation
    assert listed["triggers"] == ["dataset:orders"]
    assert runner.invoke(app, ["pipelines", "pause", "nightly"]).exit_code == 0
    assert store_of(client).get("nightly").enabled is False
    refused = runner.invoke(
        app, ["pipelines", "schedule", "bad", "/tmp/x.py:f", "--cron", "* * * * *"]
    )
    assert refused.exit_code == 1
    assert "file paths are refused" in refused.output
    assert runner.invoke(app, ["pipelines", "unschedule", "nightly"]).exit_code == 0
    assert store_of(client).list() == []
