"""How a pipeline run is recorded in tracking: one run for the pipeline, one child per step.

The pipeline run carries what resume needs (the importable target, the
parameters as JSON) and the DAG as an artifact (``pipeline/graph.json``).
Each step, or mapped item, gets a child run (``mlflow.parentRunId``) with its
status, duration metric, cache hit, cache key, code hash, constant parameters,
input and output artifact hashes and, when it failed, the error's type,
message and traceback: from any artifact hash, the step run that produced it
is one tag search away, and from there its code and its inputs.

Only the driver records. Step runs are queued and written in batches on a
background thread, so recording overlaps the steps instead of adding to them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from loopml.core.clock import now_ms
from loopml.core.errors import ResourceAlreadyExists
from loopml.pipelines.entities import CacheEntry, StepRecord, StepStatus
from loopml.pipelines.fingerprint import canonical_json, sha256_text
from loopml.pipelines.store import PipelineStore, StepRun
from loopml.tracking.client import TrackingClient
from loopml.tracking.context import run_context_tags
from loopml.tracking.entities import Metric, Param
from loopml.tracking.validation import MAX_PARAM_VALUE_LENGTH, MAX_TAG_VALUE_LENGTH

PARENT_TAG = "mlflow.parentRunId"
PIPELINE_TAG = "loopml.pipeline.name"
TARGET_TAG = "loopml.pipeline.target"
PARAMS_TAG = "loopml.pipeline.params"
EXECUTOR_TAG = "loopml.pipeline.executor"
CACHE_TAG = "loopml.pipeline.cache"
RESUMED_TAG = "loopml.pipeline.resumed_from"
STEP_TAG = "loopml.step.name"
NODE_TAG = "loopml.step.node"
STATUS_TAG = "loopml.step.status"
CACHE_HIT_TAG = "loopml.step.cache_hit"
CACHE_KEY_TAG = "loopml.step.cache_key"
CODE_HASH_TAG = "loopml.step.code_hash"
INPUTS_TAG = "loopml.step.inputs"
OUTPUTS_TAG = "loopml.step.outputs"
SOURCE_TAG = "loopml.step.source_run"
GRAPH_ARTIFACT = "pipeline/graph.json"
FLUSH_EVERY_S = 0.25
FLUSH_BATCH = 64


def experiment_id_for(client: TrackingClient, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except ResourceAlreadyExists:  # created by a concurrent run
        again = client.get_experiment_by_name(name)
        assert again is not None
        return again.experiment_id


def param_text(value: Any) -> str:
    """A parameter as a run param shows it: text as it is, anything else as canonical JSON."""
    return value if isinstance(value, str) else canonical_json(value)


def fit_param(value: str) -> str:
    """Params over MLflow's length limit are recorded by their hash."""
    value = storable(value)
    return value if len(value) <= MAX_PARAM_VALUE_LENGTH else f"sha256:{sha256_text(value)}"


def storable(text: str) -> str:
    """Text any database holds: NUL and lone surrogates escaped (a step's message may have them)."""
    if "\x00" not in text and text.isascii():
        return text
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped.replace("\x00", "\\x00")


def step_run(record: StepRecord, pipeline: str, parent_run_id: str) -> StepRun:
    """A step record as a child run: tags, params, the duration metric."""
    tags = {
        PARENT_TAG: parent_run_id,
        PIPELINE_TAG: pipeline,
        STEP_TAG: record.step,
        NODE_TAG: record.node,
        STATUS_TAG: record.status.value,
        CACHE_HIT_TAG: "true" if record.status == StepStatus.CACHED else "false",
        CACHE_KEY_TAG: record.cache_key,
        CODE_HASH_TAG: record.code_hash,
        "loopml.step.attempts": str(record.attempts),
        INPUTS_TAG: _fit_inputs(record.inputs),
        OUTPUTS_TAG: _fit_outputs(record),
    }
    if record.map_index is not None:
        tags["loopml.step.map_index"] = str(record.map_index)
    if record.source_run_id:
        tags[SOURCE_TAG] = record.source_run_id
    if record.error is not None:
        tags["loopml.step.error.type"] = storable(record.error.error_type)[:MAX_TAG_VALUE_LENGTH]
        tags["loopml.step.error.message"] = storable(record.error.message)[:MAX_TAG_VALUE_LENGTH]
        tags["loopml.step.error.traceback"] = storable(record.error.traceback)[
            -MAX_TAG_VALUE_LENGTH:
        ]
    params = {key: fit_param(value) for key, value in sorted(record.params.items())[:100]}
    return StepRun(
        run_name=record.unit[:250],
        status="FINISHED" if record.status.succeeded else "FAILED",
        start_time=record.started_ms,
        end_time=record.ended_ms,
        tags=tags,
        params=params,
        metrics={"duration_ms": float(record.duration_ms)},
    )


