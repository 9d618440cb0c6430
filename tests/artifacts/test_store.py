"""ArtifactStore behaviour, run against a local directory here and against S3 in test_s3.py.

``StoreBehaviour`` holds the shared assertions; each backend module subclasses it
and supplies two fixtures: ``store`` and ``raw`` (direct access to the stored
objects, to check what is and is not on disk).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, cast

import pytest

from loopml.artifacts import ArtifactEntry, ArtifactStore, FileInfo, Payload
from loopml.core.errors import InvalidParameter, InvalidState, ResourceNotFound

DATA = random.Random(0).randbytes(2_500_000)

BAD_PATHS = [
    pytest.param("../x", "must not contain '..'", id="dotdot"),
    pytest.param("/etc/passwd", "must be relative", id="absolute"),
    pytest.param("a/../../x", "must not contain '..'", id="inner-dotdot"),
    pytest.param("%2e%2e/x", "must not contain '..'", id="encoded"),
    pytest.param("%252e%252e/x", "must not contain '..'", id="double-encoded"),
    pytest.param("a\\b", "contains a backslash", id="backslash"),
    pytest.param("a\x00b", "contains a control character", id="nul"),
]

OPERATIONS: dict[str, Callable[[ArtifactStore, str], object]] = {
    "put": lambda store, path: store.put(path, b"payload"),
    "open": lambda store, path: store.open(path),
    "iter_bytes": lambda store, path: store.iter_bytes(path),
    "get_bytes": lambda store, path: store.get_bytes(path),
    "stat": lambda store, path: store.stat(path),
    "exists": lambda store, path: store.exists(path),
    "list": lambda store, path: store.list(path),
    "list_files": lambda store, path: store.list_files(path),
    "delete": lambda store, path: store.delete(path),
}


class RawAccess(Protocol):
    """The objects under a store's root, bypassing the store."""

    def stored(self) -> list[str]: ...

    def write(self, key: str, data: bytes) -> None: ...


def _blob_keys(raw: RawAccess) -> list[str]:
    return [key for key in raw.stored() if key.startswith("blobs/")]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _failing_chunks() -> Iterator[bytes]:
    yield b"a" * 1000
    yield b"b" * 1000
    raise RuntimeError("disk on fire")


