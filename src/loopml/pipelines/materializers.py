"""Materializers: how a step's return value becomes bytes in the artifact store, and back.

Built in (see :mod:`loopml.pipelines.formats`): pandas DataFrames and Series
and Arrow tables as Parquet, NumPy arrays with ``np.save`` (no pickles),
models through ``loopml.models`` (safe formats only: skops, XGBoost/LightGBM
JSON, ONNX), bytes as they are, and JSON-able values as canonical JSON. A
value no materializer handles is an error naming the step and the type; there
is deliberately no pickle fallback, since whoever reads an artifact back would
run whatever code the pickle holds.

Other types: subclass :class:`Materializer` and call :func:`register_materializer`
at import time of the module that defines the type or the step. Materializers
registered in the driver also travel to the workers with each task.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, BinaryIO, ClassVar

from loopml.core.errors import InvalidParameter, InvalidState


class Materializer(ABC):
    """Writes values of some types to a binary file and reads them back.

    ``name`` is recorded with every artifact, so it must stay stable; ``save``
    should be deterministic (same value, same bytes) so equal results hash equal
    and downstream caches hold.
    """

    name: ClassVar[str]
    types: ClassVar[tuple[type, ...]] = ()

    def handles(self, value: object) -> bool:
        return bool(self.types) and isinstance(value, self.types)

    @abstractmethod
    def save(self, value: Any, file: BinaryIO) -> None: ...

    @abstractmethod
    def load(self, file: BinaryIO) -> Any: ...


_lock = threading.Lock()
_registered: list[Materializer] = []  # users', most recent first


def register_materializer(materializer: Materializer) -> None:
    """Make ``materializer`` handle its types, ahead of the built-in ones.

    Registering a second materializer under a name replaces the first.

    Raises:
        InvalidParameter: not a Materializer instance, or no name.
    """
    if not isinstance(materializer, Materializer):
        raise InvalidParameter(
            f"register_materializer needs a Materializer instance, got {materializer!r}"
        )
    name = getattr(materializer, "name", None)
    if not isinstance(name, str) or not name:
        raise InvalidParameter(f"{type(materializer).__name__} needs a non-empty 'name'")
    from loopml.pipelines.formats import BUILTIN

    if name in BUILTIN:
        raise InvalidParameter(f"materializer name {name!r} is built in; choose another")
    with _lock:
        _registered[:] = [m for m in _registered if m.name != name]
        _registered.insert(0, materializer)


def registered() -> tuple[Materializer, ...]:
    """The user's materializers, most recent first (shipped to workers with each task)."""
    return tuple(_registered)


def adopt(materializers: tuple[Materializer, ...]) -> None:
    """In a worker: know the driver's materializers too (those already known are kept)."""
    known = {m.name for m in _registered}
    missing = [m for m in materializers if m.name not in known]
    if missing:
        with _lock:
            _registered.extend(missing)


def materializer_for(value: object, where: str) -> Materializer:
    """The first materializer that handles ``value``: the user's first, then the built-ins.

    Raises:
        InvalidParameter: no materializer handles the value's type.
    """
    from loopml.pipelines.formats import BUILTIN_ORDER

    for materializer in (*_registered, *BUILTIN_ORDER):
        if materializer.handles(value):
            return materializer
    kind = type(value)
    raise InvalidParameter(
        f"{where} returned a value of type {kind.__module__}.{kind.__qualname__} that no "
        "materializer can store; return a DataFrame, Arrow table, NumPy array, model, bytes "
        "or JSON-able value, or register one with loopml.pipelines.register_materializer()"
    )


def materializer_named(name: str) -> Materializer:
    """The materializer that wrote an artifact, to read it back.

    Raises:
        InvalidState: none by that name is known here (its module was not imported).
    """
    from loopml.pipelines.formats import BUILTIN

    found = BUILTIN.get(name) or next((m for m in _registered if m.name == name), None)
    if found is None:
        known = ", ".join(sorted({*BUILTIN, *(m.name for m in _registered)}))
        raise InvalidState(
            f"no materializer named {name!r} is registered to read this artifact "
            f"(known: {known}); import the module that registers it"
        )
    return found
