"""Real data and real models for the evaluation tests, built once per session.

Breast cancer (binary) with two derived columns: ``region``, the tercile of
``mean radius``, and ``sex``, a synthetic binary column drawn with a fixed
seed. Both stay out of the models' features.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class Case:
    frame: pd.DataFrame
    features: list[str]
    models: dict[str, Any]


@pytest.fixture(scope="session")
def cancer() -> Case:
    frame = load_breast_cancer(as_frame=True).frame
    rng = np.random.default_rng(7)
    frame["region"] = pd.qcut(frame["mean radius"], 3, labels=["north", "south", "west"]).astype(
        str
    )
    frame["sex"] = np.where(rng.random(len(frame)) < 0.45, "f", "m")
    features = [c for c in frame.columns if c not in ("target", "region", "sex")]
    X, y = frame[features], frame["target"]
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    boosted = GradientBoostingClassifier(n_estimators=25, max_depth=2, random_state=0).fit(X, y)
    return Case(frame, features, {"logistic": logistic, "boosted": boosted})


@pytest.fixture(scope="session")
def diabetes() -> Case:
    frame = load_diabetes(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    X, y = frame[features], frame["target"]
    ridge = Ridge(alpha=1.0).fit(X, y)
    boosted = GradientBoostingRegressor(n_estimators=25, max_depth=2, random_state=0).fit(X, y)
    return Case(frame, features, {"ridge": ridge, "boosted": boosted})


@pytest.fixture(scope="session")
def boosted(cancer: Case) -> Any:
    """The boosted model evaluated on the cancer frame, with segments, fairness and a baseline."""
    from loopml.evaluation import evaluate_model

    return evaluate_model(
        cancer.models["boosted"],
        cancer.frame,
        target="target",
        task="classification",
        feature_columns=cancer.features,
        segments=("region",),
        sensitive=("sex",),
        baseline=cancer.models["logistic"],
        importance_repeats=2,
    )
