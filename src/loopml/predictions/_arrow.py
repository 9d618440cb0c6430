"""The fixed Arrow schemas of prediction and ground-truth files, and their Parquet encoding.

Imported only when a file is written or read, so ``import loopml.predictions``
does not load pyarrow.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from loopml.predictions.entities import PredictionRecord

TIME_TYPE = pa.timestamp("ms", tz="UTC")

PREDICTION_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("time", TIME_TYPE, nullable=False),
        pa.field("time_ms", pa.int64(), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("route", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.int64(), nullable=False),
        pa.field("inputs", pa.string(), nullable=False),
        pa.field("outputs", pa.string(), nullable=False),
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("status", pa.int32(), nullable=False),
        pa.field("shadow", pa.bool_(), nullable=False),
    ]
)

GROUND_TRUTH_SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("label_json", pa.string(), nullable=False),
        pa.field("time_ms", pa.int64(), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
    ]
)

READ_SCHEMA_WITH_GROUND_TRUTH = PREDICTION_SCHEMA.append(pa.field("ground_truth", pa.string()))


def predictions_table(records: Sequence[PredictionRecord]) -> pa.Table:
    """Records as a table of the fixed schema; raises on a value of the wrong type."""
    times_ms = pa.array([r.time_ms for r in records], pa.int64())
    columns = [
        pa.array([r.request_id for r in records], pa.string()),
        times_ms.cast(TIME_TYPE),
        times_ms,
        pa.array([r.endpoint for r in records], pa.string()),
        pa.array([r.route for r in records], pa.string()),
        pa.array([r.model_name for r in records], pa.string()),
        pa.array([r.model_version for r in records], pa.int64()),
        pa.array([r.inputs for r in records], pa.string()),
        pa.array([r.outputs for r in records], pa.string()),
        pa.array([r.latency_ms for r in records], pa.float64()),
        pa.array([r.status for r in records], pa.int32()),
        pa.array([r.shadow for r in records], pa.bool_()),
    ]
    return pa.Table.from_arrays(columns, schema=PREDICTION_SCHEMA)


def ground_truth_table(endpoint: str, labels: dict[str, str], time_ms: int) -> pa.Table:
    count = len(labels)
    columns = [
        pa.array(list(labels), pa.string()),
        pa.array(list(labels.values()), pa.string()),
        pa.array([time_ms] * count, pa.int64()),
        pa.array([endpoint] * count, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=GROUND_TRUTH_SCHEMA)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def empty_read_table(with_ground_truth: bool) -> pa.Table:
    schema = READ_SCHEMA_WITH_GROUND_TRUTH if with_ground_truth else PREDICTION_SCHEMA
    return schema.empty_table()
