"""Check parameters against a function's annotations before anything runs.

Deliberately small: builtins, ``X | None``, ``Literal``, ``list[X]``,
``tuple[...]``, ``dict[K, V]``, abstract collections and classes. An annotation
it does not understand (a ``TypeVar``, a ``Protocol``, a string it cannot
resolve) lets any value through: a wrong refusal is worse than a late error.
"""

from __future__ import annotations

import collections.abc as abc
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from loopml.core.errors import InvalidParameter


def type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Resolved annotations; those that cannot be resolved are left out (not checked)."""
    try:
        return typing.get_type_hints(fn)
    except Exception:  # a name only imported under TYPE_CHECKING, a typo
        hints: dict[str, Any] = {}
        for name, value in getattr(fn, "__annotations__", {}).items():
            if not isinstance(value, str):
                hints[name] = value
        return hints


def check_type(value: Any, hint: Any, where: str) -> None:
    """Raise InvalidParameter naming ``where`` when ``value`` does not fit ``hint``."""
    if not matches(value, hint):
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise InvalidParameter(
            f"{where} expects {describe(hint)}, got {type(value).__name__} {shown}"
        )


def matches(value: Any, hint: Any) -> bool:
    if hint is Any or hint is inspect.Parameter.empty or isinstance(hint, typing.TypeVar):
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin is typing.Annotated:
        return matches(value, args[0])
    if origin is not None:
        return _matches_generic(value, origin, args)
    return _matches_class(value, hint)


def _matches_class(value: Any, hint: Any) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is complex:
        return isinstance(value, int | float | complex) and not isinstance(value, bool)
    if isinstance(hint, type):
        if getattr(hint, "_is_protocol", False) and not getattr(
            hint, "_is_runtime_protocol", False
        ):
            return True
        try:
            return isinstance(value, hint)
        except TypeError:
            return True
    return True


def _matches_generic(value: Any, origin: Any, args: tuple[Any, ...]) -> bool:
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(item, args[0]) for item in value)
        return not args or (
            len(args) == len(value) and all(matches(v, a) for v, a in zip(value, args, strict=True))
        )
    if origin in (list, set, frozenset, abc.Sequence, abc.MutableSequence, abc.Collection):
        kinds = (list, tuple) if origin in (abc.Sequence, abc.Collection) else (origin,)
        if origin is list:
            kinds = (list, tuple)  # JSON has no tuples: a tuple passes for a list
        if not isinstance(value, kinds) or isinstance(value, str):
            return False
        return not args or all(matches(item, args[0]) for item in value)
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        if not isinstance(value, Mapping):
            return False
        if len(args) != 2:
            return True
        return all(matches(k, args[0]) and matches(v, args[1]) for k, v in value.items())
    if isinstance(origin, type):
        try:
            return isinstance(value, origin)
        except TypeError:
            return True
    return True


def describe(hint: Any) -> str:
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return str(hint).replace("typing.", "")


def coerce_text(raw: str, hint: Any) -> Any:
    """A value typed on a command line (``--param k=v``), read as its annotation wants.

    Text stays text where a ``str`` is expected; otherwise JSON (``3``, ``0.5``,
    ``true``, ``[1, 2]``) is tried first and plain text is the fallback.
    """
    if _wants_text(hint):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _wants_text(hint: Any) -> bool:
    if hint is str:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return bool(options) and all(a is str for a in options)
    return False


def bind_arguments(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], where: str
) -> dict[str, Any]:
    """``inspect.signature(fn).bind`` with the defaults applied, as an InvalidParameter."""
    signature = inspect.signature(fn)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise InvalidParameter(f"{where}: {error}") from None
    bound.apply_defaults()
    return dict(bound.arguments)
