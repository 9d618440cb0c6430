"""Reading pipeline runs back from tracking: the list, one run's steps, its DAG.

Everything here is read from what :mod:`loopml.pipelines.recording` wrote,
through the tracking client, so it works on an embedded store and against a
server alike (``loopml pipelines list|show`` and ``resume`` use it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from loopml.core.errors import InvalidParameter, LoopmlError, ResourceNotFound
from loopml.pipelines.entities import OutputRef
from loopml.pipelines.recording import (
    EXECUTOR_TAG,
    GRAPH_ARTIFACT,
    NODE_TAG,
    OUTPUTS_TAG,
    PARENT_TAG,
    PIPELINE_TAG,
    STATUS_TAG,
)
from loopml.tracking.client import TrackingClient
from loopml.tracking.entities import Run, ViewType

PAGE = 1000


@dataclass(frozen=True)
class PipelineRunView:
    """A recorded pipeline run: its tracking run, its step runs and its DAG's node ids."""

    run: Run
    steps: list[Run]
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.run.data.tags.get(PIPELINE_TAG, self.run.info.run_name)


def list_pipeline_runs(
    client: TrackingClient, experiment: str | None = None, max_results: int = 50
) -> list[Run]:
    """Pipeline runs, newest first: of one experiment (name or id), or of all."""
    if experiment is None:
        ids = [e.experiment_id for e in client.search_experiments(max_results=50_000).items]
    elif experiment.isdigit():
        ids = [experiment]
    else:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise ResourceNotFound(f"experiment {experiment!r} does not exist")
        ids = [found.experiment_id]
    if not ids:
        return []
    page = client.search_runs(
        ids,
        f"tags.`{EXECUTOR_TAG}` IS NOT NULL",
        max_results=max_results,
        order_by=["attributes.start_time DESC"],
    )
    return page.items


def get_pipeline_run(client: TrackingClient, run_id: str) -> PipelineRunView:
    """A pipeline run with its step runs (oldest first) and DAG.

    Raises:
        InvalidParameter: the run is not a pipeline run (a step run, a training run).
    """
    run = client.get_run(run_id)
    if EXECUTOR_TAG not in run.data.tags:
        raise InvalidParameter(f"run {run_id} is not a pipeline run")
    return PipelineRunView(run, step_runs(client, run), _nodes(client, run_id))


def step_runs(client: TrackingClient, run: Run) -> list[Run]:
    found: list[Run] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [run.info.experiment_id],
            f"tags.`{PARENT_TAG}` = '{run.info.run_id}'",
            view_type=ViewType.ALL,
            max_results=PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        found.extend(page.items)
        token = page.next_page_token
        if token is None:
            return found


def _nodes(client: TrackingClient, run_id: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(client.download_artifact(run_id, GRAPH_ARTIFACT))
    except (LoopmlError, ValueError):
        return []
    nodes = document.get("nodes", []) if isinstance(document, dict) else []
    return [n for n in nodes if isinstance(n, dict)]


def step_outputs(run: Run) -> tuple[OutputRef, ...] | None:
    """The outputs a step run recorded, or None when they cannot be read back whole."""
    try:
        raw = json.loads(run.data.tags.get(OUTPUTS_TAG, ""))
        return tuple(OutputRef.from_dict(item) for item in raw)
    except (ValueError, LoopmlError):
        return None


def step_status(run: Run) -> str:
    return run.data.tags.get(STATUS_TAG, run.info.status.lower())


def step_node(run: Run) -> str:
    return run.data.tags.get(NODE_TAG, run.info.run_name)