def _fit_inputs(inputs: Mapping[str, Any]) -> str:
    """All input hashes when they fit a tag; a long list is summarised by its count and digest."""
    text = canonical_json(inputs)
    if len(text) <= MAX_TAG_VALUE_LENGTH:
        return text
    summary = {
        key: {"count": len(value), "sha256": sha256_text(canonical_json(value))}
        if isinstance(value, list)
        else value
        for key, value in inputs.items()
    }
    return canonical_json(summary)[:MAX_TAG_VALUE_LENGTH]


def _fit_outputs(record: StepRecord) -> str:
    text = json.dumps([o.to_dict() for o in record.outputs], separators=(",", ":"))
    if len(text) <= MAX_TAG_VALUE_LENGTH:
        return text
    return json.dumps([{"sha256": o.sha256} for o in record.outputs])[:MAX_TAG_VALUE_LENGTH]


class Recorder:
    """Writes one pipeline run and, in batches on a background thread, its step runs."""

    def __init__(self, client: TrackingClient, store: PipelineStore, experiment_id: str) -> None:
        self.client = client
        self.store = store
        self.experiment_id = experiment_id
        self.run_id = ""
        self.pipeline = ""
        self.run_ids: dict[str, str] = {}  # unit -> step run id, once written
        self._user = run_context_tags().get("mlflow.user", "")
        self._queue: list[tuple[StepRecord, bool]] = []
        self._cond = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start_run(self, pipeline: str, tags: Mapping[str, str], graph: Mapping[str, Any]) -> str:
        """Create the pipeline run (RUNNING) and store its DAG; start the step writer."""
        self.pipeline = pipeline
        all_tags = {**run_context_tags(), **tags, PIPELINE_TAG: pipeline}
        run = self.client.create_run(
            self.experiment_id, self._user, tags=all_tags, run_name=pipeline[:250]
        )
        self.run_id = run.info.run_id
        document = json.dumps(graph, indent=1, sort_keys=True).encode()
        self.client.log_artifact_bytes(self.run_id, document, GRAPH_ARTIFACT)
        self._thread = threading.Thread(
            target=self._write_loop, name="loopml-recorder", daemon=True
        )
        self._thread.start()
        return self.run_id

    def step_finished(self, record: StepRecord, cacheable: bool) -> None:
        """Queue a finished step's run (and its cache entry, when ``cacheable``)."""
        with self._cond:
            self._queue.append((record, cacheable))
            if len(self._queue) >= FLUSH_BATCH:
                self._cond.notify()

    def finish_run(
        self, status: str, params: Mapping[str, str], metrics: Mapping[str, float]
    ) -> None:
        """Write the queued step runs, then end the pipeline run with its summary."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        ended = now_ms()
        self.client.log_batch(
            self.run_id,
            [Metric(key, float(value), ended) for key, value in metrics.items()],
            [Param(key, fit_param(value)) for key, value in sorted(params.items())[:100]],
            [],
        )
        self.client.update_run(self.run_id, status, ended)
        if self._error is not None:
            raise self._error

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._closing:
                    self._cond.wait(FLUSH_EVERY_S)
                batch, self._queue = self._queue, []
                closing = self._closing
            if batch and self._error is None:
                try:
                    self._write(batch)
                except BaseException as error:  # surfaced by finish_run, never lost
                    self._error = error
            if closing and not batch:
                with self._cond:
                    if not self._queue:
                        return

    def _write(self, batch: list[tuple[StepRecord, bool]]) -> None:
        runs = [step_run(record, self.pipeline, self.run_id) for record, _ in batch]
        ids = self.store.record_steps(self.experiment_id, self._user, runs)
        entries = []
        for (record, cacheable), run_id in zip(batch, ids, strict=True):
            self.run_ids[record.unit] = run_id
            if cacheable and record.status == StepStatus.COMPLETED:
                entries.append(
                    CacheEntry(
                        record.cache_key,
                        self.pipeline,
                        record.step,
                        record.outputs,
                        run_id,
                        now_ms(),
                    )
                )
        self.store.put_cached(entries)


def run_tags(target: str, params: Mapping[str, Any], executor: str, cache: bool) -> dict[str, str]:
    params_text = canonical_json(dict(params))
    return {
        TARGET_TAG: target[:MAX_TAG_VALUE_LENGTH],
        PARAMS_TAG: params_text if len(params_text) <= MAX_TAG_VALUE_LENGTH else "",
        EXECUTOR_TAG: executor,
        CACHE_TAG: "true" if cache else "false",
    }
