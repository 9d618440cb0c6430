"""The pipeline store on the metadata database: the step cache and bulk step runs.

Step runs are written straight into tracking's tables, many per transaction,
because creating them one by one through the tracking client costs ~13 ms a
step on SQLite (three transactions, each re-reading the run) and a pipeline
records every step. The rows are exactly those ``SqlTrackingStore`` writes for
``create_run`` + ``log_batch`` + ``update_run`` (checked by the tests, which
read both back through the tracking client), and the batch is validated with
tracking's own rules first, so nothing here bends them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from loopml.core.errors import ResourceNotFound
from loopml.core.ids import new_id
from loopml.pipelines.entities import CacheEntry, OutputRef
from loopml.pipelines.store import StepRun
from loopml.store import tables as t
from loopml.store.database import Database
from loopml.store.upsert import insert_on_conflict
from loopml.tracking import validation as check
from loopml.tracking.entities import LifecycleStage, Metric, Param, RunTag

RUN_NAME_TAG = "mlflow.runName"
_CHUNK = 500


class SqlPipelineStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_cached(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        found: dict[str, CacheEntry] = {}
        wanted = sorted(set(keys))
        cache = t.pipeline_cache
        with self.db.read() as conn:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                rows = conn.execute(select(cache).where(cache.c.cache_key.in_(chunk))).all()
                for row in rows:
                    found[row.cache_key] = _entry(row)
        return found

    def put_cached(self, entries: Sequence[CacheEntry]) -> None:
        if not entries:
            return
        rows = {e.cache_key: _row(e) for e in entries}  # one row per key: the last wins
        with self.db.write() as conn:
            stmt = insert_on_conflict(conn, t.pipeline_cache)
            excluded = stmt.excluded
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["cache_key"],
                    set_={
                        "pipeline": excluded.pipeline,
                        "step": excluded.step,
                        "outputs": excluded.outputs,
                        "run_id": excluded.run_id,
                        "created_ms": excluded.created_ms,
                    },
                ),
                list(rows.values()),
            )

    def record_steps(self, experiment_id: str, user_id: str, runs: Sequence[StepRun]) -> list[str]:
        if not runs:
            return []
        for run in runs:
            _check(run)
        ids = [new_id() for _ in runs]
        with self.db.write() as conn:
            location = conn.execute(
                select(t.experiments.c.artifact_location).where(
                    t.experiments.c.experiment_id == int(experiment_id)
                )
            ).scalar()
            if location is None:
                raise ResourceNotFound(f"experiment {experiment_id} does not exist")
            root = str(location).rstrip("/")
            conn.execute(
                t.runs.insert(),
                [
                    _run_row(i, experiment_id, user_id, root, r)
                    for i, r in zip(ids, runs, strict=True)
                ],
            )
            tags = [
                {"run_uuid": run_id, "key": key, "value": value}
                for run_id, run in zip(ids, runs, strict=True)
                for key, value in {**run.tags, RUN_NAME_TAG: run.run_name}.items()
            ]
            conn.execute(t.tags.insert(), tags)
            params = [
                {"run_uuid": run_id, "key": key, "value": value}
                for run_id, run in zip(ids, runs, strict=True)
                for key, value in run.params.items()
            ]
            if params:
                conn.execute(t.params.insert(), params)
            points = [
                {"run_uuid": run_id, "key": key, "step": 0, "timestamp": run.end_time,
                 "value": float(value), "is_nan": False}
                for run_id, run in zip(ids, runs, strict=True)
                for key, value in run.metrics.items()
            ]  # fmt: skip
            if points:
                conn.execute(t.metrics.insert(), points)
                conn.execute(t.latest_metrics.insert(), points)
        return ids


def _check(run: StepRun) -> None:
    check.check_value(run.run_name, "run_name", check.MAX_RUN_NAME_LENGTH)
    check.check_batch(
        [Metric(k, v, run.end_time) for k, v in run.metrics.items()],
        [Param(k, v) for k, v in run.params.items()],
        [RunTag(k, v) for k, v in run.tags.items()],
    )


def _run_row(
    run_id: str, experiment_id: str, user_id: str, root: str, run: StepRun
) -> dict[str, Any]:
    return {
        "run_uuid": run_id,
        "experiment_id": int(experiment_id),
        "name": run.run_name,
        "user_id": user_id,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "lifecycle_stage": LifecycleStage.ACTIVE.value,
        "artifact_uri": f"{root}/{run_id}/artifacts",
    }


def _row(entry: CacheEntry) -> dict[str, Any]:
    return {
        "cache_key": entry.cache_key,
        "pipeline": entry.pipeline[:256],
        "step": entry.step[:256],
        "outputs": json.dumps([o.to_dict() for o in entry.outputs]),
        "run_id": entry.run_id,
        "created_ms": entry.created_ms,
    }


def _entry(row: Any) -> CacheEntry:
    outputs = tuple(OutputRef.from_dict(o) for o in json.loads(row.outputs))
    return CacheEntry(row.cache_key, row.pipeline, row.step, outputs, row.run_id, row.created_ms)
