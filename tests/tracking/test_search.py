"""The search grammar: parsing (pure) and what each filter and order selects in SQL.

The SQL tests run on SQLite and, when reachable, on PostgreSQL in a throwaway
schema, so both dialects agree on case sensitivity, NaN and NULL ordering.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, insert, select, text
from sqlalchemy.exc import OperationalError

from loopml.core.errors import InvalidParameter
from loopml.store import tables as t
from loopml.tracking._sql_search import (
    experiment_filter_clause,
    experiment_order_clauses,
    logged_model_filter_clause,
    logged_model_order_clauses,
    run_filter_clause,
    run_order_clauses,
)
from loopml.tracking.search import (
    NULL_OPS,
    NUMERIC_OPS,
    STRING_OPS,
    Comparison,
    OrderClause,
    decode_page_token,
    encode_page_token,
    parse_experiment_filter,
    parse_logged_model_filter,
    parse_logged_model_order_by,
    parse_order_by,
    parse_run_filter,
)

POSTGRES_URL = os.environ.get(
    "LOOPML_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# parsing: runs


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, []),
        ("   ", []),
        ("metrics.acc > 0.9", [Comparison("metric", "acc", ">", 0.9)]),
        ("metric.acc <= -1e-3", [Comparison("metric", "acc", "<=", -0.001)]),
        ("metrics.`my metric` != 2", [Comparison("metric", "my metric", "!=", 2.0)]),
        ('metrics."my metric" = .5', [Comparison("metric", "my metric", "=", 0.5)]),
        ("params.lr = '0.01'", [Comparison("param", "lr", "=", "0.01")]),
        ('param.lr LIKE "0.%"', [Comparison("param", "lr", "LIKE", "0.%")]),
        ("parameters.lr ilike '%1'", [Comparison("param", "lr", "ILIKE", "%1")]),
        ("tags.`mlflow.runName` = 'cv'", [Comparison("tag", "mlflow.runName", "=", "cv")]),
        ("tags.mlflow.source.type = 'x'", [Comparison("tag", "mlflow.source.type", "=", "x")]),
        ("tag.team IS NULL", [Comparison("tag", "team", "IS NULL", None)]),
        ("params.lr is  not   null", [Comparison("param", "lr", "IS NOT NULL", None)]),
        ("tags.note = 'it''s'", [Comparison("tag", "note", "=", "it's")]),
        ('tags.note = "say ""hi"""', [Comparison("tag", "note", "=", 'say "hi"')]),
        ("run_name = 'a'", [Comparison("attribute", "run_name", "=", "a")]),
        ("`Run name` = 'a'", [Comparison("attribute", "run_name", "=", "a")]),
        ("\"status\" = 'FAILED'", [Comparison("attribute", "status", "=", "FAILED")]),
        ("attributes.status != 'X'", [Comparison("attribute", "status", "!=", "X")]),
        ("attr.user_id LIKE 'a%'", [Comparison("attribute", "user_id", "LIKE", "a%")]),
        ("run.artifact_uri = 's3://b'", [Comparison("attribute", "artifact_uri", "=", "s3://b")]),
        ("attribute.start_time >= 10", [Comparison("attribute", "start_time", ">=", 10)]),
        ("created < 1.5", [Comparison("attribute", "start_time", "<", 1.5)]),
        ("Created = 3", [Comparison("attribute", "start_time", "=", 3)]),
        ("end_time > 0", [Comparison("attribute", "end_time", ">", 0)]),
        ("run_id IN ('a', \"b\")", [Comparison("attribute", "run_id", "IN", ("a", "b"))]),
        ("run_id not in ('a')", [Comparison("attribute", "run_id", "NOT IN", ("a",))]),
        ("datasets.name = 'mnist'", [Comparison("dataset", "name", "=", "mnist")]),
        ("dataset.digest IN ('a','b')", [Comparison("dataset", "digest", "IN", ("a", "b"))]),
        ("datasets.context NOT IN ('x')", [Comparison("dataset", "context", "NOT IN", ("x",))]),
        (
            "metrics.a>1 and params.b='c'  AND tags.d!='e'",
            [
                Comparison("metric", "a", ">", 1.0),
                Comparison("param", "b", "=", "c"),
                Comparison("tag", "d", "!=", "e"),
            ],
        ),
    ],
)
def test_run_filter_parses(filter_string: str | None, expected: list[Comparison]) -> None:
    assert parse_run_filter(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("metrics.acc > 1 OR metrics.acc < 0", "OR is not supported"),
        ("metrics.acc > 1 AND", "expected a field name .* at the end"),
        ("metrics.acc > 1 metrics.b > 2", "expected AND or the end of the filter at 'metrics.b"),
        ("metrics.acc >", "expected a number for 'metrics.acc' at the end"),
        ("metrics.acc > '1'", "expected a number for 'metrics.acc' at \"'1'\""),
        ("metrics.acc > inf", "expected a number"),
        ("metrics.acc > 1abc", "expected a number for 'metrics.acc' at '1abc'"),
        ("metrics.acc LIKE 1", "operator 'LIKE' is not allowed on 'metrics.acc'"),
        ("metrics.acc == 1", "operator '==' is not allowed"),
        ("metrics.acc <> 1", "operator '<>' is not allowed"),
        ("metrics.acc IS NULL", "operator 'IS NULL' is not allowed"),
        ("metrics.a-b > 1", "expected a comparison operator .* at '-b > 1'"),
        ("metrics. acc > 1", "expected a field name"),
        ("params.lr = 0.1", "expected a quoted string value for 'params.lr' at '0.1'"),
        ("params.lr > '1'", "operator '>' is not allowed on 'params.lr'"),
        ("params.lr IN ('1')", "operator 'IN' is not allowed on 'params.lr'"),
        ("params.lr = 'unterminated", "expected a quoted string value"),
        ("tags.x = y", "expected a quoted string value for 'tags.x' at 'y'"),
        ("status IN ('FAILED')", "operator 'IN' is not allowed on 'status'"),
        ("run_name IS NULL", "operator 'IS NULL' is not allowed on 'run_name'"),
        ("start_time > 'now'", "expected a number for 'start_time'"),
        ("start_time > 99999999999999999999", "expected an integer within 64 bits"),
        ("start_time LIKE '1%'", "operator 'LIKE' is not allowed on 'start_time'"),
        ("run_id IN ()", "expected a quoted string in the list at '\\)'"),
        ("run_id IN (1, 2)", "expected a quoted string in the list at '1, 2\\)'"),
        ("run_id IN ('a' 'b')", "expected ',' or '\\)' in the list"),
        ("run_id IN 'a'", "expected a parenthesised list"),
        ("nonsense = 'x'", "unknown attribute 'nonsense' in 'nonsense'; use one of artifact_uri"),
        ("attributes.foo = 'x'", "unknown attribute 'foo' in 'attributes.foo'"),
        (
            "datasets.source = 'x'",
            "unknown dataset 'source' in 'datasets.source'; use one of context",
        ),
        ("metricz.acc > 1", "unknown prefix 'metricz' in 'metricz.acc'"),
        ("Metrics.acc > 1", "unknown prefix 'Metrics'"),
        ("= 1", "expected a field name"),
        ("(metrics.acc > 1)", "expected a field name .* at '\\(metrics.acc"),
        ("metrics.acc > 1;", "expected AND or the end of the filter at ';'"),
    ],
)
def test_run_filter_rejects(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_run_filter(filter_string)


def test_error_quotes_the_whole_filter() -> None:
    with pytest.raises(
        InvalidParameter, match=re.escape("Invalid run filter \"params.lr = 'a' AND x\"")
    ):
        parse_run_filter("params.lr = 'a' AND x")


def test_error_message_stays_short_for_huge_filters() -> None:
    with pytest.raises(InvalidParameter, match=r"\.\.\.[\"']") as caught:
        parse_run_filter("params.lr = 'a' " + "x" * 100_000)
    assert len(str(caught.value)) < 500


# parsing: experiments and logged models


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'a'", [Comparison("attribute", "name", "=", "a")]),
        ("attribute.name ILIKE '%a%'", [Comparison("attribute", "name", "ILIKE", "%a%")]),
        ("attributes.name LIKE 'a'", [Comparison("attribute", "name", "LIKE", "a")]),
        ("tags.team != 'x'", [Comparison("tag", "team", "!=", "x")]),
        ("tag.`a b` IS NULL", [Comparison("tag", "a b", "IS NULL", None)]),
        ("creation_time > 5", [Comparison("attribute", "creation_time", ">", 5)]),
        ("last_update_time <= 5", [Comparison("attribute", "last_update_time", "<=", 5)]),
        ("experiment_id = '7'", [Comparison("attribute", "experiment_id", "=", "7")]),
        (
            "experiment_id NOT IN ('1', '2')",
            [Comparison("attribute", "experiment_id", "NOT IN", ("1", "2"))],
        ),
    ],
)
def test_experiment_filter_parses(filter_string: str, expected: list[Comparison]) -> None:
    assert parse_experiment_filter(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("metrics.acc > 1", "unknown prefix 'metrics'"),
        ("params.x = 'a'", "unknown prefix 'params'"),
        ("artifact_location = 'x'", "unknown attribute 'artifact_location'"),
        ("creation_time > 1.5", "'creation_time' needs an integer, got '1.5'"),
        ("creation_time > '1'", "expected a number for 'creation_time'"),
        ("experiment_id = 'abc'", "experiment_id must be a quoted integer, got 'abc'"),
        ("experiment_id IN ('1', 'x')", "experiment_id must be a quoted integer, got 'x'"),
        ("experiment_id = '99999999999999999999'", "experiment_id '9+' is out of range"),
        ("experiment_id > '1'", "operator '>' is not allowed on 'experiment_id'"),
        ("name IN ('a')", "operator 'IN' is not allowed on 'name'"),
        ("name IS NULL", "operator 'IS NULL' is not allowed on 'name'"),
    ],
)
def test_experiment_filter_rejects(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_experiment_filter(filter_string)


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc >= 0.5", [Comparison("metric", "acc", ">=", 0.5)]),
        ("params.alpha IN ('1', '2')", [Comparison("param", "alpha", "IN", ("1", "2"))]),
        ("tags.stage NOT IN ('dev')", [Comparison("tag", "stage", "NOT IN", ("dev",))]),
        ("name LIKE 'clf%'", [Comparison("attribute", "name", "LIKE", "clf%")]),
        ("attributes.status = 'READY'", [Comparison("attribute", "status", "=", "READY")]),
        ("model_id IN ('m-1')", [Comparison("attribute", "model_id", "IN", ("m-1",))]),
        ("source_run_id = 'r'", [Comparison("attribute", "source_run_id", "=", "r")]),
        ("model_type != 'x'", [Comparison("attribute", "model_type", "!=", "x")]),
        ("creation_time > 5", [Comparison("attribute", "creation_timestamp", ">", 5)]),
        ("last_updated_timestamp < 5", [Comparison("attribute", "last_updated_timestamp", "<", 5)]),
    ],
)
def test_logged_model_filter_parses(filter_string: str, expected: list[Comparison]) -> None:
    assert parse_logged_model_filter(filter_string) == expected


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("datasets.name = 'x'", "unknown prefix 'datasets'"),
        ("run.name = 'x'", "unknown prefix 'run'"),
        ("tags.x IS NULL", "operator 'IS NULL' is not allowed on 'tags.x'"),
        ("metrics.acc IN ('1')", "operator 'IN' is not allowed on 'metrics.acc'"),
        ("artifact_location = 'x'", "unknown attribute 'artifact_location'"),
        ("creation_timestamp = 'x'", "expected a number for 'creation_timestamp'"),
    ],
)
def test_logged_model_filter_rejects(filter_string: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_logged_model_filter(filter_string)


# parsing: order_by


def test_order_by_parses_runs() -> None:
    clauses = parse_order_by(
        ["metrics.`val acc` DESC", "params.lr", "tags.x asc", "created", "attributes.end_time desc"]
    )
    assert clauses == [
        OrderClause("metric", "val acc", ascending=False),
        OrderClause("param", "lr"),
        OrderClause("tag", "x"),
        OrderClause("attribute", "start_time"),
        OrderClause("attribute", "end_time", ascending=False),
    ]


def test_order_by_parses_experiments_and_logged_models() -> None:
    assert parse_order_by(["name DESC", "experiment_id"], entity="experiment") == [
        OrderClause("attribute", "name", ascending=False),
        OrderClause("attribute", "experiment_id"),
    ]
    assert parse_order_by(["metrics.acc DESC", "creation_time"], entity="logged_model") == [
        OrderClause("metric", "acc", ascending=False),
        OrderClause("attribute", "creation_timestamp"),
    ]


@pytest.mark.parametrize(
    ("order_by", "entity", "message"),
    [
        (["metrics.acc DOWN"], "run", "expected ASC, DESC or the end of the clause at 'DOWN'"),
        (["metrics.acc DESC extra"], "run", "expected .* at 'extra'"),
        ([""], "run", "expected a field name"),
        (["datasets.name"], "run", "cannot order runs by 'datasets.name'"),
        (["nope"], "run", "unknown attribute 'nope'"),
        (["metrics.a", "metric.a DESC"], "run", "metric 'a' appears twice"),
        (["start_time", "created"], "run", "attribute 'start_time' appears twice"),
        (["tags.x"], "experiment", "cannot order experiments by 'tags.x'"),
        (["artifact_location"], "experiment", "unknown attribute 'artifact_location'"),
        (["params.x"], "logged_model", "cannot order logged models by 'params.x'"),
        ([3], "run", "Invalid order_by clause 3: expected a string"),
        ("metrics.acc", "run", "expected a list of clauses"),
    ],
)
def test_order_by_rejects(order_by: Any, entity: Any, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_order_by(order_by, entity=entity)


def test_logged_model_order_by_dicts() -> None:
    clauses = parse_logged_model_order_by(
        [
            {"field_name": "metrics.acc", "ascending": False, "dataset_name": "val"},
            {"field_name": "creation_time"},
            {"field_name": "name", "dataset_name": "", "dataset_digest": None},
        ]
    )
    assert clauses == [
        OrderClause("metric", "acc", ascending=False, dataset_name="val"),
        OrderClause("attribute", "creation_timestamp"),
        OrderClause("attribute", "name"),
    ]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({}, "field_name must be a string"),
        ({"field_name": 1}, "field_name must be a string"),
        ({"field_name": "params.x"}, "cannot order logged models by 'params.x'"),
        ({"field_name": "metrics.acc DESC"}, "expected the end of the field name at 'DESC'"),
        ({"field_name": "name", "ascending": "no"}, "ascending must be true or false"),
        ({"field_name": "name", "dataset_name": 3}, "dataset fields must be strings"),
        ({"field_name": "metrics.a", "dataset_digest": "d"}, "dataset_digest needs dataset_name"),
    ],
)
def test_logged_model_order_by_dicts_reject(item: Mapping[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse_logged_model_order_by([item])


def test_logged_model_order_by_rejects_non_mapping() -> None:
    with pytest.raises(InvalidParameter, match="expected an object with field_name"):
        parse_logged_model_order_by(["name"])


# page tokens


@pytest.mark.parametrize("offset", [0, 1, 1000, 2**40])
def test_page_token_round_trips(offset: int) -> None:
    assert decode_page_token(encode_page_token(offset)) == offset


def test_page_token_is_mlflow_format() -> None:
    assert base64.b64decode(encode_page_token(7)) == b'{"offset": 7}'
    assert decode_page_token(None) == 0
    assert decode_page_token("") == 0


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1]").decode(),
        base64.b64encode(b'{"offset": -1}').decode(),
        base64.b64encode(b'{"offset": "5"}').decode(),
        base64.b64encode(b'{"offset": true}').decode(),
        base64.b64encode(b'{"offset": 1.5}').decode(),
        base64.b64encode(b'{"offset": 9223372036854775808}').decode(),
        base64.b64encode(b"\xff\xfe\x00").decode(),
        base64.b64encode(b"[" * 100_000).decode(),
        "é",
    ],
)
def test_page_token_rejects_malformed(token: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid page_token"):
        decode_page_token(token)


# robustness and round trips

_FRAGMENTS = [
    "metrics.acc", "metric.`a b`", "params.lr", 'tags."x y"', "tags.mlflow.runName", "run_name",
    "start_time", "created", "run_id", "datasets.name", "datasets.context", "experiment_id",
    "creation_time", "name", "status", "attributes.", "`", '"', "'", "'v'", '"v"', "'it''s'",
    "'1'", "1", "-2.5e3", ".5", "1e999", "99999999999999999999", "=", "!=", "<>", ">", ">=",
    "LIKE", "ilike", "IN", "NOT", "IS", "NULL", "AND", "and", "OR", "(", ")", ",", ";", " ",
]  # fmt: skip

_PARSERS = (parse_run_filter, parse_experiment_filter, parse_logged_model_filter)


@given(st.text())
def test_any_text_parses_or_raises_invalid_parameter(filter_string: str) -> None:
    for parse in _PARSERS:
        with contextlib.suppress(InvalidParameter):
            parse(filter_string)


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map(" ".join))
def test_grammar_like_text_parses_or_raises_invalid_parameter(filter_string: str) -> None:
    for parse in _PARSERS:
        with contextlib.suppress(InvalidParameter):
            parse(filter_string)


