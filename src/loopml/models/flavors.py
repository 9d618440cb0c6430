"""Flavors by name, and detection of a model's flavor (most specific first)."""

from __future__ import annotations

from loopml.core.errors import InvalidParameter
from loopml.models._lightgbm import LightGBMFlavor
from loopml.models._onnx import OnnxFlavor
from loopml.models._pyfunc import PythonFunctionFlavor
from loopml.models._sklearn import SklearnFlavor
from loopml.models._xgboost import XGBoostFlavor
from loopml.models.flavor import Flavor

# XGBoost and LightGBM estimators are scikit-learn estimators too, so they come
# first; python_function (anything with predict) comes last.
_DETECTION_ORDER: tuple[Flavor, ...] = (
    XGBoostFlavor(),
    LightGBMFlavor(),
    OnnxFlavor(),
    SklearnFlavor(),
    PythonFunctionFlavor(),
)
FLAVORS: dict[str, Flavor] = {f.name: f for f in _DETECTION_ORDER}


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; an unknown name lists the known ones."""
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidParameter(
            f"unknown model flavor {name!r}; supported flavors: {', '.join(sorted(FLAVORS))}"
        ) from None


def detect_flavor(model: object) -> Flavor:
    """The first flavor that recognises ``model``, or an error naming its type."""
    for flavor in _DETECTION_ORDER:
        if flavor.matches(model):
            return flavor
    raise InvalidParameter(
        f"cannot save a model of type {type(model).__module__}.{type(model).__qualname__}: "
        f"supported flavors are {', '.join(sorted(FLAVORS))} "
        "(python_function needs an object with a predict method)"
    )
