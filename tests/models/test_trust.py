"""Formats that run code on load are refused without trust, and nothing runs meanwhile."""

from __future__ import annotations

import builtins
import json
import operator
import pickle
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from loopml.core.errors import InvalidParameter, UntrustedModel
from loopml.models import load_model, save_model, write_manifest

from .conftest import EvilPayload, MeanModel

Data = tuple[pd.DataFrame, pd.Series]


def _plant(path: Path, marker: Path, *, cloud: bool = False) -> None:
    dumps = cloudpickle.dumps if cloud else pickle.dumps
    path.write_bytes(dumps(EvilPayload(str(marker))))


def test_python_function_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    save_model(MeanModel(1.0), tmp_path / "m")
    _plant(tmp_path / "m" / "model.pkl", marker, cloud=True)
    write_manifest(tmp_path / "m")  # an attacker who can also rewrite the manifest
    with pytest.raises(UntrustedModel, match="cloudpickle, which runs code when loaded"):
        load_model(tmp_path / "m")
    assert not marker.exists()


def test_sklearn_pickle_is_refused_and_never_runs(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    marker = tmp_path / "pwned"
    save_model(LogisticRegression(max_iter=300).fit(X, y), tmp_path / "m", serialization="pickle")
    _plant(tmp_path / "m" / "model.pkl", marker)
    write_manifest(tmp_path / "m")
    with pytest.raises(UntrustedModel, match="stored with pickle"):
        load_model(tmp_path / "m")
    assert not marker.exists()


def test_flag_in_description_cannot_claim_a_pickle_is_safe(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    save_model(MeanModel(1.0), tmp_path / "m")
    _plant(tmp_path / "m" / "model.pkl", marker, cloud=True)
    described = tmp_path / "m" / "loopml-model.json"
    document = json.loads(described.read_text())
    document["executes_code"] = False
    described.write_text(json.dumps(document))
    write_manifest(tmp_path / "m")
    with pytest.raises(UntrustedModel, match="runs code when loaded"):
        load_model(tmp_path / "m")
    assert not marker.exists()


def _mlflow_sklearn_dir(root: Path, serialization: str) -> None:
    root.mkdir()
    (root / "MLmodel").write_text(
        "flavors:\n"
        "  python_function:\n    loader_module: mlflow.sklearn\n    model_path: model.pkl\n"
        f"  sklearn:\n    pickled_model: model.pkl\n    serialization_format: {serialization}\n"
        "mlflow_version: 3.17.2\n"
    )


@pytest.mark.parametrize("serialization", ["pickle", "cloudpickle"])
def test_mlflow_sklearn_pickle_is_refused_and_never_runs(
    tmp_path: Path, serialization: str
) -> None:
    marker = tmp_path / "pwned"
    _mlflow_sklearn_dir(tmp_path / "m", serialization)
    _plant(tmp_path / "m" / "model.pkl", marker)
    write_manifest(tmp_path / "m")
    with pytest.raises(UntrustedModel, match=f"stored with {serialization}"):
        load_model(tmp_path / "m")
    assert not marker.exists()


def test_mlflow_dir_claiming_skops_for_a_pickle_never_unpickles(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _mlflow_sklearn_dir(tmp_path / "m", "skops")
    _plant(tmp_path / "m" / "model.pkl", marker)
    write_manifest(tmp_path / "m")
    with pytest.raises(InvalidParameter, match="not a readable skops file"):
        load_model(tmp_path / "m", trust=True)
    assert not marker.exists()


def test_skops_with_type_off_the_allowlist_is_refused(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    marker = tmp_path / "pwned"
    opener = FunctionTransformer(func=builtins.open, kw_args={"file": str(marker), "mode": "w"})
    model = make_pipeline(FunctionTransformer(np.log1p), LogisticRegression(max_iter=300)).fit(X, y)
    model.steps.insert(0, ("opener", opener))
    save_model(model, tmp_path / "m")
    with pytest.raises(UntrustedModel, match=r"outside the allowlist: .*open"):
        load_model(tmp_path / "m")
    with pytest.raises(UntrustedModel, match=r"outside the allowlist: .*open"):
        load_model(tmp_path / "m", trusted_types=["_operator.neg"])
    assert not marker.exists()


def test_skops_named_types_load_when_trusted(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    model = make_pipeline(FunctionTransformer(operator.neg), LogisticRegression(max_iter=300))
    model.fit(X, y)
    save_model(model, tmp_path / "m")
    with pytest.raises(UntrustedModel, match=r"_operator\.neg"):
        load_model(tmp_path / "m")
    with pytest.raises(UntrustedModel, match=r"_operator\.neg"):
        load_model(tmp_path / "m", trust=True)  # trust covers pickles, not skops types
    loaded = load_model(tmp_path / "m", trusted_types=["_operator.neg"])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_benign_pickle_loads_with_trust(tmp_path: Path, iris: Data) -> None:
    X, _ = iris
    _mlflow_sklearn_dir(tmp_path / "m", "pickle")
    (tmp_path / "m" / "model.pkl").write_bytes(pickle.dumps(MeanModel(0.5)))
    write_manifest(tmp_path / "m")
    loaded = load_model(tmp_path / "m", trust=True)
    np.testing.assert_allclose(loaded.predict(X), X.to_numpy().mean(axis=1) + 0.5)
