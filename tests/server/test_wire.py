"""The proto-JSON scalar types and the error messages of request validation."""

from __future__ import annotations

import math

import pytest

from loopml.core.errors import BadRequest, InvalidParameter
from loopml.server import mlflow_schemas as s
from loopml.server.wire import double, field_path, parse_json


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"1.5", 1.5),
        (b"3", 3.0),
        (b'"Infinity"', math.inf),
        (b'"-Infinity"', -math.inf),
    ],
)
def test_double_accepts_numbers_and_protobufs_special_strings(raw: bytes, value: float) -> None:
    body = parse_json(s.LOG_METRIC, b'{"run_id":"r","key":"k","timestamp":1,"value":' + raw + b"}")
    assert body["value"] == value


def test_double_accepts_nan_as_text_and_as_a_json_extension() -> None:
    for raw in (b'"NaN"', b"NaN"):
        body = parse_json(s.LOG_METRIC, b'{"key":"k","timestamp":1,"value":' + raw + b"}")
        assert math.isnan(body["value"])


@pytest.mark.parametrize("raw", [b"true", b'"1.5"', b'"nan"', b"null", b"[1]"])
def test_double_refuses_other_types(raw: bytes) -> None:
    with pytest.raises(InvalidParameter, match=r"invalid value for 'value': must be a number"):
        parse_json(s.LOG_METRIC, b'{"key":"k","timestamp":1,"value":' + raw + b"}")


def test_int64_accepts_numbers_and_decimal_strings() -> None:
    body = parse_json(s.LOG_METRIC, b'{"key":"k","value":1,"timestamp":"1700000000000","step":-3}')
    assert (body["timestamp"], body["step"]) == (1_700_000_000_000, -3)


@pytest.mark.parametrize("raw", [b"1.5", b"true", b'"12a"', b"9223372036854775808", b'""'])
def test_int64_refuses_fractions_bools_text_and_overflow(raw: bytes) -> None:
    with pytest.raises(InvalidParameter, match="'timestamp': must be a 64-bit integer"):
        parse_json(s.LOG_METRIC, b'{"key":"k","value":1,"timestamp":' + raw + b"}")


def test_enums_by_name_or_number() -> None:
    assert parse_json(s.UPDATE_RUN, b'{"run_id":"r","status":"KILLED"}')["status"] == "KILLED"
    assert parse_json(s.UPDATE_RUN, b'{"run_id":"r","status":3}')["status"] == "FINISHED"
    with pytest.raises(InvalidParameter, match="'status': must be one of RUNNING, "):
        parse_json(s.UPDATE_RUN, b'{"run_id":"r","status":"DONE"}')
    finalized = parse_json(s.FINALIZE_LOGGED_MODEL, b'{"status":2}')
    assert finalized["status"] == "LOGGED_MODEL_READY"


def test_bool_accepts_json_and_query_spellings() -> None:
    assert s.GET_LOGGED_MODEL.validate_python({"allow_deleted": "True"}) == {"allow_deleted": True}
    assert (
        parse_json(
            s.SEARCH_LOGGED_MODELS,
            b'{"experiment_ids":[],"order_by":[{"field_name":"x","ascending":false}]}',
        )["order_by"][0]["ascending"]
        is False
    )


def test_errors_name_the_field_as_a_json_path() -> None:
    assert field_path(("metrics", 3, "value")) == "metrics[3].value"
    with pytest.raises(InvalidParameter, match=r"unknown field 'metrics\[1\].valeu'"):
        parse_json(
            s.LOG_BATCH,
            b'{"run_id":"r","metrics":[{"key":"a","value":1,"timestamp":1},'
            b'{"key":"a","valeu":1,"timestamp":1}]}',
        )
    with pytest.raises(InvalidParameter, match=r"missing required field 'params\[0\].key'"):
        parse_json(s.LOG_BATCH, b'{"run_id":"r","params":[{"value":"v"}]}')
    with pytest.raises(InvalidParameter, match="invalid value for 'run_id'"):
        parse_json(s.LOG_BATCH, b'{"run_id":7}')


def test_strings_are_not_coerced_from_numbers() -> None:
    with pytest.raises(InvalidParameter, match="'experiment_id'"):
        parse_json(s.EXPERIMENT_ID, b'{"experiment_id": 1}')


def test_malformed_json_is_bad_request_and_empty_body_is_an_empty_object() -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json(s.RUN_ID, b"{")
    assert parse_json(s.RUN_ID, b"  ") == {}


def test_double_writes_non_finite_values_as_mlflow_does() -> None:
    assert [double(x) for x in (1.5, math.nan, math.inf, -math.inf)] == [
        1.5,
        "NaN",
        "Infinity",
        "-Infinity",
    ]