@given(st.lists(st.one_of(st.text(), st.sampled_from(_FRAGMENTS)), max_size=4))
def test_any_order_by_parses_or_raises_invalid_parameter(order_by: list[str]) -> None:
    for entity in ("run", "experiment", "logged_model"):
        with contextlib.suppress(InvalidParameter):
            parse_order_by(order_by, entity=entity)


_ORDER_VALUES = st.one_of(st.text(), st.sampled_from(_FRAGMENTS), st.booleans(), st.none())


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["field_name", "ascending", "dataset_name", "dataset_digest"]),
            _ORDER_VALUES,
        ),
        max_size=3,
    )
)
def test_any_logged_model_order_by_parses_or_raises(order_by: list[dict[str, object]]) -> None:
    with contextlib.suppress(InvalidParameter):
        parse_logged_model_order_by(order_by)


@given(st.text())
def test_any_page_token_decodes_or_raises_invalid_parameter(token: str) -> None:
    with contextlib.suppress(InvalidParameter):
        assert decode_page_token(token) >= 0


_KEYS = st.text(st.characters(exclude_characters="`"), max_size=8)
_STRINGS = st.text(max_size=8)
_NUMBERS = st.floats(allow_nan=False, allow_infinity=False)


def _keyed(kind: str, ops: frozenset[str], values: st.SearchStrategy[Any]) -> Any:
    return st.builds(Comparison, st.just(kind), _KEYS, st.sampled_from(sorted(ops)), values)


