"""One path-safety check for every user-supplied artifact path.

A path from a user is relative to some root and must never leave it. The check
runs on the fully decoded text (``%2e%2e`` and double-encoded ``%252e%252e``
alike), rejects anything a filesystem or URL parser could read two ways, and
``resolve_under`` additionally follows symlinks on disk.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from urllib.parse import unquote

from loopml.core.errors import InvalidParameter

_MAX_DECODE_ROUNDS = 5
_FORBIDDEN_CHARS = {"\\": "a backslash", "#": "'#'", "?": "'?'", ";": "';'"}


def _fully_decoded(path: str) -> str:
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            return decoded
        path = decoded
    raise InvalidParameter(f"path {path!r} is percent-encoded too many times")


def safe_relpath(path: str, *, field: str = "path", allow_empty: bool = True) -> str:
    """Return ``path`` normalised as a relative POSIX path, or raise.

    Raises:
        InvalidParameter: naming ``field`` and the reason, for absolute paths,
            ``..`` segments, control characters, backslashes and URL tricks.
    """
    decoded = _fully_decoded(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in decoded):
        raise InvalidParameter(f"{field} {path!r} contains a control character")
    for ch, name in _FORBIDDEN_CHARS.items():
        if ch in decoded:
            raise InvalidParameter(f"{field} {path!r} contains {name}")
    if decoded.startswith("/") or (len(decoded) > 1 and decoded[1] == ":"):
        raise InvalidParameter(f"{field} {path!r} must be relative, not absolute")
    parts = [p for p in decoded.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidParameter(f"{field} {path!r} must not contain '..'")
    normalised = posixpath.join(*parts) if parts else ""
    if not normalised and not allow_empty:
        raise InvalidParameter(f"{field} must not be empty")
    return normalised


def resolve_under(root: str | os.PathLike[str], path: str, *, field: str = "path") -> Path:
    """Join a user path onto a local ``root`` and prove, after symlinks, it stays inside."""
    base = Path(root).resolve()
    candidate = (base / safe_relpath(path, field=field)).resolve()
    if candidate != base and base not in candidate.parents:
        raise InvalidParameter(f"{field} {path!r} resolves outside its root")
    return candidate
