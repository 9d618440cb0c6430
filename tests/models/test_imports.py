"""``import loopml.models`` stays light: no ML library is imported until a flavor needs it."""

from __future__ import annotations

import json
import subprocess
import sys

import loopml.models

HEAVY = (
    "sklearn",
    "xgboost",
    "lightgbm",
    "onnx",
    "onnxruntime",
    "skops",
    "mlflow",
    "model_signing",
)


def test_import_pulls_in_no_ml_library() -> None:
    code = (
        "import json, sys, loopml.models; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    assert json.loads(result.stdout) == []


def test_all_is_sorted_and_exported() -> None:
    names = loopml.models.__all__
    assert names == sorted(names, key=lambda n: (not n.isupper(), n))  # constants, then the rest
    assert all(hasattr(loopml.models, name) for name in loopml.models.__all__)
