"""Integrity manifests: every file of a model directory with its sha256 and size.

``load_model`` verifies a manifest before it deserializes anything, so a changed,
missing or added file is caught before any model byte is trusted. The manifest
file itself and a signature file are not listed (the signature covers the manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from loopml.core.errors import InvalidParameter, ModelIntegrityError
from loopml.models.entities import FileDigest, Manifest

MANIFEST_FILE = "loopml-manifest.json"
SIGNATURE_FILE = "model.sig"
#: Files never listed in a manifest: the manifest itself and the detached signature.
UNLISTED_FILES = frozenset({MANIFEST_FILE, SIGNATURE_FILE})
_CHUNK = 1 << 20


def _file_digest(path: Path) -> FileDigest:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return FileDigest(digest.hexdigest(), size)


def _listed_files(root: Path) -> list[str]:
    """Relative POSIX paths of every regular file under ``root``; symlinks are refused."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            if (base / name).is_symlink():
                rel = (base / name).relative_to(root).as_posix()
                raise ModelIntegrityError(f"model file {rel!r} is a symlink; symlinks are refused")
        for name in filenames:
            rel = (base / name).relative_to(root).as_posix()
            if rel not in UNLISTED_FILES:
                found.append(rel)
    return sorted(found)


def build_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Hash every file of the model directory ``path`` (nothing is written).

    Raises:
        InvalidParameter: ``path`` is not a directory.
        ModelIntegrityError: the directory holds a symlink.
    """
    root = Path(path)
    if not root.is_dir():
        raise InvalidParameter(f"model path {str(root)!r} is not a directory")
    return Manifest(files={rel: _file_digest(root / rel) for rel in _listed_files(root)})


def write_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Build the manifest of ``path`` and write it as ``loopml-manifest.json`` there.

    Use it to adopt a directory loopml did not write (one the mlflow client logged);
    it pins the files as they are now, so only call it on files you trust.
    """
    manifest = build_manifest(path)
    target = Path(path) / MANIFEST_FILE
    tmp = target.with_name(f".{MANIFEST_FILE}.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=1, sort_keys=True))
    os.replace(tmp, target)
    return manifest


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read ``loopml-manifest.json`` from a model directory.

    Raises:
        ModelIntegrityError: there is none (telling how to make one) or it is unreadable.
    """
    source = Path(path) / MANIFEST_FILE
    if not source.is_file():
        raise ModelIntegrityError(
            f"model directory {str(path)!r} has no {MANIFEST_FILE}; call "
            "loopml.models.write_manifest(path) on files you trust, or register the model"
        )
    try:
        return Manifest.from_dict(json.loads(source.read_text()))
    except (ValueError, InvalidParameter) as exc:
        raise ModelIntegrityError(f"{MANIFEST_FILE} in {str(path)!r} is unreadable: {exc}") from exc


def verify_manifest(path: str | os.PathLike[str], manifest: Manifest) -> None:
    """Prove the directory ``path`` holds exactly the files of ``manifest``, byte for byte.

    Raises:
        ModelIntegrityError: naming the first file that is missing, extra or different.
    """
    root = Path(path)
    if not root.is_dir():
        raise ModelIntegrityError(f"model directory {str(root)!r} does not exist")
    present = set(_listed_files(root))
    for rel in sorted(manifest.files):
        if rel not in present:
            raise ModelIntegrityError(f"model file {rel!r} is listed in the manifest but missing")
    for rel in sorted(present):
        if rel not in manifest.files:
            raise ModelIntegrityError(f"model file {rel!r} is not in the manifest (extra file)")
    for rel in sorted(manifest.files):
        expected = manifest.files[rel]
        actual = _file_digest(root / rel)
        if actual.size != expected.size or actual.sha256 != expected.sha256:
            raise ModelIntegrityError(
                f"model file {rel!r} has changed: sha256 {actual.sha256} != {expected.sha256}"
            )
