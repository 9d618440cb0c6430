"""The fluent API as a training script uses it, on the embedded store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loopml.client import Client
from loopml.core.errors import InvalidParameter
from loopml.tracking import fluent
from loopml.tracking.entities import RunStatus


@pytest.fixture
def client(tmp_path: Path) -> Client:
    return Client(tmp_path / "home")


def test_a_finished_run_has_every_point_params_and_context_tags(client: Client) -> None:
    with fluent.start_run(client, "train", run_name="first") as run:
        run.log_params({"lr": 0.1, "depth": 3})
        for step in range(2500):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_metrics({"acc": 0.9, "f1": 0.8}, step=1)
    stored = client.get_run(run.run_id)
    assert stored.info.status == RunStatus.FINISHED
    assert stored.info.end_time is not None
    assert stored.info.run_name == "first"
    assert stored.data.params == {"lr": "0.1", "depth": "3"}
    history = client.get_metric_history(run.run_id, "loss").items
    assert [m.step for m in history] == list(range(2500))
    latest = {m.key: m for m in stored.data.metrics}
    assert latest["loss"].step == 2499
    assert {"acc", "f1"} <= set(latest)
    assert "loopml.python_version" in stored.data.tags
    assert "loopml.packages" in stored.data.tags
    assert stored.data.tags["mlflow.runName"] == "first"


def test_an_exception_marks_the_run_failed_and_keeps_its_metrics(client: Client) -> None:
    def train() -> None:
        with fluent.start_run(client, "x") as run:
            run.log_metric("loss", 1.0)
            started.append(run.run_id)
            raise RuntimeError("diverged")

    started: list[str] = []
    with pytest.raises(RuntimeError, match="diverged"):
        train()
    run = client.get_run(started[0])
    assert run.info.status == RunStatus.FAILED
    assert len(client.get_metric_history(run.info.run_id, "loss").items) == 1
    assert fluent.active_run() is None


def test_nested_runs_record_their_parent(client: Client) -> None:
    with fluent.start_run(client, "sweep") as parent:
        with fluent.start_run(client, "sweep", nested=True) as child:
            child.log_metric("score", 0.5)
        assert fluent.active_run() is parent
    tags = client.get_run(child.run_id).data.tags
    assert tags[fluent.PARENT_RUN_TAG] == parent.run_id


def test_a_second_top_level_run_while_one_is_active_is_refused(client: Client) -> None:
    with fluent.start_run(client, "x") as run:
        with pytest.raises(InvalidParameter, match="already active"):
            fluent.start_run(client, "x")
        assert fluent.active_run() is run


def test_a_bad_metric_fails_at_the_call_not_later(client: Client) -> None:
    with (
        fluent.start_run(client, "x") as run,
        pytest.raises(InvalidParameter, match=r"key '\.\./x'"),
    ):
        run.log_metric("../x", 1.0)


def test_a_write_error_in_the_background_surfaces_on_flush(client: Client) -> None:
    with fluent.start_run(client, "x") as run:
        run.log_metric("loss", 1.0)
        client.delete_run(run.run_id)  # the batcher's next write is now refused
        run.log_metric("loss", 2.0)
        with pytest.raises(InvalidParameter, match="must be in the 'active' state"):
            run.flush()
        client.restore_run(run.run_id)


def test_artifacts_and_dicts_land_under_the_run(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "out"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "sub" / "b.txt").write_text("bb")
    with fluent.start_run(client, "x") as run:
        run.log_artifact(source, "outputs")
        run.log_dict({"k": 1}, "config.json")
    listed = {f.path: f for f in client.list_artifacts(run.run_id)}
    assert set(listed) == {"config.json", "outputs"}
    assert listed["outputs"].is_dir
    nested = {f.path for f in client.list_artifacts(run.run_id, "outputs/sub")}
    assert nested == {"outputs/sub/b.txt"}
    assert client.download_artifact(run.run_id, "outputs/sub/b.txt") == b"bb"


def test_points_queued_without_flush_are_written_at_interpreter_exit(tmp_path: Path) -> None:
    script = f"""
import loopml
loopml.set_tracking_uri({str(tmp_path)!r})
run = loopml.start_run(experiment="exit")
for step in range(1500):
    run.log_metric("loss", float(step), step=step)
print(run.run_id)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    run_id = done.stdout.strip().splitlines()[-1]
    history = Client(tmp_path).get_metric_history(run_id, "loss").items
    assert len(history) == 1500
