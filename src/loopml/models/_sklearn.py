"""The ``sklearn`` flavor: skops by default, pickle or cloudpickle only when asked.

skops files load only when every type they hold is on the allowlist
(``trust.DEFAULT_TRUSTED_TYPES`` plus the caller's ``trusted_types``); pickles
run code, so they need ``trust=True``.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidParameter
from loopml.models.flavor import Flavor, data_file, mro_modules
from loopml.models.trust import TrustPolicy, load_pickle, load_skops

_FILES = {"skops": "model.skops", "pickle": "model.pkl", "cloudpickle": "model.pkl"}


def dump_pickle(model: Any, path: Path, loader: str) -> None:
    with path.open("wb") as handle:
        if loader == "cloudpickle":
            import cloudpickle

            cloudpickle.dump(model, handle)
        else:
            pickle.dump(model, handle, protocol=pickle.HIGHEST_PROTOCOL)


def features(raw: Any, data: Any) -> Any:
    """A DataFrame for models fitted with column names, a plain array for the others.

    scikit-learn warns when the two disagree, so match what the model was fitted on.
    """
    if isinstance(data, pd.DataFrame) and not hasattr(raw, "feature_names_in_"):
        return data.to_numpy()
    if isinstance(data, np.ndarray) and hasattr(raw, "feature_names_in_"):
        return pd.DataFrame(data, columns=list(raw.feature_names_in_))
    return data


class SklearnFlavor(Flavor):
    name = "sklearn"

    def matches(self, model: object) -> bool:
        return "sklearn" in mro_modules(model)

    def save(self, model: Any, directory: Path, serialization: str) -> dict[str, Any]:
        loader = "skops" if serialization == "auto" else serialization
        if loader not in _FILES:
            raise InvalidParameter(
                f"serialization {serialization!r} is not one of auto, {', '.join(_FILES)}"
            )
        target = directory / _FILES[loader]
        if loader == "skops":
            import skops.io

            skops.io.dump(model, target)
            canonical_skops(target)
        else:
            dump_pickle(model, target, loader)
        return {"loader": loader, "data": target.name, "model_class": _qualname(model)}

    def load(self, directory: Path, config: Mapping[str, Any], policy: TrustPolicy) -> Any:
        path = data_file(directory, config)
        loader = str(config.get("loader"))
        if loader == "skops":
            return load_skops(path, policy)
        if loader in {"pickle", "cloudpickle"}:
            return load_pickle(path, loader, policy)
        raise InvalidParameter(
            f"sklearn model loader {loader!r} is not skops, pickle or cloudpickle"
        )

    def prepare(self, raw: Any, data: Any) -> Any:
        return features(raw, data)


def _qualname(model: object) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def canonical_skops(path: Path) -> None:
    """Rewrite a skops file so the same model always gives the same bytes.

    skops names objects (and their ``.npy`` members) by ``id()``, a memory
    address, and stamps members with the time: two saves of one model differ,
    so a pipeline could not cache or compare models by hash. Ids become
    1, 2, 3... in schema order, member files follow their ids, timestamps are
    fixed; what the file means is unchanged.
    """
    import json
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    schema = json.loads(members.pop("schema.json"))
    ids: dict[Any, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "__id__" in node:
                node["__id__"] = ids.setdefault(node["__id__"], len(ids) + 1)
            file = node.get("file")
            if isinstance(file, str) and file in members:
                suffix = Path(file).suffix
                node["file"] = files.setdefault(file, f"{len(files) + 1}{suffix}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    renamed = {files.get(name, name): data for name, data in members.items()}
    renamed["schema.json"] = json.dumps(schema, sort_keys=True).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(renamed):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, renamed[name])
