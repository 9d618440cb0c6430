"""The ``loopml`` command as a user types it, on an embedded store in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app
from loopml.client import Client
from loopml.tracking import fluent

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    return tmp_path


def _runs(home: Path) -> list[str]:
    client = Client(home)
    ids = []
    for lr in (0.1, 0.2):
        with fluent.start_run(client, "cli", run_name=f"lr-{lr}") as run:
            run.log_params({"lr": lr})
            run.log_metric("acc", lr * 4)
        ids.append(run.run_id)
    return ids


def test_experiments_create_list_rename_delete_restore(home: Path) -> None:
    created = runner.invoke(app, ["experiments", "create", "churn", "--json"])
    assert created.exit_code == 0, created.output
    experiment_id = json.loads(created.output)["experiment_id"]
    assert runner.invoke(app, ["experiments", "rename", experiment_id, "churn2"]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["experiments", "list", "--json"]).output)
    assert {e["name"] for e in listed} == {"Default", "churn2"}
    assert runner.invoke(app, ["experiments", "delete", experiment_id]).exit_code == 0
    active = json.loads(runner.invoke(app, ["experiments", "list", "--json"]).output)
    assert {e["name"] for e in active} == {"Default"}
    assert runner.invoke(app, ["experiments", "restore", experiment_id]).exit_code == 0


def test_duplicate_experiment_is_one_clear_line_and_exit_1(home: Path) -> None:
    runner.invoke(app, ["experiments", "create", "dup"])
    result = runner.invoke(app, ["experiments", "create", "dup"])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert "Traceback" not in result.output


def test_runs_list_filters_and_orders(home: Path) -> None:
    _runs(home)
    result = runner.invoke(
        app,
        ["runs", "list", "-e", "cli", "--filter", "metrics.acc > 0.5", "--order-by",
         "metrics.acc DESC", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    names = [r["info"]["run_name"] for r in json.loads(result.output)]
    assert names == ["lr-0.2"]


def test_runs_show_and_compare(home: Path) -> None:
    first, second = _runs(home)
    shown = runner.invoke(app, ["runs", "show", first])
    assert shown.exit_code == 0, shown.output
    assert "lr-0.1" in shown.output
    assert "acc" in shown.output
    compared = json.loads(runner.invoke(app, ["runs", "compare", first, second, "--json"]).output)
    labels = [row[0] for row in compared["rows"]]
    assert labels == ["param lr", "metric acc"]


def test_unknown_run_exits_3_with_a_message(home: Path) -> None:
    result = runner.invoke(app, ["runs", "show", "0" * 32])
    assert result.exit_code == 3
    assert "does not exist" in result.output


def test_unknown_experiment_name_exits_3(home: Path) -> None:
    result = runner.invoke(app, ["runs", "list", "-e", "nope"])
    assert result.exit_code == 3
    assert "'nope' does not exist" in result.output


def test_db_upgrade_is_idempotent(home: Path) -> None:
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    assert "migrated to" in first.output
    second = runner.invoke(app, ["db", "upgrade"])
    assert "already at" in second.output
