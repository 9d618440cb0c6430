"""What the tracking layer needs from an artifact store, local or remote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from loopml.artifacts.entities import ArtifactEntry, FileInfo
from loopml.artifacts.store import Payload


class ArtifactRepository(Protocol):
    def put(
        self, path: str, data: Payload, *, expected_sha256: str | None = None
    ) -> ArtifactEntry: ...
    def get_bytes(self, path: str) -> bytes: ...
    def iter_bytes(self, path: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...
    def exists(self, path: str) -> bool: ...
    def list(self, prefix: str = "") -> list[FileInfo]: ...
    def delete(self, path: str) -> int: ...
