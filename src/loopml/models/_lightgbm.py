"""The ``lightgbm`` flavor: LightGBM's native text model plus what the wrapper needs.

A scikit-learn ``LGBMClassifier`` is stored as its booster's text and its
classes; it loads as ``LightGBMClassifierModel``, whose ``predict`` and
``predict_proba`` compute exactly what ``LGBMClassifier`` does (probabilities
from the booster, labels by argmax mapped through the classes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidParameter
from loopml.models.flavor import Flavor, data_file, mro_modules
from loopml.models.trust import LIGHTGBM_TRUSTED_TYPES, TrustPolicy, load_pickle, load_skops


class LightGBMClassifierModel:
    """A LightGBM booster with the classes of the ``LGBMClassifier`` it came from."""

    def __init__(self, booster: Any, classes: list[Any]) -> None:
        self.booster = booster
        self.classes_ = np.asarray(classes)

    def predict_proba(self, data: Any) -> Any:
        result = np.asarray(self.booster.predict(data))
        if result.ndim == 1:
            return np.vstack((1.0 - result, result)).transpose()
        return result

    def predict(self, data: Any) -> Any:
        return self.classes_[np.argmax(self.predict_proba(data), axis=1)]


class LightGBMFlavor(Flavor):
    name = "lightgbm"

    def matches(self, model: object) -> bool:
        return "lightgbm" in mro_modules(model)

    def save(self, model: Any, directory: Path, serialization: str) -> dict[str, Any]:
        if serialization not in {"auto", "text"}:
            raise InvalidParameter(
                f"serialization {serialization!r} is not auto or text for lightgbm"
            )
        booster = model.booster_ if hasattr(model, "booster_") else model
        target = directory / "model.txt"
        booster.save_model(str(target))
        config: dict[str, Any] = {"loader": "lightgbm", "data": target.name}
        config["model_class"] = type(model).__name__
        if hasattr(model, "classes_"):
            config["classes"] = np.asarray(model.classes_).tolist()
            config["objective"] = str(getattr(model, "objective_", ""))
        return config

    def load(self, directory: Path, config: Mapping[str, Any], policy: TrustPolicy) -> Any:
        path = data_file(directory, config)
        loader = str(config.get("loader"))
        if loader == "skops":
            return load_skops(path, policy, extra=LIGHTGBM_TRUSTED_TYPES)
        if loader in {"pickle", "cloudpickle"}:
            return load_pickle(path, loader, policy)
        if loader != "lightgbm":
            raise InvalidParameter(f"lightgbm model loader {loader!r} is not supported")
        import lightgbm

        booster = lightgbm.Booster(model_file=str(path))
        classes = config.get("classes")
        if classes is not None:
            return LightGBMClassifierModel(booster, list(classes))
        return booster

    def prepare(self, raw: Any, data: Any) -> Any:
        if hasattr(raw, "feature_names_in_"):
            from loopml.models._sklearn import features

            return features(raw, data)
        return data
