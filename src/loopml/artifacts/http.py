"""Artifacts through a server's ``mlflow-artifacts`` proxy, for remote clients.

Same logical paths as :class:`ArtifactStore`; uploads stream (the server
hashes while it writes), listings come back as full logical paths.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import httpx

from loopml.artifacts.entities import ArtifactEntry, FileInfo
from loopml.artifacts.store import Payload
from loopml.core.errors import InvalidParameter, ResourceNotFound
from loopml.core.http import ServerConnection, raise_for_error
from loopml.core.paths import safe_relpath

PROXY_PATH = "/api/2.0/mlflow-artifacts/artifacts"
_CHUNK = 1 << 20


def _chunks(data: Payload) -> Iterable[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return [bytes(data)]
    if hasattr(data, "read"):
        reader: Any = data
        return iter(lambda: bytes(reader.read(_CHUNK)), b"")
    return (bytes(chunk) for chunk in data)


class HttpArtifactStore(ServerConnection):
    """Artifacts on a loopml server, or an MLflow server run with ``--serve-artifacts``."""

    def __init__(self, base_url: str, http: httpx.Client | None = None) -> None:
        super().__init__(base_url, timeout_s=120.0, http=http)

    def _url(self, path: str) -> str:
        return f"{PROXY_PATH}/{safe_relpath(path, allow_empty=False)}"

    def put(self, path: str, data: Payload, *, expected_sha256: str | None = None) -> ArtifactEntry:
        digest, size = hashlib.sha256(), 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for chunk in _chunks(data):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        raise_for_error(self.http.put(self._url(path), content=counted()))
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and expected_sha256 != sha256:
            self.delete(path)
            raise InvalidParameter(f"content of {path!r} does not match expected sha256")
        return ArtifactEntry(safe_relpath(path), sha256, size)

    def iter_bytes(self, path: str, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        with self.http.stream("GET", self._url(path)) as response:
            if response.status_code == 404:
                raise ResourceNotFound(f"artifact {path!r} does not exist")
            raise_for_error(response)
            yield from response.iter_bytes(chunk_size)

    def get_bytes(self, path: str) -> bytes:
        return b"".join(self.iter_bytes(path))

    def exists(self, path: str) -> bool:
        try:
            for _ in self.iter_bytes(path):
                break
        except ResourceNotFound:
            return bool(self.list(path))
        return True

    def list(self, prefix: str = "") -> builtins.list[FileInfo]:
        base = safe_relpath(prefix)
        response = self.http.get(PROXY_PATH, params={"path": base} if base else None)
        raise_for_error(response)
        files = response.json().get("files", [])
        return [
            FileInfo(
                f"{base}/{f['path']}" if base else f["path"],
                bool(f.get("is_dir", False)),
                None if f.get("is_dir") else int(f.get("file_size", 0)),
            )
            for f in files
        ]

    def delete(self, path: str) -> int:
        raise_for_error(self.http.delete(self._url(path)))
        return 1
