"""A content-addressed artifact store over fsspec: a local directory or an object store.

Content is kept once, under its sha256; a logical path is a tiny JSON pointer to
it. Writes stream into ``tmp/`` while hashing and are then renamed (on object
stores, copied) into place, so a reader sees a whole artifact or none, a crash
leaves only garbage in ``tmp/``, and identical files share one blob.

Layout under the root::

    blobs/sha256/<hex[:2]>/<hex[2:4]>/<hex>   immutable content
    refs/<logical path>                       {"sha256": "<hex>", "size": <bytes>}
    tmp/<id>                                  writes in flight
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import posixpath
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeAlias, cast, runtime_checkable

from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from loopml.artifacts.entities import ArtifactEntry, FileInfo
from loopml.core.errors import InvalidParameter, InvalidState, ResourceNotFound
from loopml.core.ids import new_id
from loopml.core.paths import resolve_under, safe_relpath

CHUNK_SIZE = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BytesLike: TypeAlias = bytes | bytearray | memoryview


@runtime_checkable
class Readable(Protocol):
    """A binary file opened for reading (``open(..., "rb")``, ``io.BytesIO``, ...)."""

    def read(self, size: int = -1, /) -> bytes: ...


Payload: TypeAlias = _BytesLike | Readable | Iterable[_BytesLike]


@dataclass(frozen=True)
class _Location:
    fs: AbstractFileSystem
    base: str
    local: bool

    def join(self, *parts: str) -> str:
        return "/".join([self.base, *(part for part in parts if part)])


class ArtifactStore:
    """Artifact files by logical path, stored once per distinct content.

    A logical path is a relative POSIX path such as
    ``"12/<run id>/artifacts/model/model.pkl"``. Listings return full logical
    paths (not paths relative to the listed prefix), as MLflow's
    ``list_artifacts`` does when the store root is the artifact root.

    Args:
        root: a local directory or an fsspec URL (``file://...``, ``s3://bucket/prefix``).
        storage_options: passed to the fsspec filesystem (credentials, endpoint).
    """

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root
        self.storage_options = dict(storage_options or {})

    def __repr__(self) -> str:
        return f"ArtifactStore(root={self.root!r})"

    @cached_property
    def _location(self) -> _Location:
        options = dict(self.storage_options)
        if "://" in self.root and not self.root.startswith(("file://", "local://")):
            # Other processes write to a shared object store: a cached listing would hide them.
            options.setdefault("use_listings_cache", False)
        fs, base = url_to_fs(self.root, **options)
        if isinstance(fs, LocalFileSystem):
            return _Location(fs, Path(base).resolve().as_posix(), local=True)
        return _Location(fs, base.rstrip("/"), local=False)

    def put(self, path: str, data: Payload, *, expected_sha256: str | None = None) -> ArtifactEntry:
        """Store ``data`` at ``path``, replacing any artifact already there.

        Args:
            path: the logical path.
            data: bytes, a binary file object, or an iterable of bytes chunks; read once.
            expected_sha256: when given, content that hashes otherwise is not stored.

        Returns:
            The stored entry, with the content's sha256 and size.

        Raises:
            InvalidParameter: an unsafe path, a path that clashes with a directory or
                a file, data that is not bytes, or a sha256 mismatch.
        """
        logical = _logical(path)
        ref = self._ref(logical)
        expected = _expected_sha256(expected_sha256)
        chunks = _chunks(data)
        self._check_writable(logical, ref)
        sha256, size = self._write_blob(chunks, expected)
        entry = ArtifactEntry(logical, sha256, size)
        self._write_ref(ref, entry)
        return entry

    def adopt(self, path: str, file: Path) -> ArtifactEntry:
        """Store the private file ``file`` at ``path`` by moving it in: no second copy.

        For large files written just before (a dataset snapshot). ``file`` is gone
        afterwards. On a remote store, or another filesystem, it is streamed as
        :meth:`put` would and then removed.
        """
        logical = _logical(path)
        ref = self._ref(logical)
        self._check_writable(logical, ref)
        location = self._location
        tmp = location.join("tmp", new_id())
        if not location.local or not _same_device(file, posixpath.dirname(tmp)):
            with file.open("rb") as handle:
                entry = self.put(path, handle)
            file.unlink()
            return entry
        try:
            os.replace(file, tmp)
            sha256, size = _hash_and_sync(tmp)
            self._commit_blob(tmp, self._blob(sha256))
        except BaseException:
            self._discard(tmp)
            raise
        entry = ArtifactEntry(logical, sha256, size)
        self._write_ref(ref, entry)
        return entry

    def open(self, path: str) -> BinaryIO:
        """Open the artifact's content for reading; the caller closes it."""
        return self._open_blob(self.stat(path))

    def local_file(self, path: str) -> Path | None:
        """The artifact's content as a local file (read-only!), or None on a remote store.

        Lets engines that scan files themselves (DuckDB, Arrow) skip a copy.
        """
        entry = self.stat(path)
        if not self._location.local:
            return None
        return Path(self._blob(entry.sha256))

    def iter_bytes(self, path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Stream the artifact's content, so large files never sit whole in memory."""
        if chunk_size < 1:
            raise InvalidParameter(f"chunk_size must be positive, got {chunk_size}")
        return self._blob_chunks(self.stat(path), chunk_size)

    def get_bytes(self, path: str) -> bytes:
        with self._open_blob(self.stat(path)) as handle:
            return handle.read()

    def stat(self, path: str) -> ArtifactEntry:
        """Return the artifact's entry; raises ResourceNotFound if it does not exist."""
        logical = _logical(path)
        ref = self._ref(logical)
        try:
            raw = self._location.fs.cat_file(ref)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ResourceNotFound(f"artifact {logical!r} does not exist") from None
        return _decode_ref(logical, raw)

    def exists(self, path: str) -> bool:
        """Whether ``path`` names an artifact file or a directory holding some."""
        return bool(self._location.fs.exists(self._ref(_logical(path))))

    def list(self, prefix: str = "") -> builtins.list[FileInfo]:
        """List one directory level below ``prefix``, sorted by path.

        Directories come back with ``is_dir=True`` and no size. A missing prefix,
        or one that names a file, lists nothing (as in MLflow).
        """
        ref_dir = self._ref(_logical(prefix, allow_empty=True))
        try:
            infos = self._location.fs.ls(ref_dir, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        children = [info for info in infos if info["name"] != ref_dir]
        dirs = [
            FileInfo(self._logical_of(info["name"]), is_dir=True, file_size=None)
            for info in children
            if info.get("type") == "directory"
        ]
        files = [
            FileInfo(entry.path, is_dir=False, file_size=entry.size)
            for entry in self._read_refs([i["name"] for i in children if _is_ref_file(i)])
        ]
        return sorted(dirs + files, key=lambda item: item.path)

    def list_files(self, prefix: str = "") -> builtins.list[ArtifactEntry]:
        """List every artifact file below the directory ``prefix``, sorted by path."""
        ref_dir = self._ref(_logical(prefix, allow_empty=True))
        return self._read_refs(self._find_refs(ref_dir))

    def delete(self, path: str) -> int:
        """Delete an artifact file, or a directory of them; return how many were deleted.

        Content stays in ``blobs/`` until ``gc()``, since other paths may share it.
        """
        logical = _logical(path)
        ref = self._ref(logical)
        fs = self._location.fs
        refs = [ref] if fs.isfile(ref) else self._find_refs(ref)
        if not refs:
            raise ResourceNotFound(f"artifact {logical!r} does not exist")
        for name in refs:
            with suppress(FileNotFoundError):
                fs.rm_file(name)
        if self._location.local:
            _prune_local_dirs(ref, stop=self._location.join("refs"))
        return len(refs)

    def gc(self, *, min_age_s: float = 3600.0) -> int:
        """Remove content no path points to and temp files left by crashed writes.

        Only files older than ``min_age_s`` go, so writes in flight keep their temp
        file and their fresh blob. A put that re-points a path at old, unreferenced
        content while gc runs can lose that content: run gc when writers are quiet.

        Returns:
            How many files were removed.
        """
        live = {entry.sha256 for entry in self.list_files()}
        cutoff = time.time() - min_age_s
        location = self._location
        blobs = location.fs.find(location.join("blobs"), detail=True)
        temps = location.fs.find(location.join("tmp"), detail=True)
        doomed = [
            name
            for name, info in blobs.items()
            if posixpath.basename(name) not in live and _mtime_s(info) <= cutoff
        ]
        doomed += [name for name, info in temps.items() if _mtime_s(info) <= cutoff]
        for name in doomed:
            with suppress(FileNotFoundError):
                location.fs.rm_file(name)
        return len(doomed)

    def _ref(self, logical: str) -> str:
        location = self._location
        if location.local:
            _check_local_ref(location.base, logical)
        return location.join("refs", logical)

    def _blob(self, sha256: str) -> str:
        return self._location.join("blobs", "sha256", sha256[:2], sha256[2:4], sha256)

    def _logical_of(self, ref: str) -> str:
        return ref[len(self._location.join("refs")) + 1 :]

    def _check_writable(self, logical: str, ref: str) -> None:
        """Refuse a path that is a directory or lies inside a file, before writing anything."""
        fs = self._location.fs
        if fs.isdir(ref):
            raise InvalidParameter(f"path {logical!r} is a directory of artifacts")
        parts = logical.split("/")
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            if fs.isfile(self._location.join("refs", ancestor)):
                raise InvalidParameter(f"path {logical!r} lies inside the artifact {ancestor!r}")

    def _write_blob(self, chunks: Iterator[_BytesLike], expected: str | None) -> tuple[str, int]:
        location = self._location
        tmp = location.join("tmp", new_id())
        try:
            if location.local:
                sha256, size = _stream_local(tmp, chunks)
            else:
                sha256, size = _stream_remote(location.fs, tmp, chunks)
            if expected is not None and sha256 != expected:
                raise InvalidParameter(
                    f"expected_sha256 {expected} does not match the content's sha256 {sha256}"
                )
            self._commit_blob(tmp, self._blob(sha256))
        except BaseException:
            self._discard(tmp)
            raise
        return sha256, size

    def _commit_blob(self, tmp: str, blob: str) -> None:
        location = self._location
        if location.local:
            if os.path.exists(blob):
                os.remove(tmp)
                return
            os.makedirs(posixpath.dirname(blob), exist_ok=True)
            os.replace(tmp, blob)
            _fsync_dir(posixpath.dirname(blob))
        elif location.fs.exists(blob):
            location.fs.rm_file(tmp)
        else:
            location.fs.mv(tmp, blob)

    def _write_ref(self, ref: str, entry: ArtifactEntry) -> None:
        payload = json.dumps({"sha256": entry.sha256, "size": entry.size}).encode()
        location = self._location
        if not location.local:
            location.fs.pipe_file(ref, payload)  # one PUT: atomic per object
            return
        tmp = location.join("tmp", new_id())
        try:
            _stream_local(tmp, iter([payload]))
            os.makedirs(posixpath.dirname(ref), exist_ok=True)
            os.replace(tmp, ref)
        except BaseException:
            self._discard(tmp)
            raise
        _fsync_dir(posixpath.dirname(ref))

    def _discard(self, tmp: str) -> None:
        with suppress(FileNotFoundError):
            self._location.fs.rm_file(tmp)

    def _open_blob(self, entry: ArtifactEntry) -> BinaryIO:
        try:
            return cast(BinaryIO, self._location.fs.open(self._blob(entry.sha256), "rb"))
        except FileNotFoundError:
            raise ResourceNotFound(
                f"artifact {entry.path!r} points to missing content sha256:{entry.sha256}"
            ) from None

    def _blob_chunks(self, entry: ArtifactEntry, chunk_size: int) -> Iterator[bytes]:
        with self._open_blob(entry) as handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def _find_refs(self, ref_dir: str) -> builtins.list[str]:
        found = self._location.fs.find(ref_dir, detail=True)
        return [name for name, info in found.items() if _is_ref_file(info)]

    def _read_refs(self, refs: builtins.list[str]) -> builtins.list[ArtifactEntry]:
        """Read many refs at once (concurrently on object stores); skip ones deleted meanwhile."""
        if not refs:
            return []
        contents = self._location.fs.cat_ranges(refs, None, None, on_error="return")
        entries = []
        for ref, raw in zip(refs, contents, strict=True):
            if isinstance(raw, FileNotFoundError):
                continue
            if isinstance(raw, BaseException):
                raise raw
            entries.append(_decode_ref(self._logical_of(ref), raw))
        return entries


def _logical(path: str, *, allow_empty: bool = False) -> str:
    return safe_relpath(path, field="path", allow_empty=allow_empty)


def _check_local_ref(base: str, logical: str) -> None:
    """Prove, after symlinks, that a ref stays in ``refs/``: a planted link must not lead out."""
    refs_dir = Path(base, "refs")
    if refs_dir.is_symlink():
        raise InvalidParameter(f"path {logical!r} resolves outside its root: refs/ is a symlink")
    resolve_under(refs_dir, logical, field="path")


def _expected_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    if not _SHA256.fullmatch(value.lower()):
        raise InvalidParameter(f"expected_sha256 {value!r} is not a hex sha256 digest")
    return value.lower()


def _chunks(data: Payload) -> Iterator[_BytesLike]:
    """Turn any accepted payload into byte chunks, refusing text before anything is written."""
    if isinstance(data, bytes | bytearray | memoryview):
        return iter([data])
    if isinstance(data, str):
        raise InvalidParameter("data must be bytes, a binary file or an iterable of bytes, not str")
    if isinstance(data, Readable):
        reader = data
        return iter(lambda: reader.read(CHUNK_SIZE), b"")
    return iter(data)


def _copy(chunks: Iterator[_BytesLike], write: Callable[[_BytesLike], object]) -> tuple[str, int]:
    """Write chunks while hashing them: one pass, whatever the size."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise InvalidParameter(f"data must yield bytes, got {type(chunk).__name__}")
        digest.update(chunk)
        write(chunk)
        size += memoryview(chunk).nbytes
    return digest.hexdigest(), size


def _same_device(file: Path, directory: str) -> bool:
    os.makedirs(directory, exist_ok=True)
    return os.stat(file).st_dev == os.stat(directory).st_dev


def _hash_and_sync(tmp: str) -> tuple[str, int]:
    """Hash a file already in place and make it durable (before it is renamed into view)."""
    os.chmod(tmp, 0o600)
    with open(tmp, "rb+") as handle:
        digest = hashlib.file_digest(handle, "sha256")
        os.fsync(handle.fileno())
        return digest.hexdigest(), handle.tell()


def _stream_local(tmp: str, chunks: Iterator[_BytesLike]) -> tuple[str, int]:
    """Write a private temp file and make it durable before anyone can rename it into view."""
    os.makedirs(posixpath.dirname(tmp), exist_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        result = _copy(chunks, handle.write)
        handle.flush()
        os.fsync(handle.fileno())
    return result


def _stream_remote(
    fs: AbstractFileSystem, tmp: str, chunks: Iterator[_BytesLike]
) -> tuple[str, int]:
    handle = fs.open(tmp, "wb")
    try:
        result = _copy(chunks, handle.write)
    except BaseException:
        _abandon(handle)
        raise
    handle.close()
    return result


def _abandon(handle: Any) -> None:
    """Drop a half-written remote file: closing it would upload the partial content."""
    if isinstance(handle, AbstractBufferedFile):
        handle.discard()
        handle.closed = True
    else:
        handle.close()


def _fsync_dir(path: str) -> None:
    """Make a rename durable: a new directory entry survives a crash once its dir is synced."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _prune_local_dirs(path: str, *, stop: str) -> None:
    """Remove directories a delete emptied, so local listings match object stores."""
    if os.path.isdir(path) and not os.path.islink(path):
        for current, _, _ in os.walk(path, topdown=False):
            with suppress(OSError):
                os.rmdir(current)
    parent = posixpath.dirname(path)
    while parent.startswith(stop + "/"):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = posixpath.dirname(parent)


def _decode_ref(logical: str, raw: bytes) -> ArtifactEntry:
    try:
        doc = json.loads(raw)
        sha256, size = doc["sha256"], doc["size"]
    except (ValueError, TypeError, KeyError):
        sha256 = size = None
    valid_sha = isinstance(sha256, str) and _SHA256.fullmatch(sha256)
    if not valid_sha or type(size) is not int or size < 0:
        raise InvalidState(f"artifact {logical!r} has a corrupt reference")
    return ArtifactEntry(logical, cast(str, sha256), size)


def _is_ref_file(info: dict[str, Any]) -> bool:
    """Regular files only: a symlink planted under refs/ is never listed or followed."""
    return info.get("type") == "file" and not info.get("islink", False)


def _mtime_s(info: dict[str, Any]) -> float:
    """Modification time in epoch seconds; unknown counts as now, so the file is kept."""
    value = info.get("mtime", info.get("LastModified"))
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return time.time()
