"""The fluent API: ``with loopml.start_run(experiment="iris") as run: ...``.

A run started here is ended when the block exits: FINISHED on success, FAILED
when an exception escapes, KILLED on Ctrl-C, always after its queued metrics
are flushed. Runs nest: a run started inside another becomes its child
(``mlflow.parentRunId`` tag), as in MLflow.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter
from loopml.tracking.batching import MetricBatcher
from loopml.tracking.client import TrackingClient
from loopml.tracking.context import run_context_tags
from loopml.tracking.entities import Metric, Param, Run, RunInfo, RunStatus, RunTag

PARENT_RUN_TAG = "mlflow.parentRunId"

_local = threading.local()


def _run_stack() -> list[ActiveRun]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    stack: list[ActiveRun] = _local.stack
    return stack


class ActiveRun:
    """A run being recorded; returned by :func:`start_run`."""

    def __init__(self, client: TrackingClient, run: Run, batcher: MetricBatcher) -> None:
        self.client = client
        self._run = run
        self._batcher = batcher

    @property
    def info(self) -> RunInfo:
        return self._run.info

    @property
    def run_id(self) -> str:
        return self._run.info.run_id

    def log_metric(
        self, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Queue a metric point; returns at once, written in the background."""
        stamp = now_ms() if timestamp is None else timestamp
        self._batcher.add(self.run_id, Metric(key, float(value), stamp, step))

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        stamp = now_ms()
        for key, value in metrics.items():
            self.log_metric(key, value, step=step, timestamp=stamp)

    def log_param(self, key: str, value: object) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, object]) -> None:
        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def set_tag(self, key: str, value: object) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, object]) -> None:
        items = [RunTag(k, str(v)) for k, v in tags.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, tags=items[start : start + 100])

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        self.client.log_artifact(self.run_id, local_path, artifact_path)

    def log_dict(self, dictionary: Mapping[str, Any], artifact_file: str) -> None:
        data = json.dumps(dictionary, indent=2, sort_keys=True, default=str).encode()
        self.client.log_artifact_bytes(self.run_id, data, artifact_file)

    def flush(self) -> None:
        """Block until every queued metric point is written."""
        self._batcher.flush()

    def end(self, status: RunStatus = RunStatus.FINISHED) -> None:
        try:
            self.flush()
        finally:
            self.client.update_run(self.run_id, status=status, end_time=now_ms())
            stack = _run_stack()
            if self in stack:
                stack.remove(self)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end(RunStatus.KILLED)
        else:
            self.end(RunStatus.FAILED)


def active_run() -> ActiveRun | None:
    stack = _run_stack()
    return stack[-1] if stack else None


def start_run(
    client: TrackingClient,
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> ActiveRun:
    """Start a run in ``experiment`` (created on first use; "Default" when None).

    Raises:
        InvalidParameter: a run is already active and ``nested`` is False.
    """
    parent = active_run()
    if parent is not None and not nested:
        raise InvalidParameter(
            f"run {parent.run_id} is already active; end it first or pass nested=True"
        )
    experiment_id = _experiment_id(client, experiment)
    run_tags = {**run_context_tags(), **(tags or {})}
    if parent is not None:
        run_tags[PARENT_RUN_TAG] = parent.run_id
    run = client.create_run(
        experiment_id, user_id=run_tags.get("mlflow.user", ""), tags=run_tags, run_name=run_name
    )
    active = ActiveRun(client, run, client.metric_batcher)
    _run_stack().append(active)
    return active


def _experiment_id(client: TrackingClient, name: str | None) -> str:
    if name is None:
        return "0"
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    return client.create_experiment(name)
