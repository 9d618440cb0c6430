"""``loopml pipelines run|list|show|resume`` as a user types them, on an embedded store."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from loopml.cli.main import app

runner = CliRunner()

FLOW = """
from pathlib import Path

from loopml.pipelines import pipeline, step


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def square(x: int) -> int:
    return x * x


@step
def total(values: list[int], label: str) -> str:
    return f"{label}={sum(values)}"


@step
def gate(switch: str, text: str) -> str:
    if Path(switch).read_text() == "fail":
        raise RuntimeError("the switch says fail")
    return text.upper()


@pipeline
def squares(n: int = 3, label: str = "sum") -> str:
    return total(square.map(numbers(n)), label)


@pipeline
def gated(switch: str) -> str:
    return gate(switch, total(square.map(numbers(2)), "x"))
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def flow(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The pipeline module as a file, also importable by name (``cli_flow``)."""
    folder = home / "project"
    folder.mkdir()
    path = folder / "cli_flow.py"
    path.write_text(FLOW)
    monkeypatch.syspath_prepend(str(folder))
    yield path
    sys.modules.pop("cli_flow", None)


def invoke(*args: str) -> Result:
    return runner.invoke(app, ["pipelines", *args])


def said(result: Result) -> str:
    """The output with Rich's table borders and line wrapping undone."""
    return " ".join(re.sub(r"[\u2500-\u257f]", " ", result.output).split())


def test_run_a_module_target_then_all_from_the_cache(flow: Path) -> None:
    first = invoke("run", "cli_flow:squares", "--param", "n=4", "-p", "label=total", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["status"] == "FINISHED"
    assert {s["status"] for s in report["steps"].values()} == {"completed"}
    again = invoke("run", "cli_flow:squares", "-p", "n=4", "-p", "label=total")
    assert again.exit_code == 0, again.output
    assert re.search(r"FINISHED squares run [0-9a-f]{32} \(6 cached\)", said(again))


def test_run_a_file_target_inline_and_show_it(flow: Path) -> None:
    done = invoke("run", f"{flow}:squares", "--executor", "inline", "--json")
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.output)["run_id"]
    shown = invoke("show", run_id, "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.output)
    assert document["target"] == f"{flow}:squares"
    assert document["executor"] == "inline"
    assert document["steps"][0]["step"] == "numbers"
    table = said(invoke("show", run_id))
    assert f"squares ({run_id}) FINISHED" in table
    assert "square[2] completed" in table


def test_list_shows_pipeline_runs_newest_first(flow: Path) -> None:
    ids = []
    for n in ("1", "2"):
        result = invoke("run", "cli_flow:squares", "-p", f"n={n}", "-x", "inline", "--json")
        ids.append(json.loads(result.output)["run_id"])
    listed = invoke("list", "--json")
    assert listed.exit_code == 0, listed.output
    assert [r["run_id"] for r in json.loads(listed.output)] == ids[::-1]
    table = said(invoke("list", "--experiment", "pipelines"))
    assert ids[0] in table
    assert "squares FINISHED" in table


def test_a_failed_run_exits_1_and_resume_finishes_it(flow: Path, home: Path) -> None:
    switch = home / "switch"
    switch.write_text("fail")
    failed = invoke("run", "cli_flow:gated", "-p", f"switch={switch}", "-x", "inline")
    assert failed.exit_code == 1
    assert "gate: RuntimeError: the switch says fail" in said(failed)
    run_id = re.search(r"FAILED gated run ([0-9a-f]{32})", said(failed)).group(1)  # type: ignore[union-attr]
    assert "gate failed" in said(invoke("show", run_id))

    switch.write_text("ok")
    resumed = invoke("resume", run_id, "--executor", "inline", "--json")
    assert resumed.exit_code == 0, resumed.output
    report = json.loads(resumed.output)
    assert report["resumed_from"] == run_id
    statuses = {unit: s["status"] for unit, s in report["steps"].items()}
    assert statuses == {
        "numbers": "reused", "square[0]": "reused", "square[1]": "reused",
        "total": "reused", "gate": "completed",
    }  # fmt: skip


def test_bad_input_is_one_clear_line(flow: Path, home: Path) -> None:
    wrong = invoke("run", "cli_flow:squares", "-p", "n=many")
    assert wrong.exit_code == 1
    assert "pipeline 'squares' parameter 'n' expects int, got str 'many'" in said(wrong)
    assert "Traceback" not in wrong.output
    malformed = invoke("run", "cli_flow:squares", "-p", "n")
    assert "--param 'n' must look like name=value" in said(malformed)
    unknown = invoke("run", "cli_flow:squares", "--executor", "dask")
    assert "unknown executor 'dask'; known executors: inline, process, ray" in said(unknown)
    missing = invoke("run", "cli_flow:nothing")
    assert "has no attribute 'nothing'" in said(missing)
    assert invoke("show", "f" * 32).exit_code == 3
