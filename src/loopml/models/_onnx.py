"""The ``onnx`` flavor: an ONNX graph run with onnxruntime on the CPU.

A model with one input gets the whole (checked) table as one float32 matrix
(what skl2onnx converters expect); a model with several inputs gets one column
per input, matched by name. ``predict`` returns the first output; when there is
a second (skl2onnx's probabilities, a ZipMap list of dicts or a matrix),
``predict_proba`` returns it as a matrix.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidParameter, NotSupported
from loopml.models.flavor import Flavor, data_file, mro_modules
from loopml.models.trust import TrustPolicy

_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxFlavor(Flavor):
    name = "onnx"

    def matches(self, model: object) -> bool:
        if isinstance(model, str | os.PathLike):
            return str(model).endswith(".onnx") and Path(model).is_file()
        return "onnx" in mro_modules(model) and type(model).__name__ == "ModelProto"

    def save(self, model: Any, directory: Path, serialization: str) -> dict[str, Any]:
        if serialization not in {"auto", "onnx"}:
            raise InvalidParameter(f"serialization {serialization!r} is not auto or onnx for onnx")
        target = directory / "model.onnx"
        if isinstance(model, str | os.PathLike):
            shutil.copyfile(model, target)
        else:
            import onnx

            onnx.save_model(model, str(target))
        return {"loader": "onnx", "data": target.name}

    def load(self, directory: Path, config: Mapping[str, Any], policy: TrustPolicy) -> Any:
        import onnxruntime

        path = data_file(directory, config)
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def prepare(self, raw: Any, data: Any) -> Any:
        inputs = raw.get_inputs()
        if len(inputs) == 1:
            array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
            return {inputs[0].name: array.astype(_NUMPY_TYPES.get(inputs[0].type, np.float32))}
        if not isinstance(data, pd.DataFrame):
            raise InvalidParameter("an ONNX model with several inputs needs a DataFrame or dict")
        feeds: dict[str, Any] = {}
        for spec in inputs:
            if spec.name not in data.columns:
                raise InvalidParameter(f"input is missing column {spec.name!r} (ONNX model input)")
            column = data[spec.name].to_numpy().reshape(-1, 1)
            feeds[spec.name] = column.astype(_NUMPY_TYPES.get(spec.type, np.float32))
        return feeds

    def predict(self, raw: Any, data: Any) -> Any:
        return raw.run(None, self.prepare(raw, data))[0]

    def has_proba(self, raw: Any) -> bool:
        return len(raw.get_outputs()) > 1

    def predict_proba(self, raw: Any, data: Any) -> Any:
        if not self.has_proba(raw):
            raise NotSupported("onnx model has a single output, so no predict_proba")
        proba = raw.run(None, self.prepare(raw, data))[1]
        if isinstance(proba, list) and proba and isinstance(proba[0], dict):
            keys = sorted(proba[0])
            return np.asarray([[row[k] for k in keys] for row in proba])
        return np.asarray(proba)
