"""A schedule on ``loopml server --workers 2``: each due time runs exactly once.

Both worker processes run the scheduler against one database (SQLite, and
PostgreSQL) and race for every tick of a once-a-second schedule; the
pipeline runs left behind carry their due time, and no due time appears twice.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from loopml.client import Client
from loopml.store.database import Database
from loopml.store.tables import schedule_claims

pytestmark = pytest.mark.slow

PIPELINE = """
import loopml


@loopml.step
def stamp(label: str) -> str:
    return label


@loopml.pipeline
def every_second(label: str = "tick") -> str:
    return stamp(label)
"""


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_two_server_workers_run_each_due_time_once(
    backend: str,
    tmp_path: Path,
    start_server: Any,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "ticking_flows.py").write_text(PIPELINE)
    database_url = (
        request.getfixturevalue("postgres_databases").create() if backend == "postgresql" else None
    )
    env = {"PYTHONPATH": str(code), "LOOPML_SCHEDULER": "true", "LOOPML_SCHEDULER_TICK_S": "0.2"}
    server = start_server(workers=2, database_url=database_url, env=env)
    from typer.testing import CliRunner

    from loopml.cli.main import app

    runner = CliRunner()
    made = runner.invoke(
        app,
        ["pipelines", "schedule", "ticking", "ticking_flows:every_second", "--cron",
         "* * * * * *", "--executor", "inline", "--param", "label=t", "--uri", server.url],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    time.sleep(5)
    paused = runner.invoke(app, ["pipelines", "pause", "ticking", "--uri", server.url])
    assert paused.exit_code == 0, paused.output
    time.sleep(1)  # runs already started finish
    server.stop()

    db = Database(server.database_url)
    with db.read() as conn:
        claims = conn.execute(schedule_claims.select()).mappings().all()
    db.dispose()
    for name in ("LOOPML_HOME", "LOOPML_DATABASE_URL", "LOOPML_ARTIFACT_ROOT"):
        monkeypatch.setenv(name, server.env[name])
    with Client() as client:  # the server's own store
        experiment = client.get_experiment_by_name("pipelines")
        runs = client.search_runs(
            [experiment.experiment_id], "tags.`loopml.schedule` = 'ticking'"
        ).items
    finished = [r for r in runs if r.info.status == "FINISHED"]
    due = Counter(r.data.tags["loopml.schedule.due_ms"] for r in finished)
    assert len(due) >= 3, due
    assert set(due.values()) == {1}, due  # no due time ran twice
    assert len(claims) == len(runs) == len(due)
    assert all(r.data.tags["loopml.schedule.reason"] == "cron" for r in runs)
