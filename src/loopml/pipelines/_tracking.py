"""The pipeline store through a tracking client: for a client of a loopml (or MLflow) server.

Step runs are made with the client's ordinary calls (create, log_batch,
update), so they need nothing but the tracking API. The cache is the step
runs themselves: a finished step run carries its cache key and its outputs as
tags, and a lookup searches the experiment's runs for the key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from loopml.core.errors import InvalidState
from loopml.pipelines.entities import CacheEntry, OutputRef
from loopml.pipelines.store import StepRun
from loopml.tracking.client import TrackingClient
from loopml.tracking.entities import Metric, Param, Run

CACHE_KEY_TAG = "loopml.step.cache_key"
OUTPUTS_TAG = "loopml.step.outputs"
STATUS_TAG = "loopml.step.status"
PIPELINE_TAG = "loopml.pipeline.name"
STEP_TAG = "loopml.step.name"


class TrackingPipelineStore:
    def __init__(self, client: TrackingClient, experiment_id: str) -> None:
        self.client = client
        self.experiment_id = experiment_id

    def get_cached(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        found: dict[str, CacheEntry] = {}
        for key in sorted(set(keys)):
            page = self.client.search_runs(
                [self.experiment_id],
                f"tags.`{CACHE_KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
                max_results=1,
                order_by=["attributes.start_time DESC"],
            )
            if page.items:
                entry = _entry(page.items[0], key)
                if entry is not None:
                    found[key] = entry
        return found

    def put_cached(self, entries: Sequence[CacheEntry]) -> None:
        """Nothing to do: the step runs recorded with their cache key are the cache."""

    def record_steps(self, experiment_id: str, user_id: str, runs: Sequence[StepRun]) -> list[str]:
        ids = []
        for run in runs:
            created = self.client.create_run(
                experiment_id, user_id, run.start_time, run.tags, run.run_name
            )
            run_id = created.info.run_id
            self.client.log_batch(
                run_id,
                [Metric(k, v, run.end_time) for k, v in run.metrics.items()],
                [Param(k, v) for k, v in run.params.items()],
                (),
            )
            self.client.update_run(run_id, run.status, run.end_time)
            ids.append(run_id)
        return ids


def _entry(run: Run, key: str) -> CacheEntry | None:
    tags = run.data.tags
    if tags.get(STATUS_TAG) not in ("completed", "cached", "reused"):
        return None
    try:
        outputs = tuple(OutputRef.from_dict(o) for o in json.loads(tags.get(OUTPUTS_TAG, "[]")))
    except (ValueError, InvalidState):
        return None
    source = tags.get("loopml.step.source_run") or run.info.run_id
    return CacheEntry(
        key,
        tags.get(PIPELINE_TAG, ""),
        tags.get(STEP_TAG, ""),
        outputs,
        source,
        run.info.start_time,
    )
