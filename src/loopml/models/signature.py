"""Signatures: infer them from data, and check inputs against them before ``predict``.

Types are MLflow's column types, so an ``MLmodel`` file's ``signature:`` reads
and writes unchanged. Inputs may be a pandas DataFrame, a numpy array or a dict
of lists. Extra columns are dropped (as MLflow does) so a caller may send a
wider row; a missing required column or a value of the wrong kind is an
``InvalidParameter`` naming the column, raised before the model is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidParameter
from loopml.models.entities import ColumnSpec, Signature, TensorSpec

_NUMERIC = {"double", "float", "long", "integer"}


def to_frame(data: Any, names: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame from a DataFrame, a dict of lists or a 1-/2-D numpy array."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame(
            {str(k): list(v) if not np.isscalar(v) else [v] for k, v in data.items()}
        )
    if isinstance(data, np.ndarray | list):
        array = np.asarray(data)
        if array.ndim == 1:
            array = array.reshape(-1, 1)
        if array.ndim != 2:
            raise InvalidParameter(f"input array must be 1- or 2-dimensional, got {array.ndim}")
        columns = names if names and len(names) == array.shape[1] else None
        return pd.DataFrame(array, columns=columns)
    raise InvalidParameter(
        "model input must be a pandas DataFrame, numpy array or dict of lists, "
        f"got {type(data).__name__}"
    )


def column_type(values: pd.Series) -> str:
    """MLflow's column type for a pandas column."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "long" if np.dtype(dtype).itemsize >= 8 or dtype.kind == "u" else "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float" if np.dtype(dtype).itemsize == 4 else "double"
    non_null = values.dropna()
    if len(non_null) and all(isinstance(v, bytes | bytearray) for v in non_null):
        return "binary"
    if all(isinstance(v, str) for v in non_null):
        return "string"
    raise InvalidParameter(
        f"column {values.name!r} has dtype {dtype} that no signature type describes"
    )


def _output_specs(output: Any) -> list[ColumnSpec | TensorSpec]:
    if output is None:
        return []
    if isinstance(output, pd.DataFrame | Mapping):
        frame = to_frame(output)
        return [ColumnSpec(str(c), column_type(frame[c])) for c in frame.columns]
    if isinstance(output, pd.Series):
        return [
            ColumnSpec(str(output.name) if output.name is not None else None, column_type(output))
        ]
    array = np.asarray(output)
    return [TensorSpec(str(array.dtype), (-1, *array.shape[1:]))]


def infer_signature(model_input: Any, model_output: Any = None) -> Signature:
    """Infer a signature from example input (and optionally output) data.

    Args:
        model_input: a DataFrame, numpy array or dict of lists; unnamed array
            columns are named ``"0"``, ``"1"``, ... as pandas names them.
        model_output: what the model returns for it (array, Series or DataFrame).

    Returns:
        The signature, with MLflow's column types.
    """
    frame = to_frame(model_input)
    inputs = [ColumnSpec(str(c), column_type(frame[c])) for c in frame.columns]
    return Signature(inputs=inputs, outputs=_output_specs(model_output))


def _conform_column(values: pd.Series, spec: ColumnSpec) -> pd.Series:
    kind = values.dtype.kind
    wrong = InvalidParameter(
        f"input column {spec.name!r} has {values.dtype} values "
        f"but the signature expects {spec.type}"
    )
    if spec.type in {"double", "float"}:
        if kind not in "biuf":
            raise wrong
        return values.astype(np.float32 if spec.type == "float" else np.float64)
    if spec.type in {"long", "integer"}:
        if kind not in "iu" and kind != "b":
            raise wrong
        return values.astype(np.int32 if spec.type == "integer" else np.int64)
    if spec.type == "boolean" and kind != "b":
        raise wrong
    if spec.type == "datetime" and kind != "M":
        raise wrong
    if spec.type in {"string", "binary"}:
        allowed = str if spec.type == "string" else (bytes, bytearray)
        if not all(isinstance(v, allowed) for v in values.dropna()):
            raise wrong
    return values


def conform(data: Any, signature: Signature) -> pd.DataFrame:
    """Check ``data`` against ``signature`` and return exactly its columns, in order.

    Raises:
        InvalidParameter: a required column is missing or holds values of the wrong type.
    """
    names = signature.input_names
    frame = to_frame(data, names)
    present = {str(c) for c in frame.columns}
    columns: dict[str, pd.Series] = {}
    for spec in signature.inputs:
        if spec.name is None:
            continue
        if spec.name not in present:
            if spec.required:
                raise InvalidParameter(
                    f"input is missing column {spec.name!r} (signature: {names})"
                )
            continue
        columns[spec.name] = _conform_column(frame[spec.name], spec)
    return pd.DataFrame(columns, index=frame.index)
