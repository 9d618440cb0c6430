"""Masking of sensitive columns: what a reader without an explicit grant sees.

A column tagged with one of :data:`SENSITIVE_TAGS` keeps its name and type but
every value becomes null, in rows, row samples and profiles alike, so code
written against the schema still runs and nothing of the values leaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pyarrow as pa

from loopml.data.profile import Profile

SENSITIVE_TAGS = frozenset({"pii", "sensitive"})


def sensitive_columns(column_tags: Mapping[str, Iterable[str]]) -> list[str]:
    return sorted(c for c, tags in column_tags.items() if SENSITIVE_TAGS.intersection(tags))


def mask_table(table: pa.Table, columns: Iterable[str]) -> pa.Table:
    for name in columns:
        index = table.schema.get_field_index(name)
        if index >= 0:
            kind = table.schema.field(index).type
            table = table.set_column(index, name, pa.nulls(table.num_rows, type=kind))
    return table


def mask_rows(rows: list[dict[str, Any]], columns: Iterable[str]) -> list[dict[str, Any]]:
    hidden = set(columns)
    return [{k: (None if k in hidden else v) for k, v in row.items()} for row in rows]


def mask_profile(profile: Profile, columns: Iterable[str]) -> Profile:
    """Keep counts and types of masked columns; drop every statistic drawn from values."""
    hidden = set(columns)
    return replace(
        profile,
        columns=[
            replace(
                c,
                min=None,
                max=None,
                mean=None,
                std=None,
                quantiles={},
                top_values=[],
                min_length=None,
                max_length=None,
                histogram=None,
            )
            if c.name in hidden
            else c
            for c in profile.columns
        ],
    )
