"""The driver: walks the DAG, skips what the cache has, runs the rest, retries, records.

A node becomes ready when every node it takes outputs from has succeeded. Its
units (one, or one per mapped item) are looked up in the cache in one query;
hits complete at once, the rest go to the executor. A failed unit is retried
while its step allows (``retries``, ``retry_on``, exponential ``backoff_s``);
a unit out of attempts fails its node, and everything downstream of that node
is skipped while independent branches run on. Every unit's record goes to the
recorder as it finishes, so a failed run already holds what ``resume`` needs.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from loopml.core.clock import now_ms
from loopml.core.errors import LoopmlError
from loopml.pipelines.entities import (
    ErrorInfo,
    InputValue,
    OutputRef,
    PipelineRun,
    StepRecord,
    StepStatus,
)
from loopml.pipelines.executors import Executor
from loopml.pipelines.graph import Graph
from loopml.pipelines.materializers import registered
from loopml.pipelines.recording import (
    RESUMED_TAG,
    Recorder,
    experiment_id_for,
    param_text,
    run_tags,
)
from loopml.pipelines.store import open_store
from loopml.pipelines.tasks import Task, TaskResult
from loopml.pipelines.units import Planner, Unit, outputs_structure
from loopml.pipelines.values import StoreSpec, ValueStore, objects_root
from loopml.tracking.client import TrackingClient


@dataclass(frozen=True)
class StepEvent:
    """A step's progress, for live displays: running, retrying, then how it ended."""

    unit: str
    node: str
    status: str  # running, retrying, or a StepStatus value
    attempt: int = 0
    message: str = ""


@dataclass(frozen=True)
class Reusable:
    """A unit a resumed run completed: its outputs and the step run that made them."""

    outputs: tuple[OutputRef, ...]
    run_id: str


@dataclass
class RunSettings:
    client: TrackingClient
    executor: Executor
    executor_name: str = "process"
    cache: bool = True
    experiment: str = "pipelines"
    target: str = ""
    reuse: Mapping[str, Reusable] = field(default_factory=dict)
    resumed_from: str | None = None
    on_event: Callable[[StepEvent], None] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Progress:
    remaining: int
    outputs: list[tuple[OutputRef, ...]]
    failed: bool = False


