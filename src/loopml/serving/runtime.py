"""A served model: what it accepts, how a request becomes its input, and its calls.

Requests arrive as V2 tensors or MLflow's table formats; both become either a
numeric matrix in the signature's column order or a DataFrame, checked against
the signature here, so a wrong column, datatype or width is a 400 naming it
before the model runs. When every input is numeric and the model gives the
same answer for a bare array as for a DataFrame (tried once, at warm-up), the
matrix goes straight to the model object's own ``predict``: pandas and
scikit-learn's per-call DataFrame handling would otherwise cost several times
the prediction itself.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidParameter, NotSupported
from loopml.models import LoadedModel
from loopml.models.flavors import get_flavor
from loopml.serving.tensors import Tensor

logger = logging.getLogger("loopml.serving")

NUMERIC_TYPES = {"double", "float", "long", "integer"}
# scikit-learn warns on every call that an array has no feature names; the
# columns were checked against the signature, in its order, just before.
FEATURE_NAMES_WARNING = "X does not have valid feature names"


@dataclass
class ModelInput:
    """A request's rows: a numeric matrix in signature order, or a DataFrame."""

    rows: int
    matrix: np.ndarray | None = None
    frame: pd.DataFrame | None = None


@dataclass
class ServedModel:
    name: str
    version: int
    uri: str
    loaded: LoadedModel
    columns: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    takes_arrays: bool = False

    @classmethod
    def of(cls, name: str, version: int, uri: str, loaded: LoadedModel) -> ServedModel:
        specs = [s for s in (loaded.signature.inputs if loaded.signature else []) if s.name]
        served = cls(
            name, version, uri, loaded, [str(s.name) for s in specs], [s.type for s in specs]
        )
        served.warm_up()
        return served

    @property
    def numeric(self) -> bool:
        return bool(self.types) and all(t in NUMERIC_TYPES for t in self.types)

    @property
    def methods(self) -> list[str]:
        proba = get_flavor(self.loaded.flavor).has_proba(self.loaded.raw)
        return ["predict", "predict_proba"] if proba else ["predict"]

    # --- requests into model input -------------------------------------------------

    def from_tensors(self, inputs: list[Tensor]) -> ModelInput:
        if len(inputs) == 1 and inputs[0].array.ndim == 2:
            return self.from_matrix(inputs[0].array, inputs[0].name)
        columns = {}
        for tensor in inputs:
            array = tensor.array
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise InvalidParameter(
                    f"input {tensor.name!r}: shape {tensor.shape} must be [rows] or [rows, 1] "
                    "when inputs are named columns, or send one [rows, columns] tensor"
                )
            columns[tensor.name] = array
        return self.from_columns(columns)

    def from_matrix(self, matrix: np.ndarray, name: str = "input") -> ModelInput:
        if matrix.ndim != 2:
            raise InvalidParameter(
                f"input {name!r} must be 2-dimensional, got shape {matrix.shape}"
            )
        if self.columns and matrix.shape[1] != len(self.columns):
            raise InvalidParameter(
                f"input {name!r}: shape {list(matrix.shape)} has {matrix.shape[1]} columns; "
                f"the model's signature has {len(self.columns)}: {self.columns}"
            )
        if self.numeric:
            if matrix.dtype.kind not in "biuf":
                raise InvalidParameter(
                    f"input {name!r}: the signature expects numbers, got {matrix.dtype} data"
                )
            return ModelInput(len(matrix), matrix=matrix)
        if not self.columns:
            return ModelInput(len(matrix), matrix=matrix)
        return self.from_columns({c: matrix[:, i] for i, c in enumerate(self.columns)})

    def from_columns(self, columns: dict[str, Any]) -> ModelInput:
        if self.columns:
            unknown = [c for c in columns if c not in self.columns]
            if unknown:
                raise InvalidParameter(
                    f"input column {unknown[0]!r} is not in the model's signature: {self.columns}"
                )
            missing = [c for c in self.columns if c not in columns]
            if missing:
                raise InvalidParameter(f"input is missing column {missing[0]!r}")
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidParameter(f"input columns have different lengths: {sorted(lengths)}")
        if self.numeric:
            for name, values in columns.items():
                if np.asarray(values).dtype.kind not in "biuf":
                    raise InvalidParameter(
                        f"input column {name!r}: the signature expects a number, got "
                        f"{np.asarray(values).dtype} data"
                    )
            matrix = np.column_stack([np.asarray(columns[c]) for c in self.columns])
            return ModelInput(len(matrix), matrix=matrix)
        frame = pd.DataFrame(columns)
        return ModelInput(len(frame), frame=frame)

    def from_frame(self, frame: pd.DataFrame) -> ModelInput:
        if self.numeric:
            return self.from_columns({str(c): frame[c].to_numpy() for c in frame.columns})
        return ModelInput(len(frame), frame=frame)

    # --- calls ------------------------------------------------------------------------

    def predict(self, data: ModelInput, method: str = "predict") -> np.ndarray:
        if method not in self.methods:
            raise InvalidParameter(f"output {method!r} is not one of {self.methods}")
        if data.matrix is not None and self.takes_arrays:
            return self._call(method, data.matrix)
        frame = data.frame
        if frame is None:
            assert data.matrix is not None
            frame = pd.DataFrame(data.matrix, columns=self.columns or None)
        return np.asarray(getattr(self.loaded, method)(frame))

    def _call(self, method: str, matrix: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=FEATURE_NAMES_WARNING)
            return np.asarray(getattr(self.loaded.raw, method)(matrix))

    def warm_up(self) -> None:
        """Run the model once (its input example, or zeros) and decide the array path."""
        if not self.numeric:
            return
        example = self.loaded.input_example
        matrix = (
            np.asarray(example[self.columns] if isinstance(example, pd.DataFrame) else example)
            if example is not None
            else np.zeros((2, len(self.columns)))
        )
        try:
            expected = self.predict(ModelInput(len(matrix), matrix=matrix))
            self.takes_arrays = bool(np.array_equal(self._call("predict", matrix), expected))
        except (InvalidParameter, NotSupported, ValueError, TypeError, AttributeError) as error:
            logger.info("model %s v%s takes DataFrames only: %s", self.name, self.version, error)
            self.takes_arrays = False
