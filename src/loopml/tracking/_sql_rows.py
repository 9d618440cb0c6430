"""Row <-> entity conversion for the SQL tracking store, and bulk loaders.

Run data is loaded for many runs at once (one query per child table), so a
1,000-run search costs four queries, not four thousand.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from loopml.store import tables as t
from loopml.tracking.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    Metric,
    ModelOutput,
    Run,
    RunData,
    RunInfo,
)

RUN_COLUMNS = (
    t.runs.c.run_uuid,
    t.runs.c.experiment_id,
    t.runs.c.name,
    t.runs.c.user_id,
    t.runs.c.status,
    t.runs.c.start_time,
    t.runs.c.end_time,
    t.runs.c.lifecycle_stage,
    t.runs.c.artifact_uri,
)


def stored_value(value: float) -> tuple[float, bool]:
    """NaN is kept as ``is_nan`` with value 0 (PostgreSQL and SQLite agree on that)."""
    if math.isnan(value):
        return 0.0, True
    return float(value), False


def metric_value(value: float, is_nan: bool) -> float:
    return math.nan if is_nan else value


def experiment_from_row(row: Row[Any] | Any, tags: dict[str, str]) -> Experiment:
    return Experiment(
        experiment_id=str(row.experiment_id),
        name=row.name,
        artifact_location=row.artifact_location,
        lifecycle_stage=row.lifecycle_stage,
        creation_time=row.creation_time,
        last_update_time=row.last_update_time,
        tags=tags,
    )


def run_info_from_row(row: Row[Any] | Any) -> RunInfo:
    return RunInfo(
        run_id=row.run_uuid,
        experiment_id=str(row.experiment_id),
        run_name=row.name,
        user_id=row.user_id,
        status=row.status,
        start_time=row.start_time,
        end_time=row.end_time,
        lifecycle_stage=row.lifecycle_stage,
        artifact_uri=row.artifact_uri,
    )


def load_experiment_tags(conn: Connection, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = defaultdict(dict)
    if ids:
        et = t.experiment_tags
        query = select(et.c.experiment_id, et.c.key, et.c.value).where(et.c.experiment_id.in_(ids))
        for exp_id, key, value in conn.execute(query):
            out[exp_id][key] = value
    return out


def _key_values(conn: Connection, table: Any, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    query = select(table.c.run_uuid, table.c.key, table.c.value).where(
        table.c.run_uuid.in_(run_ids)
    )
    for run_id, key, value in conn.execute(query):
        out[run_id][key] = value
    return out


def _latest_metrics(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[Metric]]:
    lm = t.latest_metrics
    out: dict[str, list[Metric]] = defaultdict(list)
    query = select(lm.c.run_uuid, lm.c.key, lm.c.value, lm.c.timestamp, lm.c.step, lm.c.is_nan)
    for run_id, key, value, stamp, step, is_nan in conn.execute(
        query.where(lm.c.run_uuid.in_(run_ids)).order_by(lm.c.run_uuid, lm.c.key)
    ):
        out[run_id].append(Metric(key, metric_value(value, is_nan), stamp, step))
    return out


def _dataset_inputs(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[DatasetInput]]:
    ri, ds, rit = t.run_inputs, t.datasets, t.run_input_tags
    input_tags: dict[str, dict[str, str]] = defaultdict(dict)
    query = (
        select(ri.c.run_uuid, ri.c.input_uuid, ds)
        .join(ds, ds.c.dataset_uuid == ri.c.dataset_uuid)
        .where(ri.c.run_uuid.in_(run_ids))
    )
    rows = conn.execute(query).all()
    if not rows:
        return {}
    tag_query = select(rit.c.input_uuid, rit.c.key, rit.c.value).where(
        rit.c.input_uuid.in_([r.input_uuid for r in rows])
    )
    for input_uuid, key, value in conn.execute(tag_query):
        input_tags[input_uuid][key] = value
    out: dict[str, list[DatasetInput]] = defaultdict(list)
    for r in rows:
        dataset = Dataset(r.name, r.digest, r.source_type, r.source, r.schema, r.profile)
        out[r.run_uuid].append(DatasetInput(dataset, input_tags.get(r.input_uuid, {})))
    return out


def _model_outputs(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[ModelOutput]]:
    ro = t.run_outputs
    out: dict[str, list[ModelOutput]] = defaultdict(list)
    query = select(ro.c.run_uuid, ro.c.model_id, ro.c.step).where(ro.c.run_uuid.in_(run_ids))
    for run_id, model_id, step in conn.execute(query):
        out[run_id].append(ModelOutput(model_id, step))
    return out


_IN_CHUNK = 900  # stay under SQLite's bound-parameter limit


def load_runs(conn: Connection, infos: Sequence[RunInfo]) -> list[Run]:
    """Attach params, tags, latest metrics, inputs and outputs to many runs at once."""
    params: dict[str, dict[str, str]] = {}
    tags: dict[str, dict[str, str]] = {}
    metrics: dict[str, list[Metric]] = {}
    inputs: dict[str, list[DatasetInput]] = {}
    outputs: dict[str, list[ModelOutput]] = {}
    ids = [info.run_id for info in infos]
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        params.update(_key_values(conn, t.params, chunk))
        tags.update(_key_values(conn, t.tags, chunk))
        metrics.update(_latest_metrics(conn, chunk))
        inputs.update(_dataset_inputs(conn, chunk))
        outputs.update(_model_outputs(conn, chunk))
    return [
        Run(
            info=info,
            data=RunData(
                metrics=metrics.get(info.run_id, []),
                params=params.get(info.run_id, {}),
                tags=tags.get(info.run_id, {}),
            ),
            dataset_inputs=inputs.get(info.run_id, []),
            model_outputs=outputs.get(info.run_id, []),
        )
        for info in infos
    ]
