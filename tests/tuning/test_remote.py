"""Tuning against a tracking server: runs on the server, the journal in a local file.

A client talking to ``http://`` has no database to put Optuna's journal in, so
the study is kept in ``$LOOPML_HOME/tuning/<study>.journal`` on the machine
that tunes, while every trial is still recorded as a child run on the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml.client import Client
from loopml.tuning import TrialHandle, tune

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``loopml server`` in a subprocess on its own SQLite home."""
    home = tmp_path_factory.mktemp("server-home")
    port = _free_port()
    env = {**os.environ, "LOOPML_HOME": str(home), "LOOPML_AUTH": "false"}
    for name in ("LOOPML_DATABASE_URL", "LOOPML_ARTIFACT_ROOT", "LOOPML_TRACKING_URI"):
        env.pop(name, None)
    code = f"from loopml.server.run import serve; serve('127.0.0.1', {port})"
    with (home / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, home / "server.log")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.read() == b"OK":
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"server at {url} did not answer /health in {START_TIMEOUT_S} s")


def learning_curve(params: dict[str, Any], trial: TrialHandle) -> float:
    for step in range(4):
        trial.report(step, params["x"] * (step + 1))
    return float(params["x"] * 4)


def test_trials_are_runs_on_the_server_and_the_journal_is_a_local_file(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "here"))
    with Client(server_url) as client:
        result = tune(
            learning_curve,
            {"x": ("float", 0.0, 1.0)},
            10,
            executor="inline",
            sampler="random",
            seed=3,
            study_name="remote-study",
            experiment="remote-tuning",
            client=client,
        )
        journal = tmp_path / "here" / "tuning" / "remote-study.journal"
        assert journal.stat().st_size > 0
        parent = client.get_run(result.parent_run_id)
        assert parent.data.tags["loopml.tuning.journal"] == f"file:{journal}"
        assert parent.data.params == {"x": str(result.best_params["x"])}
        experiment_id = parent.info.experiment_id
        children = client.search_runs(
            [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
        ).items
        assert len(children) == 10
        states = sorted(run.data.tags["loopml.tuning.state"] for run in children)
        assert states == sorted(t.state for t in result.trials)
        assert result.count("PRUNED") >= 1
