"""What changed between two versions of a model, section by section.

Sections: ``version`` (source, storage location, manifest digest, run,
logged model, trust), ``params`` and ``metrics`` of the producing runs,
``datasets`` the runs read (by dataset name: reference and digest), ``code``
(commit and whether it was dirty), ``environment`` (Python and package
versions from the run's context tags) and ``evaluation`` (every number of
each version's latest stored evaluation, as dotted keys such as
``segment.region.recall.north``). Only differences are listed; ``same``
counts what matched, so "nothing changed" is visible too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopmlError
from loopml.registry.lineage import (
    COMMIT_TAG,
    DIRTY_TAG,
    PACKAGES_TAG,
    PYTHON_TAG,
    parse_packages,
)
from loopml.tracking.lineage import SOURCE_TYPE

if TYPE_CHECKING:
    from collections.abc import Mapping

    from loopml.client import Client
    from loopml.registry.entities import ModelVersion
    from loopml.tracking.entities import Run

SECTIONS = ("version", "params", "metrics", "datasets", "code", "environment", "evaluation")


@dataclass(frozen=True)
class Change:
    """One key that differs: ``before`` is None when added, ``after`` None when removed."""

    key: str
    before: Any
    after: Any

    @property
    def status(self) -> str:
        if self.before is None:
            return "added"
        return "removed" if self.after is None else "changed"

    @property
    def delta(self) -> float | None:
        """``after - before`` when both are numbers (metrics, evaluation values)."""
        if _is_number(self.before) and _is_number(self.after):
            return float(self.after) - float(self.before)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "before": _json_safe(self.before),
            "after": _json_safe(self.after),
            "delta": _json_safe(self.delta),
        }


@dataclass(frozen=True)
class VersionDiff:
    """Version ``a`` against version ``b`` of ``name`` (``b`` is "after")."""

    name: str
    a: int
    b: int
    changes: dict[str, list[Change]] = field(default_factory=dict)
    same: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(self.changes.values())

    def section(self, name: str) -> dict[str, Change]:
        """One section's changes by key (``diff.section("params")["C"].after``)."""
        return {change.key: change for change in self.changes.get(name, [])}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "a": self.a,
            "b": self.b,
            "changed": self.changed,
            "changes": {k: [c.to_dict() for c in v] for k, v in self.changes.items()},
            "same": dict(self.same),
            "notes": list(self.notes),
        }


def diff_versions(client: Client, name: str, a: int | str, b: int | str) -> VersionDiff:
    """Compare version ``a`` of ``name`` with version ``b``.

    Args:
        client: a :class:`loopml.Client` (registry and tracking).
        name: the registered model.
        a: the version to compare from ("before").
        b: the version to compare to ("after").

    Raises:
        ResourceNotFound: the model or either version does not exist. A run
            that is gone is a note, and its sections compare as empty.
    """
    before = client.registry.get_model_version(name, a)
    after = client.registry.get_model_version(name, b)
    notes: list[str] = []
    sides = [_Side.of(client, v, notes) for v in (before, after)]
    diff = VersionDiff(name, before.version, after.version, notes=notes)
    for section in SECTIONS:
        old, new = (getattr(side, section) for side in sides)
        changes = compare(old, new)
        diff.changes[section] = changes
        diff.same[section] = len(set(old) | set(new)) - len(changes)
    return diff


def compare(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """The keys whose values differ (added, removed or changed), sorted by key."""
    keys = sorted(set(before) | set(after))
    return [
        Change(key, before.get(key), after.get(key))
        for key in keys
        if not _equal(before.get(key), after.get(key))
    ]


@dataclass(frozen=True)
class _Side:
    """One version flattened into ``{key: value}`` per section."""

    version: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, Any]
    datasets: dict[str, Any]
    code: dict[str, Any]
    environment: dict[str, Any]
    evaluation: dict[str, Any]

    @classmethod
    def of(cls, client: Client, version: ModelVersion, notes: list[str]) -> _Side:
        run = _run(client, version, notes)
        tags = run.data.tags if run else {}
        environment: dict[str, Any] = {"python": tags.get(PYTHON_TAG)}
        packages = parse_packages(tags.get(PACKAGES_TAG))
        environment.update({f"packages.{k}": v for k, v in packages.items()})
        return cls(
            version=_version_fields(version),
            params=dict(run.data.params) if run else {},
            metrics={m.key: m.value for m in run.data.metrics} if run else {},
            datasets=_datasets(run) if run else {},
            code={"commit": tags.get(COMMIT_TAG), "dirty": tags.get(DIRTY_TAG)},
            environment=environment,
            evaluation=_latest_evaluation(client, version),
        )


def _run(client: Client, version: ModelVersion, notes: list[str]) -> Run | None:
    if not version.run_id:
        notes.append(f"version {version.version} has no run: params, data and code are unknown")
        return None
    try:
        return client.get_run(version.run_id)
    except LoopmlError as error:
        notes.append(f"version {version.version}: run {version.run_id}: {error.message}")
        return None


def _version_fields(version: ModelVersion) -> dict[str, Any]:
    return {
        "source": version.source,
        "storage_location": version.storage_location,
        "manifest_digest": version.manifest_digest,
        "run_id": version.run_id,
        "model_id": version.model_id,
        "trusted": version.trusted,
    }


def _datasets(run: Run) -> dict[str, str]:
    """Each dataset the run read, by name: ``data:NAME@V (digest)``; several joined by ``, ``."""
    found: dict[str, list[str]] = {}
    for item in run.dataset_inputs:
        data = item.dataset
        where = data.source if data.source_type == SOURCE_TYPE else data.name
        found.setdefault(data.name, []).append(f"{where} ({data.digest[:12]})")
    return {name: ", ".join(sorted(set(refs))) for name, refs in found.items()}


def _latest_evaluation(client: Client, version: ModelVersion) -> dict[str, Any]:
    try:
        stored = client.registry.evaluations(version.name, version.version)
    except LoopmlError:
        return {}
    return flatten(stored[-1].result) if stored else {}


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested evaluation result as ``{"segment.region.recall.north": 0.8, ...}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right) and math.isnan(left) and math.isnan(right):
        return True
    return bool(left == right)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value
