"""The ``xgboost`` flavor: XGBoost's own JSON (or MLflow's UBJSON), never a pickle.

The estimator class is remembered by name and mapped back through a fixed
table, so an ``XGBClassifier`` returns as one and a class name in a file can
never make loopml import anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidParameter
from loopml.models.flavor import Flavor, data_file, mro_modules
from loopml.models.trust import TrustPolicy

#: class names (ours and MLflow's fully qualified ones) -> attribute of ``xgboost``.
_CLASSES = {
    "XGBClassifier": "XGBClassifier",
    "XGBRegressor": "XGBRegressor",
    "XGBRanker": "XGBRanker",
    "XGBRFClassifier": "XGBRFClassifier",
    "XGBRFRegressor": "XGBRFRegressor",
    "Booster": "Booster",
}


def _class_name(qualified: str) -> str:
    short = qualified.rsplit(".", 1)[-1]
    if (not qualified.startswith("xgboost") and "." in qualified) or short not in _CLASSES:
        raise InvalidParameter(
            f"xgboost model class {qualified!r} is not one of {', '.join(sorted(_CLASSES))}"
        )
    return short


class XGBoostFlavor(Flavor):
    name = "xgboost"

    def matches(self, model: object) -> bool:
        return "xgboost" in mro_modules(model)

    def save(self, model: Any, directory: Path, serialization: str) -> dict[str, Any]:
        if serialization not in {"auto", "json"}:
            raise InvalidParameter(
                f"serialization {serialization!r} is not auto or json for xgboost"
            )
        cls = type(model).__name__
        if cls not in _CLASSES:
            base = next((c.__name__ for c in type(model).__mro__ if c.__name__ in _CLASSES), None)
            if base is None:
                raise InvalidParameter(f"xgboost model class {cls!r} is not supported")
            cls = base
        target = directory / "model.json"
        model.save_model(str(target))
        return {"loader": "xgboost", "data": target.name, "model_class": cls}

    def load(self, directory: Path, config: Mapping[str, Any], policy: TrustPolicy) -> Any:
        import xgboost

        path = data_file(directory, config)
        cls = getattr(xgboost, _class_name(str(config.get("model_class", "Booster"))))
        model = cls()
        model.load_model(str(path))
        return model

    def prepare(self, raw: Any, data: Any) -> Any:
        import xgboost

        if isinstance(raw, xgboost.Booster):
            return xgboost.DMatrix(data)
        return data

    def has_proba(self, raw: Any) -> bool:
        return hasattr(raw, "predict_proba")
