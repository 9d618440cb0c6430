"""Signing model directories in the OpenSSF model-signing format (``model_signing``).

``sign_model`` hashes every file of the directory (the manifest included, so the
signature pins it too) and writes the Sigstore bundle as ``model.sig`` inside
the directory; that one file is left out of what is signed and of the manifest.
Keys are elliptic-curve PEM files. Without model_signing (or the pyOpenSSL it
imports) signing and verifying raise ``NotSupported`` naming what to install.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.core.errors import InvalidParameter, ModelIntegrityError, NotSupported
from loopml.models.manifest import SIGNATURE_FILE

if TYPE_CHECKING:
    from model_signing import hashing


def _import_model_signing() -> None:
    """Import model_signing, or say plainly what is missing.

    model_signing 1.1.1 imports pyOpenSSL at import time (for certificate signing,
    which loopml does not use) without declaring it as a dependency.
    """
    try:
        import model_signing  # noqa: F401
    except ImportError as exc:
        raise NotSupported(
            f"model signing needs the model-signing package and pyOpenSSL ({exc}); "
            "install them with: pip install 'model-signing>=1.1' pyopenssl"
        ) from exc


def _hashing_config() -> hashing.Config:
    from model_signing import hashing

    config = hashing.Config()  # type: ignore[no-untyped-call]
    return config.set_ignored_paths(paths=[SIGNATURE_FILE], ignore_git_paths=False)


def _model_dir(path: str | os.PathLike[str]) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise InvalidParameter(f"model path {str(root)!r} is not a directory")
    return root


def sign_model(path: str | os.PathLike[str], private_key: str | os.PathLike[str]) -> Path:
    """Sign the model directory ``path`` with an EC private key; returns the signature path.

    Raises:
        InvalidParameter: ``path`` is not a directory or the key cannot be used.
    """
    root = _model_dir(path)
    _import_model_signing()
    from model_signing import signing

    signature = root / SIGNATURE_FILE
    config = signing.Config().set_hashing_config(_hashing_config())  # type: ignore[no-untyped-call]
    try:
        config.use_elliptic_key_signer(private_key=Path(private_key)).sign(root, signature)
    except (ValueError, TypeError, OSError) as exc:
        raise InvalidParameter(
            f"cannot sign {str(root)!r} with {str(private_key)!r}: {exc}"
        ) from exc
    return signature


def verify_signature(path: str | os.PathLike[str], public_key: str | os.PathLike[str]) -> None:
    """Prove ``model.sig`` in ``path`` was made by ``public_key``'s private key over these files.

    Raises:
        ModelIntegrityError: no signature, a signature by another key, or a changed,
            added or removed file (model_signing's message names it).
    """
    root = _model_dir(path)
    _import_model_signing()
    from model_signing import verifying

    signature = root / SIGNATURE_FILE
    if not signature.is_file():
        raise ModelIntegrityError(
            f"model directory {str(root)!r} has no signature ({SIGNATURE_FILE})"
        )
    config = verifying.Config().set_hashing_config(_hashing_config())  # type: ignore[no-untyped-call]
    try:
        config.use_elliptic_key_verifier(public_key=Path(public_key)).verify(root, signature)
    except Exception as exc:  # model_signing raises ValueError and crypto/protobuf errors alike
        raise ModelIntegrityError(f"signature of {str(root)!r} does not verify: {exc}") from exc
