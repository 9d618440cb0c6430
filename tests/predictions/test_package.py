"""The public surface, and an import that stays light for the serving process."""

from __future__ import annotations

import subprocess
import sys

import loopml.predictions


def test_public_names_are_sorted_and_exported() -> None:
    assert loopml.predictions.__all__ == sorted(loopml.predictions.__all__)
    assert all(hasattr(loopml.predictions, name) for name in loopml.predictions.__all__)


def test_importing_the_package_loads_no_heavy_library() -> None:
    probe = (
        "import sys, loopml.predictions; "
        "print(sorted({'pyarrow', 'duckdb', 'pandas', 'fsspec'} & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