_RUN_COMPARISONS = st.one_of(
    _keyed("metric", NUMERIC_OPS, _NUMBERS),
    _keyed("param", STRING_OPS, _STRINGS),
    _keyed("tag", STRING_OPS, _STRINGS),
    _keyed("param", NULL_OPS, st.none()),
    _keyed("tag", NULL_OPS, st.none()),
    st.builds(
        Comparison,
        st.just("attribute"),
        st.just("run_id"),
        st.sampled_from(["IN", "NOT IN"]),
        st.lists(_STRINGS, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(
        Comparison,
        st.just("attribute"),
        st.just("start_time"),
        st.sampled_from(sorted(NUMERIC_OPS)),
        st.integers(-(2**63) + 1, 2**63 - 1),
    ),
)


def _render(comparison: Comparison) -> str:
    prefix = {"metric": "metrics.", "param": "params.", "tag": "tags.", "attribute": ""}
    name = comparison.key if comparison.kind == "attribute" else f"`{comparison.key}`"
    value = comparison.value
    if value is None:
        rendered = ""
    elif isinstance(value, tuple):
        rendered = "(" + ", ".join(_quote(v) for v in value) + ")"
    elif isinstance(value, str):
        rendered = _quote(value)
    else:
        rendered = repr(value)
    return f"{prefix[comparison.kind]}{name} {comparison.op} {rendered}"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@given(st.lists(_RUN_COMPARISONS, min_size=1, max_size=4))
def test_rendered_filters_parse_back(comparisons: list[Comparison]) -> None:
    assert parse_run_filter(" AND ".join(_render(c) for c in comparisons)) == comparisons


# SQL: fixtures


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    if request.param == "sqlite":
        sqlite = create_engine(f"sqlite:///{tmp_path_factory.mktemp('search') / 'search.db'}")
        yield from _seeded(sqlite)
    else:
        yield from _postgres_engine()


def _postgres_engine() -> Iterator[Engine]:
    problem = _postgres_problem()
    if problem is not None:
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL} ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(f"{reason}; start it or set LOOPML_TEST_POSTGRES_URL to run these tests")
    admin = create_engine(POSTGRES_URL)
    schema = f"test_search_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield from _seeded(engine)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@functools.cache
def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, asked once so an absent server costs one timeout."""
    probe = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with probe.connect():
            return None
    except OperationalError as error:
        return str(error.orig).strip()
    finally:
        probe.dispose()


def _seeded(engine: Engine) -> Iterator[Engine]:
    t.metadata.create_all(engine)
    with engine.begin() as conn:
        for table, rows in _ROWS.items():
            conn.execute(insert(table), rows)
    try:
        yield engine
    finally:
        engine.dispose()


def _experiment(experiment_id: int, name: str, created: int, updated: int) -> dict[str, Any]:
    return {
        "experiment_id": experiment_id,
        "name": name,
        "artifact_location": f"/a/{experiment_id}",
        "lifecycle_stage": "active",
        "creation_time": created,
        "last_update_time": updated,
    }


def _run(
    run_id: str, name: str, user: str, status: str, start: int, end: int | None
) -> dict[str, Any]:
    return {
        "run_uuid": run_id,
        "experiment_id": 1,
        "name": name,
        "user_id": user,
        "status": status,
        "start_time": start,
        "end_time": end,
        "lifecycle_stage": "active",
        "artifact_uri": f"s3://bucket/{run_id}",
    }


def _metric(run_id: str, key: str, value: float) -> dict[str, Any]:
    is_nan = value != value
    return {
        "run_uuid": run_id,
        "key": key,
        "step": 0,
        "timestamp": 0,
        "value": 0.0 if is_nan else value,
        "is_nan": is_nan,
    }


def _kv(owner: str, owner_id: Any, pairs: dict[str, str]) -> list[dict[str, Any]]:
    return [{owner: owner_id, "key": k, "value": v} for k, v in pairs.items()]


def _dataset(dataset_id: str, name: str, digest: str) -> dict[str, Any]:
    return {
        "dataset_uuid": dataset_id,
        "experiment_id": 1,
        "name": name,
        "digest": digest,
        "source_type": "local",
        "source": "/data",
    }


def _model(model_id: str, name: str, status: str, created: int, **extra: Any) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "experiment_id": 1,
        "name": name,
        "artifact_location": f"/m/{model_id}",
        "creation_timestamp_ms": created,
        "last_updated_timestamp_ms": created,
        "status": status,
        "lifecycle_stage": "active",
        "model_type": extra.get("model_type"),
        "source_run_id": extra.get("source_run_id"),
    }


def _model_metric(model_id: str, value: float, timestamp: int, dataset: str) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "key": "acc",
        "value": value,
        "timestamp": timestamp,
        "step": 0,
        "dataset_name": dataset,
        "dataset_digest": dataset[::-1],
    }


NAN = float("nan")

# Default run order is start_time DESC, run_id: r3 and r4 tie at 3000, so r3, r4, r2, r1.
_ROWS: dict[Any, list[dict[str, Any]]] = {
    t.experiments: [
        _experiment(1, "alpha", 100, 500),
        _experiment(2, "beta", 200, 300),
        _experiment(3, "gamma_1", 300, 100),
    ],
    t.experiment_tags: [
        *_kv("experiment_id", 1, {"team": "vision"}),
        *_kv("experiment_id", 2, {"team": "Vision", "env": "prod"}),
    ],
    t.runs: [
        _run("r1", "train-A", "ann", "FINISHED", 1000, 2000),
        _run("r2", "train-b", "bob", "FAILED", 2000, None),
        _run("r3", "eval_1", "ann", "RUNNING", 3000, None),
        _run("r4", "eval%2", "cat", "FINISHED", 3000, 4000),
    ],
    t.params: [
        *_kv("run_uuid", "r1", {"lr": "0.1", "model": "CNN"}),
        *_kv("run_uuid", "r2", {"lr": "0.01", "model": "cnn"}),
        *_kv("run_uuid", "r3", {"lr": "0.1"}),
    ],
    t.tags: [
        *_kv("run_uuid", "r1", {"team": "Vision", "rank": "b", "mlflow.runName": "train-A"}),
        *_kv("run_uuid", "r2", {"team": "vision", "rank": "a"}),
        *_kv("run_uuid", "r3", {"path": "C:\\dir"}),
        *_kv("run_uuid", "r4", {"team": "audio", "rank": "c", "note": "a*b?[c]"}),
    ],
    t.latest_metrics: [
        _metric("r1", "acc", 0.9),
        _metric("r1", "loss", 0.3),
        _metric("r2", "acc", 0.5),
        _metric("r2", "loss", NAN),
        _metric("r3", "acc", NAN),
        _metric("r4", "loss", 0.1),
    ],
    t.datasets: [
        _dataset("d1", "mnist", "abc"),
        _dataset("d2", "MNIST-v2", "def"),
        _dataset("d3", "cifar", "123"),
    ],
    t.run_inputs: [
        {"input_uuid": "i1", "dataset_uuid": "d1", "run_uuid": "r1"},
        {"input_uuid": "i2", "dataset_uuid": "d3", "run_uuid": "r1"},
        {"input_uuid": "i3", "dataset_uuid": "d2", "run_uuid": "r2"},
        {"input_uuid": "i4", "dataset_uuid": "d1", "run_uuid": "r3"},
    ],
    t.run_input_tags: [
        {"input_uuid": "i1", "key": "mlflow.data.context", "value": "training"},
        {"input_uuid": "i2", "key": "mlflow.data.context", "value": "eval"},
        {"input_uuid": "i3", "key": "mlflow.data.context", "value": "Training"},
    ],
    t.logged_models: [
        _model("m1", "clf", "LOGGED_MODEL_READY", 100, model_type="sklearn", source_run_id="r1"),
        _model("m2", "Clf-big", "LOGGED_MODEL_PENDING", 200),
        _model("m3", "reg", "LOGGED_MODEL_READY", 300),
    ],
    t.logged_model_params: [
        *_kv("model_id", "m1", {"alpha": "0.5"}),
        *_kv("model_id", "m2", {"alpha": "1"}),
    ],
    t.logged_model_tags: [
        *_kv("model_id", "m1", {"stage": "dev"}),
        *_kv("model_id", "m2", {"stage": "Prod"}),
    ],
    t.logged_model_metrics: [
        _model_metric("m1", 0.7, 10, "val"),
        _model_metric("m1", 0.8, 20, "test"),
        _model_metric("m2", 0.9, 5, "val"),
    ],
}


def _runs(engine: Engine, filter_string: str | None, order_by: Sequence[str] = ()) -> list[str]:
    query = (
        select(t.runs.c.run_uuid)
        .where(run_filter_clause(parse_run_filter(filter_string)))
        .order_by(*run_order_clauses(parse_order_by(order_by)))
    )
    with engine.connect() as conn:
        return list(conn.scalars(query))


def _experiments(
    engine: Engine, filter_string: str | None, order_by: Sequence[str] = ()
) -> list[int]:
    clauses = parse_order_by(order_by, entity="experiment")
    query = (
        select(t.experiments.c.experiment_id)
        .where(experiment_filter_clause(parse_experiment_filter(filter_string)))
        .order_by(*experiment_order_clauses(clauses))
    )
    with engine.connect() as conn:
        return list(conn.scalars(query))


def _models(
    engine: Engine,
    filter_string: str | None,
    order_by: Sequence[Mapping[str, object]] = (),
    datasets: Sequence[Mapping[str, str | None]] = (),
) -> list[str]:
    condition = logged_model_filter_clause(parse_logged_model_filter(filter_string), datasets)
    query = (
        select(t.logged_models.c.model_id)
        .where(condition)
        .order_by(*logged_model_order_clauses(parse_logged_model_order_by(order_by)))
    )
    with engine.connect() as conn:
        return list(conn.scalars(query))


# SQL: runs


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, ["r3", "r4", "r2", "r1"]),
        ("metrics.acc > 0.6", ["r1"]),
        ("metrics.acc < 1", ["r2", "r1"]),
        ("metrics.acc = 0", []),
        ("metrics.acc != 0.9", ["r3", "r2"]),
        ("metrics.loss >= 0.1", ["r4", "r1"]),
        ("metrics.loss != 0", ["r4", "r2", "r1"]),
        ("params.lr = '0.1'", ["r3", "r1"]),
        ("params.lr != '0.1'", ["r2"]),
        ("params.model = 'CNN'", ["r1"]),
        ("params.model LIKE 'c%'", ["r2"]),
        ("params.model ILIKE 'c%'", ["r2", "r1"]),
        ("params.lr IS NOT NULL", ["r3", "r2", "r1"]),
        ("params.model IS NULL", ["r3", "r4"]),
        ("tags.team LIKE 'V%'", ["r1"]),
        ("tags.team LIKE 'v%'", ["r2"]),
        ("tags.team ILIKE 'V%'", ["r2", "r1"]),
        ("tags.team IS NULL", ["r3"]),
        ("tags.`mlflow.runName` = 'train-A'", ["r1"]),
        ("tags.note LIKE 'a*b?[c]'", ["r4"]),
        ("tags.note LIKE 'a%[c]'", ["r4"]),
        ("tags.note LIKE 'a_b_[c_'", ["r4"]),
        ("tags.note LIKE 'a*b?[c'", []),
        ("tags.note LIKE '*'", []),
        ("tags.path LIKE 'C:\\\\%'", ["r3"]),
        ("tags.path ILIKE 'c:\\\\DIR'", ["r3"]),
        ("tags.path LIKE 'C:\\'", []),
        ("run_name LIKE 'train-_'", ["r2", "r1"]),
        ("run_name LIKE 'TRAIN%'", []),
        ("run_name ILIKE 'TRAIN%'", ["r2", "r1"]),
        ("run_name = 'train-a'", []),
        ("run_name LIKE 'eval_%'", ["r3", "r4"]),
        ("run_name LIKE 'eval\\_%'", ["r3"]),
        ("run_name LIKE 'eval\\%%'", ["r4"]),
        ("attributes.`Run name` = 'eval_1'", ["r3"]),
        ("status = 'FINISHED'", ["r4", "r1"]),
        ("status != 'FINISHED'", ["r3", "r2"]),
        ("user_id = 'ann' AND metrics.acc > 0", ["r1"]),
        ("artifact_uri LIKE '%/r2'", ["r2"]),
        ("run_id IN ('r1', 'r4', 'nope')", ["r4", "r1"]),
        ("run_id NOT IN ('r1')", ["r3", "r4", "r2"]),
        ("start_time >= 2000 AND end_time > 0", ["r4"]),
        ("end_time != 2000", ["r4"]),
        ("created < 2000", ["r1"]),
        ("datasets.name = 'mnist'", ["r3", "r1"]),
        ("datasets.name LIKE 'mnist%'", ["r3", "r1"]),
        ("datasets.name ILIKE 'mnist%'", ["r3", "r2", "r1"]),
        ("datasets.name NOT IN ('mnist')", ["r2", "r1"]),
        ("datasets.digest IN ('def', '123')", ["r2", "r1"]),
        ("datasets.context = 'training'", ["r1"]),
        ("datasets.context ILIKE 'training'", ["r2", "r1"]),
        ("datasets.name = 'mnist' AND datasets.context = 'eval'", ["r1"]),
        ("metrics.acc > 0 AND params.lr = '0.1' AND tags.team = 'Vision'", ["r1"]),
    ],
)
def test_run_filter_selects(engine: Engine, filter_string: str | None, expected: list[str]) -> None:
    assert _runs(engine, filter_string) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.acc DESC"], ["r1", "r2", "r3", "r4"]),
        (["metrics.acc"], ["r2", "r1", "r3", "r4"]),
        (["metrics.loss ASC"], ["r4", "r1", "r2", "r3"]),
        (["metrics.loss DESC"], ["r1", "r4", "r2", "r3"]),
        (["params.lr DESC"], ["r3", "r1", "r2", "r4"]),
        (["params.lr"], ["r2", "r3", "r1", "r4"]),
        (["tags.rank DESC"], ["r4", "r1", "r2", "r3"]),
        (["tags.rank"], ["r2", "r1", "r4", "r3"]),
        (["end_time"], ["r1", "r4", "r3", "r2"]),
        (["end_time DESC"], ["r4", "r1", "r3", "r2"]),
        (["start_time ASC"], ["r1", "r2", "r3", "r4"]),
        (["attributes.run_name DESC"], ["r2", "r1", "r3", "r4"]),
        (["run_id DESC"], ["r4", "r3", "r2", "r1"]),
        (["params.lr DESC", "run_id DESC"], ["r3", "r1", "r2", "r4"]),
        (["params.lr DESC", "start_time"], ["r1", "r3", "r2", "r4"]),
    ],
)
def test_run_order(engine: Engine, order_by: list[str], expected: list[str]) -> None:
    assert _runs(engine, None, order_by) == expected


def test_like_patterns_are_not_stuck_in_the_statement_cache(engine: Engine) -> None:
    assert _runs(engine, "tags.team LIKE 'V%'") == ["r1"]
    assert _runs(engine, "tags.team LIKE 'v%'") == ["r2"]
    assert _runs(engine, "tags.team LIKE 'a%'") == ["r4"]


# SQL: experiments


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        (None, [3, 2, 1]),
        ("name = 'alpha'", [1]),
        ("name LIKE 'B%'", []),
        ("name ILIKE 'B%'", [2]),
        ("name LIKE '%\\_%'", [3]),
        ("tags.team = 'vision'", [1]),
        ("tags.team ILIKE 'VISION'", [2, 1]),
        ("tags.team != 'vision'", [2]),
        ("tags.env IS NULL", [3, 1]),
        ("tags.team IS NOT NULL", [2, 1]),
        ("creation_time > 100", [3, 2]),
        ("last_update_time <= 300", [3, 2]),
        ("experiment_id IN ('1', '3')", [3, 1]),
        ("experiment_id NOT IN ('1', '3')", [2]),
        ("experiment_id != '2'", [3, 1]),
        ("attribute.experiment_id = '2'", [2]),
    ],
)
def test_experiment_filter_selects(
    engine: Engine, filter_string: str | None, expected: list[int]
) -> None:
    assert _experiments(engine, filter_string) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], [3, 2, 1]),
        (["name"], [1, 2, 3]),
        (["name DESC"], [3, 2, 1]),
        (["last_update_time"], [3, 2, 1]),
        (["creation_time ASC"], [1, 2, 3]),
        (["experiment_id DESC"], [3, 2, 1]),
    ],
)
def test_experiment_order(engine: Engine, order_by: list[str], expected: list[int]) -> None:
    assert _experiments(engine, None, order_by) == expected


# SQL: logged models


@pytest.mark.parametrize(
    ("filter_string", "datasets", "expected"),
    [
        (None, [], ["m3", "m2", "m1"]),
        ("metrics.acc > 0.85", [], ["m2"]),
        ("metrics.acc >= 0.7", [], ["m2", "m1"]),
        ("metrics.acc > 0.75", [{"dataset_name": "val"}], ["m2"]),
        ("metrics.acc > 0.75", [{"dataset_name": "test", "dataset_digest": "tset"}], ["m1"]),
        ("metrics.acc > 0.75", [{"dataset_name": "test", "dataset_digest": "nope"}], []),
        (None, [{"dataset_name": "test"}], ["m1"]),
        (None, [{"dataset_name": "val"}], ["m2", "m1"]),
        ("status = 'READY'", [], ["m3", "m1"]),
        ("status = 'LOGGED_MODEL_READY'", [], ["m3", "m1"]),
        ("status IN ('PENDING', 'FAILED')", [], ["m2"]),
        ("status != 'READY'", [], ["m2"]),
        ("name LIKE 'clf%'", [], ["m1"]),
        ("name ILIKE 'clf%'", [], ["m2", "m1"]),
        ("params.alpha IN ('1', '2')", [], ["m2"]),
        ("params.alpha != '1'", [], ["m1"]),
        ("tags.stage ILIKE 'prod'", [], ["m2"]),
        ("tags.stage LIKE 'prod'", [], []),
        ("creation_time > 150", [], ["m3", "m2"]),
        ("model_type = 'sklearn'", [], ["m1"]),
        ("source_run_id = 'r1'", [], ["m1"]),
        ("model_id NOT IN ('m1')", [], ["m3", "m2"]),
    ],
)
def test_logged_model_filter_selects(
    engine: Engine,
    filter_string: str | None,
    datasets: list[dict[str, str]],
    expected: list[str],
) -> None:
    assert _models(engine, filter_string, datasets=datasets) == expected


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([{"field_name": "metrics.acc", "ascending": False}], ["m2", "m1", "m3"]),
        ([{"field_name": "metrics.acc"}], ["m1", "m2", "m3"]),
        ([{"field_name": "metrics.acc", "dataset_name": "val"}], ["m1", "m2", "m3"]),
        ([{"field_name": "metrics.acc", "dataset_name": "test"}], ["m1", "m3", "m2"]),
        ([{"field_name": "creation_timestamp", "ascending": True}], ["m1", "m2", "m3"]),
        ([{"field_name": "model_type"}], ["m1", "m3", "m2"]),
        ([{"field_name": "model_id", "ascending": False}], ["m3", "m2", "m1"]),
    ],
)
def test_logged_model_order(
    engine: Engine, order_by: list[dict[str, object]], expected: list[str]
) -> None:
    assert _models(engine, None, order_by) == expected


def test_logged_model_datasets_need_a_name(engine: Engine) -> None:
    with pytest.raises(InvalidParameter, match="needs dataset_name"):
        _models(engine, None, datasets=[{"dataset_digest": "x"}])
