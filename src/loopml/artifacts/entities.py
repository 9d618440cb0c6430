"""Artifact store entities. No I/O here.

``FileInfo`` mirrors the item of MLflow's ``list-artifacts`` response, so the
server returns it with no renaming.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArtifactEntry:
    """A stored artifact file: its logical path and the content it points to."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FileInfo:
    """One item of a directory listing; directories have no size."""

    path: str
    is_dir: bool
    file_size: int | None
