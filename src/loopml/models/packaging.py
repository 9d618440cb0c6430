"""``save_model`` and ``load_model``: a model directory written atomically, read safely.

A directory holds the model files, ``loopml-model.json`` (flavor, loader, files,
signature, example, library versions) and ``loopml-manifest.json``. Loading
always verifies the manifest (the caller's copy, e.g. the registry's, wins)
and, given a public key, the signature, before any byte is deserialized.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import uuid
from collections.abc import Iterable, Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from loopml.core.errors import InvalidParameter, ModelIntegrityError, ResourceNotFound
from loopml.models.entities import Manifest, ModelInfo, Signature
from loopml.models.flavors import detect_flavor, get_flavor
from loopml.models.loaded import INPUT_EXAMPLE_FILE, LoadedModel, example_to_json, read_example
from loopml.models.manifest import (
    MANIFEST_FILE,
    read_manifest,
    verify_manifest,
    write_manifest,
)
from loopml.models.trust import TrustPolicy, executes_code, require_trust

MODEL_FILE = "loopml-model.json"
MLMODEL_FILE = "MLmodel"
FORMAT_VERSION = 1
_LIBRARIES = {
    "sklearn": ("scikit-learn", "skops", "cloudpickle"),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "lightgbm": ("lightgbm",),
    "onnx": ("onnx", "onnxruntime"),
    "python_function": ("cloudpickle",),
}


def _versions(flavor: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", *_LIBRARIES.get(flavor, ())):
        try:
            found[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            continue
    return found


def _target_dir(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidParameter(f"model path {str(target)!r} exists and is not an empty directory")
    return target


def _publish(tmp: Path, target: Path) -> None:
    if target.is_dir():
        target.rmdir()  # empty, checked before writing
    os.rename(tmp, target)


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    signature: Signature | None = None,
    input_example: Any = None,
    metadata: Mapping[str, Any] | None = None,
    serialization: str = "auto",
) -> ModelInfo:
    """Write ``model`` as a loopml model directory at ``path``, whole or not at all.

    Args:
        model: a scikit-learn, XGBoost or LightGBM model, an ONNX ``ModelProto`` or
            ``.onnx`` path, or any object with ``predict`` (python_function).
        path: a directory that does not exist yet or is empty.
        flavor: force a flavor; detected from the model when None.
        signature: the input/output columns ``predict`` will check.
        input_example: a DataFrame, numpy array or dict of lists, stored as JSON.
        metadata: JSON-able details kept in ``loopml-model.json``.
        serialization: ``auto`` (the safe default of the flavor), or ``pickle`` /
            ``cloudpickle`` for sklearn (then loading needs ``trust=True``).

    Returns:
        What was written, with its manifest.

    Raises:
        InvalidParameter: an unsupported model, flavor or serialization, a used path.
    """
    target = _target_dir(path)
    impl = get_flavor(flavor) if flavor is not None else detect_flavor(model)
    if flavor is not None and not impl.matches(model):
        raise InvalidParameter(f"model of type {type(model).__name__} is not a {flavor} model")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        config = impl.save(model, tmp, serialization)
        loader = str(config["loader"])
        if input_example is not None:
            (tmp / INPUT_EXAMPLE_FILE).write_text(example_to_json(input_example))
        document = {
            "format_version": FORMAT_VERSION,
            "flavor": impl.name,
            "loader": loader,
            "executes_code": executes_code(loader),
            "config": config,
            "files": sorted(p.name for p in tmp.iterdir()),
            "signature": signature.to_dict() if signature is not None else None,
            "input_example": INPUT_EXAMPLE_FILE if input_example is not None else None,
            "library_versions": _versions(impl.name),
            "metadata": dict(metadata or {}),
        }
        (tmp / MODEL_FILE).write_text(json.dumps(document, indent=1, sort_keys=True, default=str))
        manifest = write_manifest(tmp)
        _publish(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ModelInfo(
        path=str(target),
        flavor=impl.name,
        loader=loader,
        executes_code=executes_code(loader),
        manifest=manifest,
        signature=signature,
        metadata=dict(metadata or {}),
    )


def _check_manifest(root: Path, manifest: Manifest | None) -> Manifest:
    if manifest is None:
        manifest = read_manifest(root)
    elif (root / MANIFEST_FILE).is_file() and read_manifest(root).digest != manifest.digest:
        raise ModelIntegrityError(
            f"{MANIFEST_FILE} in {str(root)!r} disagrees with the manifest given "
            "(the given copy, e.g. the registry's, is the one that counts)"
        )
    verify_manifest(root, manifest)
    return manifest


def _read_loopml(root: Path) -> tuple[str, dict[str, Any], Signature | None, Any, dict[str, Any]]:
    try:
        document = json.loads((root / MODEL_FILE).read_text())
    except ValueError as exc:
        raise InvalidParameter(f"{MODEL_FILE} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise InvalidParameter(f"{MODEL_FILE} has no 'config' object")
    flavor = str(document.get("flavor"))
    raw_signature = document.get("signature")
    signature = Signature.from_dict(raw_signature) if raw_signature else None
    example = read_example(root / INPUT_EXAMPLE_FILE) if document.get("input_example") else None
    config = dict(document["config"])
    config.setdefault("loader", document.get("loader"))
    return flavor, config, signature, example, dict(document.get("metadata") or {})


def load_model(
    path: str | os.PathLike[str],
    *,
    manifest: Manifest | None = None,
    trust: bool = False,
    trusted_types: Iterable[str] | None = None,
    public_key: str | os.PathLike[str] | None = None,
) -> LoadedModel:
    """Verify, then load, a loopml or MLflow model directory.

    Args:
        path: the model directory.
        manifest: the manifest to verify against (the registry's copy); wins over
            the directory's own ``loopml-manifest.json``.
        trust: allow loaders that run code from the file (pickle, cloudpickle).
        trusted_types: skops type names allowed beyond the default allowlist.
        public_key: an EC public key PEM; when given the signature must verify too.

    Raises:
        ModelIntegrityError: no manifest, a changed/missing/extra file, a bad signature.
        UntrustedModel: the model needs code execution or non-allowlisted types.
        InvalidParameter: an unknown flavor or loader, a malformed description.
    """
    root = Path(path)
    if not root.is_dir():
        raise ResourceNotFound(f"model directory {str(root)!r} does not exist")
    checked = _check_manifest(root, manifest)
    if public_key is not None:
        from loopml.models.signing import verify_signature

        verify_signature(root, public_key)
    policy = TrustPolicy.of(trust, trusted_types)
    if (root / MODEL_FILE).is_file():
        flavor, config, signature, example, extra = _read_loopml(root)
    elif (root / MLMODEL_FILE).is_file():
        from loopml.models.mlflow_format import read_mlmodel

        flavor, config, signature, example, extra = read_mlmodel(root)
    else:
        raise InvalidParameter(f"{str(root)!r} has neither {MODEL_FILE} nor an MLflow MLmodel file")
    impl = get_flavor(flavor)
    require_trust(str(config.get("loader")), f"{flavor} model in {str(root)!r}", policy)
    raw = impl.load(root, config, policy)
    return LoadedModel(
        flavor=flavor,
        raw=raw,
        manifest=checked,
        signature=signature,
        input_example=example,
        metadata=extra,
        _flavor=impl,
    )
