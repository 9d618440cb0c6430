"""Reading MLflow model directories (an ``MLmodel`` file) without mlflow installed.

Only data is read from ``MLmodel``: the flavor's file name, its serialization
format and the XGBoost class (through a fixed table). Whether a loader may run
code is decided by loopml (``trust.py``), never by the file, and skops type
lists written in the file are ignored: MLflow's own allowlist for LightGBM is
built in, everything else goes through ``trusted_types``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from loopml.core.errors import InvalidParameter
from loopml.core.paths import safe_relpath
from loopml.models.entities import Signature
from loopml.models.loaded import read_example

#: MLflow flavors loopml reads, most specific first (python_function is last).
SUPPORTED = ("sklearn", "xgboost", "lightgbm", "onnx", "python_function")
_SKLEARN_FORMATS = {"skops", "pickle", "cloudpickle"}


def _sklearn(conf: dict[str, Any]) -> dict[str, Any]:
    loader = str(conf.get("serialization_format") or "pickle")
    if loader not in _SKLEARN_FORMATS:
        raise InvalidParameter(f"MLflow sklearn serialization_format {loader!r} is not supported")
    return {"loader": loader, "data": conf.get("pickled_model")}


def _xgboost(conf: dict[str, Any]) -> dict[str, Any]:
    return {
        "loader": "xgboost",
        "data": conf.get("data"),
        "model_class": conf.get("model_class", "xgboost.core.Booster"),
    }


def _lightgbm(conf: dict[str, Any]) -> dict[str, Any]:
    data = str(conf.get("data") or "")
    loader = conf.get("serialization_format")
    if data.endswith(".lgb") or loader is None:
        loader = "lightgbm"
    elif loader not in _SKLEARN_FORMATS:
        raise InvalidParameter(f"MLflow lightgbm serialization_format {loader!r} is not supported")
    return {"loader": loader, "data": data}


def _onnx(conf: dict[str, Any]) -> dict[str, Any]:
    return {"loader": "onnx", "data": conf.get("data")}


def _python_function(conf: dict[str, Any]) -> dict[str, Any]:
    # A custom pyfunc is a cloudpickled PythonModel: code runs on load, so trust is needed.
    data = conf.get("python_model") or conf.get("model_path") or conf.get("data")
    return {
        "loader": "cloudpickle",
        "data": data,
        "mlflow_loader_module": conf.get("loader_module"),
    }


_READERS = {
    "sklearn": _sklearn,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
    "python_function": _python_function,
}


def _signature(raw: Any) -> Signature | None:
    if not isinstance(raw, dict) or not raw.get("inputs"):
        return None
    try:
        return Signature.from_dict(raw)
    except InvalidParameter:
        # Tensor or nested (array/object) signatures describe no columns to check.
        return None


def read_mlmodel(root: Path) -> tuple[str, dict[str, Any], Signature | None, Any, dict[str, Any]]:
    """Flavor name, loader config, signature, input example and metadata of an MLflow dir.

    Raises:
        InvalidParameter: an unreadable ``MLmodel`` or none of the supported flavors.
    """
    try:
        document = yaml.safe_load((root / "MLmodel").read_text())
    except yaml.YAMLError as exc:
        raise InvalidParameter(f"MLmodel in {str(root)!r} is not valid YAML: {exc}") from exc
    flavors = document.get("flavors") if isinstance(document, dict) else None
    if not isinstance(flavors, dict):
        raise InvalidParameter(f"MLmodel in {str(root)!r} has no flavors")
    name = next((f for f in SUPPORTED if isinstance(flavors.get(f), dict)), None)
    if name is None:
        raise InvalidParameter(
            f"MLmodel flavors {sorted(flavors)} include none loopml loads; supported: "
            f"{', '.join(SUPPORTED)}"
        )
    config = _READERS[name](flavors[name])
    example_info = document.get("saved_input_example_info") or {}
    example_path = example_info.get("artifact_path") if isinstance(example_info, dict) else None
    example = (
        read_example(root / safe_relpath(str(example_path), field="input example"))
        if example_path
        else None
    )
    extra = document.get("metadata") or {}
    return name, config, _signature(document.get("signature")), example, dict(extra)
