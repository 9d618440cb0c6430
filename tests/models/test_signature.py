"""Signatures: inference, JSON round trips (MLflow's shape), checks before predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.core.errors import InvalidParameter
from loopml.models import ColumnSpec, Signature, infer_signature, load_model, save_model

Data = tuple[pd.DataFrame, pd.Series]


def test_infer_signature_uses_mlflow_type_names() -> None:
    frame = pd.DataFrame(
        {
            "d": [1.0],
            "f": np.asarray([1.0], dtype=np.float32),
            "l": [1],
            "i": np.asarray([1], dtype=np.int32),
            "s": ["x"],
            "b": [True],
            "t": pd.to_datetime(["2024-01-01"]),
            "y": [b"raw"],
        }
    )
    signature = infer_signature(frame, np.asarray([0, 1]))
    types = {c.name: c.type for c in signature.inputs}
    assert types == {
        "d": "double",
        "f": "float",
        "l": "long",
        "i": "integer",
        "s": "string",
        "b": "boolean",
        "t": "datetime",
        "y": "binary",
    }
    assert Signature.from_dict(signature.to_dict()) == signature


def test_signature_reads_mlflow_json_strings() -> None:
    signature = Signature.from_dict(
        {
            "inputs": '[{"type": "double", "name": "a", "required": true}]',
            "outputs": '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]',
        }
    )
    assert signature.inputs == [ColumnSpec("a", "double")]
    assert signature.to_dict()["outputs"] == (
        '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
    )


def test_unknown_column_type_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="column 'a' has type 'decimal'"):
        ColumnSpec("a", "decimal")


@pytest.fixture
def loaded(tmp_path: Path, iris: Data) -> object:
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    save_model(model, tmp_path / "m", signature=infer_signature(X, model.predict(X)))
    return load_model(tmp_path / "m")


def test_predict_accepts_dict_array_and_reordered_wider_frame(loaded: object, iris: Data) -> None:
    from loopml.models import LoadedModel

    assert isinstance(loaded, LoadedModel)
    X, _ = iris
    expected = loaded.predict(X)
    wider = X[X.columns[::-1]].assign(extra="ignored")
    np.testing.assert_array_equal(loaded.predict(wider), expected)
    np.testing.assert_array_equal(loaded.predict(X.to_numpy()), expected)
    np.testing.assert_array_equal(loaded.predict(X.head(3).to_dict(orient="list")), expected[:3])


def test_missing_column_is_named(loaded: object, iris: Data) -> None:
    from loopml.models import LoadedModel

    assert isinstance(loaded, LoadedModel)
    X, _ = iris
    with pytest.raises(InvalidParameter, match=r"missing column 'petal width \(cm\)'"):
        loaded.predict(X.drop(columns=["petal width (cm)"]))


def test_string_where_double_expected_is_named(loaded: object, iris: Data) -> None:
    from loopml.models import LoadedModel

    assert isinstance(loaded, LoadedModel)
    X, _ = iris
    bad = X.assign(**{"sepal length (cm)": "long"})
    with pytest.raises(
        InvalidParameter,
        match=r"column 'sepal length \(cm\)' has \w+ values but the signature expects double",
    ):
        loaded.predict(bad)
    with pytest.raises(InvalidParameter, match="must be a pandas DataFrame"):
        loaded.predict_proba("not a table")
