"""``DataClient``: add, find, tag and read dataset versions.

Adding is snapshot first (a private temp file, hashed while written), then
the Parquet file into the artifact store under a path named by its content
hash, then the version row. An interrupted add leaves at most an unreferenced
file that the re-run reuses, never a version; identical content is the same
version however often it is added.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from loopml.artifacts import ArtifactStore
from loopml.data._sql import SqlDataStore
from loopml.data.entities import DataRef, Dataset, DatasetVersion, check_dataset_name, check_tag
from loopml.data.snapshot import Progress, snapshot


@dataclass(frozen=True)
class Added:
    version: DatasetVersion
    created: bool  # False: identical content was already a version


class DataClient:
    """Dataset versions over one metadata store and artifact store, acting as ``actor``."""

    def __init__(
        self, store: SqlDataStore, artifacts: ArtifactStore, actor: str, work_dir: Path
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.actor = actor
        self.work_dir = work_dir

    def add(
        self,
        name: str,
        source: Any,
        *,
        description: str = "",
        parents: tuple[str, ...] = (),
        run_id: str | None = None,
        progress: Progress | None = None,
    ) -> Added:
        """Snapshot ``source`` as a version of ``name`` (or find the identical one)."""
        check_dataset_name(name)
        parent_refs = [self.get(parent).ref for parent in parents]
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            taken = snapshot(source, Path(scratch) / "snapshot.parquet", progress)
            path = f"datasets/{name}/{taken.content_hash}.parquet"
            with taken.path.open("rb") as handle:
                self.artifacts.put(path, handle)
        version, created = self.store.add_version(
            {
                "name": name,
                "content_hash": taken.content_hash,
                "artifact_path": path,
                "schema": taken.schema,
                "row_count": taken.row_count,
                "size_bytes": taken.size_bytes,
                "source_uri": _source_uri(source),
                "parents": parent_refs,
                "run_id": run_id,
                "description": description,
            },
            self.actor,
        )
        return Added(version, created)

    def log_dataset(self, name: str, source: Any, **options: Any) -> DatasetVersion:
        """Snapshot ``source`` as a version of ``name``; identical content is not re-added."""
        return self.add(name, source, **options).version

    def get(self, ref: str | DataRef) -> DatasetVersion:
        """The version ``data:NAME@VERSION`` (or ``@tag``, ``@latest``) names."""
        return self.store.resolve(ref if isinstance(ref, DataRef) else DataRef.parse(ref))

    def list_datasets(self) -> list[Dataset]:
        return self.store.list_datasets()

    def list_versions(self, name: str) -> list[DatasetVersion]:
        return self.store.list_versions(check_dataset_name(name))

    def set_tag(
        self, name: str, tag: str, version: int, *, expected: int | None = None
    ) -> int | None:
        """Move ``tag`` to ``version`` if it still points at ``expected``; returns where it was."""
        previous, _ = self.store.set_tag(
            check_dataset_name(name), check_tag(tag), version, expected, self.actor
        )
        return previous

    def read_arrow(self, ref: str | DataRef) -> pa.Table:
        version = self.get(ref)
        with self.artifacts.open(version.artifact_path) as handle:
            return pq.read_table(handle)

    def read_pandas(self, ref: str | DataRef) -> Any:
        return self.read_arrow(ref).to_pandas()

    def read_duckdb(self, ref: str | DataRef, connection: Any = None) -> Any:
        """A DuckDB relation over the version (on ``connection``, or DuckDB's default)."""
        import duckdb

        table = self.read_arrow(ref)
        return (connection or duckdb).from_arrow(table)


def _source_uri(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(Path(source).resolve())
    return f"memory:{type(source).__module__.split('.')[0]}.{type(source).__name__}"
