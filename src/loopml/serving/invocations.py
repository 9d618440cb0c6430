"""MLflow's ``/invocations`` request formats, read into a model's input.

JSON bodies carry exactly one of ``dataframe_split`` (``{columns, data}``),
``dataframe_records`` (a list of row objects), ``instances`` (rows: lists or
objects) or ``inputs`` (a tensor: a list of rows, or named columns); a
``text/csv`` body is a table with a header row. Anything else is a 400 that
says which formats exist.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.core.errors import InvalidParameter
from loopml.serving.runtime import ModelInput, ServedModel

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def parse_invocation(body: bytes, content_type: str | None, model: ServedModel) -> ModelInput:
    kind = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if kind == "text/csv":
        return _csv(body, model)
    if kind != "application/json":
        raise InvalidParameter(
            f"content type {kind!r} is not supported: send application/json or text/csv"
        )
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidParameter(f"request body is not valid JSON: {error}") from None
    present = [k for k in FORMATS if isinstance(message, dict) and k in message]
    if len(present) != 1:
        raise InvalidParameter(
            f"the body must have exactly one of {', '.join(FORMATS)}; got "
            f"{sorted(message) if isinstance(message, dict) else type(message).__name__}"
        )
    kind = present[0]
    value = message[kind]
    if kind == "dataframe_split":
        return _split(value, model)
    if kind == "dataframe_records":
        return _records(value, model, kind)
    return _rows(value, model, kind)


def _split(value: Any, model: ServedModel) -> ModelInput:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise InvalidParameter("dataframe_split needs 'columns' and a 'data' list of rows")
    columns = value.get("columns")
    data = value["data"]
    if columns is None:
        return model.from_matrix(_matrix(data, "dataframe_split"), "dataframe_split")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidParameter("dataframe_split 'columns' must be a list of names")
    if model.numeric and columns == model.columns:
        return model.from_matrix(_matrix(data, "dataframe_split"), "dataframe_split")
    try:
        frame = pd.DataFrame(data, columns=columns)
    except ValueError as error:
        raise InvalidParameter(f"dataframe_split rows do not fit its columns: {error}") from None
    return model.from_frame(frame)


def _matrix(data: Any, field: str) -> np.ndarray:
    try:
        matrix = np.asarray(data)
    except ValueError:
        raise InvalidParameter(f"{field} rows have different lengths") from None
    if matrix.ndim == 1:
        matrix = matrix.reshape(1, -1) if matrix.size and matrix.dtype.kind != "O" else matrix
    if matrix.ndim != 2 or matrix.dtype.kind == "O":
        raise InvalidParameter(f"{field} must be a list of rows of the same length")
    return matrix


def _records(value: Any, model: ServedModel, field: str) -> ModelInput:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise InvalidParameter(f"{field} must be a list of objects (one per row)")
    return model.from_frame(pd.DataFrame.from_records(value))


def _rows(value: Any, model: ServedModel, field: str) -> ModelInput:
    if isinstance(value, dict):  # named columns
        return model.from_columns({str(k): np.asarray(v) for k, v in value.items()})
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        return _records(value, model, field)
    if not isinstance(value, list):
        raise InvalidParameter(f"{field} must be a list of rows or an object of columns")
    return model.from_matrix(_matrix(value, field), field)


def _csv(body: bytes, model: ServedModel) -> ModelInput:
    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError) as error:
        raise InvalidParameter(f"the CSV body cannot be read: {error}") from None
    return model.from_frame(frame)
