"""Compile registry searches (the AST of ``loopml.tracking.search``) to SQL conditions.

String matching is the tracking searches' own (``tracking._sql_search``): ``=``
and ``LIKE`` respect case on both databases, ``ILIKE`` ignores it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, select, true

from loopml.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_tags,
    registered_models,
)
from loopml.tracking._sql_search import directed, predicate, string_predicate
from loopml.tracking.search import NULL_OPS, Comparison, OrderClause

_MODEL_COLUMNS = {
    "name": registered_models.c.name,
    "creation_timestamp": registered_models.c.created_ms,
    "last_updated_timestamp": registered_models.c.updated_ms,
}
_VERSION_COLUMNS = {
    "name": model_versions.c.name,
    "version_number": model_versions.c.version,
    "run_id": model_versions.c.run_id,
    "source_path": model_versions.c.source,
    "model_id": model_versions.c.model_id,
    "current_stage": model_versions.c.current_stage,
    "user_id": model_versions.c.created_by,
    "creation_timestamp": model_versions.c.created_ms,
    "last_updated_timestamp": model_versions.c.updated_ms,
}


def _tag_condition(
    tags: Table, owner: Sequence[tuple[Any, Any]], comparison: Comparison
) -> ColumnElement[bool]:
    row = select(tags.c.key).where(*(a == b for a, b in owner), tags.c.key == comparison.key)
    if comparison.op in NULL_OPS:
        return row.exists() if comparison.op == "IS NOT NULL" else ~row.exists()
    if comparison.op == "!=":  # a missing tag differs too (the mlflow client relies on it)
        return ~row.where(string_predicate(tags.c.value, "=", comparison.value)).exists()
    return row.where(string_predicate(tags.c.value, comparison.op, comparison.value)).exists()


def model_where(filters: Sequence[Comparison]) -> ColumnElement[bool]:
    owner = [(registered_model_tags.c.name, registered_models.c.name)]
    return and_(
        true(),
        *(
            _tag_condition(registered_model_tags, owner, c)
            if c.kind == "tag"
            else predicate(_MODEL_COLUMNS[c.key], c)
            for c in filters
        ),
    )


def model_order(order: Sequence[OrderClause]) -> list[ColumnElement[Any]]:
    """MLflow's default is by name; the name breaks ties."""
    terms = [directed(_MODEL_COLUMNS[c.key], c.ascending) for c in order]
    if not any(c.key == "name" for c in order):
        terms.append(registered_models.c.name.asc())
    return terms


def version_where(filters: Sequence[Comparison]) -> ColumnElement[bool]:
    owner = [
        (model_version_tags.c.name, model_versions.c.name),
        (model_version_tags.c.version, model_versions.c.version),
    ]
    return and_(
        true(),
        *(
            _tag_condition(model_version_tags, owner, c)
            if c.kind == "tag"
            else predicate(_VERSION_COLUMNS[c.key], c)
            for c in filters
        ),
    )


def version_order(order: Sequence[OrderClause]) -> list[ColumnElement[Any]]:
    """MLflow's default: newest first (last update, then name and version)."""
    if not order:
        return [
            model_versions.c.updated_ms.desc(),
            model_versions.c.name.asc(),
            model_versions.c.version.desc(),
        ]
    terms = [directed(_VERSION_COLUMNS[c.key], c.ascending) for c in order]
    return [*terms, model_versions.c.name.asc(), model_versions.c.version.desc()]