class StoreBehaviour:
    """Assertions every ArtifactStore backend must pass."""

    @pytest.mark.parametrize(
        "make_payload",
        [
            pytest.param(lambda: DATA, id="bytes"),
            pytest.param(lambda: bytearray(DATA), id="bytearray"),
            pytest.param(lambda: memoryview(DATA), id="memoryview"),
            pytest.param(lambda: io.BytesIO(DATA), id="file"),
            pytest.param(lambda: (DATA[i : i + 7000] for i in range(0, len(DATA), 7000)), id="gen"),
            pytest.param(lambda: [DATA[:10], b"", DATA[10:]], id="list"),
        ],
    )
    def test_round_trip(self, store: ArtifactStore, make_payload: Callable[[], Payload]) -> None:
        entry = store.put("run/model/model.pkl", make_payload())

        assert entry == ArtifactEntry("run/model/model.pkl", _sha(DATA), len(DATA))
        assert store.get_bytes("run/model/model.pkl") == DATA
        with store.open("run/model/model.pkl") as handle:
            assert handle.read() == DATA
        chunks = list(store.iter_bytes("run/model/model.pkl", chunk_size=1 << 20))
        assert len(chunks) == 3
        assert b"".join(chunks) == DATA

    def test_empty_file(self, store: ArtifactStore) -> None:
        assert store.put("empty", b"").size == 0
        assert store.get_bytes("empty") == b""

    def test_stat_sha_matches_hashlib(self, store: ArtifactStore) -> None:
        store.put("a/b.txt", b"hello")
        assert store.stat("a/b.txt") == ArtifactEntry("a/b.txt", _sha(b"hello"), 5)

    def test_path_is_normalised(self, store: ArtifactStore) -> None:
        assert store.put("./a//b/", b"x").path == "a/b"
        assert store.get_bytes("a/b") == b"x"

    def test_identical_content_shares_one_blob(self, store: ArtifactStore, raw: RawAccess) -> None:
        first = store.put("run1/model.pkl", b"same")
        second = store.put("run2/model.pkl", b"same")
        store.put("run3/other.pkl", b"different")

        assert first.sha256 == second.sha256
        assert len(_blob_keys(raw)) == 2
        assert f"blobs/sha256/{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}" in raw.stored()

    def test_overwrite_replaces_content(self, store: ArtifactStore) -> None:
        store.put("metrics.json", b"one")
        store.put("metrics.json", b"two")
        assert store.get_bytes("metrics.json") == b"two"
        assert store.stat("metrics.json").sha256 == _sha(b"two")

    def test_list_one_level_with_full_logical_paths(self, store: ArtifactStore) -> None:
        store.put("run/model/model.pkl", b"12345")
        store.put("run/model/MLmodel", b"flavors")
        store.put("run/metrics.json", b"{}")

        assert store.list() == [FileInfo("run", is_dir=True, file_size=None)]
        assert store.list("run") == [
            FileInfo("run/metrics.json", is_dir=False, file_size=2),
            FileInfo("run/model", is_dir=True, file_size=None),
        ]
        assert store.list("run/model/") == [
            FileInfo("run/model/MLmodel", is_dir=False, file_size=7),
            FileInfo("run/model/model.pkl", is_dir=False, file_size=5),
        ]

    def test_list_of_a_file_or_missing_prefix_is_empty(self, store: ArtifactStore) -> None:
        store.put("run/metrics.json", b"{}")
        assert store.list("run/metrics.json") == []
        assert store.list("missing") == []
        assert store.list_files("missing") == []

    def test_list_files_is_recursive_and_sorted(self, store: ArtifactStore) -> None:
        store.put("run/z.txt", b"z")
        store.put("run/model/deep/weights.bin", b"www")
        store.put("other/a.txt", b"a")

        assert store.list_files("run") == [
            ArtifactEntry("run/model/deep/weights.bin", _sha(b"www"), 3),
            ArtifactEntry("run/z.txt", _sha(b"z"), 1),
        ]
        assert [entry.path for entry in store.list_files()] == [
            "other/a.txt",
            "run/model/deep/weights.bin",
            "run/z.txt",
        ]

    def test_names_with_glob_characters_are_literal(self, store: ArtifactStore) -> None:
        store.put("run/model[1].pkl", b"one")
        store.put("run/a*b", b"star")
        store.put("run/model1.pkl", b"decoy")

        assert store.get_bytes("run/model[1].pkl") == b"one"
        assert [info.path for info in store.list("run")] == [
            "run/a*b",
            "run/model1.pkl",
            "run/model[1].pkl",
        ]
        assert store.delete("run/model[1].pkl") == 1
        assert store.get_bytes("run/model1.pkl") == b"decoy"

    def test_exists(self, store: ArtifactStore) -> None:
        store.put("run/model/model.pkl", b"x")
        assert store.exists("run/model/model.pkl")
        assert store.exists("run/model")
        assert not store.exists("run/missing.pkl")

    def test_delete_file_keeps_shared_content(self, store: ArtifactStore) -> None:
        store.put("run1/model.pkl", b"same")
        store.put("run2/model.pkl", b"same")

        assert store.delete("run1/model.pkl") == 1
        assert not store.exists("run1/model.pkl")
        assert store.list() == [FileInfo("run2", is_dir=True, file_size=None)]
        assert store.get_bytes("run2/model.pkl") == b"same"

    def test_delete_directory_is_recursive(self, store: ArtifactStore) -> None:
        store.put("run/model/model.pkl", b"m")
        store.put("run/model/deep/x.bin", b"x")
        store.put("run/metrics.json", b"{}")

        assert store.delete("run/model") == 2
        assert store.list("run") == [FileInfo("run/metrics.json", is_dir=False, file_size=2)]
        assert not store.exists("run/model")

    def test_delete_missing_raises(self, store: ArtifactStore) -> None:
        with pytest.raises(ResourceNotFound, match="artifact 'nope/x' does not exist"):
            store.delete("nope/x")

    @pytest.mark.parametrize("operation", ["open", "iter_bytes", "get_bytes", "stat"])
    def test_reading_missing_path_raises(self, store: ArtifactStore, operation: str) -> None:
        store.put("run/model/model.pkl", b"x")
        for missing in ("run/missing.pkl", "run/model"):
            with pytest.raises(
                ResourceNotFound, match=re.escape(f"artifact '{missing}' does not exist")
            ):
                OPERATIONS[operation](store, missing)

    @pytest.mark.parametrize("operation", sorted(OPERATIONS))
    @pytest.mark.parametrize(("path", "reason"), BAD_PATHS)
    def test_unsafe_paths_are_refused_before_any_write(
        self, store: ArtifactStore, raw: RawAccess, operation: str, path: str, reason: str
    ) -> None:
        with pytest.raises(InvalidParameter, match=f"^path .* {re.escape(reason)}"):
            OPERATIONS[operation](store, path)
        assert raw.stored() == []

    @pytest.mark.parametrize("operation", ["put", "open", "stat", "exists", "delete"])
    def test_empty_path_is_refused(self, store: ArtifactStore, operation: str) -> None:
        with pytest.raises(InvalidParameter, match="path must not be empty"):
            OPERATIONS[operation](store, "./")

    def test_failure_mid_stream_leaves_nothing_visible(
        self, store: ArtifactStore, raw: RawAccess
    ) -> None:
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.put("run/model.pkl", _failing_chunks())

        assert not store.exists("run/model.pkl")
        assert store.list_files() == []
        assert raw.stored() == []

    def test_failure_mid_stream_keeps_the_previous_version(self, store: ArtifactStore) -> None:
        store.put("run/model.pkl", b"v1")
        with pytest.raises(RuntimeError, match="disk on fire"):
            store.put("run/model.pkl", _failing_chunks())
        assert store.get_bytes("run/model.pkl") == b"v1"

    def test_expected_sha256_mismatch_writes_nothing(
        self, store: ArtifactStore, raw: RawAccess
    ) -> None:
        with pytest.raises(InvalidParameter, match=r"expected_sha256 0{64} does not match"):
            store.put("run/model.pkl", b"content", expected_sha256="0" * 64)
        assert not store.exists("run/model.pkl")
        assert raw.stored() == []

    def test_expected_sha256_match_is_stored(self, store: ArtifactStore) -> None:
        entry = store.put("m.pkl", b"content", expected_sha256=_sha(b"content").upper())
        assert entry.sha256 == _sha(b"content")

    def test_malformed_expected_sha256_is_refused(self, store: ArtifactStore) -> None:
        with pytest.raises(InvalidParameter, match="expected_sha256 'abc' is not a hex sha256"):
            store.put("m.pkl", b"content", expected_sha256="abc")

    def test_text_is_refused(self, store: ArtifactStore, raw: RawAccess) -> None:
        with pytest.raises(InvalidParameter, match=r"data must be bytes.*not str"):
            store.put("notes.txt", cast(Any, "text"))
        with pytest.raises(InvalidParameter, match="data must yield bytes, got str"):
            store.put("notes.txt", cast(Any, ["text"]))
        assert raw.stored() == []

    def test_path_clashing_with_directory_or_file_is_refused(self, store: ArtifactStore) -> None:
        store.put("run/model/model.pkl", b"x")
        with pytest.raises(InvalidParameter, match="path 'run/model' is a directory"):
            store.put("run/model", b"y")
        with pytest.raises(
            InvalidParameter, match=r"lies inside the artifact 'run/model/model\.pkl'"
        ):
            store.put("run/model/model.pkl/extra", b"y")

    def test_iter_bytes_refuses_bad_chunk_size(self, store: ArtifactStore) -> None:
        store.put("a", b"x")
        with pytest.raises(InvalidParameter, match="chunk_size must be positive"):
            store.iter_bytes("a", chunk_size=0)

    def test_corrupt_ref_is_reported(self, store: ArtifactStore, raw: RawAccess) -> None:
        raw.write("refs/bad", b'{"sha256": "../../etc/passwd", "size": 1}')
        with pytest.raises(InvalidState, match="artifact 'bad' has a corrupt reference"):
            store.get_bytes("bad")

    def test_gc_removes_unreferenced_content_and_stale_temp_files(
        self, store: ArtifactStore, raw: RawAccess
    ) -> None:
        store.put("model.pkl", b"v1")
        store.put("model.pkl", b"v2")
        store.put("copy.pkl", b"v2")
        raw.write("tmp/left-by-a-crash", b"partial")

        assert store.gc() == 0  # everything is younger than an hour
        assert store.gc(min_age_s=0) == 2
        assert len(_blob_keys(raw)) == 1
        assert [key for key in raw.stored() if key.startswith("tmp/")] == []
        assert store.get_bytes("model.pkl") == b"v2"


