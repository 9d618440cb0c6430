"""Tracking entities from MLflow's REST JSON, for the REST store.

The inverse of what the server writes: int64s may be numbers or decimal
strings, doubles may be ``"NaN"``/``"Infinity"``, absent fields mean defaults.
"""

from __future__ import annotations

from typing import Any

from loopml.tracking.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelMetric,
    Metric,
    ModelOutput,
    Run,
    RunData,
    RunInfo,
)

Json = dict[str, Any]


def key_values(items: list[Json] | None) -> dict[str, str]:
    return {i["key"]: i.get("value", "") for i in items or []}


def as_key_values(mapping: dict[str, str]) -> list[Json]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


def _int(value: Any, default: int = 0) -> int:
    return default if value is None else int(value)


def metric_from(j: Json) -> Metric:
    return Metric(j["key"], float(j["value"]), _int(j.get("timestamp")), _int(j.get("step")))


def metric_to(m: Metric) -> Json:
    value: float | str = m.value
    if m.value != m.value:
        value = "NaN"
    elif m.value in (float("inf"), float("-inf")):
        value = "Infinity" if m.value > 0 else "-Infinity"
    return {"key": m.key, "value": value, "timestamp": m.timestamp, "step": m.step}


def experiment_from(j: Json) -> Experiment:
    return Experiment(
        experiment_id=str(j["experiment_id"]),
        name=j["name"],
        artifact_location=j.get("artifact_location", ""),
        lifecycle_stage=j.get("lifecycle_stage", "active"),
        creation_time=_int(j.get("creation_time")),
        last_update_time=_int(j.get("last_update_time")),
        tags=key_values(j.get("tags")),
    )


def run_info_from(j: Json) -> RunInfo:
    return RunInfo(
        run_id=j.get("run_id") or j["run_uuid"],
        experiment_id=str(j["experiment_id"]),
        run_name=j.get("run_name", ""),
        user_id=j.get("user_id", ""),
        status=j.get("status", "RUNNING"),
        start_time=_int(j.get("start_time")),
        end_time=None if j.get("end_time") is None else int(j["end_time"]),
        lifecycle_stage=j.get("lifecycle_stage", "active"),
        artifact_uri=j.get("artifact_uri", ""),
    )


def dataset_input_from(j: Json) -> DatasetInput:
    d = j["dataset"]
    dataset = Dataset(
        d["name"], d["digest"], d["source_type"], d["source"], d.get("schema"), d.get("profile")
    )
    return DatasetInput(dataset, key_values(j.get("tags")))


def dataset_input_to(item: DatasetInput) -> Json:
    d = item.dataset
    dataset = {"name": d.name, "digest": d.digest, "source_type": d.source_type, "source": d.source}
    if d.schema is not None:
        dataset["schema"] = d.schema
    if d.profile is not None:
        dataset["profile"] = d.profile
    return {"tags": as_key_values(item.tags), "dataset": dataset}


def run_from(j: Json) -> Run:
    data = j.get("data", {})
    inputs = j.get("inputs", {})
    outputs = j.get("outputs", {})
    return Run(
        info=run_info_from(j["info"]),
        data=RunData(
            metrics=[metric_from(m) for m in data.get("metrics", [])],
            params=key_values(data.get("params")),
            tags=key_values(data.get("tags")),
        ),
        dataset_inputs=[dataset_input_from(d) for d in inputs.get("dataset_inputs", [])],
        model_outputs=[
            ModelOutput(o["model_id"], _int(o.get("step")))
            for o in outputs.get("model_outputs", [])
        ],
    )


def logged_model_from(j: Json) -> LoggedModel:
    info, data = j["info"], j.get("data", {})
    return LoggedModel(
        model_id=info["model_id"],
        experiment_id=str(info["experiment_id"]),
        name=info.get("name", ""),
        artifact_location=info.get("artifact_uri", ""),
        creation_timestamp_ms=_int(info.get("creation_timestamp_ms")),
        last_updated_timestamp_ms=_int(info.get("last_updated_timestamp_ms")),
        status=info.get("status", "LOGGED_MODEL_PENDING"),
        lifecycle_stage=info.get("lifecycle_stage", "active"),
        model_type=info.get("model_type"),
        source_run_id=info.get("source_run_id"),
        status_message=info.get("status_message"),
        tags=key_values(info.get("tags")),
        params=key_values(data.get("params")),
        metrics=[
            LoggedModelMetric(
                m["key"],
                float(m["value"]),
                _int(m.get("timestamp")),
                _int(m.get("step")),
                m.get("run_id"),
                m.get("dataset_name"),
                m.get("dataset_digest"),
            )
            for m in data.get("metrics", [])
        ],
    )
