"""Model packaging entities: signatures, manifests and what a save returns. No I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.errors import InvalidParameter

#: Column types as MLflow names them in an ``MLmodel`` signature.
COLUMN_TYPES = ("boolean", "integer", "long", "float", "double", "string", "binary", "datetime")


@dataclass(frozen=True)
class ColumnSpec:
    """One named, typed column of a model's input or output."""

    name: str | None
    type: str
    required: bool = True

    def __post_init__(self) -> None:
        if self.type not in COLUMN_TYPES:
            raise InvalidParameter(
                f"column {self.name!r} has type {self.type!r}; "
                f"known types: {', '.join(COLUMN_TYPES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "required": self.required}
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        return cls(
            name=data.get("name"),
            type=str(data.get("type")),
            required=bool(data.get("required", True)),
        )


@dataclass(frozen=True)
class TensorSpec:
    """An unnamed tensor output (what MLflow infers for a numpy array), kept for round trips."""

    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"type": "tensor", "tensor-spec": {"dtype": self.dtype, "shape": list(self.shape)}}


@dataclass(frozen=True)
class Signature:
    """The columns a model takes and returns; ``predict`` checks inputs against it."""

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec | TensorSpec] = field(default_factory=list)

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs if c.name is not None]

    def to_dict(self) -> dict[str, Any]:
        """MLflow's shape: ``inputs``/``outputs`` are JSON strings of column lists."""
        return {
            "inputs": json.dumps([c.to_dict() for c in self.inputs]),
            "outputs": json.dumps([c.to_dict() for c in self.outputs]) if self.outputs else None,
            "params": None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        """Read our own or MLflow's signature (column lists as JSON strings or lists)."""
        return cls(
            inputs=_columns(data.get("inputs"), "inputs"), outputs=_outputs(data.get("outputs"))
        )


def _decode(raw: Any, where: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidParameter(f"signature {where} must be a list of column objects")
    return value


def _columns(raw: Any, where: str) -> list[ColumnSpec]:
    specs = _decode(raw, where)
    tensors = [s for s in specs if s.get("type") == "tensor"]
    if tensors:
        raise InvalidParameter(f"signature {where}: tensor inputs are not supported, only columns")
    return [ColumnSpec.from_dict(s) for s in specs]


def _outputs(raw: Any) -> list[ColumnSpec | TensorSpec]:
    out: list[ColumnSpec | TensorSpec] = []
    for spec in _decode(raw, "outputs"):
        if spec.get("type") == "tensor":
            tensor = spec.get("tensor-spec") or {}
            out.append(TensorSpec(str(tensor.get("dtype")), tuple(tensor.get("shape") or ())))
        else:
            out.append(ColumnSpec.from_dict(spec))
    return out


@dataclass(frozen=True)
class FileDigest:
    """The sha256 and size of one file of a model directory."""

    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Every file of a model directory (relative POSIX path) with its sha256 and size."""

    files: Mapping[str, FileDigest]

    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON: one hash that pins the whole directory."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "files": {
                path: {"sha256": d.sha256, "size": d.size} for path, d in sorted(self.files.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        files = data.get("files")
        if not isinstance(files, Mapping):
            raise InvalidParameter("manifest must have a 'files' mapping")
        parsed: dict[str, FileDigest] = {}
        for path, entry in files.items():
            if not isinstance(entry, Mapping) or not isinstance(entry.get("sha256"), str):
                raise InvalidParameter(f"manifest entry {path!r} needs a sha256")
            parsed[str(path)] = FileDigest(entry["sha256"], int(entry.get("size", -1)))
        return cls(files=parsed)


@dataclass(frozen=True)
class ModelInfo:
    """What ``save_model`` wrote: where, which flavor, and the manifest that pins it."""

    path: str
    flavor: str
    loader: str
    executes_code: bool
    manifest: Manifest
    signature: Signature | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
