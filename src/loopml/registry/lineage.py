"""Where a model version came from, as a graph: the run, its data, code and environment.

From a version, lineage walks: version → the logged model it was registered
from → the run that produced it (with its params and metrics) → the dataset
versions that run read and their ancestors (``tracking.lineage.run_lineage``)
→ the runs that produced that data; and the run's code commit and Python
environment (its context tags). Evaluations of the version point at the
runs that made them. A piece that is gone or was never recorded (a deleted
run or dataset, a run without a commit tag) is a node marked ``missing``,
so the graph shows the gap instead of failing.

Edges point from a thing to what it came from: ``model_version
-produced_by-> run -trained_on-> dataset_version -derived_from->
dataset_version``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopmlError
from loopml.tracking.lineage import CONTEXT_TAG, SOURCE_TYPE, DatasetLineage, run_lineage

if TYPE_CHECKING:
    from loopml.client import Client
    from loopml.registry.entities import ModelVersion, StoredEvaluation
    from loopml.tracking.entities import DatasetInput, Run

COMMIT_TAG = "mlflow.source.git.commit"
DIRTY_TAG = "loopml.git.dirty"
PYTHON_TAG = "loopml.python_version"
PACKAGES_TAG = "loopml.packages"


@dataclass(frozen=True)
class LineageNode:
    """One thing in the graph; ``id`` is ``<kind>:<key>`` and unique in the graph."""

    id: str
    kind: str
    label: str
    missing: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "missing": self.missing,
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class LineageEdge:
    """``source`` came from ``target`` by ``relation`` (``produced_by``, ``trained_on``...)."""

    source: str
    target: str
    relation: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "relation": self.relation}


@dataclass(frozen=True)
class LineageRow:
    """One line of the tree: how deep, by which relation, and whether shown already."""

    depth: int
    relation: str
    node: LineageNode
    repeated: bool


@dataclass(frozen=True)
class VersionLineage:
    """A model version's lineage graph; ``root`` is the version's node id."""

    root: str
    nodes: list[LineageNode]
    edges: list[LineageEdge]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``{"root", "nodes": [...], "edges": [...]}``."""
        return {
            "root": self.root,
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
        }

    def node(self, node_id: str) -> LineageNode:
        return next(n for n in self.nodes if n.id == node_id)

    def of_kind(self, kind: str) -> list[LineageNode]:
        return [n for n in self.nodes if n.kind == kind]

    def sources_of(self, node_id: str) -> list[tuple[str, LineageNode]]:
        """What ``node_id`` came from, as ``(relation, node)``, in the order found."""
        return [(e.relation, self.node(e.target)) for e in self.edges if e.source == node_id]

    def rows(self) -> list[LineageRow]:
        """The graph as a tree from the root, depth first; a node seen before is not expanded."""
        seen: set[str] = set()
        return list(self._walk(self.root, "", 0, seen))

    def _walk(
        self, node_id: str, relation: str, depth: int, seen: set[str]
    ) -> Iterator[LineageRow]:
        repeated = node_id in seen
        seen.add(node_id)
        yield LineageRow(depth, relation, self.node(node_id), repeated)
        if not repeated:
            for child_relation, child in self.sources_of(node_id):
                yield from self._walk(child.id, child_relation, depth + 1, seen)

    def render_tree(self) -> str:
        """Plain text, one node a line, drawn as a tree (for terminals and logs)."""
        lines = [_describe(self.node(self.root), False)]
        self._draw(self.root, "", {self.root}, lines)
        return "\n".join(lines)

    def _draw(self, node_id: str, prefix: str, seen: set[str], lines: list[str]) -> None:
        children = self.sources_of(node_id)
        for index, (relation, child) in enumerate(children):
            last = index == len(children) - 1
            repeated = child.id in seen
            seen.add(child.id)
            branch = "└── " if last else "├── "
            lines.append(f"{prefix}{branch}{relation} → {_describe(child, repeated)}")
            if not repeated:
                self._draw(child.id, prefix + ("    " if last else "│   "), seen, lines)


