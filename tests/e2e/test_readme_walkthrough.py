"""The README's "Register, evaluate, promote" walkthrough, run as a new user would run it.

The Python block runs as a script in a fresh directory (embedded store in
``./.loopml``); then each shell command of the next block runs through the real
``loopml`` entry point, with the approval id a user would copy from
``loopml models approvals``. If the README drifts from the product, this fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
LOOPML = str(Path(sys.executable).with_name("loopml"))


def _blocks(heading: str) -> list[tuple[str, str]]:
    """The fenced blocks (language, text) of one README section, in order."""
    text = README.read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)


def _commands(block: str) -> list[list[str]]:
    """Shell lines without their comments, continuation lines joined."""
    joined = block.replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in joined.splitlines()]
    return [command for command in commands if command]


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = _blocks("Register, evaluate, promote")
    (script_lang, script), (shell_lang, shell), (load_lang, load) = blocks[:3]
    assert (script_lang, shell_lang, load_lang) == ("python", "bash", "python")
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / ".loopml")}
    env.pop("LOOPML_TRACKING_URI", None)

    def run(args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

    (tmp_path / "walkthrough.py").write_text(script + load)
    done = run([sys.executable, "walkthrough.py"])
    assert done.returncode == 0, done.stderr
    assert "roc_auc" in done.stdout

    outcomes = []
    for command in _commands(shell):
        assert command[0] == "loopml", command
        if "APPROVAL_ID" in command:
            listed = run([LOOPML, "models", "approvals", "cancer", "--json"])
            pending = [a for a in json.loads(listed.stdout) if a["state"] == "pending"]
            assert pending, (outcomes, listed.stdout, listed.stderr)
            command = [pending[0]["approval_id"] if w == "APPROVAL_ID" else w for w in command]
        result = run([LOOPML, *command[1:]])
        outcomes.append((command[1:4], result.returncode, result.stdout + result.stderr))
    codes = [code for _, code, _ in outcomes]
    # Only the first promote is refused (a gate fails); the override moves the alias.
    assert codes == [0, 0, 0, 1, 0, 0, 0, 0, 0], outcomes
    assert "min(segment.region.recall) >= 0.9" in outcomes[3][2]
    assert "overridden by" in " ".join(outcomes[4][2].split())
    assert (tmp_path / "card.html").read_text().count("<script") == 0
    audit = outcomes[-1][2]
    assert "registered_model.set_alias" in audit
