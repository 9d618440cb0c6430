"""The models a server holds, by registered-model name, and how they are loaded.

Every model comes through the registry's verified load path
(``RegistryClient.load_model``: files checked against the manifest taken at
registration, trust rules applied), then is warmed up before it answers.
"""

from __future__ import annotations

import threading
from typing import Any

from loopml.core.errors import InvalidParameter, ResourceNotFound
from loopml.serving.runtime import ServedModel


def load_served(registry: Any, uri: str, *, trust: bool = False) -> ServedModel:
    """Resolve ``models:/NAME@ALIAS`` (or a version), load it verified, and warm it up."""
    version = registry.resolve(uri)
    loaded = registry.load_model(f"models:/{version.name}/{version.version}", trust=trust)
    return ServedModel.of(version.name, version.version, uri, loaded)


class ModelSet:
    """Served models by name; swapping one in is a single assignment (no request waits)."""

    def __init__(self, models: list[ServedModel] | None = None) -> None:
        self._models: dict[str, ServedModel] = {m.name: m for m in models or []}
        self._lock = threading.Lock()

    def put(self, model: ServedModel) -> ServedModel | None:
        """Serve ``model`` under its name; returns the one it replaced."""
        with self._lock:
            previous = self._models.get(model.name)
            self._models = {**self._models, model.name: model}
            return previous

    def get(self, name: str, version: str | None = None) -> ServedModel:
        model = self._models.get(name)
        if model is None:
            raise ResourceNotFound(
                f"model {name!r} is not served here; served: {sorted(self._models) or 'none'}"
            )
        if version is not None and version != str(model.version):
            raise ResourceNotFound(
                f"model {name!r} version {version!r} is not served; version {model.version} is"
            )
        return model

    def default(self) -> ServedModel:
        """The model ``/invocations`` answers with: the only one served."""
        if len(self._models) != 1:
            raise InvalidParameter(
                "/invocations needs exactly one served model; use /v2/models/{name}/infer"
            )
        return next(iter(self._models.values()))

    def names(self) -> list[str]:
        return sorted(self._models)

    def ready(self) -> bool:
        return bool(self._models)

    def close(self) -> None:
        """Nothing to release yet; the prediction log and watchers hook in here."""
