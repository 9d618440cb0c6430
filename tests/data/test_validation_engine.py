"""validate: every kind passing and failing on a real Parquet file, with failing-row samples."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidParameter
from loopml.data.validation import (
    Expectation,
    ExpectationResult,
    Suite,
    expect,
    validate,
)


def orders() -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(1, 11), pa.int64()),
            "customer_id": [1, 1, 2, 3, 3, 4, 5, 5, 6, 7],
            "region": ["eu", "eu", "us", "eu", "us", "us", "eu", "eu", "us", "us"],
            "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0],
            "status": ["new", "paid", "shipped"] * 3 + ["new"],
            "note": ["a", None, "b", "c", "d", "e", "f", "g", "h", "i"],
            "email": [f"user{i}@example.com" for i in range(1, 11)],
            "created": [dt.date(2024, 1, i) for i in range(1, 11)],
        }
    )


@pytest.fixture
def orders_path(tmp_path: Path) -> Path:
    path = tmp_path / "orders.parquet"
    pq.write_table(orders(), path)
    return path


def run_one(path: Path, expectation: Expectation, **options: Any) -> ExpectationResult:
    report = validate(path, Suite("one", [expectation]), **options)
    assert report.row_count == 10
    (result,) = report.results
    return result


def ids(result: ExpectationResult) -> list[int]:
    return [row["id"] for row in result.failing_rows]


PASSING = [
    expect.column_exists("id"),
    expect.column_type("id", "int64"),
    expect.column_type("status", "string"),
    expect.not_null("id"),
    expect.not_null("note", max_fraction=0.1),
    expect.unique("id"),
    expect.unique("email"),
    expect.in_set("status", ["new", "paid", "shipped"]),
    expect.between("amount", 10, 100),
    expect.between("amount", min=0),
    expect.between("created", "2024-01-01", "2024-01-10"),
    expect.matches("email", r"user\d+@example\.com"),
    expect.length_between("status", 3, 7),
    expect.mean_between("amount", 50, 60),
    expect.std_between("amount", 30, 31),
    expect.quantile_between("amount", 0.5, 55, 55),
    expect.row_count_between(10, 10),
    expect.unique_together(["customer_id", "status"]),
]


@pytest.mark.parametrize("expectation", PASSING, ids=lambda e: e.label)
def test_each_kind_passes_on_data_that_meets_it(
    orders_path: Path, expectation: Expectation
) -> None:
    result = run_one(orders_path, expectation)
    assert result.success, result.message
    assert result.failing_rows == []
    if not expectation.params.get("max_fraction"):  # a tolerance lets some through
        assert result.unexpected_count in (None, 0)


FAILING: list[tuple[Expectation, Any, int | None, list[int]]] = [
    (expect.column_exists("nope"), False, None, []),
    (expect.column_type("id", "string"), "int64", None, []),
    (expect.not_null("note"), 0.1, 1, [2]),
    (expect.unique("customer_id"), 3, 3, [1, 2, 4, 5, 7]),
    (expect.in_set("status", ["new", "paid"]), ["shipped"], 3, [3, 6, 9]),
    (expect.between("amount", 15, 85), {"min": 10.0, "max": 100.0}, 3, [1, 9, 10]),
    (expect.between("amount", max=95), {"min": 10.0, "max": 100.0}, 1, [10]),
    (
        expect.between("created", "2024-01-02", None),
        {"min": "2024-01-01", "max": "2024-01-10"},
        1,
        [1],
    ),
    (expect.matches("email", r"user[1-3]@example\.com"), 7, 7, [4, 5, 6, 7, 8]),
    (expect.length_between("status", 3, 4), {"min": 3, "max": 7}, 3, [3, 6, 9]),
    (expect.mean_between("amount", 60, None), 55.0, None, []),
    (expect.quantile_between("amount", 0.9, None, 90), 91.0, None, []),
    (expect.row_count_between(min=11), 10, None, []),
    (expect.unique_together(["customer_id", "region"]), 2, 2, [1, 2, 7, 8]),
]


@pytest.mark.parametrize(
    ("expectation", "observed", "unexpected", "failing_ids"),
    FAILING,
    ids=[item[0].label for item in FAILING],
)
def test_each_kind_fails_with_what_it_saw_and_the_rows_that_break_it(
    orders_path: Path,
    expectation: Expectation,
    observed: Any,
    unexpected: int | None,
    failing_ids: list[int],
) -> None:
    result = run_one(orders_path, expectation)
    assert not result.success
    assert result.observed == (pytest.approx(observed) if isinstance(observed, float) else observed)
    assert result.unexpected_count == unexpected
    if unexpected is not None:
        assert result.unexpected_fraction == pytest.approx(unexpected / 10)
    assert sorted(ids(result)) == failing_ids


def test_std_between_observes_the_sample_standard_deviation(orders_path: Path) -> None:
    result = run_one(orders_path, expect.std_between("amount", 0, 10))
    assert not result.success
    assert result.observed == pytest.approx(30.276503540974915)
    assert result.message == "amount: std 30.2765 outside [0, 10]"


def test_messages_read_as_one_line_for_a_human(orders_path: Path) -> None:
    suite = Suite(
        "orders",
        [
            expect.between("amount", 0, 85),
            expect.not_null("note"),
            expect.in_set("status", ["new", "paid"]),
            expect.row_count_between(min=11),
            expect.unique("customer_id"),
            expect.column_type("id", "string"),
        ],
    )
    report = validate(orders_path, suite)
    assert [r.message for r in report.results] == [
        "amount: 2 values outside [0, 85] (20.00%)",
        "note: 1 null (10.00%), allowed 0%",
        "status: 3 values not in {'new', 'paid'} (30.00%), e.g. 'shipped'",
        "row count 10 outside [11, ∞)",
        "customer_id: 3 duplicate values",
        "id: type int64, expected string",
    ]
    assert report.summary().splitlines()[0] == "orders: 6 of 6 failed"


def test_failing_rows_are_whole_rows_and_capped_by_sample_rows(orders_path: Path) -> None:
    result = run_one(orders_path, expect.between("amount", 0, 5), sample_rows=2)
    assert result.unexpected_count == 10
    assert len(result.failing_rows) == 2
    assert set(result.failing_rows[0]) == set(orders().schema.names)
    assert result.failing_rows[0]["created"].startswith("2024-01-")
    assert run_one(orders_path, expect.between("amount", 0, 5), sample_rows=0).failing_rows == []


def test_a_table_a_dataframe_and_a_parquet_file_validate_the_same(orders_path: Path) -> None:
    suite = Suite("s", [e for e, *_ in FAILING if e.kind != "column_type"] + PASSING[3:])
    reports = [validate(source, suite) for source in (orders_path, orders(), orders().to_pandas())]
    first = [(r.success, r.message, r.failing_rows) for r in reports[0].results]
    for report in reports[1:]:
        assert [(r.success, r.message, r.failing_rows) for r in report.results] == first


def test_a_missing_column_fails_its_expectations_and_the_rest_still_run(orders_path: Path) -> None:
    suite = Suite(
        "s",
        [
            expect.not_null("gone"),
            expect.unique_together(["id", "gone"]),
            expect.between("amount", 0, 100),
        ],
    )
    report = validate(orders_path, suite)
    assert [r.success for r in report.results] == [False, False, True]
    assert report.results[0].message.startswith("gone: column not found (columns: id, customer_id")
    assert not report.success


def test_a_kind_that_does_not_fit_the_column_type_fails_with_a_message(orders_path: Path) -> None:
    suite = Suite(
        "s",
        [
            expect.between("status", 0, 10),
            expect.mean_between("email", 0, 1),
            expect.length_between("amount", 1, 2),
            expect.in_set("id", ["one", "two"]),
            expect.between("amount", 0, 100),
        ],
    )
    report = validate(orders_path, suite)
    messages = [r.message for r in report.results]
    assert messages[0] == "status: between needs a numeric or temporal column, but status is string"
    assert messages[1].startswith("email: mean_between needs a numeric column")
    assert messages[2].startswith("amount: length_between needs a string column")
    assert messages[3].startswith("in_set(id): cannot be evaluated: Conversion Error")
    assert [r.success for r in report.results] == [False, False, False, False, True]


def test_nan_counts_as_missing_and_is_not_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "nan.parquet"
    pq.write_table(pa.table({"x": [1.0, float("nan"), None, 3.0]}), path)
    suite = Suite("s", [expect.not_null("x"), expect.between("x", 1, 3), expect.unique("x")])
    report = validate(path, suite)
    assert [r.success for r in report.results] == [False, True, True]
    assert report.results[0].unexpected_count == 2
    assert report.results[1].observed == {"min": 1.0, "max": 3.0}
    mean = validate(path, Suite("s", [expect.mean_between("x", 2, 2)])).results[0]
    assert mean.success
    assert mean.observed == 2.0


def test_unique_integers_far_apart_are_counted_exactly(tmp_path: Path) -> None:
    """A range too wide for a bitmap falls back to counting distinct values by hashing."""
    path = tmp_path / "wide.parquet"
    pq.write_table(pa.table({"k": [0, 2**40, 2**40, -(2**62), None]}), path)
    result = validate(path, Suite("s", [expect.unique("k")])).results[0]
    assert (result.success, result.observed) == (False, 1)
    assert [row["k"] for row in result.failing_rows] == [2**40, 2**40]


def test_identifiers_with_quotes_spaces_and_case_are_safe(tmp_path: Path) -> None:
    table = pa.table(
        {
            "order no": [1, 2, 2],
            'say "hi"': ["a'b", "c", None],
            "A": [1, 1, 1],
            "a": [1, 2, 3],
        }
    )
    path = tmp_path / "odd.parquet"
    pq.write_table(table, path)
    suite = Suite(
        "s",
        [
            expect.unique("order no"),
            expect.not_null('say "hi"'),
            expect.in_set('say "hi"', ["a'b", "c"]),
            expect.matches('say "hi"', "a'b|c"),
            expect.unique("a"),
            expect.unique("A"),
            expect.unique_together(["order no", "a"]),
        ],
    )
    report = validate(path, suite)
    assert [r.success for r in report.results] == [False, False, True, True, True, False, True]
    assert report.results[0].failing_rows == [
        {"order no": 2, 'say "hi"': "c", "A": 1, "a": 2},
        {"order no": 2, 'say "hi"': None, "A": 1, "a": 3},
    ]


def test_an_empty_table_has_no_nulls_and_no_mean(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"x": pa.array([], pa.float64())}), path)
    suite = Suite("s", [expect.not_null("x"), expect.unique("x"), expect.mean_between("x", 0, 1)])
    report = validate(path, suite)
    assert report.row_count == 0
    assert [r.success for r in report.results] == [True, True, False]
    assert report.results[2].message == "x: mean undefined, too few values"


def test_bad_sources_and_arguments_raise_invalid_parameter(tmp_path: Path) -> None:
    suite = Suite("s", [expect.not_null("x")])
    with pytest.raises(InvalidParameter, match=r"no such Parquet file"):
        validate(tmp_path / "absent.parquet", suite)
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(InvalidParameter, match=r"cannot read .*text\.parquet as Parquet"):
        validate(tmp_path / "text.parquet", suite)
    with pytest.raises(InvalidParameter, match=r"cannot validate a list"):
        validate([1, 2], suite)
    with pytest.raises(InvalidParameter, match=r"sample_rows must be a whole number >= 0"):
        validate(orders(), suite, sample_rows=-1)
    with pytest.raises(InvalidParameter, match=r"suite: expected a Suite, got dict"):
        validate(orders(), {"name": "s"})  # type: ignore[arg-type]


def test_an_empty_suite_passes() -> None:
    report = validate(orders(), Suite("nothing", []))
    assert report.success
    assert report.results == []
    assert report.row_count == 10
    assert report.duration_ms >= 0
