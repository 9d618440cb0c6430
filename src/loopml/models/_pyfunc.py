"""The ``python_function`` flavor: any object with ``predict``, stored with cloudpickle.

Loading runs code from the file, so it needs ``trust=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidParameter
from loopml.models._sklearn import dump_pickle
from loopml.models.flavor import Flavor, data_file
from loopml.models.trust import TrustPolicy, load_pickle


class PythonFunctionFlavor(Flavor):
    name = "python_function"

    def matches(self, model: object) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, directory: Path, serialization: str) -> dict[str, Any]:
        loader = "cloudpickle" if serialization == "auto" else serialization
        if loader not in {"cloudpickle", "pickle"}:
            raise InvalidParameter(
                f"serialization {serialization!r} for python_function is not auto, "
                "cloudpickle or pickle"
            )
        target = directory / "model.pkl"
        dump_pickle(model, target, loader)
        return {"loader": loader, "data": target.name}

    def load(self, directory: Path, config: Mapping[str, Any], policy: TrustPolicy) -> Any:
        loader = str(config.get("loader"))
        if loader not in {"cloudpickle", "pickle"}:
            raise InvalidParameter(
                f"python_function loader {loader!r} is not cloudpickle or pickle"
            )
        return load_pickle(data_file(directory, config), loader, policy)
