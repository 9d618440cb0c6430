"""``DataApi`` over HTTP: a loopml server's ``/api/loopml/v1/datasets`` endpoints.

Adding snapshots the source here first (so a bad file fails before any
upload, and memory stays bounded), then streams that Parquet file up; the
server re-reads and re-hashes it. Reads stream Parquet down into a private
temp file. The server applies permissions, masking and audit.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core.errors import LoopmlError
from loopml.core.http import ServerConnection, raise_for_error
from loopml.data.client import Added, describe_source
from loopml.data.diff import DataDiff
from loopml.data.entities import DataRef, Dataset, DatasetVersion, check_dataset_name
from loopml.data.profile import Profile
from loopml.data.snapshot import Progress, snapshot
from loopml.data.validation import Suite, ValidationReport

API = "/api/loopml/v1/datasets"
UPLOAD_CHUNK = 1 << 20


def _segment(value: str) -> str:
    return quote(value, safe="")


def _version_path(ref: str | DataRef) -> str:
    parsed = ref if isinstance(ref, DataRef) else DataRef.parse(ref)
    return f"/{_segment(parsed.name)}/versions/{_segment(parsed.selector)}"


class RestData(ServerConnection):
    """Dataset versions on the server at ``base_url``, as the caller's credentials allow."""

    def __init__(self, base_url: str, timeout_s: float = 300.0, work_dir: Path | None = None):
        super().__init__(base_url, timeout_s)
        self.work_dir = work_dir

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: Any = None,
    ) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        content = orjson.dumps(body) if body is not None else None
        try:
            response = self.http.request(
                method, API + path, content=content, params=params, headers=headers
            )
        except httpx.TransportError as error:
            raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
        raise_for_error(response)
        return response.json()

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
        check_dataset_name(name)
        params: dict[str, Any] = {"description": description, "parents": list(parents)}
        if run_id:
            params["run_id"] = run_id
        params["source"] = source_uri or describe_source(source)
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            taken = snapshot(source, Path(scratch) / "upload.parquet", progress)
            try:
                response = self.http.post(
                    f"{API}/{_segment(name)}/versions",
                    params=params,
                    content=_chunks(taken.path),
                    headers={"Content-Type": "application/vnd.apache.parquet"},
                )
            except httpx.TransportError as error:
                raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
        raise_for_error(response)
        body = response.json()
        return Added(DatasetVersion.from_dict(body["version"]), bool(body["created"]))

    def log_dataset(self, name: str, source: Any, **options: Any) -> DatasetVersion:
        return self.add(name, source, **options).version

    def get(self, ref: str | DataRef, *, require_valid: bool = False) -> DatasetVersion:
        version = DatasetVersion.from_dict(self._call("GET", _version_path(ref))["version"])
        return version.checked_valid() if require_valid else version

    def dataset(self, name: str) -> Dataset:
        return Dataset.from_dict(self._call("GET", f"/{_segment(name)}")["dataset"])

    def list_datasets(self) -> list[Dataset]:
        return [Dataset.from_dict(d) for d in self._call("GET", "")["datasets"]]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        found = self._call("GET", f"/{_segment(name)}/versions")["versions"]
        return [DatasetVersion.from_dict(v) for v in found]

    def set_tag(
        self, name: str, tag: str, version: int, *, expected: int | None = None
    ) -> int | None:
        body = {"version": version, "expected": expected}
        previous = self._call("PUT", f"/{_segment(name)}/tags/{_segment(tag)}", body)["previous"]
        return None if previous is None else int(previous)

    def set_column_tags(self, name: str, column: str, tags: Sequence[str]) -> list[str]:
        path = f"/{_segment(name)}/columns/{_segment(column)}/tags"
        return list(self._call("PUT", path, {"tags": list(tags)})["previous"])

    # --- reading rows -------------------------------------------------------------------

    def download(
        self, ref: str | DataRef, destination: Path, *, mask: bool = False
    ) -> DatasetVersion:
        """Stream the version's Parquet file to ``destination`` (masked as the server decides)."""
        params = {"mask": "true"} if mask else None
        try:
            with self.http.stream(
                "GET", API + _version_path(ref) + "/content", params=params
            ) as response:
                if not response.is_success:
                    response.read()
                    raise_for_error(response)
                with destination.open("wb") as sink:
                    for chunk in response.iter_bytes(UPLOAD_CHUNK):
                        sink.write(chunk)
                version = response.headers.get("x-loopml-version", "")
        except httpx.TransportError as error:
            raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
        parsed = ref if isinstance(ref, DataRef) else DataRef.parse(ref)
        return self.get(DataRef(parsed.name, version or parsed.selector))

    def read_arrow(self, ref: str | DataRef, *, mask: bool = False) -> pa.Table:
        with tempfile.TemporaryDirectory(dir=self.work_dir) as scratch:
            path = Path(scratch) / "read.parquet"
            self.download(ref, path, mask=mask)
            return pq.read_table(path)

    def read_pandas(self, ref: str | DataRef, *, mask: bool = False) -> Any:
        return self.read_arrow(ref, mask=mask).to_pandas()

    def read_duckdb(self, ref: str | DataRef, connection: Any = None, *, mask: bool = False) -> Any:
        import duckdb

        return (connection or duckdb).from_arrow(self.read_arrow(ref, mask=mask))

    # --- quality ------------------------------------------------------------------------

    def attach_suite(self, name: str, suite: Suite | None) -> None:
        body = {"suite": None if suite is None else suite.to_dict()}
        self._call("PUT", f"/{_segment(name)}/suite", body)

    def validate(self, ref: str | DataRef, suite: Suite | None = None) -> ValidationReport:
        body = {"suite": None if suite is None else suite.to_dict()}
        found = self._call("POST", _version_path(ref) + "/validations", body)
        return ValidationReport.from_dict(found["report"])

    def validations(self, ref: str | DataRef) -> list[ValidationReport]:
        found = self._call("GET", _version_path(ref) + "/validations")["reports"]
        return [ValidationReport.from_dict(r) for r in found]

    def profile(self, ref: str | DataRef) -> Profile:
        return Profile.from_dict(self._call("GET", _version_path(ref) + "/profile")["profile"])

    def infer_suite(self, ref: str | DataRef) -> Suite:
        return Suite.from_dict(self._call("GET", _version_path(ref) + "/suggested-suite")["suite"])

    def diff(
        self, before: str | DataRef, after: str | DataRef, *, keys: Sequence[str] = ()
    ) -> DataDiff:
        old = before if isinstance(before, DataRef) else DataRef.parse(before)
        new = after if isinstance(after, DataRef) else DataRef.parse(after)
        if old.name != new.name:
            raise LoopmlError(
                f"a server diffs versions of one dataset; got {old.name!r} and {new.name!r}"
            )
        params = {"before": old.selector, "after": new.selector, "key": list(keys)}
        found = self._call("GET", f"/{_segment(old.name)}/diff", params=params)
        return DataDiff.from_dict(found["diff"])


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(UPLOAD_CHUNK):
            yield chunk
