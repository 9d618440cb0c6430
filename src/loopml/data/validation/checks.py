"""How each expectation kind is measured in SQL and judged.

Planning turns an expectation into a :class:`Check`: aggregate expressions
that join the one shared scan of the table (or, for ``references``, a query of
its own), a ``judge`` that reads those values, and for row-level kinds the
predicate selecting the rows that break it, so failing rows are fetched only
for expectations that failed. Columns are always quoted (by DuckDB's own
names for them); values are bound as parameters, except regex patterns
(escaped literals, so DuckDB compiles them once) and numbers this module
formats itself. An expectation that cannot run (a missing column, a
string column given ``between``) is judged at once, as a failed
:class:`Verdict`, so it never stops the other expectations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from loopml.data.sql import literal
from loopml.data.validation.expectations import Expectation
from loopml.data.validation.messages import interval, percent, plural, show, show_set
from loopml.data.validation.sources import Table, can_be_nan, family, present


@dataclass(frozen=True)
class Verdict:
    success: bool
    observed: Any
    unexpected_count: int | None
    message: str


Judge = Callable[[Sequence[Any], int], Verdict]  # (aggregate values, row count) -> verdict


@dataclass(frozen=True)
class Check:
    """An expectation ready to run: what to compute, how to judge it, where its bad rows are."""

    expectation: Expectation
    judge: Judge
    aggregates: tuple[str, ...] = ()  # expressions in the shared scan
    query: str | None = None  # or a one-row query of its own
    params: dict[str, Any] = field(default_factory=dict)
    failing: str | None = None  # WHERE text over the table aliased ``s``
    examples: str | None = None  # an expression whose offending values name in the message


@dataclass(frozen=True)
class Scope:
    """What a planner needs: the expectation, the table, and a prefix for parameter names."""

    expectation: Expectation
    table: Table
    key: str
    ref: Table | None = None
    integer_range: tuple[int, int] | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.expectation.column or ""

    @property
    def column(self) -> str:
        return self.table.column(self.name)

    @property
    def present(self) -> str:
        return present(self.column, self._type(self.name))

    def over_present(self, aggregate: str) -> str:
        """``aggregate`` over present values; a FILTER only where NaN must be left out.

        Aggregates skip nulls by themselves, and unfiltered ones are cheaper
        (DuckDB answers some from Parquet statistics).
        """
        if can_be_nan(self._type(self.name)):
            return f"{aggregate} FILTER (WHERE {self.present})"
        return aggregate

    def bind(self, value: Any) -> str:
        """A placeholder for ``value``, bound when the check runs."""
        name = f"{self.key}_{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def _type(self, column: str) -> Any:
        return self.table.type_of(column)


BITMAP_BITS = 1 << 27  # 16 MiB per thread, for the widest integer range counted by bitmap

NEEDS = {
    "between": ("numeric", "temporal"),
    "mean_between": ("numeric",),
    "std_between": ("numeric",),
    "quantile_between": ("numeric",),
    "length_between": ("string",),
    "matches": ("string",),
    "in_set": ("numeric", "temporal", "string", "boolean"),
}


def plan(
    expectation: Expectation,
    table: Table,
    key: str,
    ref: Table | None = None,
    integer_range: tuple[int, int] | None = None,
) -> Check | Verdict:
    """The check for ``expectation`` on ``table``, or a verdict when it cannot run there.

    ``ref`` is the table a ``references`` expectation names; ``integer_range``
    the (min, max) of an integer column a ``unique`` expectation is about.
    """
    if expectation.kind == "column_exists":
        return _column_exists(expectation, table)
    problem = _unfit(expectation, table)
    if problem is not None:
        return Verdict(False, None, None, problem)
    return PLANNERS[expectation.kind](Scope(expectation, table, key, ref, integer_range))


def _unfit(expectation: Expectation, table: Table) -> str | None:
    missing = [column for column in expectation.columns if table.type_of(column) is None]
    if missing:
        names = table.schema.names
        listed = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        return f"{missing[0]}: column not found (columns: {listed})"
    needs = NEEDS.get(expectation.kind)
    column = expectation.column or ""
    if needs and family(table.type_of(column)) not in needs:
        return (
            f"{column}: {expectation.kind} needs a {' or '.join(needs)} column, "
            f"but {column} is {table.type_of(column)}"
        )
    return None


def _column_exists(expectation: Expectation, table: Table) -> Verdict:
    column = expectation.column or ""
    exists = table.type_of(column) is not None
    return Verdict(exists, exists, None, f"{column}: column {'exists' if exists else 'is missing'}")


def _column_type(scope: Scope) -> Check:
    actual = str(scope.table.type_of(scope.name))
    expected = scope.expectation.params["type"]
    ok = actual == expected
    text = f"{scope.name}: type {actual}" + ("" if ok else f", expected {expected}")
    return Check(scope.expectation, lambda values, rows: Verdict(ok, actual, None, text))


def _not_null(scope: Scope) -> Check:
    allowed = scope.expectation.params["max_fraction"]

    def judge(values: Sequence[Any], rows: int) -> Verdict:
        nulls = int(values[0])
        fraction = nulls / rows if rows else 0.0
        ok = fraction <= allowed
        text = f"{scope.name}: {plural(nulls, 'null')} ({percent(fraction)})"
        return Verdict(ok, fraction, nulls, text + ("" if ok else f", allowed {percent(allowed)}"))

    missing = f"NOT {scope.present}"
    # count(column) skips nulls faster than a filter does; floats also need NaN filtered
    nulls = f"count(*) - count({scope.column})"
    if can_be_nan(scope.table.type_of(scope.name)):
        nulls = _count_if(missing)
    return Check(scope.expectation, judge, (nulls,), failing=missing)


def _violations(
    scope: Scope,
    condition: str,
    what: str,
    extra: tuple[str, ...] = (),
    observe: Callable[[Sequence[Any]], Any] | None = None,
) -> Check:
    """A row-level kind: present values for which ``condition`` is false are unexpected."""
    bad = f"{scope.present} AND NOT ({condition})"

    def judge(values: Sequence[Any], rows: int) -> Verdict:
        count = int(values[0])
        observed = observe(values[1:]) if observe else count
        fraction = count / rows if rows else 0.0
        text = f"{scope.name}: {plural(count, 'value')} {what} ({percent(fraction)})"
        return Verdict(count == 0, observed, count, text)

    aggregates = (_count_if(bad), *extra)
    return Check(scope.expectation, judge, aggregates, params=scope.params, failing=bad)


def _count_if(condition: str) -> str:
    """Rows where ``condition`` holds: count_if runs cheaper than a FILTER (NULL on no rows)."""
    return f"coalesce(count_if({condition}), 0)"


def _min_max(values: Sequence[Any]) -> dict[str, Any]:
    return {"min": values[0], "max": values[1]}


def _between(scope: Scope) -> Check:
    low, high = scope.expectation.params["min"], scope.expectation.params["max"]
    parts = [f"{scope.column} >= {scope.bind(low)}"] if low is not None else []
    parts += [f"{scope.column} <= {scope.bind(high)}"] if high is not None else []
    extra = (scope.over_present(f"min({scope.column})"), scope.over_present(f"max({scope.column})"))
    what = f"outside {interval(low, high)}"
    return _violations(scope, " AND ".join(parts), what, extra, _min_max)


def _length_between(scope: Scope) -> Check:
    low, high = scope.expectation.params["min"], scope.expectation.params["max"]
    length = f"length({scope.column})"
    parts = [f"{length} >= {int(low)}"] if low is not None else []
    parts += [f"{length} <= {int(high)}"] if high is not None else []
    extra = (f"min({length})", f"max({length})")
    what = f"with length outside {interval(low, high)}"
    return _violations(scope, " AND ".join(parts), what, extra, _min_max)


def _in_set(scope: Scope) -> Check:
    values = scope.expectation.params["values"]
    placeholders = ", ".join(scope.bind(value) for value in values)
    check = _violations(scope, f"{scope.column} IN ({placeholders})", f"not in {show_set(values)}")
    return replace(check, examples=scope.column)


def _matches(scope: Scope) -> Check:
    pattern = scope.expectation.params["pattern"]
    # a quoted literal rather than a parameter: DuckDB compiles a constant pattern once
    condition = f"regexp_full_match({scope.column}, {literal(pattern)})"
    return _violations(scope, condition, f"not matching {pattern!r}")


def _statistic(sql: str, name: str) -> Callable[[Scope], Check]:
    """A kind that bounds one aggregate (``{c}`` is the column) of the present values."""

    def planner(scope: Scope) -> Check:
        low, high = scope.expectation.params["min"], scope.expectation.params["max"]

        def judge(values: Sequence[Any], rows: int) -> Verdict:
            if values[0] is None:
                return Verdict(False, None, None, f"{scope.name}: {name} undefined, too few values")
            value = float(values[0])
            ok = (low is None or value >= low) and (high is None or value <= high)
            where = "within" if ok else "outside"
            return Verdict(
                ok, value, None, f"{scope.name}: {name} {show(value)} {where} {interval(low, high)}"
            )

        aggregate = scope.over_present(sql.format(c=scope.column))
        return Check(scope.expectation, judge, (aggregate,))

    return planner


def _quantile(scope: Scope) -> Check:
    q = float(scope.expectation.params["q"])
    return _statistic(f"quantile_cont({{c}}, {q!r})", f"quantile {q:g}")(scope)


def _row_count(scope: Scope) -> Check:
    low, high = scope.expectation.params["min"], scope.expectation.params["max"]

    def judge(values: Sequence[Any], rows: int) -> Verdict:
        ok = (low is None or rows >= low) and (high is None or rows <= high)
        where = "within" if ok else "outside"
        return Verdict(ok, rows, None, f"row count {rows} {where} {interval(low, high)}")

    return Check(scope.expectation, judge)


def _duplicates(scope: Scope, columns: list[str]) -> Check:
    """No key (one column or several) occurs twice among rows where the whole key is present."""
    quoted = [scope.table.column(column) for column in columns]
    key = quoted[0] if len(quoted) == 1 else f"row({', '.join(quoted)})"
    everywhere = " AND ".join(
        present(q, scope.table.type_of(c)) for q, c in zip(quoted, columns, strict=True)
    )
    repeated = (
        f"SELECT {key} FROM {scope.table.sql} WHERE {everywhere} GROUP BY ALL HAVING count(*) > 1"
    )
    label = columns[0] if len(columns) == 1 else f"({', '.join(columns)})"

    def judge(values: Sequence[Any], rows: int) -> Verdict:
        extra = int(values[0]) - int(values[1])
        noun = "duplicate value" if len(columns) == 1 else "duplicate key"
        return Verdict(extra == 0, extra, extra, f"{label}: {plural(extra, noun)}")

    aggregates = (
        _count_if(everywhere),
        f"count(DISTINCT {key}) FILTER (WHERE {everywhere})",
    )
    if len(columns) == 1 and not can_be_nan(scope.table.type_of(columns[0])):
        aggregates = (f"count({key})", _distinct(key, scope.integer_range))
    return Check(scope.expectation, judge, aggregates, failing=f"{key} IN ({repeated})")


def _distinct(column: str, integer_range: tuple[int, int] | None) -> str:
    """Distinct non-null values; for integers in a modest range a bitmap, ~10x a hash table."""
    if integer_range is not None and 0 <= integer_range[1] - integer_range[0] < BITMAP_BITS:
        low, high = int(integer_range[0]), int(integer_range[1])
        return f"bit_count(bitstring_agg({column}, {low}, {high}))"
    return f"count(DISTINCT {column})"


def _references(scope: Scope) -> Check | Verdict:
    ref, ref_table = scope.expectation.params["ref"], scope.ref
    ref_column = scope.expectation.params["ref_column"] or scope.name
    if ref_table is None or ref_table.type_of(ref_column) is None:
        return Verdict(False, None, None, f"{scope.name}: {ref} has no column {ref_column!r}")
    source = f"s.{scope.column}"
    bad = (
        f"{present(source, scope.table.type_of(scope.name))} AND NOT EXISTS "
        f"(SELECT 1 FROM {ref_table.sql} AS r WHERE r.{ref_table.column(ref_column)} = {source})"
    )

    def judge(values: Sequence[Any], rows: int) -> Verdict:
        count = int(values[0])
        fraction = count / rows if rows else 0.0
        text = f"{plural(count, 'value')} not found in {ref}.{ref_column} ({percent(fraction)})"
        return Verdict(count == 0, count, count, f"{scope.name}: {text}")

    query = f"SELECT count(*) FROM {scope.table.sql} AS s WHERE {bad}"
    return Check(
        scope.expectation, judge, query=query, params=ref_table.params, failing=bad, examples=source
    )


PLANNERS: dict[str, Callable[[Scope], Check | Verdict]] = {
    "column_type": _column_type,
    "not_null": _not_null,
    "unique": lambda scope: _duplicates(scope, [scope.name]),
    "in_set": _in_set,
    "between": _between,
    "matches": _matches,
    "length_between": _length_between,
    "mean_between": _statistic("avg({c})", "mean"),
    "std_between": _statistic("stddev_samp({c})", "std"),
    "quantile_between": _quantile,
    "row_count_between": _row_count,
    "unique_together": lambda scope: _duplicates(scope, scope.expectation.columns),
    "references": _references,
}