class Runner:
    """Runs one traced graph to the end (see the module docstring).

    The executor must have been started; the runner closes it when the run ends.
    """

    def __init__(self, graph: Graph, settings: RunSettings) -> None:
        self.graph = graph
        self.settings = settings
        self.client = settings.client
        self.executor = settings.executor
        self.records: dict[str, StepRecord] = {}
        self.done: dict[str, tuple[InputValue, ...]] = {}
        self._ready: list[str] = []
        self._waiting = {node_id: node.upstream() for node_id, node in graph.nodes.items()}
        self._children: dict[str, list[str]] = {node_id: [] for node_id in graph.nodes}
        for node in graph.nodes.values():
            for parent in sorted(node.upstream()):
                self._children[parent].append(node.id)
        self._progress: dict[str, _Progress] = {}
        self._running: dict[str, Unit] = {}
        self._delayed: list[tuple[float, int, Unit]] = []
        self._sequence = itertools.count()

    def run(self) -> PipelineRun:
        try:
            experiment_id = experiment_id_for(self.client, self.settings.experiment)
            self.store = store = open_store(self.client, experiment_id)
            artifacts: Any = self.client.artifacts
            location = self.client.get_experiment(experiment_id).artifact_location
            self.values = ValueStore(StoreSpec.of(artifacts, objects_root(location)), artifacts)
            self.planner = Planner(self.values, self.done.__getitem__, self._dataset_digest)
            self.recorder = Recorder(self.client, store, experiment_id)
        except BaseException:
            self.executor.close()
            raise
        started = now_ms()
        status = "FAILED"
        try:
            self.recorder.start_run(self.graph.name, self._tags(), self._document())
            self._loop()
            status = "FAILED" if self._failed() else "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            self.executor.close()
            if self.recorder.run_id:
                self.recorder.finish_run(status, self._params(), self._summary(started))
        return self._result(status)

    # the loop -------------------------------------------------------------

    def _loop(self) -> None:
        self._ready = [n for n, parents in self._waiting.items() if not parents]
        while self._ready or self._running or self._delayed:
            if self._ready:
                ready, self._ready = self._ready, []
                self._start(ready)
                continue
            wait_s = self._until_retry()
            if self._running:
                for result in self.executor.poll(wait_s):
                    self._finished(result)
            elif wait_s:
                time.sleep(wait_s)
            self._release_retries()

    def _start(self, node_ids: list[str]) -> None:
        units: list[Unit] = []
        for node_id in node_ids:
            try:
                node_units = self.planner.units(self.graph.nodes[node_id])
            except LoopmlError as error:  # its inputs cannot be laid out: the node fails
                self._fail_node(node_id, ErrorInfo.of(error, retryable=False))
                continue
            self._progress[node_id] = _Progress(len(node_units), [()] * len(node_units))
            if not node_units:
                self._node_done(node_id)
            units.extend(node_units)
        wanted = [u.key for u in units if self._looks_up(u) and u.id not in self.settings.reuse]
        hits = self.store.get_cached(wanted) if wanted else {}
        for unit in units:
            reused = self.settings.reuse.get(unit.id)
            hit = hits.get(unit.key) if self._looks_up(unit) else None
            if reused is not None and self._available(reused.outputs):
                self._complete(unit, StepStatus.REUSED, reused.outputs, source=reused.run_id)
            elif hit is not None and self._available(hit.outputs):
                self._complete(unit, StepStatus.CACHED, hit.outputs, source=hit.run_id)
            else:
                self._submit(unit)

    def _looks_up(self, unit: Unit) -> bool:
        return self.settings.cache and unit.node.step.options.cache

    def _available(self, outputs: tuple[OutputRef, ...]) -> bool:
        return all(self.values.available(ref) for ref in outputs)

    def _submit(self, unit: Unit) -> None:
        unit.attempt += 1
        step = unit.node.step
        task = Task(
            task_id=f"{unit.id}#{unit.attempt}",
            unit=unit.id,
            payload=self.planner.payload(step),
            store=self.values.spec,
            params=unit.params,
            inputs=unit.inputs,
            outputs=unit.node.outputs,
            timeout_s=step.options.timeout_s,
            resources=dict(step.options.resources),
            materializers=registered(),
        )
        self._running[task.task_id] = unit
        self.executor.submit(task)
        self._emit(unit, "running")

    def _finished(self, result: TaskResult) -> None:
        unit = self._running.pop(result.task_id, None)
        if unit is None:
            return
        unit.started_ms = unit.started_ms or result.started_ms  # the first attempt's start
        if result.error is None:
            self._complete(unit, StepStatus.COMPLETED, result.outputs, ended=result.ended_ms)
            return
        options = unit.node.step.options
        error = result.error
        if unit.attempt <= options.retries and error.retryable and error.matches(options.retry_on):
            due = time.monotonic() + options.backoff_for(unit.attempt)
            heapq.heappush(self._delayed, (due, next(self._sequence), unit))
            self._emit(unit, "retrying", f"{error.short_type}: {error.message}")
            return
        self._complete(unit, StepStatus.FAILED, (), ended=result.ended_ms, error=result.error)

    def _until_retry(self) -> float | None:
        if not self._delayed:
            return None
        return max(0.0, self._delayed[0][0] - time.monotonic())

    def _release_retries(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            self._submit(heapq.heappop(self._delayed)[2])

    # completing units and nodes ---------------------------------------------

    def _complete(
        self,
        unit: Unit,
        status: StepStatus,
        outputs: tuple[OutputRef, ...],
        *,
        ended: int = 0,
        error: Any = None,
        source: str = "",
    ) -> None:
        node, step = unit.node, unit.node.step
        ended = ended or now_ms()
        record = StepRecord(
            unit=unit.id,
            node=node.id,
            step=step.name,
            status=status,
            cache_key=unit.key,
            code_hash=self.planner.code_hash(step),
            params=unit.record_params(),
            inputs=unit.record_inputs(self.planner.extra_inputs(step)),
            outputs=outputs,
            attempts=unit.attempt,
            started_ms=unit.started_ms or ended,
            ended_ms=ended,
            error=error,
            source_run_id=source,
            map_index=unit.map_index,
        )
        self.records[unit.id] = record
        self.recorder.step_finished(record, cacheable=step.options.cache)
        message = f"{error.short_type}: {error.message}" if error is not None else ""
        self._emit(unit, status.value, message)
        progress = self._progress[node.id]
        progress.outputs[unit.map_index or 0] = outputs
        progress.failed = progress.failed or status == StepStatus.FAILED
        progress.remaining -= 1
        if progress.remaining == 0 and progress.failed:
            self._node_failed(node.id)
        elif progress.remaining == 0:
            self._node_done(node.id)

    def _fail_node(self, node_id: str, error: ErrorInfo) -> None:
        step = self.graph.nodes[node_id].step
        now = now_ms()
        record = StepRecord(
            node_id,
            node_id,
            step.name,
            StepStatus.FAILED,
            started_ms=now,
            ended_ms=now,
            error=error,
        )
        self.records[node_id] = record
        self._progress[node_id] = _Progress(0, [], failed=True)
        self.recorder.step_finished(record, cacheable=False)
        if self.settings.on_event is not None:
            message = f"{error.short_type}: {error.message}"
            self.settings.on_event(StepEvent(node_id, node_id, "failed", 0, message))
        self._node_failed(node_id)

    def _node_done(self, node_id: str) -> None:
        node = self.graph.nodes[node_id]
        produced = self._progress[node_id].outputs
        if node.is_map:
            self.done[node_id] = ([item[0] for item in produced],)
        else:
            self.done[node_id] = produced[0]
        for child in self._children[node_id]:
            waiting = self._waiting[child]
            waiting.discard(node_id)
            if not waiting and child not in self.records:
                self._ready.append(child)

    def _node_failed(self, node_id: str) -> None:
        for skipped in sorted(self.graph.downstream({node_id})):
            if skipped not in self.records and skipped not in self._progress:
                step = self.graph.nodes[skipped].step
                self.records[skipped] = StepRecord(skipped, skipped, step.name, StepStatus.SKIPPED)
                self._waiting[skipped] = {node_id}  # never ready
                if self.settings.on_event is not None:
                    event = StepEvent(skipped, skipped, "skipped", 0, f"after {node_id} failed")
                    self.settings.on_event(event)

    def _emit(self, unit: Unit, status: str, message: str = "") -> None:
        if self.settings.on_event is not None:
            self.settings.on_event(StepEvent(unit.id, unit.node.id, status, unit.attempt, message))

    # the run's records --------------------------------------------------------

    def _failed(self) -> bool:
        return any(r.status == StepStatus.FAILED for r in self.records.values())

    def _tags(self) -> dict[str, str]:
        tags = dict(self.settings.tags)
        tags.update(
            run_tags(
                self.settings.target,
                self.graph.params,
                self.settings.executor_name,
                self.settings.cache,
            )
        )
        if self.settings.resumed_from:
            tags[RESUMED_TAG] = self.settings.resumed_from
        return tags

    def _document(self) -> dict[str, Any]:
        return {
            **self.graph.to_dict(),
            "params": dict(self.graph.params),
            "target": self.settings.target,
        }

    def _params(self) -> dict[str, str]:
        return {name: param_text(value) for name, value in self.graph.params.items()}

    def _summary(self, started: int) -> dict[str, float]:
        counts = {status: 0 for status in StepStatus}
        for record in self.records.values():
            counts[record.status] += 1
        summary = {f"steps_{status.value}": float(n) for status, n in counts.items()}
        return {**summary, "duration_ms": float(now_ms() - started)}

    def _result(self, status: str) -> PipelineRun:
        steps = {
            unit: _with_run_id(record, self.recorder.run_ids.get(unit, ""))
            for unit, record in self.records.items()
        }
        return PipelineRun(
            run_id=self.recorder.run_id,
            pipeline=self.graph.name,
            status=status,
            steps=steps,
            outputs=outputs_structure(self.graph.outputs, self.done),
            resumed_from=self.settings.resumed_from,
            loader=self.values.load_structure,
        )

    def _dataset_digest(self, ref: str) -> str:
        data = getattr(self.client, "data", None)
        if data is None:
            return ref
        version = data.get(ref, require_valid=True)
        return str(version.content_hash)


def _with_run_id(record: StepRecord, run_id: str) -> StepRecord:
    return replace(record, run_id=run_id) if run_id else record
