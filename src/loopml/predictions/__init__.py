"""The prediction log and ground truth: written by serving, read by monitoring.

The inference server logs one :class:`PredictionRecord` per answer to a
:class:`PredictionLog` (a background writer of Parquet parts in the artifact
store) or, in tests, a :class:`MemoryPredictionLog`; both are
:class:`PredictionSink`. Labels arrive later through :func:`log_ground_truth`;
monitoring reads both with :func:`read` (Arrow), :func:`read_pandas` or
:func:`read_duckdb`.

Importing this package loads neither pyarrow nor DuckDB; they load on first
write or read.
"""

from __future__ import annotations

from loopml.predictions.entities import PredictionRecord
from loopml.predictions.ground_truth import log_ground_truth
from loopml.predictions.layout import check_endpoint_name
from loopml.predictions.memory import MemoryPredictionLog
from loopml.predictions.reader import read, read_duckdb, read_pandas
from loopml.predictions.store import PredictionSink
from loopml.predictions.writer import PredictionLog

__all__ = [
    "MemoryPredictionLog",
    "PredictionLog",
    "PredictionRecord",
    "PredictionSink",
    "check_endpoint_name",
    "log_ground_truth",
    "read",
    "read_duckdb",
    "read_pandas",
]
