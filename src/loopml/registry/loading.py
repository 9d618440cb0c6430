"""Resolving ``models:/`` URIs and loading versions: one path, embedded and remote.

``api`` is a :class:`~loopml.registry.RegistryClient` or a ``RestRegistry``;
both answer the few questions asked here. A load downloads exactly the files
of the manifest taken at registration (plus the directory's own manifest and
signature, which ``loopml.models`` compares and checks) into a private temp
directory and lets ``loopml.models.load_model`` verify them against the
registry's manifest before anything is deserialized.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from loopml.core.errors import ResourceNotFound
from loopml.models import LoadedModel, load_model
from loopml.registry.entities import LATEST, ModelVersion, check_alias
from loopml.registry.sources import download_version, parse_models_uri


def resolve_version(api: Any, uri: str) -> ModelVersion:
    """The version ``models:/NAME/3`` (``@champion``, ``/latest``, ``/Production``) names."""
    name, which = parse_models_uri(uri)
    if which.startswith("@"):
        found: ModelVersion = api.get_model_version_by_alias(name, check_alias(which[1:]))
        return found
    if which.isdigit():
        found = api.get_model_version(name, which)
        return found
    stages = None if which.lower() == LATEST else [which]
    latest: list[ModelVersion] = api.get_latest_versions(name, stages)
    if not latest:
        raise ResourceNotFound(f"model {name!r} has no version in {which!r}")
    return max(latest, key=lambda v: v.version)


def load_version(
    api: Any,
    artifacts: Any,
    uri: str,
    *,
    trust: bool = False,
    public_key: str | os.PathLike[str] | None = None,
) -> LoadedModel:
    """Load what ``uri`` names after verifying every file against the registry's manifest.

    Formats that run code on load need ``trust=True`` or a version an admin
    marked trusted; ``public_key`` also verifies a model-signing signature.
    """
    version = resolve_version(api, uri)
    manifest = api.version_manifest(version.name, version.version)
    with tempfile.TemporaryDirectory(prefix="loopml-model-") as tmp:
        directory = Path(tmp) / "model"
        download_version(artifacts, version.storage_location, manifest, directory)
        return load_model(
            directory, manifest=manifest, trust=trust or version.trusted, public_key=public_key
        )
