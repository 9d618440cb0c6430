"""What a monitor run compares: a window of an endpoint's log, or of batch-scoring outputs.

Serving logs each request's inputs as named columns (JSON) and its outputs
beside them; a window is rebuilt as one table by appending each request's
columns to per-column lists and building a single DataFrame at the end
(a DataFrame per request and a concat cost about 30x more at 100k requests).
A request whose columns differ from the others' leaves its missing columns
empty; one without named inputs, or with columns of unequal length, is
skipped: there is nothing to compare by column.
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger("loopml.monitoring")

PREDICTION_COLUMN = "prediction"


class _Columns:
    """Rows appended column by column; a column one request lacks is None there."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {}
        self.rows = 0

    def add(self, columns: dict[str, list[Any]], rows: int) -> None:
        for name in self.values.keys() - columns.keys():
            self.values[name].extend([None] * rows)
        for name, values in columns.items():
            if name not in self.values:
                self.values[name] = [None] * self.rows
            self.values[name].extend(values)
        self.rows += rows

    def frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.values) if self.rows else None


def _as_columns(inputs: Any) -> tuple[dict[str, list[Any]], int] | None:
    """A request's named inputs as equal-length lists (a scalar is one row), or None."""
    if not isinstance(inputs, dict) or not inputs:
        return None
    columns = {name: v if isinstance(v, list) else [v] for name, v in inputs.items()}
    lengths = {len(values) for values in columns.values()}
    return (columns, lengths.pop()) if len(lengths) == 1 else None


def window_frame(artifacts: Any, endpoint: str, start_ms: int, end_ms: int) -> Any:
    """The window's primary-route requests as one table of inputs (and ``prediction``)."""
    from loopml.predictions import read

    logged = read(
        artifacts, endpoint=endpoint, start_ms=start_ms, end_ms=end_ms, include_shadow=False
    )
    if logged.num_rows == 0:
        return None
    table = _Columns()
    for inputs, outputs in zip(
        logged.column("inputs").to_pylist(), logged.column("outputs").to_pylist(), strict=True
    ):
        found = _as_columns(json.loads(inputs))
        if found is None:
            continue
        columns, rows = found
        predictions = json.loads(outputs)
        if isinstance(predictions, list) and len(predictions) == rows:
            columns[PREDICTION_COLUMN] = [
                json.dumps(p) if isinstance(p, list) else p for p in predictions
            ]
        table.add(columns, rows)
    return table.frame()


def batch_frame(client: Any, model_name: str, start_ms: int, end_ms: int) -> Any:
    """The window's batch-scoring outputs of ``model_name`` as one table (None: none).

    An output that is gone (moved, or on another machine than this one) is
    skipped with a warning: the window is judged on the outputs that remain.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    from loopml.core.errors import InvalidParameter
    from loopml.predictions.batch import batch_outputs

    if client is None:
        raise InvalidParameter("a batch monitor needs the tracking store to find batch scorings")
    parts = []
    for path in batch_outputs(client, model_name, start_ms, end_ms):
        try:
            parts.append(pq.read_table(path).to_pandas())
        except FileNotFoundError:
            logger.warning("batch output %s of %s is gone; skipped", path, model_name)
    return pd.concat(parts, ignore_index=True) if parts else None
