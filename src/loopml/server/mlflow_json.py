"""Tracking entities as MLflow's response messages (``Experiment``, ``Run``, ``LoggedModel``...).

Field names and shapes follow ``service.proto``; int64 values are JSON numbers
(as MLflow's server writes them), absent optional fields are left out, and
doubles go through :func:`loopml.server.wire.double` so NaN survives the trip.
Plain dicts and lists only: orjson turns them into bytes in one pass.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.artifacts import FileInfo
from loopml.server.wire import double
from loopml.tracking.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelMetric,
    Metric,
    Run,
    RunInfo,
)

Json = dict[str, Any]


def key_values(values: Mapping[str, str]) -> list[Json]:
    return [{"key": k, "value": v} for k, v in values.items()]


def experiment_json(experiment: Experiment) -> Json:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "last_update_time": experiment.last_update_time,
        "creation_time": experiment.creation_time,
        "tags": key_values(experiment.tags),
    }


def run_info_json(info: RunInfo) -> Json:
    out: Json = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user_id,
        "status": info.status,
        "start_time": info.start_time,
        "artifact_uri": info.artifact_uri,
        "lifecycle_stage": info.lifecycle_stage,
    }
    if info.end_time is not None:
        out["end_time"] = info.end_time
    return out


def metric_json(metric: Metric) -> Json:
    return {
        "key": metric.key,
        "value": double(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }


# orjson writes a dataclass as the object of its fields, which for ``Metric`` is
# exactly MLflow's ``Metric`` message; it would write NaN as null, though.
_METRIC_IS_WIRE_SHAPED = tuple(f.name for f in dataclasses.fields(Metric)) == (
    "key",
    "value",
    "timestamp",
    "step",
)


def metric_history_json(metrics: Sequence[Metric]) -> Sequence[Metric] | list[Json]:
    """The hot path of get-history (100,000 points and more).

    When every value is finite the entities go to orjson as they are (serialised
    in Rust, about 4x faster than building a dict per point); otherwise each
    point becomes a dict with its non-finite value spelled out.
    """
    if _METRIC_IS_WIRE_SHAPED and all(math.isfinite(m.value) for m in metrics):
        return metrics
    return [
        {"key": m.key, "value": double(m.value), "timestamp": m.timestamp, "step": m.step}
        for m in metrics
    ]


def _dataset_input_json(item: DatasetInput) -> Json:
    dataset = item.dataset
    body: Json = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
    }
    if dataset.schema is not None:
        body["schema"] = dataset.schema
    if dataset.profile is not None:
        body["profile"] = dataset.profile
    return {"tags": key_values(item.tags), "dataset": body}


def run_json(run: Run) -> Json:
    return {
        "info": run_info_json(run.info),
        "data": {
            "metrics": [metric_json(m) for m in run.data.metrics],
            "params": key_values(run.data.params),
            "tags": key_values(run.data.tags),
        },
        "inputs": {"dataset_inputs": [_dataset_input_json(d) for d in run.dataset_inputs]},
        "outputs": {
            "model_outputs": [{"model_id": o.model_id, "step": o.step} for o in run.model_outputs]
        },
    }


def _model_metric_json(metric: LoggedModelMetric, model_id: str) -> Json:
    out: Json = {
        "key": metric.key,
        "value": double(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
        "model_id": model_id,
    }
    for name in ("run_id", "dataset_name", "dataset_digest"):
        if (value := getattr(metric, name)) is not None:
            out[name] = value
    return out


def logged_model_json(model: LoggedModel) -> Json:
    info: Json = {
        "model_id": model.model_id,
        "experiment_id": model.experiment_id,
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp_ms,
        "last_updated_timestamp_ms": model.last_updated_timestamp_ms,
        "artifact_uri": model.artifact_location,
        "status": model.status,
        "tags": key_values(model.tags),
    }
    for name in ("model_type", "source_run_id", "status_message"):
        if (value := getattr(model, name)) is not None:
            info[name] = value
    data = {
        "params": key_values(model.params),
        "metrics": [_model_metric_json(m, model.model_id) for m in model.metrics],
    }
    return {"info": info, "data": data}


def file_info_json(info: FileInfo, path: str) -> Json:
    """One ``FileInfo``; ``path`` is relative to whatever root the caller listed."""
    out: Json = {"path": path, "is_dir": info.is_dir}
    if info.file_size is not None and not info.is_dir:
        out["file_size"] = info.file_size
    return out
