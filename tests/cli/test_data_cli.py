"""``loopml data ...`` as a user types it, on an embedded store in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from loopml.cli.main import app

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    return tmp_path


def said(result: object) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(result.output.split())  # type: ignore[attr-defined]


def _csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _orders(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(n),
            "status": ["open", "paid"] * (n // 2),
            "amount": [float(i) for i in range(n)],
        }
    )


def test_add_list_versions_show_tag_and_get(home: Path) -> None:
    source = _csv(home / "orders.csv", _orders())
    added = runner.invoke(app, ["data", "add", "orders", str(source), "--description", "first"])
    assert added.exit_code == 0, added.output
    assert "added data:orders@1: 50 rows, 3 columns" in said(added)
    again = runner.invoke(app, ["data", "add", "orders", str(source)])
    assert "unchanged: identical content is already data:orders@1" in said(again)

    listed = json.loads(runner.invoke(app, ["data", "list", "--json"]).output)
    assert [(d["name"], d["latest_version"]) for d in listed] == [("orders", 1)]
    shown = runner.invoke(app, ["data", "show", "orders@1"])
    assert "amount" in said(shown)
    assert "double" in said(shown)
    assert runner.invoke(app, ["data", "tag", "orders@1", "prod"]).exit_code == 0
    assert (
        json.loads(runner.invoke(app, ["data", "show", "orders@prod", "--json"]).output)["version"]
        == 1
    )
    conflict = runner.invoke(app, ["data", "tag", "orders@1", "prod", "--expected", "7"])
    assert conflict.exit_code == 1
    assert "someone moved it" in said(conflict)

    copy = home / "copy.parquet"
    got = runner.invoke(app, ["data", "get", "orders@prod", "-o", str(copy)])
    assert got.exit_code == 0, got.output
    pd.testing.assert_frame_equal(pd.read_parquet(copy), _orders())
    refused = runner.invoke(app, ["data", "get", "orders@prod", "-o", str(copy)])
    assert refused.exit_code == 2  # never overwrite a file


def test_diff_by_key_names_the_changed_rows(home: Path) -> None:
    before = _orders()
    after = before.copy()
    after.loc[[3, 8], "amount"] = [300.0, 800.0]
    runner.invoke(app, ["data", "add", "orders", str(_csv(home / "a.csv", before))])
    runner.invoke(app, ["data", "add", "orders", str(_csv(home / "b.csv", after))])
    result = runner.invoke(app, ["data", "diff", "orders@1", "orders@2", "--key", "id", "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert (found["added"], found["removed"], found["changed"]) == (0, 0, 2)
    assert sorted(row["id"] for row in found["changed_sample"]) == [3, 8]
    table = runner.invoke(app, ["data", "diff", "orders@1", "orders@2", "--key", "id"])
    assert "0 added, 0 removed, 2 changed" in said(table)


def test_infer_attach_validate_and_profile(home: Path) -> None:
    runner.invoke(app, ["data", "add", "orders", str(_csv(home / "a.csv", _orders()))])
    suite = home / "orders.yaml"
    inferred = runner.invoke(app, ["data", "infer-suite", "orders@1", "-o", str(suite)])
    assert inferred.exit_code == 0, inferred.output
    assert (
        runner.invoke(app, ["data", "validate", "orders@1", "--suite", str(suite)]).exit_code == 0
    )
    attached = runner.invoke(app, ["data", "attach-suite", "orders", str(suite)])
    assert "new versions are validated on add" in said(attached)

    bad = _orders()
    bad.loc[4, "status"] = "lost"
    added = runner.invoke(app, ["data", "add", "orders", str(_csv(home / "bad.csv", bad))])
    assert "failed its dataset's suite" in said(added)
    failed = runner.invoke(app, ["data", "validate", "orders@2"])
    assert failed.exit_code == 1
    assert "lost" in said(failed)  # the failing row is shown
    versions = json.loads(runner.invoke(app, ["data", "versions", "orders", "--json"]).output)
    assert [v["validation_status"] for v in versions] == ["failed", None]

    page = home / "profile.html"
    profiled = runner.invoke(app, ["data", "profile", "orders@1", "--html", str(page)])
    assert profiled.exit_code == 0, profiled.output
    assert "<svg" in page.read_text()


def test_bad_input_is_one_clear_line(home: Path) -> None:
    missing = runner.invoke(app, ["data", "add", "orders", str(home / "nope.csv")])
    assert missing.exit_code == 1
    assert "no such file or directory" in said(missing)
    ragged = home / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    result = runner.invoke(app, ["data", "add", "orders", str(ragged)])
    assert result.exit_code == 1
    assert "cannot read" in said(result)
    unknown = runner.invoke(app, ["data", "show", "orders@1"])
    assert unknown.exit_code == 3
    assert "no dataset named 'orders'" in said(unknown)
