"""``DataClient``: add, find, tag, read, validate, profile and compare dataset versions.

Adding is snapshot first (a private temp file, hashed while written), then
the Parquet file into the artifact store under a path named by its content
hash, then (when a suite is attached) validation, then the version row with
its report and audit event in one transaction. An interrupted add leaves at
most an unreferenced file that the re-run reuses, never a version; identical
content is the same version however often it is added.

The client acts as one :class:`~loopml.auth.Actor`; the server builds one per
request and checks permissions before calling it, embedded use acts as the
local user. Every change and every read of rows is audited.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from loopml.artifacts import ArtifactStore
from loopml.auth import Actor, ReadScope
from loopml.auth.access import is_admin
from loopml.core.errors import InvalidParameter, ResourceNotFound
from loopml.data._sql import SqlDataStore
from loopml.data.diff import DataDiff, diff_tables
from loopml.data.entities import (
    DataRef,
    Dataset,
    DatasetVersion,
    StoredValidation,
    check_dataset_name,
    check_tag,
)
from loopml.data.masking import mask_profile, mask_rows, mask_table, sensitive_columns
from loopml.data.profile import Profile, profile_table
from loopml.data.snapshot import Progress, snapshot
from loopml.data.sql import Source
from loopml.data.validation import Suite, ValidationReport, infer_suite, validate


@dataclass(frozen=True)
class Added:
    version: DatasetVersion
    created: bool  # False: identical content was already a version


class DataApi(Protocol):
    """What the SDK and CLI use, embedded (:class:`DataClient`) or remote (``RestData``)."""

    def add(
        self,
        name: str,
        source: Any,
        *,
        description: str = "",
        parents: Sequence[str] = (),
        run_id: str | None = None,
        source_uri: str | None = None,
        progress: Progress | None = None,
    ) -> Added: ...
    def log_dataset(self, name: str, source: Any, **options: Any) -> DatasetVersion: ...
    def get(self, ref: str | DataRef, *, require_valid: bool = False) -> DatasetVersion: ...
    def dataset(self, name: str) -> Dataset: ...
    def list_datasets(self) -> list[Dataset]: ...
    def list_versions(self, name: str) -> list[DatasetVersion]: ...
    def set_tag(
        self, name: str, tag: str, version: int, *, expected: int | None = None
    ) -> int | None: ...
    def set_column_tags(self, name: str, column: str, tags: Sequence[str]) -> list[str]: ...
    def read_arrow(self, ref: str | DataRef, *, mask: bool = False) -> pa.Table: ...
    def read_pandas(self, ref: str | DataRef, *, mask: bool = False) -> Any: ...
    def read_duckdb(
        self, ref: str | DataRef, connection: Any = None, *, mask: bool = False
    ) -> Any: ...
    def download(
        self, ref: str | DataRef, destination: Path, *, mask: bool = False
    ) -> DatasetVersion: ...
    def attach_suite(self, name: str, suite: Suite | None) -> None: ...
    def validate(self, ref: str | DataRef, suite: Suite | None = None) -> ValidationReport: ...
    def validations(self, ref: str | DataRef) -> list[ValidationReport]: ...
    def profile(self, ref: str | DataRef) -> Profile: ...
    def infer_suite(self, ref: str | DataRef) -> Suite: ...
    def diff(
        self, before: str | DataRef, after: str | DataRef, *, keys: Sequence[str] = ()
    ) -> DataDiff: ...


class DataClient:
    """Dataset versions over one metadata store and artifact store, acting as ``actor``.

    ``enforce_masking``: hide sensitive columns from readers without an explicit
    grant (the server turns it on with auth; the embedded local user is an admin).
    """

    def __init__(
        self,
        store: SqlDataStore,
        artifacts: ArtifactStore,
        actor: Actor,
        work_dir: Path,
        *,
        request_id: str = "",
        enforce_masking: bool = False,
        data_roots: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.artifacts = artifacts
        self.actor = actor
        self.work_dir = work_dir
        self.request_id = request_id
        self.enforce_masking = enforce_masking
        self.data_roots = list(data_roots)

    # --- versions ---------------------------------------------------------------------

    def add(
        self,
        name: str,
        source: Any,
        *,
        description: str = "",
        parents: Sequence[str] = (),
        run_id: str | None = None,
        source_uri: str | None = None,
        progress: Progress | None = None,
    ) -> Added:
        """Snapshot ``source`` as a version of ``name`` (or find the identical one)."""
        check_dataset_name(name)
        self._check_root(source)
        parent_refs = [self.get(parent).ref for parent in parents]
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            taken = snapshot(source, Path(scratch) / "snapshot.parquet", progress)
            existing = self.store.find_by_hash(name, taken.content_hash)
            if existing is not None:
                return Added(existing, False)
            checked = self._check_on_add(name, taken.path)
            path = f"datasets/{name}/{taken.content_hash}.parquet"
            self.artifacts.adopt(path, taken.path)
        version, created = self.store.add_version(
            {
                "name": name,
                "content_hash": taken.content_hash,
                "artifact_path": path,
                "schema": taken.schema,
                "row_count": taken.row_count,
                "size_bytes": taken.size_bytes,
                "source_uri": source_uri or describe_source(source),
                "parents": parent_refs,
                "run_id": run_id,
                "description": description,
            },
            self.actor,
            self.request_id,
            checked,
        )
        return Added(version, created)

    def _check_root(self, source: Any) -> None:
        """Refuse a path or URL outside ``data_roots`` (symlinks followed), when roots are set."""
        if not self.data_roots or not isinstance(source, (str, os.PathLike)):
            return
        text = os.fspath(source)
        if "://" in text:
            inside = ".." not in text.split("/") and any(
                text.startswith(root.rstrip("/") + "/") for root in self.data_roots
            )
        else:
            resolved = Path(text).resolve()
            inside = any(
                resolved.is_relative_to(Path(root).resolve())
                for root in self.data_roots
                if "://" not in root
            )
        if not inside:
            raise InvalidParameter(
                f"{text} is outside the allowed data roots (LOOPML_DATA_ROOTS): "
                + ", ".join(self.data_roots)
            )

    def _check_on_add(self, name: str, path: Path) -> StoredValidation | None:
        """The attached suite's verdict on a new snapshot (None: no dataset or no suite yet)."""
        try:
            attached = self.store.dataset(name).suite
        except ResourceNotFound:
            return None
        if attached is None:
            return None
        suite = Suite.from_dict(attached)
        report = validate(path, suite, resolve=self._source_of)
        return StoredValidation(suite.name, report.success, report.to_dict())

    def log_dataset(self, name: str, source: Any, **options: Any) -> DatasetVersion:
        """Snapshot ``source`` as a version of ``name``; identical content is not re-added."""
        return self.add(name, source, **options).version

    def get(self, ref: str | DataRef, *, require_valid: bool = False) -> DatasetVersion:
        """The version ``data:NAME@VERSION`` (or ``@tag``, ``@latest``) names.

        ``require_valid``: refuse a version its attached suite failed (pipelines do).
        """
        version = self.store.resolve(ref if isinstance(ref, DataRef) else DataRef.parse(ref))
        return version.checked_valid() if require_valid else version

    def dataset(self, name: str) -> Dataset:
        return self.store.dataset(check_dataset_name(name))

    def list_datasets(self, scope: ReadScope | None = None) -> list[Dataset]:
        return self.store.list_datasets(scope)

    def list_versions(self, name: str) -> list[DatasetVersion]:
        return self.store.list_versions(check_dataset_name(name))

    def set_tag(
        self, name: str, tag: str, version: int, *, expected: int | None = None
    ) -> int | None:
        """Move ``tag`` to ``version`` if it still points at ``expected``; returns where it was."""
        previous, _ = self.store.set_tag(
            check_dataset_name(name), check_tag(tag), version, expected, self.actor, self.request_id
        )
        return previous

    def set_column_tags(self, name: str, column: str, tags: Sequence[str]) -> list[str]:
        """Label ``column`` (``pii`` masks it for readers without a grant); returns the old tags."""
        checked = [check_tag(tag) for tag in tags]
        return self.store.set_column_tags(
            check_dataset_name(name), column, checked, self.actor, self.request_id
        )

    # --- reading rows -------------------------------------------------------------------

    def masked_columns(self, name: str, *, mask: bool = False) -> list[str]:
        """The columns this actor sees as nulls: sensitive ones, unless it holds a grant.

        ``mask=True`` masks them whoever reads (to share a copy safely).
        """
        tagged = sensitive_columns(self.store.dataset(name).column_tags)
        if not tagged or mask:
            return tagged
        if not self.enforce_masking or is_admin(self.actor):
            return []
        if self.store.has_explicit_grant(self.actor, name):
            return []
        return tagged

    def read_arrow(self, ref: str | DataRef, *, mask: bool = False) -> pa.Table:
        """The version's rows (sensitive columns masked per :meth:`masked_columns`); audited."""
        version = self.get(ref)
        masked = self.masked_columns(version.name, mask=mask)
        with self.artifacts.open(version.artifact_path) as handle:
            table = pq.read_table(handle)
        self.store.record_read(version, self.actor, masked, self.request_id)
        return mask_table(table, masked)

    def read_pandas(self, ref: str | DataRef, *, mask: bool = False) -> Any:
        return self.read_arrow(ref, mask=mask).to_pandas()

    def read_duckdb(self, ref: str | DataRef, connection: Any = None, *, mask: bool = False) -> Any:
        """A DuckDB relation over the version (on ``connection``, or DuckDB's default)."""
        import duckdb

        return (connection or duckdb).from_arrow(self.read_arrow(ref, mask=mask))

    def download(
        self, ref: str | DataRef, destination: Path, *, mask: bool = False
    ) -> DatasetVersion:
        """Write the version to ``destination`` as Parquet (masked per policy); audited."""
        version = self.get(ref)
        masked = self.masked_columns(version.name, mask=mask)
        if masked:
            pq.write_table(self.read_arrow(version.ref, mask=True), destination)
            return version
        with destination.open("wb") as sink:
            for chunk in self.artifacts.iter_bytes(version.artifact_path):
                sink.write(chunk)
        self.store.record_read(version, self.actor, [], self.request_id)
        return version

    def _source_of(self, ref: str) -> Source:
        """A version's Parquet file for DuckDB: the stored file itself when local."""
        version = self.get(ref)
        local = self.artifacts.local_file(version.artifact_path)
        if local is not None:
            return local
        with self.artifacts.open(version.artifact_path) as handle:
            return pq.read_table(handle)

    # --- quality ------------------------------------------------------------------------

    def attach_suite(self, name: str, suite: Suite | None) -> None:
        """Validate every later version of ``name`` against ``suite`` (None detaches)."""
        self.store.attach_suite(
            check_dataset_name(name),
            None if suite is None else suite.to_dict(),
            self.actor,
            self.request_id,
        )

    def validate(self, ref: str | DataRef, suite: Suite | None = None) -> ValidationReport:
        """Validate a version and store the report with it.

        Without ``suite`` the dataset's attached suite is used, and its verdict
        becomes the version's validation status.
        """
        version = self.get(ref)
        attached = suite is None
        if suite is None:
            found = self.store.dataset(version.name).suite
            if found is None:
                raise InvalidParameter(
                    f"dataset {version.name!r} has no attached suite: give one "
                    "(loopml data validate ... --suite FILE, or attach one first)"
                )
            suite = Suite.from_dict(found)
        report = validate(self._source_of(version.ref), suite, resolve=self._source_of)
        stored = StoredValidation(suite.name, report.success, report.to_dict())
        self.store.save_validation(version, stored, self.actor, self.request_id, mark=attached)
        return self._masked_report(version.name, report)

    def validations(self, ref: str | DataRef) -> list[ValidationReport]:
        """Reports stored for a version, newest first."""
        version = self.get(ref)
        return [
            self._masked_report(version.name, ValidationReport.from_dict(stored.report))
            for stored in self.store.validations(version.name, version.version)
        ]

    def _masked_report(self, name: str, report: ValidationReport) -> ValidationReport:
        masked = self.masked_columns(name)
        if not masked:
            return report
        data = report.to_dict()
        for result in data["results"]:
            result["failing_rows"] = mask_rows(result["failing_rows"], masked)
        return ValidationReport.from_dict(data)

    def profile(self, ref: str | DataRef) -> Profile:
        """The version's profile, computed once and kept beside its Parquet file."""
        version = self.get(ref)
        path = version.artifact_path.removesuffix(".parquet") + ".profile.json"
        try:
            profile = Profile.from_dict(json.loads(self.artifacts.get_bytes(path)))
        except ResourceNotFound:
            profile = profile_table(self._source_of(version.ref))
            self.artifacts.put(path, json.dumps(profile.to_dict()).encode())
        return mask_profile(profile, self.masked_columns(version.name))

    def infer_suite(self, ref: str | DataRef) -> Suite:
        """A suite proposed from the version's profile (which the version passes)."""
        version = self.get(ref)
        return infer_suite(self.profile(version.ref), name=version.name)

    def diff(
        self, before: str | DataRef, after: str | DataRef, *, keys: Sequence[str] = ()
    ) -> DataDiff:
        """Schema, row-count and (by ``keys``) row changes between two versions; audited read."""
        old, new = self.get(before), self.get(after)
        result = diff_tables(
            self._source_of(old.ref),
            self._source_of(new.ref),
            keys=list(keys),
            labels=(old.ref, new.ref),
        )
        masked = sorted(set(self.masked_columns(old.name)) | set(self.masked_columns(new.name)))
        for version in (old, new):
            self.store.record_read(version, self.actor, masked, self.request_id)
        if not masked:
            return result
        data = result.to_dict()
        for key in ("added_sample", "removed_sample", "changed_sample"):
            data[key] = mask_rows(data[key], masked)
        return DataDiff.from_dict(data)


def describe_source(source: Any) -> str:
    """Where a version came from, as recorded with it: a resolved path, or the in-memory type."""
    if isinstance(source, str) and "://" in source:
        return source
    if isinstance(source, (str, os.PathLike)):
        return str(Path(source).resolve())
    return f"memory:{type(source).__module__.split('.')[0]}.{type(source).__name__}"
