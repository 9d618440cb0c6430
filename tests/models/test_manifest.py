"""Integrity: any changed, added or removed file is caught before deserializing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from loopml.core.errors import ModelIntegrityError
from loopml.models import (
    Manifest,
    build_manifest,
    load_model,
    save_model,
    verify_manifest,
    write_manifest,
)

Data = tuple[pd.DataFrame, pd.Series]


@pytest.fixture
def model_dir(tmp_path: Path, iris: Data) -> Path:
    X, y = iris
    save_model(LinearRegression().fit(X, y), tmp_path / "m", input_example=X.head(2))
    return tmp_path / "m"


def test_manifest_lists_every_file_but_itself(model_dir: Path) -> None:
    manifest = build_manifest(model_dir)
    assert sorted(manifest.files) == ["input_example.json", "loopml-model.json", "model.skops"]
    on_disk = json.loads((model_dir / "loopml-manifest.json").read_text())
    assert Manifest.from_dict(on_disk) == manifest
    assert manifest.files["model.skops"].size == (model_dir / "model.skops").stat().st_size
    assert len(manifest.digest) == 64
    assert Manifest.from_dict(manifest.to_dict()).digest == manifest.digest


def test_changed_byte_is_named(model_dir: Path) -> None:
    data = bytearray((model_dir / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_dir / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"model file 'model.skops' has changed"):
        load_model(model_dir)


def test_extra_file_is_named(model_dir: Path) -> None:
    (model_dir / "sub").mkdir()
    (model_dir / "sub" / "extra.py").write_text("print('hi')")
    with pytest.raises(ModelIntegrityError, match=r"'sub/extra.py' is not in the manifest"):
        load_model(model_dir)


def test_deleted_file_is_named(model_dir: Path) -> None:
    (model_dir / "input_example.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"'input_example.json' is listed .* but missing"):
        load_model(model_dir)


def test_symlink_is_refused(model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("x")
    (model_dir / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ModelIntegrityError, match="'link' is a symlink"):
        load_model(model_dir)


def test_missing_manifest_says_how_to_make_one(model_dir: Path) -> None:
    (model_dir / "loopml-manifest.json").unlink()
    with pytest.raises(ModelIntegrityError, match=r"call loopml.models.write_manifest\(path\)"):
        load_model(model_dir)


def test_given_manifest_wins_over_a_rewritten_one(model_dir: Path) -> None:
    registered = build_manifest(model_dir)
    (model_dir / "input_example.json").write_text('{"columns": ["a"], "data": [[1]]}')
    write_manifest(model_dir)  # the attacker also rewrites the in-directory manifest
    load_model(model_dir)  # consistent with itself...
    with pytest.raises(ModelIntegrityError, match="disagrees with the manifest given"):
        load_model(model_dir, manifest=registered)  # ...but not with the registry's copy


def test_given_manifest_alone_is_enough(model_dir: Path) -> None:
    registered = build_manifest(model_dir)
    (model_dir / "loopml-manifest.json").unlink()
    assert load_model(model_dir, manifest=registered).manifest == registered
    (model_dir / "model.skops").write_bytes(b"other")
    with pytest.raises(ModelIntegrityError, match=r"'model\.skops' has changed"):
        verify_manifest(model_dir, registered)
