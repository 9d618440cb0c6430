"""Lineage between runs, logged models and dataset versions.

A run that reads a dataset version records it as an input in MLflow's
``log_inputs`` shape (name, digest, source type and source, an MLflow column
schema, a profile with the row count), so the ``mlflow`` client and UI show
it too. ``source_type`` is ``loopml`` and ``source`` the version's
``data:NAME@VERSION`` reference; the digest is the content hash's first 32
hex digits (128 bits: MLflow caps digests at 36 characters). From a
logged model, lineage walks: model → the run that logged it → that run's
dataset inputs → each version's parents, and the runs that produced them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.core.errors import ResourceNotFound
from loopml.data import DataApi, DatasetVersion
from loopml.tracking.entities import Dataset, DatasetInput, Run

SOURCE_TYPE = "loopml"
CONTEXT_TAG = "mlflow.data.context"
DIGEST_LENGTH = 32

# Arrow type names as MLflow's column-spec types (anything else shows as string).
_MLFLOW_TYPES = {
    "bool": "boolean",
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "int64": "long",
    "uint8": "integer",
    "uint16": "integer",
    "uint32": "long",
    "uint64": "long",
    "float": "float",
    "halffloat": "float",
    "double": "double",
    "string": "string",
    "large_string": "string",
    "binary": "binary",
    "large_binary": "binary",
}


def _mlflow_type(arrow_type: str) -> str:
    if arrow_type.startswith(("timestamp", "date")):
        return "datetime"
    return _MLFLOW_TYPES.get(arrow_type, "string")


def dataset_input(version: DatasetVersion, context: str = "training") -> DatasetInput:
    """The run input that records ``version`` (what ``mlflow.log_input`` would send)."""
    columns = [
        {"type": _mlflow_type(f["type"]), "name": f["name"], "required": False}
        for f in version.schema
    ]
    profile = {"num_rows": version.row_count, "num_elements": version.row_count * len(columns)}
    return DatasetInput(
        Dataset(
            name=version.name,
            digest=version.content_hash[:DIGEST_LENGTH],
            source_type=SOURCE_TYPE,
            source=version.ref,
            schema=json.dumps({"mlflow_colspec": columns}),
            profile=json.dumps(profile),
        ),
        {CONTEXT_TAG: context},
    )


def dataset_refs(run: Run) -> list[str]:
    """The loopml dataset versions a run recorded as inputs, as ``data:`` references."""
    return [
        item.dataset.source
        for item in run.dataset_inputs
        if item.dataset.source_type == SOURCE_TYPE
    ]


@dataclass(frozen=True)
class DatasetLineage:
    """A dataset version a run read, and what it was derived from (its ancestors)."""

    ref: str
    content_hash: str
    produced_by_run: str | None
    parents: list[DatasetLineage] = field(default_factory=list)


@dataclass(frozen=True)
class ModelLineage:
    model_id: str
    run_id: str | None
    datasets: list[DatasetLineage]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def all_refs(self) -> list[str]:
        """Every dataset version reached, nearest first."""
        found: list[str] = []
        todo = list(self.datasets)
        while todo:
            item = todo.pop(0)
            if item.ref not in found:
                found.append(item.ref)
            todo.extend(item.parents)
        return found


def dataset_lineage(data: DataApi, ref: str, depth: int = 10) -> DatasetLineage:
    """A version and its ancestors (``parents``), ``depth`` generations at most."""
    version = data.get(ref)
    parents = [] if depth <= 0 else [dataset_lineage(data, p, depth - 1) for p in version.parents]
    return DatasetLineage(version.ref, version.content_hash, version.run_id, parents)


def run_lineage(data: DataApi, run: Run) -> list[DatasetLineage]:
    found = []
    for ref in dict.fromkeys(dataset_refs(run)):
        try:
            found.append(dataset_lineage(data, ref))
        except ResourceNotFound:  # recorded, since deleted: keep the record visible
            found.append(DatasetLineage(ref, "", None))
    return found
