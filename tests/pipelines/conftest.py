"""An embedded loopml home per test, and a folder to write pipeline modules into."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from loopml.client import Client


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    opened = Client(tmp_path / "home")
    yield opened
    opened.close()


@pytest.fixture
def log(tmp_path: Path) -> str:
    """A file steps append their names to: what really ran (see flows.note)."""
    return str(tmp_path / "executed.log")


@pytest.fixture
def write_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str, str], ModuleType]]:
    """Write ``name.py`` into an importable folder and (re)import it, as an edit would."""
    folder = tmp_path / "modules"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # an edit must never meet a stale .pyc
    written: list[str] = []

    def write(name: str, source: str) -> ModuleType:
        (folder / f"{name}.py").write_text(source)
        importlib.invalidate_caches()
        written.append(name)
        if name in sys.modules:
            return importlib.reload(sys.modules[name])
        return importlib.import_module(name)

    yield write
    for name in written:
        sys.modules.pop(name, None)
