"""MLflow model directories load without mlflow: written by the real client, read blocked.

One subprocess saves real models with ``mlflow.<flavor>.save_model`` (and their
predictions); another, where ``import mlflow`` fails, adopts each directory with
``write_manifest`` and loads it with loopml. Predictions must match.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

WRITE = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    from pathlib import Path
    import numpy as np, mlflow, lightgbm, xgboost
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    out = Path(sys.argv[1])
    X, y = load_iris(return_X_y=True, as_frame=True)
    lr = LogisticRegression(max_iter=500).fit(X, y)
    sig = mlflow.models.infer_signature(X, lr.predict(X))
    def keep(name, model, proba=True):
        np.save(out / f"{name}.predict.npy", np.asarray(model.predict(X)))
        if proba:
            np.save(out / f"{name}.proba.npy", np.asarray(model.predict_proba(X)))
    mlflow.sklearn.save_model(lr, out / "sk_skops", signature=sig, input_example=X.head(3))
    keep("sk_skops", lr)
    mlflow.sklearn.save_model(lr, out / "sk_pickle", serialization_format="cloudpickle")
    keep("sk_pickle", lr)
    xgb = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y)
    mlflow.xgboost.save_model(xgb, out / "xgb", signature=sig)
    keep("xgb", xgb)
    lgb = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    mlflow.lightgbm.save_model(lgb, out / "lgb_skops", signature=sig)
    keep("lgb_skops", lgb)
    mlflow.lightgbm.save_model(lgb.booster_, out / "lgb_booster")
    np.save(out / "lgb_booster.predict.npy", lgb.booster_.predict(X))
    f32 = X.to_numpy().astype(np.float32)
    mlflow.onnx.save_model(to_onnx(lr, f32[:1], options={"zipmap": False}), out / "onnx")
    np.save(out / "onnx.predict.npy", lr.predict(f32))
    """
)

READ = textwrap.dedent(
    """
    import json, sys
    sys.modules["mlflow"] = None  # import mlflow now raises ImportError
    from pathlib import Path
    import numpy as np
    from sklearn.datasets import load_iris
    from loopml.models import load_model, write_manifest
    from loopml.core.errors import LoopmlError
    out = Path(sys.argv[1])
    X, _ = load_iris(return_X_y=True, as_frame=True)
    report = {}
    for name in ("sk_skops", "sk_pickle", "xgb", "lgb_skops", "lgb_booster", "onnx"):
        write_manifest(out / name)
        try:
            load_model(out / name)
            untrusted = None
        except LoopmlError as exc:
            untrusted = f"{type(exc).__name__}: {exc}"
        model = load_model(out / name, trust=True)
        data = X.to_numpy().astype(np.float32) if name == "onnx" else X
        np.save(out / f"{name}.loaded.npy", np.asarray(model.predict(data)))
        if model._impl().has_proba(model.raw) and name != "onnx":
            np.save(out / f"{name}.loaded_proba.npy", np.asarray(model.predict_proba(data)))
        report[name] = {
            "flavor": model.flavor,
            "untrusted": untrusted,
            "signature": model.signature.to_dict() if model.signature else None,
            "example_rows": None if model.input_example is None else len(model.input_example),
        }
    report["mlflow_imported"] = bool(sys.modules.get("mlflow"))
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def mlflow_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("mlflow_models")
    subprocess.run([sys.executable, "-c", WRITE, str(out)], check=True, timeout=240)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", READ, str(out)],
        check=True,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return out, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "flavor", "needs_trust"),
    [
        ("sk_skops", "sklearn", False),
        ("sk_pickle", "sklearn", True),
        ("xgb", "xgboost", False),
        ("lgb_skops", "lightgbm", False),
        ("lgb_booster", "lightgbm", False),
        ("onnx", "onnx", False),
    ],
)
def test_mlflow_dir_loads_without_mlflow(
    mlflow_dirs: tuple[Path, dict[str, dict[str, object]]],
    name: str,
    flavor: str,
    needs_trust: bool,
) -> None:
    out, report = mlflow_dirs
    assert report["mlflow_imported"] is False
    entry = report[name]
    assert entry["flavor"] == flavor
    if needs_trust:
        assert "UntrustedModel" in str(entry["untrusted"])
    else:
        assert entry["untrusted"] is None
    np.testing.assert_array_equal(
        np.load(out / f"{name}.loaded.npy"), np.load(out / f"{name}.predict.npy")
    )
    if (out / f"{name}.proba.npy").exists():
        np.testing.assert_allclose(
            np.load(out / f"{name}.loaded_proba.npy"), np.load(out / f"{name}.proba.npy")
        )


@pytest.mark.slow
def test_mlflow_signature_and_example_are_read(
    mlflow_dirs: tuple[Path, dict[str, dict[str, object]]],
) -> None:
    _, report = mlflow_dirs
    signature = report["sk_skops"]["signature"]
    assert isinstance(signature, dict)
    inputs = json.loads(str(signature["inputs"]))
    assert inputs[0] == {"name": "sepal length (cm)", "type": "double", "required": True}
    assert report["sk_skops"]["example_rows"] == 3