def _describe(node: LineageNode, repeated: bool) -> str:
    text = f"{node.kind} {node.label}"
    if node.missing:
        return f"{text} (missing: {node.attributes.get('reason', 'not found')})"
    if repeated:
        return f"{text} (see above)"
    details = node.attributes
    if node.kind == "run":
        params = ", ".join(f"{k}={v}" for k, v in sorted(details["params"].items()))
        metrics = ", ".join(f"{k}={v:.6g}" for k, v in sorted(details["metrics"].items()))
        return f"{text} [{details['status']}] params: {params or '-'}; metrics: {metrics or '-'}"
    if node.kind == "dataset_version" and details.get("content_hash"):
        return f"{text} (content {details['content_hash'][:12]})"
    if node.kind == "environment":
        return f"{text} ({len(details['packages'])} packages)"
    if node.kind == "model_version" and details.get("aliases"):
        return f"{text} @{', @'.join(details['aliases'])}"
    return text


# --- building ----------------------------------------------------------------------------


class _Builder:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.nodes: dict[str, LineageNode] = {}
        self.edges: list[LineageEdge] = []

    def add(self, node: LineageNode) -> str:
        self.nodes.setdefault(node.id, node)
        return node.id

    def link(self, source: str, target: str, relation: str) -> None:
        edge = LineageEdge(source, target, relation)
        if edge not in self.edges:
            self.edges.append(edge)

    def run(self, run_id: str, *, expand: bool) -> str:
        """A run's node; ``expand`` also walks its data, code and environment."""
        node_id = f"run:{run_id}"
        if node_id in self.nodes:
            return node_id
        try:
            run = self.client.get_run(run_id)
        except LoopmlError as error:
            return self.add(_missing("run", run_id, run_id, error))
        self.add(_run_node(run))
        if expand:
            self.run_sources(run)
        return node_id

    def run_sources(self, run: Run) -> None:
        node_id = f"run:{run.info.run_id}"
        for item in run.dataset_inputs:
            if item.dataset.source_type != SOURCE_TYPE:  # an MLflow dataset: no versions to walk
                foreign = self.add(_foreign_dataset(item))
                self.link(node_id, foreign, _input_relation(item.tags))
        contexts = {i.dataset.source: i.tags for i in run.dataset_inputs}
        digests = {i.dataset.source: i.dataset.digest for i in run.dataset_inputs}
        for found in run_lineage(self.client.data, run):
            dataset_id = self.dataset(found, digests.get(found.ref, ""))
            self.link(node_id, dataset_id, _input_relation(contexts.get(found.ref, {})))
        tags = run.data.tags
        self.link(node_id, self.add(_code_node(run.info.run_id, tags)), "built_from")
        self.link(node_id, self.add(_environment_node(run.info.run_id, tags)), "ran_in")

    def dataset(self, found: DatasetLineage, digest: str) -> str:
        node_id = f"dataset_version:{found.ref}"
        if node_id in self.nodes:
            return node_id
        if not found.content_hash:
            reason = "deleted, or not readable"
            return self.add(
                LineageNode(node_id, "dataset_version", found.ref, True, _reason(reason, digest))
            )
        attributes = {"ref": found.ref, "content_hash": found.content_hash}
        self.add(LineageNode(node_id, "dataset_version", found.ref, False, attributes))
        for parent in found.parents:
            self.link(node_id, self.dataset(parent, ""), "derived_from")
        if found.produced_by_run:
            self.link(node_id, self.run(found.produced_by_run, expand=False), "produced_by")
        return node_id

    def logged_model(self, model_id: str) -> tuple[str, str | None]:
        """The logged model's node and the run that logged it (None when unknown)."""
        node_id = f"logged_model:{model_id}"
        try:
            model = self.client.get_logged_model(model_id)
        except LoopmlError as error:
            return self.add(_missing("logged_model", model_id, model_id, error)), None
        attributes = {
            "model_id": model.model_id,
            "name": model.name,
            "status": model.status,
            "artifact_location": model.artifact_location,
            "source_run_id": model.source_run_id,
            "params": dict(model.params),
        }
        self.add(LineageNode(node_id, "logged_model", model.name, False, attributes))
        return node_id, model.source_run_id


