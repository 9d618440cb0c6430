"""Model packaging: flavors, signatures, safe loading, integrity manifests and signing.

``save_model`` writes a directory whole or not at all; ``load_model`` verifies
it (manifest, optionally signature) before deserializing, and refuses formats
that run code unless trusted. Heavy libraries load only inside their flavor.
"""

from __future__ import annotations

from loopml.models.entities import (
    ColumnSpec,
    FileDigest,
    Manifest,
    ModelInfo,
    Signature,
    TensorSpec,
)
from loopml.models.loaded import LoadedModel
from loopml.models.manifest import build_manifest, verify_manifest, write_manifest
from loopml.models.packaging import load_model, save_model
from loopml.models.signature import infer_signature
from loopml.models.signing import sign_model, verify_signature
from loopml.models.trust import DEFAULT_TRUSTED_TYPES

__all__ = [
    "DEFAULT_TRUSTED_TYPES",
    "ColumnSpec",
    "FileDigest",
    "LoadedModel",
    "Manifest",
    "ModelInfo",
    "Signature",
    "TensorSpec",
    "build_manifest",
    "infer_signature",
    "load_model",
    "save_model",
    "sign_model",
    "verify_manifest",
    "verify_signature",
    "write_manifest",
]
