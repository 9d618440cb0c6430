"""validate: run a suite against a table with DuckDB, in one scan.

Every expectation's measurement is an aggregate in one ``SELECT`` over the
table, so a suite costs one pass however many expectations it holds; only
``references`` needs a join of its own. Failing rows are fetched afterwards,
``LIMIT sample_rows``, and only for expectations that failed. If the shared
scan fails (a value DuckDB cannot compare with the column), each check runs
alone, so the one that cannot be evaluated fails with DuckDB's reason and the
others still report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from loopml.core.errors import InvalidParameter, LoopmlError
from loopml.data.validation.checks import Check, Verdict, plan
from loopml.data.validation.expectations import Expectation
from loopml.data.validation.messages import examples
from loopml.data.validation.results import ExpectationResult, ValidationReport, to_json
from loopml.data.validation.sources import Table, open_table
from loopml.data.validation.suite import Suite

Resolver = Callable[[str], pa.Table | Path]
Values = Sequence[Any] | str  # the aggregates a check asked for, or why they could not be had
EXAMPLE_VALUES = 10


def validate(
    source: Any, suite: Suite, *, resolve: Resolver | None = None, sample_rows: int = 5
) -> ValidationReport:
    """Check ``source`` against every expectation of ``suite``.

    Args:
        source: a ``pyarrow.Table``, a pandas DataFrame, or the path of a Parquet
            file (scanned by DuckDB in place, never loaded into Python).
        suite: the expectations.
        resolve: turns a ``references`` target such as ``data:customers@3`` into
            its table (an Arrow table or a Parquet path).
        sample_rows: how many failing rows to keep per failed row-level expectation.

    Returns:
        A report with one result per expectation, in suite order. A missing
        column or an expectation that does not fit a column's type fails that
        expectation with a message; it never raises.

    Raises:
        InvalidParameter: an unreadable source, bad arguments, or ``references``
            without ``resolve``.
    """
    started = time.perf_counter()
    _check_arguments(suite, resolve, sample_rows)
    con = duckdb.connect()
    try:
        table = open_table(con, source, "source")
        planned = _plan_all(con, suite, table, resolve, _integer_ranges(con, suite, table))
        row_count, values = _measure(con, table, planned)
        results = [
            _result(con, table, expectation, item, values.get(index), row_count, sample_rows)
            for index, (expectation, item) in enumerate(
                zip(suite.expectations, planned, strict=True)
            )
        ]
    finally:
        con.close()
    duration_ms = (time.perf_counter() - started) * 1000
    success = all(result.success for result in results)
    return ValidationReport(suite.name, success, results, row_count, duration_ms)


def _check_arguments(suite: Suite, resolve: Resolver | None, sample_rows: int) -> None:
    if not isinstance(suite, Suite):
        raise InvalidParameter(f"suite: expected a Suite, got {type(suite).__name__}")
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int) or sample_rows < 0:
        raise InvalidParameter(f"sample_rows must be a whole number >= 0, got {sample_rows!r}")
    if resolve is None and any(e.kind == "references" for e in suite.expectations):
        raise InvalidParameter(
            f"suite {suite.name!r} has references expectations: pass resolve= to validate"
        )


def _integer_ranges(
    con: duckdb.DuckDBPyConnection, suite: Suite, table: Table
) -> dict[str, tuple[int, int]]:
    """(min, max) of the integer columns that must be unique: Parquet statistics answer it."""
    columns = {
        e.column
        for e in suite.expectations
        if e.kind == "unique" and e.column and pa.types.is_integer(table.type_of(e.column))
    }
    if not columns:
        return {}
    ordered = sorted(columns)
    bounds = ", ".join(f"min({table.column(c)}), max({table.column(c)})" for c in ordered)
    found = _run(con, f"SELECT {bounds} FROM {table.sql}", table.params)
    if isinstance(found, str):
        return {}
    pairs = zip(ordered, zip(found[::2], found[1::2], strict=True), strict=True)
    return {column: (low, high) for column, (low, high) in pairs if low is not None}


def _plan_all(
    con: duckdb.DuckDBPyConnection,
    suite: Suite,
    table: Table,
    resolve: Resolver | None,
    ranges: dict[str, tuple[int, int]],
) -> list[Check | Verdict]:
    refs: dict[str, Table | str] = {}
    planned: list[Check | Verdict] = []
    for index, expectation in enumerate(suite.expectations):
        ref = None
        if expectation.kind == "references" and resolve is not None:
            target = expectation.params["ref"]
            if target not in refs:
                refs[target] = _open_reference(con, target, f"ref{len(refs)}", resolve)
            ref = refs[target]
        if isinstance(ref, str):
            planned.append(Verdict(False, None, None, f"{expectation.column}: {ref}"))
        else:
            span = ranges.get(expectation.column or "") if expectation.kind == "unique" else None
            planned.append(plan(expectation, table, f"e{index}", ref, span))
    return planned


def _open_reference(
    con: duckdb.DuckDBPyConnection, target: str, name: str, resolve: Resolver
) -> Table | str:
    """The referenced table, or why it cannot be had (which fails only its expectations)."""
    try:
        return open_table(con, resolve(target), name)
    except LoopmlError as error:
        return f"cannot resolve {target}: {error.message}"


def _measure(
    con: duckdb.DuckDBPyConnection, table: Table, planned: list[Check | Verdict]
) -> tuple[int, dict[int, Values]]:
    """The row count and every check's values: the shared scan, then queries of their own."""
    shared = {
        index: item
        for index, item in enumerate(planned)
        if isinstance(item, Check) and item.query is None
    }
    aggregates = ["count(*)", *(a for check in shared.values() for a in check.aggregates)]
    params = dict(table.params)
    for check in shared.values():
        params.update(check.params)
    values: dict[int, Values] = {}
    try:
        row = _one(con, f"SELECT {', '.join(aggregates)} FROM {table.sql}", params)
        row_count, position = int(row[0]), 1
        for index, check in shared.items():
            values[index] = row[position : position + len(check.aggregates)]
            position += len(check.aggregates)
    except duckdb.Error:
        row_count = _row_count(con, table)
        values = {index: _alone(con, table, check) for index, check in shared.items()}
    for index, item in enumerate(planned):
        if isinstance(item, Check) and item.query is not None:
            values[index] = _run(con, item.query, {**table.params, **item.params})
    return row_count, values


