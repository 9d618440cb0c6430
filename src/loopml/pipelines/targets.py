"""Naming a pipeline so another process can find it: ``module:function`` or ``file.py:function``.

The CLI takes a target; every run records its pipeline's target, which is how
``resume`` (and the scheduler) import the same pipeline later. A file target
puts the file's folder first on ``sys.path`` and imports the file by its name,
as ``python file.py`` would, so worker processes import its steps the same way.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter

if TYPE_CHECKING:
    from loopml.pipelines.pipeline import Pipeline


def target_of(fn: Any) -> str:
    """The target that imports ``fn`` again; ``""`` when none can (``python -c``, a closure)."""
    module = str(getattr(fn, "__module__", "") or "")
    qualname = str(getattr(fn, "__qualname__", "") or "")
    if not module or not qualname or "<locals>" in qualname:
        return ""
    if module == "__main__":
        file = getattr(sys.modules.get("__main__"), "__file__", None)
        return f"{os.path.abspath(file)}:{qualname}" if file else ""
    return f"{module}:{qualname}"


def load_target(target: str) -> Pipeline[..., Any]:
    """The pipeline ``target`` names.

    Raises:
        InvalidParameter: a malformed target, a module or file that cannot be
            imported, a missing name, or a name that is not a pipeline function.
    """
    from loopml.pipelines.pipeline import Pipeline, pipeline

    spec, _, attr = target.rpartition(":")
    if not spec or not attr:
        raise InvalidParameter(
            f"target {target!r} must be module:function or path/to/file.py:function"
        )
    module = _import_file(spec) if spec.endswith(".py") or os.sep in spec else _import(spec)
    found: Any = module
    for part in attr.split("."):
        if not hasattr(found, part):
            raise InvalidParameter(f"target {target!r}: {spec} has no attribute {attr!r}")
        found = getattr(found, part)
    if isinstance(found, Pipeline):
        return found
    if callable(found) and not isinstance(found, type) and not hasattr(found, "options"):
        return pipeline(found)
    raise InvalidParameter(
        f"target {target!r} is a {type(found).__name__}, not a pipeline function"
    )


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise InvalidParameter(f"cannot import module {name!r}: {error}") from None


def _import_file(spec: str) -> Any:
    path = Path(spec).resolve()
    if not path.is_file():
        raise InvalidParameter(f"pipeline file {spec!r} does not exist")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module = _import(path.stem)
    loaded = getattr(module, "__file__", None)
    if loaded is None or Path(loaded).resolve() != path:
        raise InvalidParameter(
            f"pipeline file {spec!r} is shadowed by the module {path.stem!r} at {loaded}; "
            "rename the file or use module:function"
        )
    return module


def canonical_target(target: str) -> str:
    """``target`` as another process will import it: a file target with its absolute path."""
    spec, _, attr = target.rpartition(":")
    if spec.endswith(".py") or os.sep in spec:
        return f"{Path(spec).resolve()}:{attr}"
    return target
