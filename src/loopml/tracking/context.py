"""Where a run came from: git commit and dirty flag, Python and package versions.

Captured once per process and attached as run tags, so every run can be
traced to the code that produced it without the user doing anything.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import subprocess
import sys
from importlib import metadata

# Packages whose versions decide what a training script computes.
TRACKED_PACKAGES = (
    "loopml", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy",
    "xgboost", "lightgbm", "torch", "onnx", "optuna",
)  # fmt: skip


def _git(*args: str) -> str | None:
    try:
        # git from PATH with fixed arguments: no user input reaches the command line
        done = subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return str(done.stdout).strip() if done.returncode == 0 else None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


@functools.cache
def run_context_tags() -> dict[str, str]:
    """MLflow's source tags plus loopml's reproducibility tags for this process."""
    tags = {
        "mlflow.user": _user(),
        "mlflow.source.type": "LOCAL",
        "mlflow.source.name": os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else "",
        "loopml.python_version": platform.python_version(),
        "loopml.packages": json.dumps(package_versions(), sort_keys=True),
    }
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["mlflow.source.git.commit"] = commit
        status = _git("status", "--porcelain", "--untracked-files=no")
        tags["loopml.git.dirty"] = "true" if status else "false"
        branch = _git("rev-parse", "--abbrev-ref", "HEAD")
        if branch:
            tags["mlflow.source.git.branch"] = branch
    return tags
