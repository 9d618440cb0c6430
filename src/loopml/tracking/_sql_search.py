"""Compile the search AST of ``loopml.tracking.search`` to SQLAlchemy Core conditions.

Metric, param and tag filters are correlated ``EXISTS`` on the child table's
``(run_uuid, key)`` primary key: a run costs one index probe per filter, and
with MLflow's default ``start_time DESC`` order SQLite walks the runs index in
order and stops at the page limit. Filters on tables with no index on the
owner (run inputs, logged-model metrics) are ``IN (SELECT ...)``, computed
once. Ordering by a metric, param or tag uses one correlated scalar subquery,
so callers get plain ORDER BY terms and need no extra joins.

String matching behaves the same on both databases: ``=`` and ``LIKE`` respect
case, ``ILIKE`` ignores it, and a backslash makes the next ``%``, ``_`` or
``\\`` literal. SQLite's LIKE ignores case, so there LIKE becomes GLOB.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Float,
    Select,
    String,
    and_,
    case,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from loopml.core.errors import InvalidParameter
from loopml.store import tables as t
from loopml.tracking.search import LIST_OPS, NULL_OPS, Comparison, OrderClause, Value

DATASET_CONTEXT_TAG = "mlflow.data.context"

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

_RUN_COLUMNS = {
    "run_id": t.runs.c.run_uuid,
    "run_name": t.runs.c.name,
    "status": t.runs.c.status,
    "user_id": t.runs.c.user_id,
    "artifact_uri": t.runs.c.artifact_uri,
    "start_time": t.runs.c.start_time,
    "end_time": t.runs.c.end_time,
}

_EXPERIMENT_COLUMNS = {
    "name": t.experiments.c.name,
    "experiment_id": t.experiments.c.experiment_id,
    "creation_time": t.experiments.c.creation_time,
    "last_update_time": t.experiments.c.last_update_time,
}

_MODEL_COLUMNS = {
    "name": t.logged_models.c.name,
    "model_id": t.logged_models.c.model_id,
    "model_type": t.logged_models.c.model_type,
    "status": t.logged_models.c.status,
    "source_run_id": t.logged_models.c.source_run_id,
    "creation_timestamp": t.logged_models.c.creation_timestamp_ms,
    "last_updated_timestamp": t.logged_models.c.last_updated_timestamp_ms,
}

# MLflow clients filter on the entity's short status names; the table keeps the
# proto names, so equality and IN translate (LIKE sees the stored form).
_MODEL_STATUS_NAMES = {
    "UNSPECIFIED": "LOGGED_MODEL_STATUS_UNSPECIFIED",
    "PENDING": "LOGGED_MODEL_PENDING",
    "READY": "LOGGED_MODEL_READY",
    "FAILED": "LOGGED_MODEL_UPLOAD_FAILED",
}


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern`` that respects case on every dialect.

    Both spellings of the pattern travel as bound parameters, so a cached
    compilation stays correct for the next pattern; each dialect renders one.
    """

    name = "case_sensitive_like"
    type = Boolean()
    inherit_cache = True

    def __init__(self, column: ColumnElement[str], pattern: str) -> None:
        parts = _pattern_parts(pattern)
        like, glob = (
            literal(_like_pattern(parts), String()),
            literal(_glob_pattern(parts), String()),
        )
        super().__init__(column, like, glob)


@compiles(_CaseSensitiveLike)
def _compile_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, like, _ = element.clauses
    return compiler.process(column.like(like, escape="\\"), **kw)


