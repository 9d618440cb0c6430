"""Where a model version's files are, and the manifest taken of them at registration.

A version's ``source`` is what the caller said (``models:/m-...``,
``runs:/RUN/path``, ``mlflow-artifacts:/...``, or another version's
``models:/name/3``); its storage location is the ``mlflow-artifacts:`` URI the
files really live under. Only locations inside this registry's artifact store
are accepted: the registry must be able to hash the files to protect loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.artifacts import ArtifactStore
from loopml.core.errors import InvalidParameter
from loopml.core.paths import safe_relpath
from loopml.models import FileDigest, Manifest
from loopml.models.manifest import UNLISTED_FILES
from loopml.tracking.client import PROXY_SCHEME, TrackingClient, artifact_key

MODEL_FILES = ("MLmodel", "loopml-model.json")


@dataclass(frozen=True)
class Located:
    storage_location: str
    run_id: str | None
    model_id: str | None


def parse_models_uri(uri: str) -> tuple[str, str]:
    """``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` → (name, version-or-@alias)."""
    rest = uri[len("models:/") :].lstrip("/") if uri.startswith("models:/") else ""
    if "@" in rest:
        name, _, alias = rest.rpartition("@")
        if name and alias and "/" not in name:
            return name, "@" + alias
    name, _, version = rest.rpartition("/")
    if not name or not version or "/" in name:
        raise InvalidParameter(
            f"model URI {uri!r} must look like models:/NAME/VERSION, models:/NAME@ALIAS "
            "or models:/NAME/latest"
        )
    return name, version


def locate(
    source: str,
    tracking: TrackingClient,
    resolve_version: Callable[[str], str],
    run_id: str | None = None,
    model_id: str | None = None,
) -> Located:
    """The storage location behind ``source``, and the run and logged model it came from."""
    if source.startswith("models:/m-") and "/" not in source[len("models:/") :]:
        model = tracking.get_logged_model(source[len("models:/") :])
        return Located(model.artifact_location, run_id or model.source_run_id, model.model_id)
    if source.startswith("models:/"):
        return Located(resolve_version(source), run_id, model_id)
    if source.startswith("runs:/"):
        return _locate_in_run(source, tracking, run_id, model_id)
    if source.startswith(PROXY_SCHEME):
        artifact_key(source)  # refuses '..', absolute paths and other tricks
        return Located(source, run_id, model_id)
    raise InvalidParameter(
        f"source {source!r} is not in this registry's artifact store; register a "
        "logged model (models:/m-...), a run's files (runs:/RUN_ID/path) or an "
        "mlflow-artifacts:/ location"
    )


def _locate_in_run(
    source: str, tracking: TrackingClient, run_id: str | None, model_id: str | None
) -> Located:
    """A run's files at the path, or (MLflow 3) the model it logged under that name."""
    found_run, _, path = source[len("runs:/") :].partition("/")
    run = tracking.get_run(found_run)
    relative = safe_relpath(path, field="source")
    if tracking.list_artifacts(found_run, relative or None):
        location = run.info.artifact_uri.rstrip("/") + (f"/{relative}" if relative else "")
        return Located(location, run_id or found_run, model_id)
    quoted = relative.replace("'", "''")
    logged = tracking.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}' AND name = '{quoted}'",
        max_results=2,
    ).items
    if len(logged) != 1:
        raise InvalidParameter(
            f"source {source!r}: the run has no files at {relative!r} and "
            f"{'several' if logged else 'no'} logged models named so; register "
            "models:/<model_id> instead"
        )
    return Located(logged[0].artifact_location, run_id or found_run, logged[0].model_id)


def take_manifest(artifacts: Any, storage_location: str) -> Manifest:
    """The sha256 and size of every model file under the location, by relative path.

    The artifact store is content-addressed, so this reads its refs, not the
    files. The directory's own manifest and signature file are not listed
    (``loopml.models`` rules); a load compares that manifest to this one.
    """
    if not isinstance(artifacts, ArtifactStore):
        raise InvalidParameter("model versions are registered on the server that stores them")
    root = artifact_key(storage_location)
    files = {
        entry.path[len(root) + 1 :]: FileDigest(entry.sha256, entry.size)
        for entry in artifacts.list_files(root)
    }
    if not files:
        raise InvalidParameter(f"source {storage_location!r} holds no files to register")
    if not any(name in files for name in MODEL_FILES):
        raise InvalidParameter(
            f"source {storage_location!r} is not a model directory: it has no "
            f"{' or '.join(MODEL_FILES)} file"
        )
    return Manifest({k: v for k, v in sorted(files.items()) if k not in UNLISTED_FILES})


def download_version(
    artifacts: Any, storage_location: str, manifest: Manifest, destination: Path
) -> None:
    """Copy the manifest's files (and the directory's own manifest and signature, when
    there) into ``destination``; what is checked against what happens on load."""
    root = artifact_key(storage_location)
    for relative in [*manifest.files, *UNLISTED_FILES]:
        key = f"{root}/{relative}"
        if relative in UNLISTED_FILES and not artifacts.exists(key):
            continue
        target = destination / safe_relpath(relative, field="model file")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in artifacts.iter_bytes(key):
                out.write(chunk)
