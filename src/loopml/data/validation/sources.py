"""The tables a validation reads, bound to one DuckDB connection.

A Parquet path stays on disk: DuckDB scans it with ``read_parquet`` and the
path as a bound parameter, and only the file's footer is read in Python (for
the Arrow schema ``column_type`` compares against). Arrow tables and pandas
DataFrames are registered on the connection and scanned in place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.core.arrow import table_from_pandas
from loopml.core.errors import InvalidParameter
from loopml.data.sql import is_dataframe, quote


@dataclass(frozen=True)
class Table:
    """A table as queries name it: FROM-clause text, the parameters it binds, its schema.

    ``sql_names`` are the columns as DuckDB names them, by position: DuckDB
    matches names case-insensitively and renames ``a`` beside ``A`` to
    ``a_1``, so queries use its names and results are mapped back.
    """

    sql: str
    params: dict[str, Any]
    schema: pa.Schema
    sql_names: tuple[str, ...]

    def type_of(self, column: str) -> pa.DataType | None:
        index = self.schema.get_field_index(column)
        return self.schema.field(index).type if index >= 0 else None

    def column(self, name: str) -> str:
        """The quoted SQL identifier of the column the schema calls ``name``."""
        index = self.schema.get_field_index(name)
        return quote(self.sql_names[index] if index >= 0 else name)


def open_table(con: duckdb.DuckDBPyConnection, source: Any, name: str) -> Table:
    """``source`` (Arrow table, DataFrame, Parquet path) as a :class:`Table` called ``name``."""
    if is_dataframe(source):
        source = _from_pandas(source)
    if isinstance(source, pa.Table):
        con.register(name, source)
        sql, params, schema = quote(name), {}, source.schema
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        sql, params, schema = f"read_parquet(${name})", {name: str(path)}, _parquet_schema(path)
    else:
        raise InvalidParameter(
            f"cannot validate a {type(source).__name__}: give a pyarrow Table, "
            "a pandas DataFrame or the path of a Parquet file"
        )
    return Table(sql, params, schema, _sql_names(con, sql, params, schema))


def _sql_names(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any], schema: pa.Schema
) -> tuple[str, ...]:
    try:
        cursor = con.execute(f"SELECT * FROM {sql} LIMIT 0", params)
        names = tuple(column[0] for column in cursor.description or ())
        cursor.fetchall()
    except duckdb.Error as error:
        raise InvalidParameter(f"cannot read the table: {error}") from error
    return names if len(names) == len(schema) else tuple(schema.names)


def family(arrow_type: pa.DataType) -> str:
    """What a column holds, as the expectation kinds see it (categoricals by their values)."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_decimal(arrow_type)
    ):
        return "numeric"
    if pa.types.is_temporal(arrow_type):
        return "temporal"
    if str(arrow_type) in ("string", "large_string", "string_view"):
        return "string"
    return "other"


def can_be_nan(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_floating(arrow_type))


def present(expression: str, arrow_type: pa.DataType) -> str:
    """SQL true where a value is there: not null and, for floats, not NaN (as profiles count)."""
    if can_be_nan(arrow_type):
        return f"({expression} IS NOT NULL AND NOT isnan({expression}))"
    return f"{expression} IS NOT NULL"


def _from_pandas(frame: Any) -> pa.Table:
    try:
        return table_from_pandas(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise InvalidParameter(f"cannot read this DataFrame as a table: {error}") from error


def _parquet_schema(path: Path) -> pa.Schema:
    if not path.is_file():
        raise InvalidParameter(f"no such Parquet file: {path}")
    try:
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise InvalidParameter(f"cannot read {path} as Parquet: {error}") from error
