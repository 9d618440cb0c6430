"""Expectations: one checkable claim about a table, as plain data.

An :class:`Expectation` is a kind, the column it is about and its
parameters. Every expectation is checked when it is built (by the ``expect``
builders, by ``Expectation(...)`` or from a suite file), so a suite that
loads is a suite that can run; parameters are normalized (every key of the
kind present, dates as ISO text) so equal claims compare equal however they
were written.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loopml.core.errors import InvalidParameter

_REQUIRED = object()
Checker = Callable[[str, str, Any], Any]  # (label, field, value) -> normalized value


@dataclass(frozen=True)
class Expectation:
    """A claim of ``kind`` about ``column`` (``None`` for table-level kinds)."""

    kind: str
    column: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _normalize(self.kind, self.column, self.params))

    @property
    def columns(self) -> list[str]:
        """Every column of the validated table this expectation reads."""
        if self.kind == "unique_together":
            return list(self.params["columns"])
        return [self.column] if self.column is not None else []

    @property
    def label(self) -> str:
        """How messages name it: ``between(amount)``."""
        return f"{self.kind}({', '.join(self.columns)})"

    def to_dict(self) -> dict[str, Any]:
        """The suite-file item: ``{kind: {column: ..., param: ...}}``, defaults left out."""
        spec = KINDS[self.kind]
        body: dict[str, Any] = {} if self.column is None else {"column": self.column}
        for param in spec.params:
            value = self.params[param.name]
            if value is not None and value != param.default:
                body[param.name] = value
        return {self.kind: body}

    @classmethod
    def from_dict(cls, item: Any) -> Expectation:
        """Read a suite-file item; ``{not_null: id}`` is short for ``{not_null: {column: id}}``."""
        if not isinstance(item, dict) or len(item) != 1:
            raise InvalidParameter(
                "an expectation is a mapping with one key, the kind, e.g. {not_null: {column: id}}"
            )
        ((kind, body),) = item.items()
        body = _expand(str(kind), body)
        return cls(str(kind), body.pop("column", None), body)


@dataclass(frozen=True)
class Param:
    name: str
    check: Checker
    default: Any = _REQUIRED


@dataclass(frozen=True)
class Kind:
    """What a kind takes: whether it needs a column, its parameters, a cross-field check."""

    needs_column: bool
    params: tuple[Param, ...] = ()
    relation: Callable[[str, dict[str, Any]], None] | None = None


def _normalize(kind: str, column: str | None, params: dict[str, Any]) -> dict[str, Any]:
    spec = KINDS.get(kind)
    if spec is None:
        raise InvalidParameter(
            f"unknown expectation kind {kind!r}; known kinds: {', '.join(KINDS)}"
        )
    if not isinstance(params, dict):
        raise InvalidParameter(f"{kind}: params must be a mapping")
    if spec.needs_column:
        _text(kind, "column", column)
    elif column is not None:
        raise InvalidParameter(f"{kind}: takes no column (got {column!r})")
    names = [param.name for param in spec.params]
    unknown = sorted(set(params) - set(names))
    if unknown:
        expected = ", ".join((["column"] if spec.needs_column else []) + names) or "nothing"
        raise InvalidParameter(f"{kind}: unknown parameter {unknown[0]!r}; it takes {expected}")
    label = f"{kind}({column})" if column is not None else kind
    normalized = {p.name: _param_value(label, p, params) for p in spec.params}
    if spec.relation is not None:
        spec.relation(label, normalized)
    return normalized


def _param_value(label: str, param: Param, params: dict[str, Any]) -> Any:
    if param.name not in params:
        if param.default is _REQUIRED:
            raise InvalidParameter(f"{label}: missing required parameter {param.name!r}")
        return param.default
    value = params[param.name]
    if isinstance(value, np.generic):  # numpy scalars, as pandas hands them out
        value = value.item()
    if value is None and param.default is None:
        return None
    return param.check(label, param.name, value)


def _expand(kind: str, body: Any) -> dict[str, Any]:
    """The short forms: a column name as a string, the key columns as a list."""
    if isinstance(body, str):
        return {"column": body}
    if isinstance(body, list) and kind == "unique_together":
        return {"columns": body}
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidParameter(f"{kind}: expected a mapping of parameters, got {body!r}")
    return {str(key): value for key, value in body.items()}


# -- field checkers ------------------------------------------------------------------


def _text(label: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"{label}: {name} must be a non-empty string, got {value!r}")
    return value


def _number(label: str, name: str, value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameter(f"{label}: {name} must be a finite number, got {value!r}")
    return value


def _count(label: str, name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameter(f"{label}: {name} must be a whole number >= 0, got {value!r}")
    return value


def _fraction(label: str, name: str, value: Any) -> float:
    number = _number(label, name, value)
    if number is None or not 0 <= number <= 1:
        raise InvalidParameter(f"{label}: {name} must be between 0 and 1, got {value!r}")
    return float(number)


def _bound(label: str, name: str, value: Any) -> Any:
    """A bound for ``between``: a number, or a date/time (kept as ISO text)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, str) and value:
        return value
    return _number(label, name, value)


