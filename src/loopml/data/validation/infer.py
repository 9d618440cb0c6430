"""infer_suite: propose a suite from a profile of a clean dataset version.

The proposal is meant to pass on the version it was inferred from and to
catch the usual corruptions of a later one: a vanished or retyped column,
new nulls, a duplicated key, an unknown category, a value outside the range
seen, a string longer than any seen, a shifted mean. It is a starting point
to edit by hand, so every rule is simple enough to predict:

- ``row_count_between``: half to double the profiled row count (a version
  that lost half its rows, or doubled, is suspect; growth in between is not).
- every column: ``column_exists`` and ``column_type`` (the profiled Arrow type).
- ``not_null``: ``max_fraction`` 0 when nothing was missing, else the observed
  fraction plus a margin (a tenth of it, at least one point), rounded up to
  0.01%; left out when that allows everything.
- ``unique``: integer and string columns whose every row holds a distinct
  value (floats and times are distinct by accident too often to mean a key).
- ``in_set``: string and boolean columns with at most 20 values that repeat,
  when the profile's top values list them all (no ``length_between`` then).
- ``between``: numeric columns, the observed min and max (an infinite one left open).
- ``length_between``: other string columns, the observed shortest and longest.
- ``mean_between``: numeric columns without infinities, the mean give or
  take the larger of a tenth of it and half a standard deviation.
"""

from __future__ import annotations

import decimal
import math
from typing import Any

from loopml.data.profile import ColumnProfile, Profile
from loopml.data.validation.builders import expect
from loopml.data.validation.expectations import Expectation
from loopml.data.validation.suite import Suite

MAX_SET_SIZE = 20
NULL_MARGIN = 0.1  # of the observed null fraction
MIN_NULL_MARGIN = 0.01
MEAN_MARGIN = 0.1  # of the mean's magnitude
MEAN_STD_MARGIN = 0.5  # of the standard deviation
MEAN_TOLERANCE = 1e-9  # float round-off between profiler and validator


def infer_suite(profile: Profile, name: str) -> Suite:
    """A suite the profiled version passes (see the module's rules)."""
    expectations = [_row_count(profile.row_count)]
    for column in profile.columns:
        expectations += _for_column(column, profile.row_count)
    return Suite(name, expectations, description="inferred from a profile; review before use")


def _row_count(rows: int) -> Expectation:
    return expect.row_count_between(min=rows // 2, max=rows * 2 if rows else None)


def _for_column(column: ColumnProfile, rows: int) -> list[Expectation]:
    found = [expect.column_exists(column.name), expect.column_type(column.name, column.type)]
    found += _not_null(column)
    if _is_key(column, rows):
        found.append(expect.unique(column.name))
    values = _categories(column)
    if values is not None:
        found.append(expect.in_set(column.name, values))
    elif column.kind == "categorical" and column.min_length is not None:
        found.append(expect.length_between(column.name, column.min_length, column.max_length))
    if column.kind == "numeric":
        found += _numeric(column)
    return found


def _not_null(column: ColumnProfile) -> list[Expectation]:
    fraction = column.missing_fraction
    if fraction == 0:
        return [expect.not_null(column.name)]
    widened = (fraction + max(fraction * NULL_MARGIN, MIN_NULL_MARGIN)) * 10_000
    allowed = math.ceil(round(widened, 6)) / 10_000  # round first: 0.11 * 1e4 is 1100.0000000000002
    return [expect.not_null(column.name, allowed)] if allowed < 1 else []


def _is_key(column: ColumnProfile, rows: int) -> bool:
    keyish = column.kind == "categorical" or _is_integer_type(column.type)
    return keyish and rows > 0 and column.distinct == column.count == rows


def _is_integer_type(arrow_type: str) -> bool:
    return arrow_type.startswith(("int", "uint"))


def _categories(column: ColumnProfile) -> list[Any] | None:
    """The complete list of values of a small categorical or boolean column, else None."""
    if column.kind not in ("categorical", "boolean") or column.count == 0:
        return None
    if column.distinct > MAX_SET_SIZE or column.distinct >= column.count:
        return None
    listed = [value for value, _ in column.top_values]
    covered = sum(count for _, count in column.top_values)
    if len(listed) != column.distinct or covered != column.count:
        return None
    return listed


def _numeric(column: ColumnProfile) -> list[Expectation]:
    found = []
    low, high = _plain(column.min), _plain(column.max)
    if low is not None or high is not None:
        found.append(expect.between(column.name, low, high))
    # the profile's mean leaves infinities out and the validated one would not
    finite = low is not None and high is not None
    if finite and column.mean is not None and math.isfinite(column.mean):
        std = column.std if column.std is not None and math.isfinite(column.std) else 0.0
        margin = max(abs(column.mean) * MEAN_MARGIN, std * MEAN_STD_MARGIN, MEAN_TOLERANCE)
        found.append(expect.mean_between(column.name, column.mean - margin, column.mean + margin))
    return found


def _plain(value: Any) -> Any:
    """A profiled bound as the validator compares it (decimals as floats, NaN as unknown)."""
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
