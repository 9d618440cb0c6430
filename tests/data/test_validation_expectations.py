"""Expectations check their arguments when built, and name the expectation and the field."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from loopml.core.errors import InvalidParameter
from loopml.data.validation import Expectation, expect
from loopml.data.validation.expectations import KINDS


def test_every_builder_makes_its_kind() -> None:
    built = [
        expect.column_exists("a"),
        expect.column_type("a", "int64"),
        expect.not_null("a"),
        expect.unique("a"),
        expect.in_set("a", ["x"]),
        expect.between("a", 0, 1),
        expect.matches("a", "x+"),
        expect.length_between("a", 1, 2),
        expect.mean_between("a", 0, 1),
        expect.std_between("a", 0, 1),
        expect.quantile_between("a", 0.5, 0, 1),
        expect.row_count_between(min=1),
        expect.unique_together(["a", "b"]),
        expect.references("a", "data:other@3", column="id"),
    ]
    assert sorted(e.kind for e in built) == sorted(KINDS)


def test_parameters_are_normalized_so_equal_claims_compare_equal() -> None:
    assert expect.between("a", min=0) == Expectation("between", "a", {"min": 0})
    assert expect.between("a", min=0).params == {"min": 0, "max": None}
    assert expect.not_null("a").params == {"max_fraction": 0.0}
    assert expect.in_set("a", ("x", "y", "x")).params["values"] == ["x", "y"]
    assert expect.in_set("a", {"y", "x"}).params["values"] == ["x", "y"]


def test_dates_become_iso_text_and_numpy_scalars_plain_numbers() -> None:
    between = expect.between("at", dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert between.params == {"min": "2024-01-01", "max": "2024-12-31"}
    numbers = expect.between("a", np.int64(1), np.float64(2.5))
    assert numbers.params == {"min": 1, "max": 2.5}
    assert type(numbers.params["min"]) is int
    assert expect.in_set("a", np.array(["x", "y"])).params["values"] == ["x", "y"]


def test_references_default_to_the_same_column_name() -> None:
    assert expect.references("customer_id", "data:c@1").params["ref_column"] is None
    assert expect.references("customer_id", "data:c@1", column="id").params["ref_column"] == "id"


def test_columns_lists_what_an_expectation_reads() -> None:
    assert expect.unique_together(["a", "b"]).columns == ["a", "b"]
    assert expect.row_count_between(min=1).columns == []
    assert expect.not_null("a").columns == ["a"]


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: Expectation("nope", "a"), r"unknown expectation kind 'nope'; known kinds: "),
        (lambda: expect.not_null(""), r"not_null: column must be a non-empty string"),
        (lambda: Expectation("not_null"), r"not_null: column must be a non-empty string"),
        (lambda: Expectation("row_count_between", "a", {"min": 1}), r"takes no column"),
        (lambda: expect.between("a", 5, 1), r"between\(a\): min \(5\) is greater than max \(1\)"),
        (lambda: expect.between("a"), r"between\(a\): give min, max or both"),
        (lambda: expect.between("a", 0, "2024-01-01"), r"both be numbers or both dates"),
        (lambda: expect.between("a", float("nan")), r"between\(a\): min must be a finite number"),
        (lambda: expect.quantile_between("a", 1.5, 0, 1), r"q must be between 0 and 1"),
        (lambda: expect.quantile_between("a", -0.1, 0, 1), r"q must be between 0 and 1"),
        (lambda: expect.in_set("a", []), r"in_set\(a\): values must not be empty"),
        (lambda: expect.in_set("a", "xy"), r"in_set\(a\): values must be a list"),
        (lambda: expect.in_set("a", [[1]]), r"values must hold strings, numbers or booleans"),
        (lambda: expect.matches("a", "("), r"matches\(a\): pattern is not a valid regex"),
        (lambda: expect.length_between("a", -1), r"min must be a whole number >= 0"),
        (lambda: expect.length_between("a", 1.5), r"min must be a whole number >= 0"),
        (lambda: expect.not_null("a", 2), r"not_null\(a\): max_fraction must be between 0 and 1"),
        (lambda: expect.not_null("a", True), r"max_fraction must be a finite number"),
        (lambda: expect.row_count_between(), r"row_count_between: give min, max or both"),
        (lambda: expect.row_count_between(10, 1), r"min \(10\) is greater than max \(1\)"),
        (lambda: expect.unique_together([]), r"columns must be a non-empty list"),
        (lambda: expect.unique_together(["a", "a"]), r"columns lists a column twice"),
        (lambda: expect.unique_together("ab"), r"columns must be a non-empty list"),
        (lambda: expect.column_type("a", ""), r"column_type\(a\): type must be a non-empty"),
        (lambda: expect.references("a", ""), r"references\(a\): ref must be a non-empty"),
        (lambda: Expectation("unique", "a", {"max": 1}), r"unknown parameter 'max'"),
        (lambda: Expectation("between", "a", {"min": 0, "mx": 1}), r"'mx'; it takes column, min"),
        (lambda: Expectation("column_type", "a"), r"missing required parameter 'type'"),
    ],
)
def test_bad_arguments_name_the_expectation_and_the_field(build: Any, match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        build()


def test_to_dict_leaves_out_defaults_and_reads_back() -> None:
    expectation = expect.between("amount", min=0)
    assert expectation.to_dict() == {"between": {"column": "amount", "min": 0}}
    assert expect.not_null("a").to_dict() == {"not_null": {"column": "a"}}
    assert Expectation.from_dict(expectation.to_dict()) == expectation


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"not_null": "id"}, expect.not_null("id")),
        ({"unique_together": ["a", "b"]}, expect.unique_together(["a", "b"])),
        ({"row_count_between": {"min": 3}}, expect.row_count_between(min=3)),
        ({"references": {"column": "c", "ref": "data:x@1"}}, expect.references("c", "data:x@1")),
    ],
)
def test_short_forms_read_as_the_long_ones(item: dict[str, Any], expected: Expectation) -> None:
    assert Expectation.from_dict(item) == expected


def test_an_item_must_be_a_one_key_mapping() -> None:
    with pytest.raises(InvalidParameter, match=r"a mapping with one key, the kind"):
        Expectation.from_dict({"not_null": "a", "unique": "a"})
    with pytest.raises(InvalidParameter, match=r"between: expected a mapping of parameters"):
        Expectation.from_dict({"between": 3})
