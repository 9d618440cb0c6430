"""``loopml demo --quick``: the whole story on a fresh home, and what it leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.auth import AuditFilter
from loopml.client import Client

pytestmark = pytest.mark.slow


def test_the_demo_tells_the_whole_story_and_leaves_it_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml
    from loopml.automation import PolicyStore
    from loopml.cli.main import app
    from loopml.registry.lineage import version_lineage

    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    told = CliRunner().invoke(app, ["demo", "--quick"])
    loopml.set_tracking_uri(None)
    assert told.exit_code == 0, told.output
    for line in (
        "policy loan-retrain: promoted",
        "policy loan-bad-retrain: rejected",
        "policy loan-risky: rolled back",
        "champion now: loan v2",
        "loopml server",
    ):
        assert line in told.output
    assert (tmp_path / "demo-report" / "monitor-report.html").exists()
    assert "<script" not in (tmp_path / "demo-report" / "champion-card.html").read_text()

    with Client(tmp_path / "home") as client:
        store = PolicyStore(client.store.db)  # type: ignore[attr-defined]
        [retrain] = store.runs("loan-retrain")
        assert retrain.trigger["reason"] == "alert:loan-watch/drift"
        assert [t.to_state for t in store.transitions(retrain.run_id)] == [
            "triggered", "training", "gating", "canary", "promoted",
        ]  # fmt: skip
        events = client.auth.audit_events(AuditFilter(action="registered_model.set_alias"))
        assert [e.after["version"] for e in reversed(events)] == [1, 2]
        lineage = version_lineage(client, "loan", 2).to_dict()
        assert "data:loans@" in str(lineage)  # the champion back to the data it learned from

    again = CliRunner().invoke(app, ["demo", "--quick"])
    assert again.exit_code == 1
    assert "already holds the demo's model 'loan'" in again.output
