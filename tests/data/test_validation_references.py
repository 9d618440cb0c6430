"""references: every value of a column exists in another dataset version, found by resolve."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidParameter, ResourceNotFound
from loopml.data.validation import Suite, expect, validate

ORDERS = pa.table({"id": [1, 2, 3, 4, 5], "customer_id": [10, 11, None, 12, 12]})
CUSTOMERS = pa.table({"id": [10, 11], "name": ["ann", "bob"]})


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    found = {"orders": tmp_path / "orders.parquet", "data:customers@3": tmp_path / "c.parquet"}
    pq.write_table(ORDERS, found["orders"])
    pq.write_table(CUSTOMERS, found["data:customers@3"])
    return found


def test_values_missing_from_the_other_dataset_fail_with_their_rows(
    paths: dict[str, Path],
) -> None:
    resolved: list[str] = []

    def resolve(ref: str) -> Path:
        resolved.append(ref)
        return paths[ref]

    suite = Suite(
        "s",
        [
            expect.references("customer_id", "data:customers@3", column="id"),
            expect.references("id", "data:customers@3"),
        ],
    )
    report = validate(paths["orders"], suite, resolve=resolve)
    first, second = report.results
    assert resolved == ["data:customers@3"]  # one resolve per referenced version
    assert not first.success
    assert (first.unexpected_count, first.observed) == (2, [12])
    assert first.failing_rows == [{"id": 4, "customer_id": 12}, {"id": 5, "customer_id": 12}]
    assert first.message == (
        "customer_id: 2 values not found in data:customers@3.id (40.00%), e.g. 12"
    )
    assert (second.success, second.unexpected_count) == (False, 5)


def test_references_pass_when_every_value_is_found_and_nulls_are_ignored() -> None:
    suite = Suite("s", [expect.references("customer_id", "data:c@1", column="id")])
    everyone = pa.table({"id": [10, 11, 12]})
    report = validate(ORDERS, suite, resolve=lambda ref: everyone)
    assert report.success
    assert report.results[0].message == ("customer_id: 0 values not found in data:c@1.id (0%)")


def test_a_suite_with_references_needs_resolve() -> None:
    suite = Suite("orders", [expect.references("customer_id", "data:c@1")])
    with pytest.raises(InvalidParameter, match=r"suite 'orders' has references .* pass resolve="):
        validate(ORDERS, suite)


def test_a_missing_referenced_column_or_version_fails_only_that_expectation() -> None:
    def resolve(ref: str) -> pa.Table:
        if ref == "data:gone@1":
            raise ResourceNotFound("dataset version data:gone@1 not found")
        return CUSTOMERS

    suite = Suite(
        "s",
        [
            expect.references("customer_id", "data:customers@3", column="customer"),
            expect.references("customer_id", "data:gone@1", column="id"),
            expect.not_null("id"),
        ],
    )
    report = validate(ORDERS, suite, resolve=resolve)
    assert [r.success for r in report.results] == [False, False, True]
    assert report.results[0].message == "customer_id: data:customers@3 has no column 'customer'"
    assert report.results[1].message == (
        "customer_id: cannot resolve data:gone@1: dataset version data:gone@1 not found"
    )


def test_incomparable_types_fail_with_duckdbs_reason() -> None:
    names = pa.table({"id": ["x", "y"]})
    suite = Suite("s", [expect.references("customer_id", "data:n@1", column="id")])
    result = validate(ORDERS, suite, resolve=lambda ref: names).results[0]
    assert not result.success
    assert result.message.startswith("references(customer_id): cannot be evaluated:")
