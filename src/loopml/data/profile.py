"""Profiles: per-column statistics of a table, the shared summary of what data looks like.

A profile is what ``infer-suite`` proposes expectations from, what the HTML
page shows, and the reference the monitoring issue compares live data with,
so it is plain data: JSON-safe through :meth:`Profile.to_dict` /
:meth:`Profile.from_dict`.

:func:`profile_table` computes one exactly with DuckDB: one aggregate over
every column for the scalar statistics (exact quantiles included), one query
for every histogram, and one grouped query per column for its exact distinct
count (for categorical and boolean columns the same query gives the top
values). The table's columns are renamed ``c0 .. cN`` by position before
DuckDB sees them, so no user-supplied name ever reaches SQL, and names DuckDB
would confuse (it folds case, so ``A`` and ``a`` collide) stay apart.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core.arrow import table_from_pandas
from loopml.core.errors import InvalidParameter
from loopml.data.sql import is_dataframe

PROFILE_VERSION = 1
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
TOP_VALUES = 10
HISTOGRAM_BINS = 20

NUMERIC = "numeric"
TEMPORAL = "temporal"
CATEGORICAL = "categorical"
BOOLEAN = "boolean"
OTHER = "other"


@dataclass(frozen=True)
class Histogram:
    """Counts of values in ``len(edges) - 1`` bins; bin i is [edges[i], edges[i+1])."""

    edges: list[float]
    counts: list[int]


@dataclass(frozen=True)
class ColumnProfile:
    """One column. ``kind`` decides which statistics are filled in:

    - ``numeric`` (integers, floats, decimals): min/max/mean/std, quantiles, histogram
    - ``temporal`` (dates, timestamps): min/max as ISO strings
    - ``categorical`` (strings): top values, min/max string length
    - ``boolean``: top values
    - ``other`` (nested, binary): counts only

    Infinite floats count as values and can be ``min``/``max``, but mean, std,
    quantiles and the histogram cover finite values only (an infinity would
    make them infinite or NaN and say nothing about the rest).
    """

    name: str
    type: str  # the Arrow type, as in a version's schema
    kind: str
    count: int  # non-null values
    missing: int  # null values (and NaN for floats)
    distinct: int  # exact count of distinct non-null values
    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)  # "0.5" -> value
    top_values: list[tuple[Any, int]] = field(default_factory=list)  # most frequent first
    min_length: int | None = None
    max_length: int | None = None
    histogram: Histogram | None = None

    @property
    def missing_fraction(self) -> float:
        total = self.count + self.missing
        return self.missing / total if total else 0.0


@dataclass(frozen=True)
class Profile:
    row_count: int
    columns: list[ColumnProfile]
    version: int = PROFILE_VERSION

    def column(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data; an infinite ``min``/``max`` is written "inf"/"-inf" (JSON has none)."""
        data = asdict(self)
        for column in data["columns"]:
            column["top_values"] = [list(pair) for pair in column["top_values"]]
            column["min"] = _encode_infinity(column["min"])
            column["max"] = _encode_infinity(column["max"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        columns = []
        for raw in data["columns"]:
            values = dict(raw)
            histogram = values.pop("histogram", None)
            values["top_values"] = [tuple(pair) for pair in values.get("top_values", [])]
            if values.get("kind") == NUMERIC:
                values["min"] = _decode_infinity(values.get("min"))
                values["max"] = _decode_infinity(values.get("max"))
            columns.append(
                ColumnProfile(**values, histogram=Histogram(**histogram) if histogram else None)
            )
        return cls(
            row_count=int(data["row_count"]),
            columns=columns,
            version=int(data.get("version", PROFILE_VERSION)),
        )


def _encode_infinity(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode_infinity(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf") else value


def profile_table(source: Any, *, bins: int = HISTOGRAM_BINS, top: int = TOP_VALUES) -> Profile:
    """Profile every column of ``source`` exactly (no sampling, no sketches).

    Args:
        source: a ``pyarrow.Table``, a pandas DataFrame, or the path of a Parquet file.
        bins: equal-width histogram bins for numeric columns.
        top: the most frequent values kept for categorical and boolean columns.

    Returns:
        The :class:`Profile`, holding only JSON-safe values.

    Raises:
        InvalidParameter: ``source`` cannot be read, or ``bins``/``top`` are out of range.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise InvalidParameter(f"bins must be an integer >= 1, got {bins!r}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise InvalidParameter(f"top must be an integer >= 0, got {top!r}")
    with duckdb.connect() as con:
        try:
            return _profile(con, _open(con, source), bins, top)
        except duckdb.Error as error:
            raise InvalidParameter(f"cannot profile {_describe(source)}: {error}") from error


@dataclass(frozen=True)
class _Scan:
    """What the queries read: a FROM clause over positional names, its parameters, the schema."""

    schema: pa.Schema
    relation: str
    params: dict[str, Any]

    def ref(self, index: int) -> str:
        return f"c{index}"

    def query(self, con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> list[Any]:
        return con.execute(sql.format(relation=self.relation), self.params | params).fetchall()


def _open(con: duckdb.DuckDBPyConnection, source: Any) -> _Scan:
    if is_dataframe(source):
        try:
            source = table_from_pandas(source)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as error:
            raise InvalidParameter(f"cannot profile this DataFrame: {error}") from error
    if isinstance(source, pa.Table):
        con.register("profiled", _positional(_duckdb_readable(source)))
        return _Scan(source.schema, "profiled", {})
    if isinstance(source, (str, os.PathLike)):
        return _open_parquet(Path(source))
    raise InvalidParameter(
        f"cannot profile a {type(source).__name__}: give a pyarrow Table, a pandas "
        "DataFrame, or the path of a Parquet file"
    )


def _open_parquet(path: Path) -> _Scan:
    if not path.is_file():
        raise InvalidParameter(f"no such Parquet file: {path}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidParameter(f"cannot read {path} as Parquet: {error}") from error
    names = ", ".join(f"c{index}" for index in range(len(schema)))
    return _Scan(schema, f"read_parquet($path) AS profiled({names})", {"path": str(path)})


def _positional(table: pa.Table) -> pa.Table:
    return table.rename_columns([f"c{index}" for index in range(table.num_columns)])


def _duckdb_readable(table: pa.Table) -> pa.Table:
    """DuckDB cannot scan half floats; widen them (exactly) to float32."""
    for index, column_field in enumerate(table.schema):
        if pa.types.is_float16(column_field.type):
            column = table.column(index).cast(pa.float32())
            table = table.set_column(index, column_field.with_type(pa.float32()), column)
    return table


def kind_of(arrow_type: pa.DataType) -> str:
    """The profile kind of an Arrow type (see :class:`ColumnProfile`)."""
    if pa.types.is_dictionary(arrow_type):
        return CATEGORICAL if kind_of(arrow_type.value_type) == CATEGORICAL else OTHER
    if (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    ):
        return NUMERIC
    if pa.types.is_date(arrow_type) or pa.types.is_timestamp(arrow_type):
        return TEMPORAL
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return CATEGORICAL
    if pa.types.is_boolean(arrow_type):
        return BOOLEAN
    return OTHER


def _profile(con: duckdb.DuckDBPyConnection, scan: _Scan, bins: int, top: int) -> Profile:
    plans = [_ColumnPlan.of(scan, index) for index in range(len(scan.schema))]
    row_count, stats = _scalar_stats(con, scan, plans)
    histograms = _histograms(con, scan, plans, stats, bins)
    columns = [
        _column_profile(plan, row_count, stats[plan.index], histograms.get(plan.index))
        for plan in plans
    ]
    columns = [
        _with_distinct(con, scan, plan, column, top, has_nan=bool(stats[plan.index].get("nan")))
        for plan, column in zip(plans, columns, strict=True)
    ]
    return Profile(row_count=row_count, columns=columns)


@dataclass(frozen=True)
class _ColumnPlan:
    """One column's SQL: ``value`` is the column with NaN as NULL, ``finite`` without infinities."""

    index: int
    name: str
    arrow_type: pa.DataType
    kind: str
    ref: str
    value: str
    finite: str

    @classmethod
    def of(cls, scan: _Scan, index: int) -> _ColumnPlan:
        column_field = scan.schema.field(index)
        ref = scan.ref(index)
        value, finite = ref, f"{ref}::DOUBLE"
        if pa.types.is_floating(column_field.type):
            value = f"CASE WHEN isnan({ref}) THEN NULL ELSE {ref} END"
            finite = f"CASE WHEN isfinite({ref}) THEN {ref}::DOUBLE END"
        kind = kind_of(column_field.type)
        return cls(index, column_field.name, column_field.type, kind, ref, value, finite)

    @property
    def aware(self) -> bool:
        return pa.types.is_timestamp(self.arrow_type) and self.arrow_type.tz is not None

    def aggregates(self) -> dict[str, str]:
        """Scalar statistics as aggregate expressions, all computed in the one scan.

        Distinct counts are not among them: twenty ``count(DISTINCT)`` in one
        SELECT hold twenty hash tables at once and ran slower than one query
        per column (see :func:`_with_distinct`).
        """
        exprs = {"count": f"count({self.ref})"}
        if pa.types.is_floating(self.arrow_type):
            exprs["nan"] = f"count(*) FILTER (isnan({self.ref}))"
        if self.kind == NUMERIC:
            exprs |= {
                "min": f"min({self.value})",
                "max": f"max({self.value})",
                "finite": f"count({self.finite})",
                "low": f"min({self.finite})",
                "high": f"max({self.finite})",
                "mean": f"avg({self.finite})",
                "std": f"stddev_samp({self.finite})",
                "quantiles": f"quantile_cont({self.finite}, {list(QUANTILES)!r})",
            }
        elif self.kind == TEMPORAL:
            # An aware timestamp comes back as naive UTC: DuckDB would need pytz to attach a zone.
            to_utc = "timezone('UTC', {})" if self.aware else "{}"
            exprs |= {
                "min": to_utc.format(f"min({self.value})"),
                "max": to_utc.format(f"max({self.value})"),
            }
        elif self.kind == CATEGORICAL:
            exprs |= {
                "min_length": f"min(length({self.value}::VARCHAR))",
                "max_length": f"max(length({self.value}::VARCHAR))",
            }
        return exprs


def _scalar_stats(
    con: duckdb.DuckDBPyConnection, scan: _Scan, plans: list[_ColumnPlan]
) -> tuple[int, dict[int, dict[str, Any]]]:
    """Row count and every column's scalar statistics from one aggregate query."""
    keys = [(plan.index, stat) for plan in plans for stat in plan.aggregates()]
    exprs = [expr for plan in plans for expr in plan.aggregates().values()]
    row = scan.query(con, f"SELECT {', '.join(['count(*)', *exprs])} FROM {{relation}}")[0]
    stats: dict[int, dict[str, Any]] = {plan.index: {} for plan in plans}
    for (index, stat), value in zip(keys, row[1:], strict=True):
        stats[index][stat] = value
    return int(row[0]), stats


def _histograms(
    con: duckdb.DuckDBPyConnection,
    scan: _Scan,
    plans: list[_ColumnPlan],
    stats: dict[int, dict[str, Any]],
    bins: int,
) -> dict[int, Histogram]:
    """Equal-width histograms of finite values; one query for every column that needs it."""
    histograms: dict[int, Histogram] = {}
    ranged: list[tuple[_ColumnPlan, float, float]] = []
    for plan in plans:
        column = stats[plan.index]
        if plan.kind != NUMERIC or not column["finite"]:
            continue
        low, high = float(column["low"]), float(column["high"])
        width = high / bins - low / bins  # not (high - low) / bins, which can overflow
        if width > 0:
            ranged.append((plan, low, width))
        else:  # a constant column: one bin
            histograms[plan.index] = Histogram([low, high], [int(column["finite"])])
    if not ranged:
        return histograms
    params: dict[str, float] = {}
    exprs = []
    for position, (plan, low, width) in enumerate(ranged):
        params |= {f"low{position}": low, f"width{position}": width}
        # the maximum lands in the last bin (closed on the right)
        offset = f"floor(({plan.finite} - $low{position}) / $width{position})"
        exprs.append(
            f"histogram(least({offset}, {bins - 1})::BIGINT) FILTER ({plan.finite} IS NOT NULL)"
        )
    row = scan.query(con, f"SELECT {', '.join(exprs)} FROM {{relation}}", **params)[0]
    for (plan, low, width), counts in zip(ranged, row, strict=True):
        high = float(stats[plan.index]["high"])
        edges = [low + width * position for position in range(bins)] + [high]
        histograms[plan.index] = Histogram(edges, [int(counts.get(b, 0)) for b in range(bins)])
    return histograms


def _column_profile(
    plan: _ColumnPlan, row_count: int, stats: dict[str, Any], histogram: Histogram | None
) -> ColumnProfile:
    nan = int(stats.get("nan", 0))  # NaN is missing, not a value
    count = int(stats["count"]) - nan
    column = ColumnProfile(
        name=plan.name,
        type=str(plan.arrow_type),
        kind=plan.kind,
        count=count,
        missing=row_count - count,
        distinct=0,  # counted by _with_distinct
        histogram=histogram,
    )
    if plan.kind == NUMERIC:
        return _numeric(column, stats)
    if plan.kind == TEMPORAL:
        return _temporal(column, stats, plan.aware)
    if plan.kind == CATEGORICAL:
        return replace(column, min_length=stats["min_length"], max_length=stats["max_length"])
    return column


def _numeric(column: ColumnProfile, stats: dict[str, Any]) -> ColumnProfile:
    quantiles = stats["quantiles"]  # NULL when there is no finite value
    return replace(
        column,
        min=_number(stats["min"]),
        max=_number(stats["max"]),
        mean=_finite(stats["mean"]),
        std=_finite(stats["std"]),
        quantiles=dict(zip(map(str, QUANTILES), map(float, quantiles), strict=True))
        if quantiles
        else {},
    )


def _temporal(column: ColumnProfile, stats: dict[str, Any], aware: bool) -> ColumnProfile:
    return replace(column, min=_iso(stats["min"], aware), max=_iso(stats["max"], aware))


def _with_distinct(
    con: duckdb.DuckDBPyConnection,
    scan: _Scan,
    plan: _ColumnPlan,
    column: ColumnProfile,
    top: int,
    *,
    has_nan: bool,
) -> ColumnProfile:
    """The exact distinct count, and for categorical and boolean columns the top values.

    The distinct count is taken on the bare column, where DuckDB counts every
    NaN as one value, and corrected here: faster than counting over ``value``'s CASE.
    """
    if not column.count:
        return column
    if plan.kind in (CATEGORICAL, BOOLEAN):
        return _with_top_values(con, scan, plan, column, top)
    rows = scan.query(con, f"SELECT count(DISTINCT {plan.ref}) FROM {{relation}}")
    return replace(column, distinct=int(rows[0][0]) - has_nan)


def _with_top_values(
    con: duckdb.DuckDBPyConnection, scan: _Scan, plan: _ColumnPlan, column: ColumnProfile, top: int
) -> ColumnProfile:
    """The ``top`` most frequent values, ties broken by value, and the number of groups."""
    value = f"{plan.value}::VARCHAR" if plan.kind == CATEGORICAL else plan.value
    rows = scan.query(
        con,
        "SELECT value, n, count(*) OVER () FROM ("
        f"SELECT {value} AS value, count(*) AS n FROM {{relation}} WHERE {plan.ref} IS NOT NULL "
        "GROUP BY value) ORDER BY n DESC, value LIMIT $limit",
        limit=max(top, 1),  # one row even for top=0, to read the distinct count
    )
    distinct = int(rows[0][2]) if rows else 0
    return replace(column, distinct=distinct, top_values=[(v, int(n)) for v, n, _ in rows[:top]])


def _number(value: Any) -> int | float | None:
    """A plain Python number: integers stay exact, decimals become floats."""
    if value is None or isinstance(value, int):
        return value
    return float(value)


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _iso(value: dt.date | None, aware: bool) -> str | None:
    if value is None:
        return None
    if aware and isinstance(value, dt.datetime):
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _describe(source: Any) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__


__all__ = [
    "HISTOGRAM_BINS",
    "PROFILE_VERSION",
    "QUANTILES",
    "TOP_VALUES",
    "ColumnProfile",
    "Histogram",
    "Profile",
    "kind_of",
    "profile_table",
]
