"""Step values in and out of the artifact store, content-addressed.

A value is serialized by its materializer, hashed, and stored once at
``pipelines/objects/<sha[:2]>/<sha256>``: equal results share one blob and an
unchanged result keeps its hash, so downstream caches hold. A small JSON value
(up to ``INLINE_LIMIT`` bytes) travels inside its :class:`OutputRef` instead,
with the same hash, so a step returning a number costs no file (and no fsync).

Workers open the store from a :class:`StoreSpec` (a local root or a server
URL), lazily: a step that only handles small values never imports fsspec.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.pipelines.entities import OBJECTS_PREFIX, InputValue, OutputRef
from loopml.pipelines.materializers import materializer_for, materializer_named

if TYPE_CHECKING:
    from loopml.artifacts.repository import ArtifactRepository

INLINE_LIMIT = 1024  # bytes of canonical JSON kept inside the reference
INLINE_BUDGET = 4096  # at most this much inline per step (run records have size limits)


@dataclass(frozen=True)
class StoreSpec:
    """How to open the artifact store from another process: a local root or a server."""

    kind: str  # "local" or "http"
    location: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    objects_root: str = OBJECTS_PREFIX  # the folder new values are written under

    def open(self) -> ArtifactRepository:
        if self.kind == "http":
            from loopml.artifacts.http import HttpArtifactStore

            return HttpArtifactStore(self.location)
        from loopml.artifacts import ArtifactStore

        return ArtifactStore(self.location, self.storage_options)

    @classmethod
    def of(cls, artifacts: object, objects_root: str = OBJECTS_PREFIX) -> StoreSpec:
        """The spec of a client's artifact store (``client.artifacts``)."""
        from loopml.artifacts import ArtifactStore

        if isinstance(artifacts, ArtifactStore):
            return cls("local", artifacts.root, dict(artifacts.storage_options), objects_root)
        base_url = getattr(artifacts, "base_url", None)
        if isinstance(base_url, str):
            return cls("http", base_url, {}, objects_root)
        raise TypeError(f"cannot hand {type(artifacts).__name__} to pipeline workers")


def objects_root(artifact_location: str) -> str:
    """Values live in their experiment's folder (``<id>/pipeline-objects``), so a server's
    permissions on the experiment cover them; elsewhere under ``pipelines/objects``."""
    prefix = "mlflow-artifacts:"
    experiment = artifact_location.removeprefix(prefix).strip("/")
    if artifact_location.startswith(prefix) and experiment.isdigit():
        return f"{int(experiment)}/pipeline-objects"
    return OBJECTS_PREFIX


class ValueStore:
    """Saves and loads step values through materializers; one per process and spec."""

    def __init__(self, spec: StoreSpec, artifacts: ArtifactRepository | None = None) -> None:
        self.spec = spec
        self._artifacts = artifacts

    @property
    def artifacts(self) -> ArtifactRepository:
        if self._artifacts is None:
            self._artifacts = self.spec.open()
        return self._artifacts

    def save(self, value: Any, where: str, inline_budget: int = INLINE_LIMIT) -> OutputRef:
        """Store ``value``; ``where`` names the step for the no-materializer error."""
        materializer = materializer_for(value, where)
        buffer = io.BytesIO()
        materializer.save(value, buffer)
        data = buffer.getvalue()
        sha256 = hashlib.sha256(data).hexdigest()
        kind = type(value)
        type_name = f"{kind.__module__}.{kind.__qualname__}"
        if materializer.name == "json" and len(data) <= min(INLINE_LIMIT, inline_budget):
            return OutputRef(sha256, len(data), "json", type_name, data.decode())
        ref = OutputRef(
            sha256, len(data), materializer.name, type_name, None, self.spec.objects_root
        )
        if not self.artifacts.exists(ref.path):
            self.artifacts.put(ref.path, data, expected_sha256=sha256)
        return ref

    def load(self, ref: OutputRef) -> Any:
        materializer = materializer_named(ref.materializer)
        if ref.inline is not None:
            return materializer.load(io.BytesIO(ref.inline.encode()))
        return materializer.load(io.BytesIO(self.artifacts.get_bytes(ref.path)))

    def load_input(self, value: InputValue) -> Any:
        if isinstance(value, OutputRef):
            return self.load(value)
        return [self.load_input(item) for item in value]

    def load_structure(self, value: Any) -> Any:
        """A pipeline's outputs (refs in lists and dicts) with every ref loaded."""
        if isinstance(value, OutputRef):
            return self.load(value)
        if isinstance(value, list | tuple):
            return [self.load_structure(item) for item in value]
        if isinstance(value, dict):
            return {key: self.load_structure(item) for key, item in value.items()}
        return value

    def available(self, ref: OutputRef) -> bool:
        """Whether the value can still be read (inline, or its blob is in the store)."""
        return ref.inline is not None or self.artifacts.exists(ref.path)


_stores: dict[tuple[str, str, str], ValueStore] = {}


def value_store(spec: StoreSpec) -> ValueStore:
    """The process's store for ``spec`` (workers reuse one across tasks)."""
    key = (spec.kind, spec.location, spec.objects_root)
    if key not in _stores:
        _stores[key] = ValueStore(spec)
    return _stores[key]
