"""The ``expect`` builders: one typed, documented function per expectation kind.

Each builder only gathers its arguments into an :class:`Expectation`, which
checks them, so a bad argument fails here with an ``InvalidParameter`` that
names the expectation and the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loopml.data.validation.expectations import Expectation

Number = int | float


class ExpectationBuilders:
    """The namespace behind ``expect``: ``expect.not_null("id")``."""

    def column_exists(self, column: str) -> Expectation:
        return Expectation("column_exists", column)

    def column_type(self, column: str, type: str) -> Expectation:
        """``type`` is the Arrow type as ``str(field.type)`` writes it: ``int64``, ``string``."""
        return Expectation("column_type", column, {"type": type})

    def not_null(self, column: str, max_fraction: float = 0.0) -> Expectation:
        """At most ``max_fraction`` of the rows are null (NaN counts as null)."""
        return Expectation("not_null", column, {"max_fraction": max_fraction})

    def unique(self, column: str) -> Expectation:
        """No non-null value occurs twice."""
        return Expectation("unique", column)

    def in_set(self, column: str, values: Iterable[Any]) -> Expectation:
        """Every non-null value is one of ``values``."""
        listed = values if isinstance(values, (str, set, frozenset)) else list(values)
        return Expectation("in_set", column, {"values": listed})

    def between(self, column: str, min: Any = None, max: Any = None) -> Expectation:
        """Every non-null value lies in [min, max]; numbers or dates, one bound may be left out."""
        return Expectation("between", column, {"min": min, "max": max})

    def matches(self, column: str, pattern: str) -> Expectation:
        """Every non-null value matches ``pattern`` as a whole (run by DuckDB's RE2)."""
        return Expectation("matches", column, {"pattern": pattern})

    def length_between(
        self, column: str, min: int | None = None, max: int | None = None
    ) -> Expectation:
        """Every non-null string has between ``min`` and ``max`` characters."""
        return Expectation("length_between", column, {"min": min, "max": max})

    def mean_between(self, column: str, min: Number | None, max: Number | None) -> Expectation:
        return Expectation("mean_between", column, {"min": min, "max": max})

    def std_between(self, column: str, min: Number | None, max: Number | None) -> Expectation:
        """The sample standard deviation lies in [min, max]."""
        return Expectation("std_between", column, {"min": min, "max": max})

    def quantile_between(
        self, column: str, q: float, min: Number | None, max: Number | None
    ) -> Expectation:
        """The ``q`` quantile (continuous, 0 <= q <= 1) lies in [min, max]."""
        return Expectation("quantile_between", column, {"q": q, "min": min, "max": max})

    def row_count_between(self, min: int | None = None, max: int | None = None) -> Expectation:
        return Expectation("row_count_between", None, {"min": min, "max": max})

    def unique_together(self, columns: Iterable[str]) -> Expectation:
        """No two rows share the same key; rows with a null in the key are not compared."""
        listed = columns if isinstance(columns, str) else list(columns)
        return Expectation("unique_together", None, {"columns": listed})

    def references(self, col: str, ref: str, /, column: str | None = None) -> Expectation:
        """Every non-null value of ``col`` occurs in ``column`` of the dataset version ``ref``.

        ``ref`` is a data reference such as ``data:customers@3``, handed to
        ``validate``'s ``resolve``; ``column`` defaults to ``col``.
        """
        return Expectation("references", col, {"ref": ref, "ref_column": column})


expect = ExpectationBuilders()