def _scalar(label: str, name: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameter(f"{label}: {name} must hold finite values, got {value!r}")
    if not isinstance(value, (str, int, float)):
        raise InvalidParameter(f"{label}: {name} must hold strings, numbers or booleans")
    return value


def _values(label: str, name: str, value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise InvalidParameter(f"{label}: {name} must be a list, got {value!r}")
    if not value:
        raise InvalidParameter(f"{label}: {name} must not be empty")
    unique = list(dict.fromkeys(_scalar(label, name, v) for v in value))
    return sorted(unique, key=repr) if isinstance(value, (set, frozenset)) else unique


def _columns(label: str, name: str, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value:
        raise InvalidParameter(f"{label}: {name} must be a non-empty list of column names")
    columns = [_text(label, name, column) for column in value]
    if len(set(columns)) != len(columns):
        raise InvalidParameter(f"{label}: {name} lists a column twice: {columns}")
    return columns


def _pattern(label: str, name: str, value: Any) -> str:
    pattern = _text(label, name, value)
    try:
        re.compile(pattern)
    except re.error as error:
        raise InvalidParameter(f"{label}: {name} is not a valid regex: {error}") from error
    return pattern


# -- cross-field checks ---------------------------------------------------------------


def _ordered(label: str, params: dict[str, Any]) -> None:
    """At least one bound, and min <= max when both are comparable."""
    low, high = params["min"], params["max"]
    if low is None and high is None:
        raise InvalidParameter(f"{label}: give min, max or both")
    if low is None or high is None:
        return
    both_numbers = not isinstance(low, str) and not isinstance(high, str)
    both_text = isinstance(low, str) and isinstance(high, str)
    if (both_numbers or both_text) and low > high:
        raise InvalidParameter(f"{label}: min ({low!r}) is greater than max ({high!r})")
    if not (both_numbers or both_text):
        raise InvalidParameter(f"{label}: min and max must both be numbers or both dates")


def _bounds(check: Checker) -> tuple[Param, Param]:
    return Param("min", check, None), Param("max", check, None)


KINDS: dict[str, Kind] = {
    "column_exists": Kind(True),
    "column_type": Kind(True, (Param("type", _text),)),
    "not_null": Kind(True, (Param("max_fraction", _fraction, 0.0),)),
    "unique": Kind(True),
    "in_set": Kind(True, (Param("values", _values),)),
    "between": Kind(True, _bounds(_bound), _ordered),
    "matches": Kind(True, (Param("pattern", _pattern),)),
    "length_between": Kind(True, _bounds(_count), _ordered),
    "mean_between": Kind(True, _bounds(_number), _ordered),
    "std_between": Kind(True, _bounds(_number), _ordered),
    "quantile_between": Kind(True, (Param("q", _fraction), *_bounds(_number)), _ordered),
    "row_count_between": Kind(False, _bounds(_count), _ordered),
    "unique_together": Kind(False, (Param("columns", _columns),)),
    # ref_column None: the referenced column has the same name as the column
    "references": Kind(True, (Param("ref", _text), Param("ref_column", _text, None))),
}