def _row_count(con: duckdb.DuckDBPyConnection, table: Table) -> int:
    try:
        return int(_one(con, f"SELECT count(*) FROM {table.sql}", table.params)[0])
    except duckdb.Error as error:
        raise InvalidParameter(f"cannot read the table to validate: {error}") from error


def _alone(con: duckdb.DuckDBPyConnection, table: Table, check: Check) -> Values:
    if not check.aggregates:
        return ()
    sql = f"SELECT {', '.join(check.aggregates)} FROM {table.sql}"
    return _run(con, sql, {**table.params, **check.params})


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Values:
    try:
        return _one(con, sql, params)
    except duckdb.Error as error:
        return str(error).strip().splitlines()[0]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    """The single row of an aggregate query, by position (aggregates may share a name)."""
    return tuple(column[0].as_py() for column in _arrow(con, sql, params).columns)


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> pa.Table:
    """Results through Arrow: DuckDB's own Python conversion needs pytz for zoned times."""
    return con.sql(sql, params=params).to_arrow_table()


def _result(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    expectation: Expectation,
    item: Check | Verdict,
    values: Values | None,
    row_count: int,
    sample_rows: int,
) -> ExpectationResult:
    if isinstance(item, Verdict):
        verdict = item
    elif isinstance(values, str):
        verdict = Verdict(False, None, None, f"{expectation.label}: cannot be evaluated: {values}")
    else:
        verdict = item.judge(values or (), row_count)
    rows: list[dict[str, Any]] = []
    failed_check = isinstance(item, Check) and item.failing and not verdict.success
    if failed_check and isinstance(item, Check) and not isinstance(values, str):
        verdict = _with_examples(con, table, item, verdict)
        rows = _failing_rows(con, table, item, sample_rows)
    count = verdict.unexpected_count
    return ExpectationResult(
        expectation=expectation,
        success=verdict.success,
        observed=to_json(verdict.observed),
        unexpected_count=count,
        unexpected_fraction=None if count is None else (count / row_count if row_count else 0.0),
        failing_rows=rows,
        message=verdict.message,
    )


def _failing_rows(
    con: duckdb.DuckDBPyConnection, table: Table, check: Check, limit: int
) -> list[dict[str, Any]]:
    if limit == 0:
        return []
    sql = f"SELECT s.* FROM {table.sql} AS s WHERE {check.failing} LIMIT {int(limit)}"
    found = _arrow(con, sql, {**table.params, **check.params})
    if found.num_columns == len(table.schema):
        found = found.rename_columns(table.schema.names)  # the user's names, not DuckDB's
    return [to_json(row) for row in found.to_pylist()]


def _with_examples(
    con: duckdb.DuckDBPyConnection, table: Table, check: Check, verdict: Verdict
) -> Verdict:
    """For set-like kinds, the offending values themselves are the observation."""
    if check.examples is None:
        return verdict
    sql = (
        f"SELECT DISTINCT {check.examples} FROM {table.sql} AS s "
        f"WHERE {check.failing} LIMIT {EXAMPLE_VALUES}"
    )
    values = _arrow(con, sql, {**table.params, **check.params}).column(0).to_pylist()
    found = sorted(to_json(values), key=repr)
    return replace(verdict, observed=found, message=verdict.message + examples(found))
