"""Round trips per flavor, input examples, atomic writes and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.core.errors import InvalidParameter, ModelIntegrityError, NotSupported
from loopml.models import infer_signature, load_model, save_model

from .conftest import MeanModel

Data = tuple[pd.DataFrame, pd.Series]


def test_sklearn_pipeline_round_trips_through_skops(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    info = save_model(model, tmp_path / "m", input_example=X.head(3))
    assert (info.flavor, info.loader, info.executes_code) == ("sklearn", "skops", False)
    assert (tmp_path / "m" / "model.skops").is_file()
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    pd.testing.assert_frame_equal(loaded.input_example, X.head(3).reset_index(drop=True))
    assert loaded.manifest == info.manifest


def test_sklearn_forest_loads_with_default_allowlist(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X.to_numpy(), y)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), model.predict(X.to_numpy()))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X.to_numpy()))


def test_sklearn_pickle_needs_trust_and_then_round_trips(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    info = save_model(model, tmp_path / "m", serialization="pickle")
    assert info.executes_code
    loaded = load_model(tmp_path / "m", trust=True)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_xgboost_round_trips_as_its_estimator_class(
    tmp_path: Path, cancer: Data, kind: str
) -> None:
    import xgboost

    X, y = cancer
    cls = xgboost.XGBClassifier if kind == "classifier" else xgboost.XGBRegressor
    model = cls(n_estimators=5, max_depth=3).fit(X, y)
    info = save_model(model, tmp_path / "m")
    assert (info.flavor, info.loader) == ("xgboost", "xgboost")
    loaded = load_model(tmp_path / "m")
    assert type(loaded.raw) is cls
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if kind == "classifier":
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    else:
        with pytest.raises(NotSupported, match="no predict_proba"):
            loaded.predict_proba(X)


def test_xgboost_booster_round_trips(tmp_path: Path, cancer: Data) -> None:
    import xgboost

    X, y = cancer
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, label=y), num_boost_round=3)
    save_model(booster, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), booster.predict(xgboost.DMatrix(X)))


@pytest.mark.parametrize("dataset", ["iris", "cancer"])
def test_lightgbm_classifier_keeps_predict_and_proba(
    tmp_path: Path, dataset: str, request: pytest.FixtureRequest
) -> None:
    import lightgbm

    X, y = request.getfixturevalue(dataset)
    labels = np.asarray(["class-" + str(v) for v in y])
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, labels)
    info = save_model(model, tmp_path / "m")
    assert (info.flavor, info.loader) == ("lightgbm", "lightgbm")
    assert (tmp_path / "m" / "model.txt").is_file()
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_onnx_from_skl2onnx_round_trips(tmp_path: Path, iris: Data) -> None:
    from skl2onnx import to_onnx

    X, y = iris
    features = X.to_numpy().astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(features, y)
    proto = to_onnx(model, features[:1], options={"zipmap": False})
    info = save_model(proto, tmp_path / "m")
    assert (info.flavor, info.loader) == ("onnx", "onnx")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(
        loaded.predict_proba(features), model.predict_proba(features), atol=1e-5
    )


def test_onnx_file_path_with_zipmap(tmp_path: Path, iris: Data) -> None:
    from skl2onnx import to_onnx

    X, y = iris
    features = X.to_numpy().astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(features, y)
    source = tmp_path / "model.onnx"
    source.write_bytes(to_onnx(model, features[:1]).SerializeToString())
    save_model(str(source), tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(
        loaded.predict_proba(features), model.predict_proba(features), atol=1e-5
    )


def test_python_function_round_trips_with_trust(tmp_path: Path, iris: Data) -> None:
    X, _ = iris
    model = MeanModel(offset=2.0)
    info = save_model(model, tmp_path / "m")
    assert (info.flavor, info.loader, info.executes_code) == (
        "python_function",
        "cloudpickle",
        True,
    )
    loaded = load_model(tmp_path / "m", trust=True)
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    with pytest.raises(NotSupported, match="no predict_proba"):
        loaded.predict_proba(X)


def test_model_description_lists_flavor_files_and_versions(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    model = LinearRegression().fit(X, y)
    save_model(model, tmp_path / "m", signature=infer_signature(X), input_example=X.head(2))
    document = json.loads((tmp_path / "m" / "loopml-model.json").read_text())
    assert document["flavor"] == "sklearn"
    assert document["executes_code"] is False
    assert document["files"] == ["input_example.json", "model.skops"]
    assert "scikit-learn" in document["library_versions"]
    assert json.loads(document["signature"]["inputs"])[0]["type"] == "double"


def test_unsupported_model_names_type_and_flavors(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=r"builtins\.dict.*supported flavors are lightgbm"):
        save_model({"a": 1}, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_used_path_is_refused_and_failed_save_leaves_nothing(tmp_path: Path, iris: Data) -> None:
    X, y = iris
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    model = LinearRegression().fit(X, y)
    with pytest.raises(InvalidParameter, match="not an empty directory"):
        save_model(model, tmp_path / "used")
    with pytest.raises(InvalidParameter, match="serialization 'yaml'"):
        save_model(model, tmp_path / "m", serialization="yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["used"]
    (tmp_path / "empty").mkdir()
    save_model(model, tmp_path / "empty")
    assert load_model(tmp_path / "empty").flavor == "sklearn"


def test_unknown_flavor_in_description_is_clear(tmp_path: Path, iris: Data) -> None:
    from loopml.models import write_manifest

    X, y = iris
    save_model(LinearRegression().fit(X, y), tmp_path / "m")
    path = tmp_path / "m" / "loopml-model.json"
    document = json.loads(path.read_text())
    document["flavor"] = "tensorflow"
    path.write_text(json.dumps(document))
    write_manifest(tmp_path / "m")
    with pytest.raises(InvalidParameter, match="unknown model flavor 'tensorflow'; supported"):
        load_model(tmp_path / "m")


def test_missing_model_file_is_clear(tmp_path: Path, iris: Data) -> None:
    from loopml.models import write_manifest

    X, y = iris
    save_model(LinearRegression().fit(X, y), tmp_path / "m")
    (tmp_path / "m" / "model.skops").unlink()
    write_manifest(tmp_path / "m")
    with pytest.raises(ModelIntegrityError, match=r"model file 'model.skops' is missing"):
        load_model(tmp_path / "m")


def test_the_same_sklearn_model_saved_twice_gives_the_same_bytes(tmp_path) -> None:
    """skops names objects by memory address; loopml rewrites the file canonically, so a
    model's hash says what it is (pipelines cache and compare models by it)."""
    import hashlib

    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from loopml.models import load_model, save_model

    features, target = load_breast_cancer(return_X_y=True)
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(features, target)
    twin = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(features, target)
    save_model(model, tmp_path / "a")
    save_model(twin, tmp_path / "b")  # the same model, fitted again: other addresses
    digests = [
        hashlib.sha256((tmp_path / name / "model.skops").read_bytes()).hexdigest()
        for name in ("a", "b")
    ]
    assert digests[0] == digests[1]
    loaded = load_model(tmp_path / "b")
    assert (loaded.predict_proba(features) == model.predict_proba(features)).all()
