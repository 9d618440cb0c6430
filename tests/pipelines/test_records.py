"""What a pipeline run leaves in tracking: a run per pipeline, a child run per step, lineage."""

from __future__ import annotations

import json

from loopml.client import Client
from loopml.pipelines import get_pipeline_run, list_pipeline_runs, pipeline, step
from loopml.pipelines._sql import SqlPipelineStore
from loopml.pipelines._tracking import TrackingPipelineStore
from loopml.pipelines.recording import experiment_id_for
from loopml.pipelines.store import StepRun
from loopml.store.database import Database
from pipelines import flows


def test_a_run_and_a_child_run_per_step_with_what_lineage_needs(client: Client) -> None:
    run = flows.fan.run({"n": 3}, client=client, experiment="lineage", executor="inline")
    view = get_pipeline_run(client, run.run_id)
    tags = view.run.data.tags
    assert view.run.info.status == "FINISHED"
    assert tags["loopml.pipeline.target"] == "pipelines.flows:fan"
    assert json.loads(tags["loopml.pipeline.params"]) == {"n": 3}
    assert view.run.data.params == {"n": "3"}
    assert [n["id"] for n in view.nodes] == ["numbers", "double", "total"]
    metrics = {m.key: m.value for m in view.run.data.metrics}
    assert metrics["steps_completed"] == 5.0
    names = [s.info.run_name for s in view.steps]
    assert sorted(names) == ["double[0]", "double[1]", "double[2]", "numbers", "total"]

    total = next(s for s in view.steps if s.info.run_name == "total")
    assert total.data.tags["mlflow.parentRunId"] == run.run_id
    assert total.data.tags["loopml.step.cache_hit"] == "false"
    assert {m.key for m in total.data.metrics} == {"duration_ms"}
    output = json.loads(total.data.tags["loopml.step.outputs"])[0]
    assert output["materializer"] == "json"
    assert output["inline"] == "6"

    # from the output's hash back to the step that made it, its code and its inputs
    found = client.search_runs(
        [view.run.info.experiment_id],
        f"tags.`loopml.step.outputs` LIKE '%{output['sha256']}%'",
    ).items
    assert [r.info.run_id for r in found] == [total.info.run_id]
    assert len(found[0].data.tags["loopml.step.code_hash"]) == 64
    inputs = json.loads(found[0].data.tags["loopml.step.inputs"])["values"]
    doubled = sorted(
        (s for s in view.steps if s.info.run_name.startswith("double")),
        key=lambda s: s.info.run_name,
    )
    assert inputs == [json.loads(s.data.tags["loopml.step.outputs"])[0]["sha256"] for s in doubled]


def test_cache_hits_are_recorded_with_their_source(client: Client) -> None:
    first = flows.fan.run({"n": 1}, client=client, executor="inline")
    second = flows.fan.run({"n": 1}, client=client, executor="inline", tags={"trigger": "cron"})
    assert client.get_run(second.run_id).data.tags["trigger"] == "cron"
    view = get_pipeline_run(client, second.run_id)
    hits = {s.info.run_name: s.data.tags for s in view.steps}
    assert hits["total"]["loopml.step.cache_hit"] == "true"
    assert hits["total"]["loopml.step.source_run"] == first.steps["total"].run_id
    assert [r.info.run_id for r in list_pipeline_runs(client)] == [second.run_id, first.run_id]


def test_a_failed_step_keeps_its_inputs_and_error(client: Client, tmp_path: object) -> None:
    run = flows.not_retrying.run({"counter": f"{tmp_path}/n"}, client=client, executor="inline")
    assert run.status == "FAILED"
    (step,) = get_pipeline_run(client, run.run_id).steps
    tags = step.data.tags
    assert step.info.status == "FAILED"
    assert tags["loopml.step.error.type"] == "builtins.ValueError"
    assert tags["loopml.step.error.message"] == "attempt 1: bad input"
    assert (
        'raise ValueError(f"attempt {attempt}: bad input")' in tags["loopml.step.error.traceback"]
    )
    assert step.data.params == {"counter": f"{tmp_path}/n"}
    assert json.loads(tags["loopml.step.inputs"]) == {}


def test_both_stores_write_step_runs_that_read_back_the_same(client: Client) -> None:
    experiment_id = experiment_id_for(client, "stores")
    db = getattr(client.store, "db", None)
    assert isinstance(db, Database)
    step_run = StepRun(
        "train[3]",
        "FINISHED",
        1_000,
        1_250,
        {"mlflow.parentRunId": "p" * 32, "loopml.step.status": "completed"},
        {"alpha": "0.5"},
        {"duration_ms": 250.0},
    )
    (bulk,) = SqlPipelineStore(db).record_steps(experiment_id, "ada", [step_run])
    (plain,) = TrackingPipelineStore(client, experiment_id).record_steps(
        experiment_id, "ada", [step_run]
    )
    one, other = client.get_run(bulk), client.get_run(plain)
    assert one.data == other.data
    for field in ("run_name", "user_id", "status", "start_time", "end_time", "lifecycle_stage"):
        assert getattr(one.info, field) == getattr(other.info, field)
    assert one.info.artifact_uri.replace(bulk, plain) == other.info.artifact_uri


@step
def garbled() -> int:
    raise ValueError("bad\x00byte \ud800")


@pipeline
def garbling() -> int:
    return garbled()


def test_an_error_message_no_database_would_store_is_escaped(client: Client) -> None:
    run = garbling.run(client=client, executor="inline")
    (step_run,) = get_pipeline_run(client, run.run_id).steps
    assert step_run.data.tags["loopml.step.error.message"] == "bad\\x00byte \\ud800"
