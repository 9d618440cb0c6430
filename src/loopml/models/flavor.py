"""The flavor interface: how one kind of model is detected, written, read and called.

The base owns the policy (which loader may run, input preparation); each flavor
fills a few hooks. Flavors are looked up by name and import their library only
inside their hooks, so ``import loopml.models`` stays light.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from loopml.core.errors import InvalidParameter, ModelIntegrityError, NotSupported
from loopml.core.paths import safe_relpath
from loopml.models.trust import TrustPolicy


def mro_modules(model: object) -> set[str]:
    """Top-level package names of every class ``model`` is an instance of."""
    return {cls.__module__.split(".")[0] for cls in type(model).__mro__}


def data_file(directory: Path, config: Mapping[str, Any]) -> Path:
    """The model file a flavor config names, proved to stay inside ``directory`` and exist."""
    name = config.get("data")
    if not isinstance(name, str) or not name:
        raise InvalidParameter("model flavor config has no 'data' file")
    path = directory / safe_relpath(name, field="model file", allow_empty=False)
    if not path.is_file():
        raise ModelIntegrityError(f"model file {name!r} is missing from {str(directory)!r}")
    return path


class Flavor(ABC):
    """One kind of model. Hooks: ``matches``, ``save``, ``load``; ``predict*`` may be overridden."""

    name: ClassVar[str]

    @abstractmethod
    def matches(self, model: object) -> bool:
        """Whether ``model`` is of this flavor (checked without importing its library)."""

    @abstractmethod
    def save(self, model: Any, directory: Path, serialization: str) -> dict[str, Any]:
        """Write ``model`` into ``directory``; return its config (``loader``, ``data``, ...)."""

    @abstractmethod
    def load(self, directory: Path, config: Mapping[str, Any], policy: TrustPolicy) -> Any:
        """Read the model the config describes; code-running loaders only via ``trust``."""

    def prepare(self, raw: Any, data: Any) -> Any:
        """Turn a checked DataFrame (or the caller's raw input) into what the model takes."""
        return data

    def predict(self, raw: Any, data: Any) -> Any:
        return raw.predict(self.prepare(raw, data))

    def has_proba(self, raw: Any) -> bool:
        return hasattr(raw, "predict_proba")

    def predict_proba(self, raw: Any, data: Any) -> Any:
        if not self.has_proba(raw):
            raise NotSupported(
                f"{self.name} model {type(raw).__name__} has no predict_proba (not a classifier)"
            )
        return raw.predict_proba(self.prepare(raw, data))