def version_lineage(client: Client, name: str, version: int | str) -> VersionLineage:
    """The lineage graph of version ``version`` of ``name``.

    Args:
        client: a :class:`loopml.Client` (registry, tracking and data together).
        name: the registered model.
        version: its version number.

    Raises:
        ResourceNotFound: the model or version does not exist (anything behind
            it that is gone is a ``missing`` node instead).
    """
    target = client.registry.get_model_version(name, version)
    builder = _Builder(client)
    root = builder.add(_version_node(target))
    run_ids: list[str] = []
    if target.model_id:
        logged_id, logged_run = builder.logged_model(target.model_id)
        builder.link(root, logged_id, "registered_from")
        if logged_run:
            builder.link(logged_id, builder.run(logged_run, expand=True), "produced_by")
            run_ids.append(logged_run)
    if target.run_id and target.run_id not in run_ids:
        builder.link(root, builder.run(target.run_id, expand=True), "produced_by")
    if not target.model_id and not target.run_id:
        reason = f"registered from {target.source} without a run"
        missing = LineageNode(f"run:{target.name}/{target.version}", "run", "none", True)
        builder.link(root, builder.add(_with_reason(missing, reason)), "produced_by")
    for evaluation in _evaluations(client, target):
        if evaluation.run_id:
            builder.link(root, builder.run(evaluation.run_id, expand=False), "evaluated_in")
    return VersionLineage(root, list(builder.nodes.values()), builder.edges)


def _evaluations(client: Client, target: ModelVersion) -> list[StoredEvaluation]:
    try:
        return client.registry.evaluations(target.name, target.version)
    except LoopmlError:
        return []


# --- nodes ---------------------------------------------------------------------------


def _version_node(version: ModelVersion) -> LineageNode:
    attributes = {
        "name": version.name,
        "version": version.version,
        "source": version.source,
        "storage_location": version.storage_location,
        "manifest_digest": version.manifest_digest,
        "trusted": version.trusted,
        "aliases": list(version.aliases),
        "stage": version.current_stage,
        "created_by": version.created_by,
        "created_ms": version.created_ms,
    }
    node_id = f"model_version:{version.name}/{version.version}"
    return LineageNode(
        node_id, "model_version", f"{version.name} v{version.version}", False, attributes
    )


def _run_node(run: Run) -> LineageNode:
    info = run.info
    attributes = {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "status": info.status,
        "user": info.user_id,
        "lifecycle_stage": info.lifecycle_stage,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "params": dict(run.data.params),
        "metrics": {m.key: m.value for m in run.data.metrics},
    }
    label = f"{info.run_id} ({info.run_name})" if info.run_name else info.run_id
    return LineageNode(f"run:{info.run_id}", "run", label, False, attributes)


def _code_node(run_id: str, tags: dict[str, str]) -> LineageNode:
    commit = tags.get(COMMIT_TAG)
    if not commit:
        node = LineageNode(f"code:{run_id}", "code", "unknown commit", True)
        return _with_reason(node, f"run {run_id} recorded no {COMMIT_TAG} tag")
    dirty = tags.get(DIRTY_TAG, "").lower() == "true"
    label = f"{commit[:12]}{' (uncommitted changes)' if dirty else ''}"
    return LineageNode(f"code:{commit}", "code", label, False, {"commit": commit, "dirty": dirty})


def _environment_node(run_id: str, tags: dict[str, str]) -> LineageNode:
    python = tags.get(PYTHON_TAG)
    packages = parse_packages(tags.get(PACKAGES_TAG))
    node_id = f"environment:{run_id}"
    if not python and not packages:
        node = LineageNode(node_id, "environment", "unknown", True)
        return _with_reason(node, f"run {run_id} recorded no {PYTHON_TAG} or {PACKAGES_TAG} tag")
    attributes = {"python": python, "packages": packages}
    return LineageNode(node_id, "environment", f"python {python or '?'}", False, attributes)


def parse_packages(text: str | None) -> dict[str, str]:
    """The ``loopml.packages`` tag as ``{package: version}`` (empty when absent or unreadable)."""
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _foreign_dataset(item: DatasetInput) -> LineageNode:
    """A dataset logged the MLflow way (not a loopml version): its name and digest only."""
    found = item.dataset
    attributes = {
        "name": found.name,
        "digest": found.digest,
        "source_type": found.source_type,
        "source": found.source,
    }
    return LineageNode(
        f"dataset:{found.name}:{found.digest}", "dataset", found.name, False, attributes
    )


def _input_relation(tags: dict[str, str]) -> str:
    context = tags.get(CONTEXT_TAG, "training")
    return "trained_on" if context == "training" else f"read_for_{context}"


def _missing(kind: str, key: str, label: str, error: LoopmlError) -> LineageNode:
    return LineageNode(f"{kind}:{key}", kind, label, True, {"reason": error.message})


def _reason(reason: str, digest: str) -> dict[str, Any]:
    return {"reason": reason, "digest": digest} if digest else {"reason": reason}


def _with_reason(node: LineageNode, reason: str) -> LineageNode:
    return LineageNode(node.id, node.kind, node.label, node.missing, {"reason": reason})
