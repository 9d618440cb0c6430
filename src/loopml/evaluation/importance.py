"""Which features the model leans on: permutation importance always, SHAP for trees.

Permutation importance is scikit-learn's ``permutation_importance`` with a
scorer that only calls ``predict``/``predict_proba``, so any predictor works,
not just scikit-learn estimators. It is the drop in the score when one
feature's values are shuffled (mean and std over ``repeats`` shuffles).

SHAP needs the optional ``shap`` package and a model ``shap.TreeExplainer``
accepts (scikit-learn trees, forests and gradient boosting, XGBoost,
LightGBM, CatBoost), given directly or as the model's ``.raw`` attribute. The
value per feature is the mean ``|SHAP value|`` over the rows (and over the
classes, for models that explain each class). A pipeline is not unwrapped:
its steps change the features, so its SHAP values would not name them.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from loopml.core.errors import InvalidParameter
from loopml.evaluation.entities import FeatureImportance

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import NDArray

Explain = bool | Literal["auto"]
TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "xgboost", "lightgbm", "catboost")
Score = Callable[[Any, "pd.DataFrame", "NDArray[Any]"], float]


class _Scored:
    """A predictor as scikit-learn's scorer machinery wants it (it checks for ``fit``)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, *args: Any) -> _Scored:
        return self


def permutation(
    model: Any,
    X: pd.DataFrame,
    y: NDArray[Any],
    score: Score,
    *,
    repeats: int,
    random_state: int,
) -> tuple[FeatureImportance, ...]:
    """Mean and std of the score drop per feature, largest first."""
    from sklearn.inspection import permutation_importance

    found = permutation_importance(
        _Scored(model),
        X,
        y,
        scoring=lambda wrapped, rows, truth: score(wrapped.model, rows, truth),
        n_repeats=repeats,
        random_state=random_state,
    )
    items = [
        FeatureImportance(str(name), float(mean), float(std))
        for name, mean, std in zip(
            X.columns, found.importances_mean, found.importances_std, strict=True
        )
    ]
    return tuple(sorted(items, key=lambda item: -item.mean))


def shap_importance(
    model: Any,
    X: pd.DataFrame,
    explain: Explain,
    notes: list[str],
) -> tuple[FeatureImportance, ...]:
    """Mean ``|SHAP|`` per feature, largest first; empty (with a note) when skipped."""
    if explain is False:
        return ()
    shap = _import_shap(explain, notes)
    if shap is None:
        return ()
    tree = _tree_model(model)
    if tree is None:
        if explain is True:
            raise InvalidParameter(
                "explain=True needs a tree model (scikit-learn trees or ensembles, XGBoost, "
                f"LightGBM) or one in its .raw attribute; got {type(model).__name__}"
            )
        notes.append(f"SHAP skipped: {type(model).__name__} is not a tree model")
        return ()
    try:
        values = _shap_values(shap, tree, X)
    except Exception as error:  # shap raises many types for models it cannot read
        if explain is True:
            raise InvalidParameter(f"explain=True: SHAP failed: {error}") from error
        notes.append(f"SHAP skipped: {type(error).__name__}: {error}")
        return ()
    magnitude = np.abs(values)
    per_row = magnitude.reshape(magnitude.shape[0], magnitude.shape[1], -1).mean(axis=2)
    items = [
        FeatureImportance(str(name), float(mean), float(std))
        for name, mean, std in zip(
            X.columns, per_row.mean(axis=0), per_row.std(axis=0), strict=True
        )
    ]
    return tuple(sorted(items, key=lambda item: -item.mean))


def _import_shap(explain: Explain, notes: list[str]) -> Any:
    try:
        with warnings.catch_warnings():
            # shap's plotting module trips matplotlib deprecation warnings on import;
            # they are shap's to fix and say nothing about this evaluation.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            return importlib.import_module("shap")
    except ImportError:
        if explain is True:
            raise InvalidParameter(
                "explain=True needs the optional package shap: pip install 'loopml[explain]'"
            ) from None
        notes.append("SHAP skipped: the optional package shap is not installed")
        return None


def _tree_model(model: Any) -> Any:
    for candidate in (model, getattr(model, "raw", None)):
        module = type(candidate).__module__
        if candidate is not None and module.startswith(TREE_MODULES):
            return candidate
    return None


def _shap_values(shap: Any, tree: Any, X: pd.DataFrame) -> NDArray[Any]:
    with warnings.catch_warnings():
        # shap announces its own output format for LightGBM binary models; we handle both.
        warnings.filterwarnings("ignore", message="LightGBM binary classifier with TreeExplainer")
        values = shap.TreeExplainer(tree).shap_values(X)
    if isinstance(values, list):  # older shap: one array per class
        values = np.stack(values, axis=-1)
    return np.asarray(values, dtype=float)