class _LocalRaw:
    def __init__(self, root: Path) -> None:
        self.root = root

    def stored(self) -> list[str]:
        if not self.root.exists():
            return []
        found = (p for p in self.root.rglob("*") if p.is_file() or p.is_symlink())
        return sorted(p.relative_to(self.root).as_posix() for p in found)

    def write(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def store(root: Path) -> ArtifactStore:
    return ArtifactStore(str(root))


@pytest.fixture
def raw(root: Path) -> _LocalRaw:
    return _LocalRaw(root)


class TestLocalStore(StoreBehaviour):
    pass


def test_constructor_touches_nothing(root: Path) -> None:
    ArtifactStore(str(root))
    assert not root.exists()


def test_file_url_root(root: Path) -> None:
    store = ArtifactStore(root.as_uri())
    store.put("a/b", b"x")
    assert (root / "refs" / "a" / "b").is_file()
    assert store.list("a") == [FileInfo("a/b", is_dir=False, file_size=1)]


def test_written_files_are_private(store: ArtifactStore, root: Path) -> None:
    entry = store.put("a/b", b"secret")
    blob = root / "blobs" / "sha256" / entry.sha256[:2] / entry.sha256[2:4] / entry.sha256
    for path in (blob, root / "refs" / "a" / "b"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads((root / "refs" / "a" / "b").read_bytes()) == {
        "sha256": entry.sha256,
        "size": 6,
    }


def test_missing_content_is_reported(store: ArtifactStore, root: Path) -> None:
    entry = store.put("a", b"x")
    (root / "blobs" / "sha256" / entry.sha256[:2] / entry.sha256[2:4] / entry.sha256).unlink()
    with pytest.raises(
        ResourceNotFound, match=f"'a' points to missing content sha256:{entry.sha256}"
    ):
        store.get_bytes("a")


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_symlink_out_of_refs_is_refused(
    store: ArtifactStore, root: Path, tmp_path: Path, operation: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text(json.dumps({"sha256": _sha(b"x"), "size": 1}))
    store.put("ok", b"ok")
    os.symlink(outside, root / "refs" / "evil")
    before = _LocalRaw(root).stored()

    for path in ("evil", "evil/x"):
        with pytest.raises(InvalidParameter, match=f"path '{path}' resolves outside its root"):
            OPERATIONS[operation](store, path)

    assert [p.name for p in outside.iterdir()] == ["x"]
    assert _LocalRaw(root).stored() == before
    assert store.list() == [FileInfo("ok", is_dir=False, file_size=2)]
    assert [entry.path for entry in store.list_files()] == ["ok"]


def test_symlinked_ref_file_is_refused(store: ArtifactStore, root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"sha256": _sha(b"x"), "size": 1}))
    store.put("ok", b"ok")
    os.symlink(secret, root / "refs" / "leak")

    with pytest.raises(InvalidParameter, match="path 'leak' resolves outside its root"):
        store.stat("leak")
    assert [entry.path for entry in store.list_files()] == ["ok"]


def test_symlinked_refs_directory_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    root.mkdir()
    os.symlink(tmp_path / "elsewhere", root / "refs")
    with pytest.raises(InvalidParameter, match="refs/ is a symlink"):
        ArtifactStore(str(root)).put("a", b"x")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_delete_prunes_emptied_directories(store: ArtifactStore, root: Path) -> None:
    store.put("run/model/deep/x.bin", b"x")
    store.put("run/keep.txt", b"k")
    store.delete("run/model/deep/x.bin")
    assert sorted(p.name for p in (root / "refs" / "run").iterdir()) == ["keep.txt"]


def test_local_root_never_imports_s3fs(root: Path) -> None:
    script = (
        "import sys; from loopml.artifacts import ArtifactStore; "
        f"s = ArtifactStore({str(root)!r}); s.put('a', b'x'); s.list(); "
        "assert 's3fs' not in sys.modules and 'boto3' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_adopt_moves_a_file_in_without_a_copy(store: ArtifactStore, tmp_path: Path) -> None:
    made = tmp_path / "snapshot.bin"
    made.write_bytes(b"x" * 10_000)
    inode = made.stat().st_ino
    entry = store.adopt("datasets/d/a.bin", made)
    assert not made.exists()
    assert store.get_bytes("datasets/d/a.bin") == b"x" * 10_000
    assert entry.sha256 == hashlib.sha256(b"x" * 10_000).hexdigest()
    blob = store.local_file("datasets/d/a.bin")
    assert blob is not None
    assert blob.stat().st_ino == inode  # the same file, renamed in
    assert blob.stat().st_mode & 0o777 == 0o600
    again = tmp_path / "again.bin"
    again.write_bytes(b"x" * 10_000)
    assert store.adopt("datasets/d/b.bin", again).sha256 == entry.sha256  # stored once
    assert not again.exists()
