"""``loopml policies``: create from YAML, run, follow the history, pause, delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

if TYPE_CHECKING:
    from tests.automation.conftest import World

POLICY = """
name: clf-retrain
endpoint: clf-api
model: clf
triggers: [alert:clf-watch/drift, "cron:0 3 * * 1"]
action:
  pipeline: loop_flows:retrain
  params: {quality: good}
gates:
  data: data:holdout@1
  target: y
  rules: ["accuracy >= baseline.accuracy - 0.02"]
rollout:
  weight: 25
  min_requests: 20
  min_duration_s: 0
  guards: ["error_rate <= 0.05"]
limits: {cooldown_s: 3600}
"""


def test_the_cli_makes_runs_and_shows_a_policy(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.cli.main import app

    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    (tmp_path / "policy.yaml").write_text(POLICY)
    made = runner.invoke(app, ["policies", "create", str(tmp_path / "policy.yaml")])
    assert made.exit_code == 0, made.output
    assert "created policy clf-retrain: clf-api (clf@champion)" in made.output
    listed = runner.invoke(app, ["policies", "list", "--json"])
    assert json.loads(listed.output)[0]["rollout"]["weight"] == 25.0

    ran = runner.invoke(app, ["policies", "run", "clf-retrain"])
    assert ran.exit_code == 0, ran.output
    assert ": canary" in ran.output
    assert "it goes on as traffic and labels arrive" in ran.output
    again = runner.invoke(app, ["policies", "run", "clf-retrain"])
    assert again.exit_code == 1
    assert "already has a run in flight" in again.output
    refused = runner.invoke(app, ["policies", "delete", "clf-retrain"])
    assert refused.exit_code == 1
    assert "has runs in flight" in refused.output

    world.serve(world.table(80, 6), "cli")
    history = runner.invoke(app, ["policies", "history", "clf-retrain", "--json"])
    [run] = json.loads(history.output)
    assert [t["to_state"] for t in run["transitions"]] == [
        "triggered",
        "training",
        "gating",
        "canary",
    ]
    assert runner.invoke(app, ["policies", "pause", "clf-retrain"]).exit_code == 0
    shown = runner.invoke(app, ["policies", "show", "clf-retrain", "--json"])
    assert json.loads(shown.output)["policy"]["enabled"] is False


def test_a_bad_policy_file_names_the_field(tmp_path: Path) -> None:
    from loopml.cli.main import app

    (tmp_path / "bad.yaml").write_text(POLICY.replace("weight: 25", "weight: 250"))
    refused = CliRunner().invoke(app, ["policies", "create", str(tmp_path / "bad.yaml")])
    assert refused.exit_code == 1
    assert "rollout.weight must be between 0 and 100 percent, got 250.0" in refused.output
