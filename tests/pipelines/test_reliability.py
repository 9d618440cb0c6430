"""Retries with backoff, timeouts that kill, workers that die, and resuming a failed run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loopml.client import Client
from loopml.core.errors import InvalidParameter
from loopml.pipelines import PipelineFailed, StepStatus, resume
from loopml.pipelines.history import get_pipeline_run
from pipelines import flows


def test_a_step_that_succeeds_on_its_third_attempt(client: Client, tmp_path: Path) -> None:
    run = flows.retrying.run({"counter": str(tmp_path / "count")}, client=client)
    assert run.status == "FINISHED"
    assert run.steps["flaky"].attempts == 3
    assert run.result() == 3
    (step,) = get_pipeline_run(client, run.run_id).steps
    assert step.data.tags["loopml.step.attempts"] == "3"


def test_an_error_retry_on_does_not_name_is_not_retried(client: Client, tmp_path: Path) -> None:
    run = flows.not_retrying.run({"counter": str(tmp_path / "count")}, client=client)
    assert run.status == "FAILED"
    assert run.steps["broken"].attempts == 1
    with pytest.raises(PipelineFailed, match=r"broken: ValueError: attempt 1: bad input"):
        run.raise_for_status()


def test_a_step_past_its_timeout_is_killed_and_reported(client: Client) -> None:
    started = time.monotonic()
    run = flows.too_slow.run({"seconds": 60.0}, client=client)
    assert time.monotonic() - started < 30
    assert run.status == "FAILED"
    error = run.steps["sleepy"].error
    assert error is not None
    assert error.short_type == "StepTimeout"
    assert (
        error.message
        == "step 'sleepy' ran past its timeout of 0.5 s; its worker process was killed"
    )
    assert run.steps["after_sleep"].status == StepStatus.SKIPPED
    assert run.steps["double"].status == StepStatus.COMPLETED  # the other branch ran on


def test_the_inline_executor_interrupts_a_step_past_its_timeout(client: Client) -> None:
    run = flows.too_slow.run({"seconds": 60.0}, client=client, executor="inline")
    error = run.steps["sleepy"].error
    assert error is not None
    assert error.message == "step 'sleepy' ran past its timeout of 0.5 s"


def test_a_worker_killed_mid_step_is_retried(client: Client, tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    run = flows.killed_once.run({"marker": str(marker)}, client=client)
    assert marker.read_text() == "killed"  # the first attempt did SIGKILL its worker
    assert run.status == "FINISHED"
    assert run.steps["dies_once"].attempts == 2
    assert run.result() == "survived"


def test_a_worker_killed_without_retries_fails_the_step_and_the_run_ends(
    client: Client, tmp_path: Path
) -> None:
    run = flows.killed.run({"marker": str(tmp_path / "killed")}, client=client)
    assert run.status == "FAILED"
    error = run.steps["dies"].error
    assert error is not None
    assert error.short_type == "WorkerLost"
    assert "died (killed by signal 9 (SIGKILL))" in error.message
    assert run.steps["double"].status == StepStatus.COMPLETED


def test_resume_reruns_only_the_failed_step_and_its_downstream(
    client: Client, tmp_path: Path, log: str
) -> None:
    switch = tmp_path / "switch"
    switch.write_text("fail")
    params = {"log": log, "switch": str(switch)}
    failed = flows.resumable.run(params, client=client, executor="inline")
    assert failed.status == "FAILED"
    assert failed.steps["finish"].status == StepStatus.SKIPPED
    gate = get_pipeline_run(client, failed.run_id).steps
    recorded = {s.info.run_name: s for s in gate}
    assert recorded["gate"].data.tags["loopml.step.error.message"] == "the switch says fail"
    assert recorded["gate"].data.tags["loopml.step.inputs"].startswith('{"x":"')

    switch.write_text("ok")
    Path(log).write_text("")
    resumed = resume(failed.run_id, client=client)
    assert resumed.status == "FINISHED"
    assert resumed.resumed_from == failed.run_id
    assert sorted(resumed.reused) == ["aside", "start"]
    assert sorted(resumed.completed) == ["finish", "gate"]
    assert sorted(flows.executed(log)) == ["finish", "gate"]
    assert resumed.result() == [200, 7]
    tags = client.get_run(resumed.run_id).data.tags
    assert tags["loopml.pipeline.resumed_from"] == failed.run_id


def test_resume_reruns_only_the_failed_items_of_a_map(
    client: Client, tmp_path: Path, log: str
) -> None:
    switch = tmp_path / "switch"
    switch.write_text("fail")
    failed = flows.resumable_map.run({"log": log, "switch": str(switch)}, client=client)
    assert failed.failed == ["picky[2]"]
    assert failed.steps["total"].status == StepStatus.SKIPPED
    switch.write_text("ok")
    Path(log).write_text("")
    resumed = resume(failed.run_id, client=client, executor="inline")
    assert flows.executed(log) == ["picky3"]
    assert sorted(resumed.reused) == ["picky[0]", "picky[1]", "picky[3]"]
    assert resumed.result() == 1 + 4 + 9 + 16


def test_resume_refuses_a_run_that_is_not_a_pipeline_run(client: Client) -> None:
    experiment = client.create_experiment("plain")
    run_id = client.create_run(experiment).info.run_id
    with pytest.raises(InvalidParameter, match=rf"run {run_id} is not a pipeline run"):
        resume(run_id, client=client)