@compiles(_CaseSensitiveLike, "sqlite")
def _compile_glob(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _, glob = element.clauses
    return f"{compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)}"


def _pattern_parts(pattern: str) -> list[tuple[bool, str]]:
    """Split a LIKE pattern into (is_wildcard, char); a backslash escapes the next char."""
    parts: list[tuple[bool, str]] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append((False, next(chars, "\\")))
        else:
            parts.append((char in "%_", char))
    return parts


def _like_pattern(parts: Sequence[tuple[bool, str]]) -> str:
    return "".join(c if wild or c not in "%_\\" else "\\" + c for wild, c in parts)


def _glob_pattern(parts: Sequence[tuple[bool, str]]) -> str:
    wildcards = {"%": "*", "_": "?"}
    return "".join(wildcards[c] if wild else f"[{c}]" if c in "*?[" else c for wild, c in parts)


def string_predicate(column: ColumnElement[Any], op: str, value: Value) -> ColumnElement[bool]:
    if isinstance(value, tuple):
        return column.in_(value) if op == "IN" else column.not_in(value)
    text = str(value)
    if op == "LIKE":
        return _CaseSensitiveLike(column, text)
    if op == "ILIKE":
        return column.ilike(_like_pattern(_pattern_parts(text)), escape="\\")
    return _COMPARE[op](column, text)  # type: ignore[no-any-return]


def predicate(column: ColumnElement[Any], comparison: Comparison) -> ColumnElement[bool]:
    value = comparison.value
    if isinstance(value, int | float):
        return _COMPARE[comparison.op](column, value)  # type: ignore[no-any-return]
    return string_predicate(column, comparison.op, value)


def directed(column: ColumnElement[Any], ascending: bool) -> ColumnElement[Any]:
    """Missing values sort last in both directions, as MLflow sorts them.

    A NOT NULL column gets a plain ASC/DESC, which SQLite can read off an index.
    """
    ordered = column.asc() if ascending else column.desc()
    if isinstance(column, Column) and not column.nullable:
        return ordered
    return ordered.nulls_last()


# runs


def run_filter_clause(comparisons: Sequence[Comparison]) -> ColumnElement[bool]:
    """The WHERE condition over ``runs`` for a parsed run filter (true when empty)."""
    return and_(true(), *(_run_condition(c) for c in comparisons))


def run_order_clauses(order_clauses: Sequence[OrderClause]) -> list[ColumnElement[Any]]:
    """ORDER BY terms for runs, ending in MLflow's ``start_time DESC, run_id`` tie-break."""
    terms = [term for clause in order_clauses for term in _run_order_terms(clause)]
    if not any(c.kind == "attribute" and c.key == "start_time" for c in order_clauses):
        terms.append(t.runs.c.start_time.desc())
    terms.append(t.runs.c.run_uuid.asc())
    return terms


def _run_condition(comparison: Comparison) -> ColumnElement[bool]:
    kind, run_uuid = comparison.kind, t.runs.c.run_uuid
    if kind == "attribute":
        return predicate(_RUN_COLUMNS[comparison.key], comparison)
    if kind == "dataset":
        return run_uuid.in_(_runs_with_dataset(comparison))
    table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[kind]
    row = select(table.c.run_uuid).where(
        table.c.run_uuid == run_uuid, table.c.key == comparison.key
    )
    if comparison.op in NULL_OPS:
        return row.exists() if comparison.op == "IS NOT NULL" else ~row.exists()
    if kind == "metric":
        return row.where(_metric_value_matches(comparison)).exists()
    return row.where(string_predicate(table.c.value, comparison.op, comparison.value)).exists()


def _metric_value_matches(comparison: Comparison) -> ColumnElement[bool]:
    """NaN fails every comparison but ``!=`` (IEEE, and MLflow); its stored value is ignored."""
    lm = t.latest_metrics
    matches = _COMPARE[comparison.op](lm.c.value, comparison.value)
    if comparison.op == "!=":
        return or_(matches, lm.c.is_nan == true())
    return and_(matches, lm.c.is_nan != true())


def _runs_with_dataset(comparison: Comparison) -> Select[tuple[str]]:
    """Runs with at least one input whose dataset (or input context) matches."""
    inputs = t.run_inputs
    if comparison.key == "context":
        input_tags = t.run_input_tags
        return (
            select(inputs.c.run_uuid)
            .join(input_tags, input_tags.c.input_uuid == inputs.c.input_uuid)
            .where(
                input_tags.c.key == DATASET_CONTEXT_TAG,
                string_predicate(input_tags.c.value, comparison.op, comparison.value),
            )
        )
    column = t.datasets.c[comparison.key]
    return (
        select(inputs.c.run_uuid)
        .join(t.datasets, t.datasets.c.dataset_uuid == inputs.c.dataset_uuid)
        .where(string_predicate(column, comparison.op, comparison.value))
    )


def _run_order_terms(clause: OrderClause) -> list[ColumnElement[Any]]:
    if clause.kind == "attribute":
        return [directed(_RUN_COLUMNS[clause.key], clause.ascending)]
    if clause.kind == "metric":
        lm = t.latest_metrics
        # NaN sorts after every number in both directions, and before runs without the metric.
        nan_rank = literal(float("inf") if clause.ascending else float("-inf"), Float())
        value = (
            select(case((lm.c.is_nan == true(), nan_rank), else_=lm.c.value))
            .where(lm.c.run_uuid == t.runs.c.run_uuid, lm.c.key == clause.key)
            .scalar_subquery()
        )
        return [directed(value, clause.ascending)]
    table = t.params if clause.kind == "param" else t.tags
    value = (
        select(table.c.value)
        .where(table.c.run_uuid == t.runs.c.run_uuid, table.c.key == clause.key)
        .scalar_subquery()
    )
    return [directed(value, clause.ascending)]


# experiments


def experiment_filter_clause(comparisons: Sequence[Comparison]) -> ColumnElement[bool]:
    """The WHERE condition over ``experiments`` for a parsed experiment filter."""
    return and_(true(), *(_experiment_condition(c) for c in comparisons))


def experiment_order_clauses(order_clauses: Sequence[OrderClause]) -> list[ColumnElement[Any]]:
    """ORDER BY terms for experiments; MLflow's default is newest first, then by id."""
    if not order_clauses:
        return [t.experiments.c.creation_time.desc(), t.experiments.c.experiment_id.asc()]
    terms = [directed(_EXPERIMENT_COLUMNS[c.key], c.ascending) for c in order_clauses]
    if not any(c.key == "experiment_id" for c in order_clauses):
        terms.append(t.experiments.c.experiment_id.desc())
    return terms


def _experiment_condition(comparison: Comparison) -> ColumnElement[bool]:
    if comparison.kind == "tag":
        return _experiment_tag_condition(comparison)
    column = _EXPERIMENT_COLUMNS[comparison.key]
    if comparison.key == "experiment_id":
        return _experiment_id_condition(column, comparison)
    return predicate(column, comparison)


def _experiment_id_condition(
    column: ColumnElement[Any], comparison: Comparison
) -> ColumnElement[bool]:
    """Ids are strings on the wire and integers in the table (the parser checked the digits)."""
    value = comparison.value
    ids = [int(v) for v in (value if isinstance(value, tuple) else (str(value),))]
    if comparison.op == "IN":
        return column.in_(ids)
    if comparison.op == "NOT IN":
        return column.not_in(ids)
    return _COMPARE[comparison.op](column, ids[0])  # type: ignore[no-any-return]


def _experiment_tag_condition(comparison: Comparison) -> ColumnElement[bool]:
    tags = t.experiment_tags
    row = select(tags.c.experiment_id).where(
        tags.c.experiment_id == t.experiments.c.experiment_id, tags.c.key == comparison.key
    )
    if comparison.op in NULL_OPS:
        return row.exists() if comparison.op == "IS NOT NULL" else ~row.exists()
    return row.where(string_predicate(tags.c.value, comparison.op, comparison.value)).exists()


# logged models


def logged_model_filter_clause(
    comparisons: Sequence[Comparison], datasets: Sequence[Mapping[str, str | None]] = ()
) -> ColumnElement[bool]:
    """The WHERE condition over ``logged_models``.

    ``datasets`` (``{"dataset_name": ..., "dataset_digest": ...}``) narrows metric
    comparisons to metrics on those datasets; with no metric comparison it keeps
    the models that have any metric on them, as MLflow does.

    Raises:
        InvalidParameter: a dataset entry has no ``dataset_name``.
    """
    on_datasets = _metric_dataset_condition(datasets)
    conditions = [_model_condition(c, on_datasets) for c in comparisons]
    if on_datasets is not None and not any(c.kind == "metric" for c in comparisons):
        metrics = t.logged_model_metrics
        conditions.append(
            t.logged_models.c.model_id.in_(select(metrics.c.model_id).where(on_datasets))
        )
    return and_(true(), *conditions)


def logged_model_order_clauses(order_clauses: Sequence[OrderClause]) -> list[ColumnElement[Any]]:
    """ORDER BY terms for logged models, ending in ``creation_timestamp DESC, model_id``."""
    terms = [_model_order_term(clause) for clause in order_clauses]
    keys = {c.key for c in order_clauses if c.kind == "attribute"}
    if "creation_timestamp" not in keys:
        terms.append(t.logged_models.c.creation_timestamp_ms.desc())
    if "model_id" not in keys:
        terms.append(t.logged_models.c.model_id.asc())
    return terms


def _metric_dataset_condition(
    datasets: Sequence[Mapping[str, str | None]],
) -> ColumnElement[bool] | None:
    metrics, alternatives = t.logged_model_metrics, []
    for dataset in datasets:
        name, digest = dataset.get("dataset_name"), dataset.get("dataset_digest")
        if not name:
            raise InvalidParameter(f"Invalid datasets entry {dict(dataset)!r}: needs dataset_name")
        match = metrics.c.dataset_name == name
        alternatives.append(and_(match, metrics.c.dataset_digest == digest) if digest else match)
    return or_(*alternatives) if alternatives else None


def _model_condition(
    comparison: Comparison, on_datasets: ColumnElement[bool] | None
) -> ColumnElement[bool]:
    model_id = t.logged_models.c.model_id
    if comparison.kind == "attribute":
        return predicate(_MODEL_COLUMNS[comparison.key], _model_status_alias(comparison))
    if comparison.kind == "metric":
        metrics = t.logged_model_metrics
        matching = select(metrics.c.model_id).where(
            metrics.c.key == comparison.key, predicate(metrics.c.value, comparison)
        )
        return model_id.in_(matching if on_datasets is None else matching.where(on_datasets))
    table = t.logged_model_params if comparison.kind == "param" else t.logged_model_tags
    return (
        select(table.c.model_id)
        .where(
            table.c.model_id == model_id,
            table.c.key == comparison.key,
            string_predicate(table.c.value, comparison.op, comparison.value),
        )
        .exists()
    )


def _model_status_alias(comparison: Comparison) -> Comparison:
    if comparison.key != "status" or comparison.op not in {"=", "!=", *LIST_OPS}:
        return comparison
    value = comparison.value
    if isinstance(value, tuple):
        mapped: Value = tuple(_MODEL_STATUS_NAMES.get(v, v) for v in value)
    else:
        mapped = _MODEL_STATUS_NAMES.get(str(value), str(value))
    return Comparison(comparison.kind, comparison.key, comparison.op, mapped)


def _model_order_term(clause: OrderClause) -> ColumnElement[Any]:
    if clause.kind == "attribute":
        return directed(_MODEL_COLUMNS[clause.key], clause.ascending)
    metrics = t.logged_model_metrics
    latest = (
        select(metrics.c.value)
        .where(metrics.c.model_id == t.logged_models.c.model_id, metrics.c.key == clause.key)
        .order_by(metrics.c.timestamp.desc(), metrics.c.step.desc(), metrics.c.run_id.asc())
        .limit(1)
    )
    if clause.dataset_name:
        latest = latest.where(metrics.c.dataset_name == clause.dataset_name)
    if clause.dataset_digest:
        latest = latest.where(metrics.c.dataset_digest == clause.dataset_digest)
    return directed(latest.scalar_subquery(), clause.ascending)
