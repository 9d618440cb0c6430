"""Artifact store: content-addressed blobs over fsspec (a local directory or S3)."""

from __future__ import annotations

from loopml.artifacts.entities import ArtifactEntry, FileInfo
from loopml.artifacts.store import ArtifactStore, Payload

__all__ = ["ArtifactEntry", "ArtifactStore", "FileInfo", "Payload"]
