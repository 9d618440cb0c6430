"""``loopml monitors --uri http://...`` against a real server with auth on.

The owner makes a monitor of its dataset, runs it (an empty window: insufficient
data) and reads it back; a reader may look but not run or delete; every change
is in the server's audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from loopml.auth import AuditFilter

if TYPE_CHECKING:
    from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.slow


def test_monitors_over_http_as_owner_and_reader(
    client_as: Callable[[str], Any], data_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.cli.main import app

    owner = client_as("owner")
    owner.data.add(
        "watched", pd.DataFrame({"x": [float(i) for i in range(200)], "c": ["a", "b"] * 100})
    )
    runner = CliRunner()
    monkeypatch.setenv("COLUMNS", "200")

    def as_(name: str, *args: str) -> Any:
        monkeypatch.setenv("LOOPML_TRACKING_TOKEN", data_server.accounts[name].token)
        return runner.invoke(app, ["monitors", *args, "--uri", data_server.url])

    made = as_(
        "owner", "create", "remote-watch", "--endpoint", "ep", "--reference", "data:watched@1"
    )
    assert made.exit_code == 0, made.output
    assert "created monitor remote-watch" in made.output
    ran = as_("owner", "run", "remote-watch")
    assert ran.exit_code == 0, ran.output
    assert "0 rows, insufficient data" in ran.output
    assert "remote-watch" in as_("reader", "list").output  # default permission read
    shown = as_("reader", "show", "remote-watch")
    assert "insufficient data" in shown.output
    no_report = as_("reader", "report", "remote-watch", "-o", "unused.html")
    assert no_report.exit_code == 3  # not found
    assert "monitor 'remote-watch' has no report for any run" in no_report.output
    refused = as_("reader", "run", "remote-watch")
    assert refused.exit_code == 1
    assert "may not edit monitor remote-watch" in refused.output
    assert as_("reader", "delete", "remote-watch").exit_code == 1
    assert as_("owner", "delete", "remote-watch").exit_code == 0
    monkeypatch.setenv("LOOPML_TRACKING_TOKEN", data_server.accounts["admin"].token)
    events = client_as("admin").auth.audit_events(AuditFilter(action="monitor.*"))
    assert sorted({e.action for e in events}) == ["monitor.create", "monitor.delete", "monitor.run"]
