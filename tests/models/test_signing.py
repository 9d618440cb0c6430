"""OpenSSF model signing with EC keys: sign, verify, and refuse changed or foreign models."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sklearn.linear_model import LinearRegression

from loopml.core.errors import ModelIntegrityError
from loopml.models import build_manifest, load_model, save_model, sign_model, verify_signature

Data = tuple[pd.DataFrame, pd.Series]


@pytest.fixture(autouse=True)
def _openssl_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let model_signing import where pyOpenSSL is missing (as in this dev environment).

    model_signing 1.1.1 imports ``OpenSSL.crypto`` at import time for certificate
    signing only, without declaring pyOpenSSL as a dependency. The EC-key path these
    tests exercise never touches it, so an empty stand-in is enough; it lives in
    ``sys.modules`` only for the test. Where pyOpenSSL is installed, the real one is used.
    """
    try:
        import OpenSSL  # noqa: F401
    except ImportError:
        stub = types.ModuleType("OpenSSL")
        crypto = types.ModuleType("OpenSSL.crypto")
        stub.crypto = crypto  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "OpenSSL", stub)
        monkeypatch.setitem(sys.modules, "OpenSSL.crypto", crypto)


def _key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.pem", directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def signed(tmp_path: Path, iris: Data) -> tuple[Path, Path]:
    X, y = iris
    save_model(LinearRegression().fit(X, y), tmp_path / "m")
    keys = tmp_path / "keys"
    keys.mkdir()
    private, public = _key_pair(keys, "good")
    assert sign_model(tmp_path / "m", private) == tmp_path / "m" / "model.sig"
    return tmp_path / "m", public


def test_signed_model_verifies_and_loads(signed: tuple[Path, Path], iris: Data) -> None:
    model_dir, public = signed
    verify_signature(model_dir, public)
    assert "model.sig" not in build_manifest(model_dir).files
    loaded = load_model(model_dir, public_key=public)
    assert loaded.predict(iris[0]).shape == (150,)


def test_changed_file_fails_verification(signed: tuple[Path, Path]) -> None:
    model_dir, public = signed
    (model_dir / "model.skops").write_bytes(b"changed")
    with pytest.raises(ModelIntegrityError, match=r"does not verify: .*model\.skops"):
        verify_signature(model_dir, public)


def test_rewritten_manifest_fails_verification(signed: tuple[Path, Path]) -> None:
    model_dir, public = signed
    (model_dir / "input.txt").write_text("extra")
    from loopml.models import write_manifest

    write_manifest(model_dir)  # manifest now agrees, but the signature covers it too
    with pytest.raises(ModelIntegrityError, match="does not verify"):
        load_model(model_dir, public_key=public)


def test_wrong_public_key_fails(signed: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, _ = signed
    _, other = _key_pair(tmp_path / "keys", "other")
    with pytest.raises(ModelIntegrityError, match="does not verify"):
        verify_signature(model_dir, other)
    with pytest.raises(ModelIntegrityError, match="does not verify"):
        load_model(model_dir, public_key=other)


def test_missing_signature_is_refused(signed: tuple[Path, Path]) -> None:
    model_dir, public = signed
    (model_dir / "model.sig").unlink()
    with pytest.raises(ModelIntegrityError, match=r"has no signature \(model\.sig\)"):
        load_model(model_dir, public_key=public)


def test_without_model_signing_the_error_says_what_to_install(
    signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.core.errors import NotSupported

    model_dir, public = signed
    monkeypatch.setitem(sys.modules, "model_signing", None)
    with pytest.raises(NotSupported, match=r"pip install 'model-signing>=1\.1' pyopenssl"):
        verify_signature(model_dir, public)
