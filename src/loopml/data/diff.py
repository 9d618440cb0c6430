"""What changed between two dataset versions: schema, row count, and rows, computed by DuckDB.

With key columns, rows are matched by key: a key only in the new version is
added, only in the old one removed, and in both with any other common
column different (``IS DISTINCT FROM``, so null vs value counts) changed.
Without keys, rows are compared as multisets (``EXCEPT ALL``): added and
removed counts, no "changed". Both sides are scanned by DuckDB straight from
Parquet files when they are local, so a diff never loads a table into Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from loopml.core.errors import InvalidParameter
from loopml.data.sql import Source, json_safe_rows, quote, relation_sql


@dataclass(frozen=True)
class SchemaChange:
    column: str
    change: str  # "added", "removed" or "type"
    before: str | None
    after: str | None


@dataclass(frozen=True)
class DataDiff:
    """The difference from ``before`` to ``after``; row samples are whole rows (or key + cells)."""

    before: str
    after: str
    keys: list[str]
    rows_before: int
    rows_after: int
    schema_changes: list[SchemaChange]
    added: int
    removed: int
    changed: int | None  # None without keys: a changed row is one removed plus one added
    changed_columns: dict[str, int] = field(default_factory=dict)
    added_sample: list[dict[str, Any]] = field(default_factory=list)
    removed_sample: list[dict[str, Any]] = field(default_factory=list)
    changed_sample: list[dict[str, Any]] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.schema_changes or self.added or self.removed or self.changed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataDiff:
        values = dict(data)
        values["schema_changes"] = [SchemaChange(**c) for c in data["schema_changes"]]
        return cls(**values)


def diff_tables(
    before: Source,
    after: Source,
    *,
    keys: tuple[str, ...] | list[str] = (),
    labels: tuple[str, str] = ("before", "after"),
    sample: int = 10,
) -> DataDiff:
    """Compare two tables (Arrow tables or Parquet paths); see the module docstring."""
    with duckdb.connect() as con:
        _register(con, "a", before)
        _register(con, "b", after)
        types_a, types_b = _types(con, "a"), _types(con, "b")
        keys = list(keys)
        for key in keys:
            if key not in types_a or key not in types_b:
                raise InvalidParameter(f"key column {key!r} is not in both versions")
        rows_a, rows_b = _count(con, "a"), _count(con, "b")
        common = [c for c in types_a if c in types_b and c not in keys]
        counts = (
            _by_key(
                con, keys, common, sample, retyped=any(types_a[c] != types_b[c] for c in common)
            )
            if keys
            else _as_multisets(con, types_a, types_b, sample)
        )
    return DataDiff(
        before=labels[0],
        after=labels[1],
        keys=keys,
        rows_before=rows_a,
        rows_after=rows_b,
        schema_changes=_schema_changes(types_a, types_b),
        **counts,
    )


def _register(con: duckdb.DuckDBPyConnection, name: str, source: Source) -> None:
    con.execute(f"CREATE VIEW {name} AS SELECT * FROM {relation_sql(con, name, source)}")


def _types(con: duckdb.DuckDBPyConnection, view: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {view}").fetchall()}


def _count(con: duckdb.DuckDBPyConnection, view: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0])


def _schema_changes(before: dict[str, str], after: dict[str, str]) -> list[SchemaChange]:
    changes = [SchemaChange(c, "removed", t, None) for c, t in before.items() if c not in after]
    changes += [SchemaChange(c, "added", None, t) for c, t in after.items() if c not in before]
    changes += [
        SchemaChange(c, "type", t, after[c])
        for c, t in before.items()
        if c in after and after[c] != t
    ]
    return changes


def _by_key(
    con: duckdb.DuckDBPyConnection,
    keys: list[str],
    common: list[str],
    sample: int,
    retyped: bool,
) -> dict[str, Any]:
    for view in ("a", "b"):
        _check_unique_keys(con, view, keys)
    on = " AND ".join(f"a.{quote(k)} = b.{quote(k)}" for k in keys)
    first = quote(keys[0])  # keys hold no nulls, so a null key means "not on that side"
    columns = [f"a.{first} IS NULL AS only_b", f"b.{first} IS NULL AS only_a"]
    columns += [f"coalesce(a.{quote(k)}, b.{quote(k)}) AS {quote('k:' + k)}" for k in keys]
    columns += [f"a.{quote(c)} IS DISTINCT FROM b.{quote(c)} AS {quote('d:' + c)}" for c in common]
    con.execute(
        f"CREATE TEMP TABLE joined AS SELECT {', '.join(columns)} FROM a FULL OUTER JOIN b ON {on}"
    )
    any_change = " OR ".join(quote("d:" + c) for c in common) or "false"
    both = "NOT only_a AND NOT only_b"
    added, removed, changed = con.execute(
        f"SELECT count(*) FILTER (WHERE only_b), count(*) FILTER (WHERE only_a), "
        f"count(*) FILTER (WHERE {both} AND ({any_change})) FROM joined"
    ).fetchall()[0]
    per_column = con.execute(
        "SELECT "
        + (", ".join(f"count(*) FILTER (WHERE {quote('d:' + c)})" for c in common) or "0")
        + f" FROM joined WHERE {both}"
    ).fetchall()[0]
    changed_columns = {c: int(n) for c, n in zip(common, per_column or (), strict=False) if n}
    key_match = " AND ".join(f"t.{quote(k)} = j.{quote('k:' + k)}" for k in keys)
    return {
        "added": int(added),
        "removed": int(removed),
        "changed": int(changed),
        "changed_columns": changed_columns,
        "added_sample": _rows(
            con,
            f"SELECT t.* FROM b t SEMI JOIN (SELECT * FROM joined WHERE only_b) j ON {key_match}",
            sample,
        ),
        "removed_sample": _rows(
            con,
            f"SELECT t.* FROM a t SEMI JOIN (SELECT * FROM joined WHERE only_a) j ON {key_match}",
            sample,
        ),
        "changed_sample": _changed_rows(con, keys, common, sample, retyped),
    }


def _check_unique_keys(con: duckdb.DuckDBPyConnection, view: str, keys: list[str]) -> None:
    columns = ", ".join(quote(k) for k in keys)
    side = "old" if view == "a" else "new"
    any_null = " OR ".join(f"{quote(k)} IS NULL" for k in keys)
    nulls = con.execute(f"SELECT count(*) FROM {view} WHERE {any_null}").fetchall()[0][0]
    if nulls:
        raise InvalidParameter(
            f"key {keys} is null in {nulls} rows of the {side} version: a key must identify a row"
        )
    duplicated = con.execute(
        f"SELECT count(*) FROM (SELECT {columns} FROM {view} GROUP BY ALL HAVING count(*) > 1)"
    ).fetchall()[0][0]
    if duplicated:
        raise InvalidParameter(
            f"key {keys} is not unique in the {side} version ({duplicated} keys repeat): "
            "choose columns that identify a row"
        )


def _changed_rows(
    con: duckdb.DuckDBPyConnection,
    keys: list[str],
    common: list[str],
    sample: int,
    retyped: bool,
) -> list[dict[str, Any]]:
    """Changed rows as their key plus, per changed cell, ``[before, after]``."""
    if not common:
        return []
    on = " AND ".join(f"a.{quote(k)} = b.{quote(k)}" for k in keys)
    cast = "::VARCHAR" if retyped else ""  # a column whose type changed shows as text
    cells = ", ".join(
        f"CASE WHEN a.{quote(c)} IS DISTINCT FROM b.{quote(c)} "
        f"THEN [a.{quote(c)}{cast}, b.{quote(c)}{cast}] END AS {quote(c)}"
        for c in common
    )
    key_columns = ", ".join(f"a.{quote(k)}" for k in keys)
    where = " OR ".join(f"a.{quote(c)} IS DISTINCT FROM b.{quote(c)}" for c in common)
    rows = _rows(
        con,
        f"SELECT {key_columns}, {cells} FROM a JOIN b ON {on} WHERE {where} ORDER BY {key_columns}",
        sample,
    )
    return [{k: v for k, v in row.items() if v is not None or k in keys} for row in rows]


def _as_multisets(
    con: duckdb.DuckDBPyConnection,
    types_a: dict[str, str],
    types_b: dict[str, str],
    sample: int,
) -> dict[str, Any]:
    if types_a != types_b:  # rows of different shapes: every row differs
        return {
            "added": _count(con, "b"),
            "removed": _count(con, "a"),
            "changed": None,
        }
    con.execute("CREATE TEMP TABLE only_b AS SELECT * FROM b EXCEPT ALL SELECT * FROM a")
    con.execute("CREATE TEMP TABLE only_a AS SELECT * FROM a EXCEPT ALL SELECT * FROM b")
    return {
        "added": _count(con, "only_b"),
        "removed": _count(con, "only_a"),
        "changed": None,
        "added_sample": _rows(con, "SELECT * FROM only_b", sample),
        "removed_sample": _rows(con, "SELECT * FROM only_a", sample),
    }


def _rows(con: duckdb.DuckDBPyConnection, query: str, limit: int) -> list[dict[str, Any]]:
    if limit <= 0:
        return []
    return json_safe_rows(con.sql(f"{query} LIMIT {int(limit)}").to_arrow_table())
