"""Path safety: every way to climb out of a root is refused, and accepted paths stay inside."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidParameter
from loopml.core.paths import resolve_under, safe_relpath

ESCAPES = [
    pytest.param("..", "must not contain '..'", id="dotdot"),
    pytest.param("../x", "must not contain '..'", id="dotdot-prefix"),
    pytest.param("a/../../x", "must not contain '..'", id="inner-dotdot"),
    pytest.param("a/..", "must not contain '..'", id="trailing-dotdot"),
    pytest.param("/etc/passwd", "must be relative", id="absolute"),
    pytest.param("//server/share", "must be relative", id="double-slash"),
    pytest.param("C:/Windows", "must be relative", id="drive-letter"),
    pytest.param("%2e%2e/x", "must not contain '..'", id="encoded-dotdot"),
    pytest.param("%2E%2E/x", "must not contain '..'", id="encoded-dotdot-upper"),
    pytest.param("%252e%252e/x", "must not contain '..'", id="double-encoded-dotdot"),
    pytest.param("%25252e%25252e/x", "must not contain '..'", id="triple-encoded-dotdot"),
    pytest.param("%2fetc/passwd", "must be relative", id="encoded-slash"),
    pytest.param("%2525252525252e", "percent-encoded too many times", id="encoded-too-deep"),
    pytest.param("a\\b", "contains a backslash", id="backslash"),
    pytest.param("..\\x", "contains a backslash", id="backslash-dotdot"),
    pytest.param("%5c..%5cx", "contains a backslash", id="encoded-backslash"),
    pytest.param("a#b", "contains '#'", id="hash"),
    pytest.param("a?b", "contains '\\?'", id="question-mark"),
    pytest.param("a;b", "contains ';'", id="semicolon"),
    pytest.param("a%3bb", "contains ';'", id="encoded-semicolon"),
    pytest.param("a\x00b", "control character", id="nul"),
    pytest.param("a%00b", "control character", id="encoded-nul"),
    pytest.param("a\nb", "control character", id="newline"),
    pytest.param("a\tb", "control character", id="tab"),
    pytest.param("a\x1fb", "control character", id="unit-separator"),
    pytest.param("a\x7fb", "control character", id="delete"),
]


@pytest.mark.parametrize(("path", "reason"), ESCAPES)
def test_safe_relpath_refuses(path: str, reason: str) -> None:
    with pytest.raises(InvalidParameter, match=reason):
        safe_relpath(path)


@pytest.mark.parametrize(("path", "reason"), ESCAPES)
def test_resolve_under_refuses(path: str, reason: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match=reason):
        resolve_under(tmp_path, path)


def test_the_message_names_the_field() -> None:
    with pytest.raises(InvalidParameter, match=r"^artifact_path '\.\./x' must not contain"):
        safe_relpath("../x", field="artifact_path")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a/b/c.txt", "a/b/c.txt"),
        ("./a//b/./c", "a/b/c"),
        ("a/", "a"),
        ("a%20b/c", "a b/c"),
        ("...", "..."),
        ("model.v1..pkl", "model.v1..pkl"),
        ("100%.txt", "100%.txt"),
        ("", ""),
        (".", ""),
    ],
)
def test_safe_relpath_normalises(path: str, expected: str) -> None:
    assert safe_relpath(path) == expected


def test_empty_is_refused_when_not_allowed() -> None:
    with pytest.raises(InvalidParameter, match="path must not be empty"):
        safe_relpath("./", allow_empty=False)


def test_resolve_under_joins_inside_the_root(tmp_path: Path) -> None:
    assert resolve_under(tmp_path, "a/b.txt") == tmp_path.resolve() / "a" / "b.txt"
    assert resolve_under(tmp_path, "") == tmp_path.resolve()


def test_resolve_under_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("s")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file-link").symlink_to(outside / "secret")
    for path in ("link", "link/secret", "file-link"):
        with pytest.raises(InvalidParameter, match="resolves outside its root"):
            resolve_under(root, path)


def test_resolve_under_follows_a_symlink_that_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert resolve_under(tmp_path, "alias/x") == tmp_path.resolve() / "real" / "x"


# Random paths, weighted towards the characters that make escapes.
_TRICKY = st.text(alphabet=st.sampled_from(list("./\\%25eEcC3bB0a:;#?~ \x00\n")), max_size=24)
_PATHS = st.one_of(_TRICKY, st.text(max_size=24))


@settings(max_examples=300, deadline=None)
@given(_PATHS)
def test_accepted_paths_never_climb_or_start_at_the_root(path: str) -> None:
    try:
        safe = safe_relpath(path)
    except InvalidParameter:
        return
    segments = safe.split("/")
    assert ".." not in segments
    assert not safe.startswith("/")
    assert safe == "" or ("" not in segments and "." not in segments)
    assert not any(ord(ch) < 32 or ch == "\\" for ch in safe)
    assert safe_relpath(safe) == safe, "a safe path is a fixed point"
    assert posixpath.normpath(safe or ".") == (safe or ".")


@settings(max_examples=100, deadline=None)
@given(_PATHS)
def test_accepted_paths_resolve_inside_the_root(path: str) -> None:
    root = Path(os.sep, "srv", "loopml-root")  # nothing on disk: no symlinks to follow
    try:
        resolved = resolve_under(root, path)
    except InvalidParameter:
        return
    assert resolved == root or root in resolved.parents
