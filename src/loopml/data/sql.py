"""Small DuckDB helpers shared by diff, profiles and validation: quoting, sources, JSON rows."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import sys
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import pyarrow as pa

# What DuckDB scans: an Arrow table in memory, or a Parquet file in place.
Source: TypeAlias = pa.Table | Path


def is_dataframe(value: Any) -> bool:
    """Whether ``value`` is a pandas DataFrame, without importing pandas (slow) to ask."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(value, pandas.DataFrame)


def quote(identifier: str) -> str:
    """A SQL identifier, double-quoted, so any column name is safe in a query."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal, single-quoted."""
    return "'" + text.replace("'", "''") + "'"


def relation_sql(con: duckdb.DuckDBPyConnection, name: str, source: Source) -> str:
    """The FROM-clause text for ``source``: a Parquet file scanned in place, or an Arrow table.

    An Arrow table is registered on ``con`` under ``name``; a path is quoted as a
    literal (DuckDB does not bind parameters in view definitions).
    """
    if isinstance(source, pa.Table):
        con.register(f"{name}_arrow", source)
        return quote(f"{name}_arrow")
    return f"read_parquet({literal(str(source))})"


def json_safe(value: Any) -> Any:
    """A value as JSON can carry it: NaN/inf as None, times as ISO text, bytes as base64."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def json_safe_rows(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: json_safe(v) for k, v in row.items()} for row in table.to_pylist()]
