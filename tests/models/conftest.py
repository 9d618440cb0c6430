"""Small real datasets and models for the model-packaging tests."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_iris


@pytest.fixture(scope="session")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    data: Any = load_iris(as_frame=True)
    return data.data, data.target


@pytest.fixture(scope="session")
def cancer() -> tuple[pd.DataFrame, pd.Series]:
    data: Any = load_breast_cancer(as_frame=True)
    return data.data, data.target


class EvilPayload:
    """Unpickling this creates ``marker``: a stand-in for any code a pickle can run."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.marker, "w"))


class MeanModel:
    """A benign python_function model."""

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def predict(self, data: Any) -> Any:
        return pd.DataFrame(data).to_numpy().mean(axis=1) + self.offset
