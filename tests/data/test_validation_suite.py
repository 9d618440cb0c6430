"""Suites read from and write to hand-friendly YAML and JSON, and errors name the item."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loopml.core.errors import InvalidParameter
from loopml.data.validation import Suite, expect

ORDERS_YAML = """\
name: orders
description: what an orders table must look like
expectations:
  - column_exists: {column: id}
  - not_null: id
  - between: {column: amount, min: 0, max: 10000}
  - in_set: {column: status, values: [new, paid]}
  - unique_together: {columns: [customer_id, order_id]}
  - row_count_between: {min: 1000}
  - references: {column: customer_id, ref: "data:customers@3", ref_column: id}
"""

ORDERS = Suite(
    "orders",
    [
        expect.column_exists("id"),
        expect.not_null("id"),
        expect.between("amount", 0, 10_000),
        expect.in_set("status", ["new", "paid"]),
        expect.unique_together(["customer_id", "order_id"]),
        expect.row_count_between(min=1000),
        expect.references("customer_id", "data:customers@3", column="id"),
    ],
    description="what an orders table must look like",
)


def test_a_hand_written_yaml_suite_reads_as_built_in_code() -> None:
    assert Suite.from_yaml(ORDERS_YAML) == ORDERS


def test_yaml_and_json_round_trip() -> None:
    assert Suite.from_yaml(ORDERS.to_yaml()) == ORDERS
    assert Suite.from_dict(json.loads(json.dumps(ORDERS.to_dict()))) == ORDERS


def test_to_yaml_writes_one_line_per_expectation() -> None:
    text = Suite("s", [expect.not_null("id"), expect.between("amount", 0, 9)]).to_yaml()
    assert text == (
        "name: s\nexpectations:\n  - not_null: id\n  - between: {column: amount, min: 0, max: 9}\n"
    )


def test_load_reads_yaml_yml_and_json_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ORDERS_YAML)
    (tmp_path / "b.yml").write_text(ORDERS_YAML)
    (tmp_path / "c.json").write_text(json.dumps(ORDERS.to_dict()))
    for name in ("a.yaml", "b.yml", "c.json"):
        assert Suite.load(tmp_path / name) == ORDERS


def test_load_refuses_other_suffixes_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text(ORDERS_YAML)
    with pytest.raises(InvalidParameter, match=r"ends in \.yaml, \.yml or \.json"):
        Suite.load(tmp_path / "s.txt")
    with pytest.raises(InvalidParameter, match=r"cannot read suite"):
        Suite.load(tmp_path / "absent.yaml")


def test_an_error_in_a_file_names_the_file_and_the_item_index(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(ORDERS_YAML.replace("max: 10000", "max: -1"))
    with pytest.raises(
        InvalidParameter,
        match=r"bad\.yaml: expectations\[2\]: between\(amount\): min \(0\) is greater than max",
    ):
        Suite.load(path)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: s\nexpectations:\n  - nope: a\n", r"expectations\[0\]: unknown expectation kind"),
        (
            "name: s\nexpectations:\n  - not_null: a\n  - between: {column: a}\n",
            r"expectations\[1\]: between\(a\): give min, max or both",
        ),
        (
            "name: s\nexpectations:\n  - matches: {column: a, pattern: '['}\n",
            r"expectations\[0\]: matches\(a\): pattern is not a valid regex",
        ),
        (
            "name: s\nexpectations:\n  - in_set: {column: a, value: [x]}\n",
            r"expectations\[0\]: in_set: unknown parameter 'value'; it takes column, values",
        ),
        ("name: s\nexpectations:\n  - just text\n", r"expectations\[0\]: an expectation is a"),
        ("name: s\nexpectations: {a: 1}\n", r"suite: expectations must be a list"),
        ("expectations: []\n", r"suite: name must be a non-empty string"),
        ("name: s\nexpectations: []\nowner: me\n", r"unknown key 'owner'"),
        ("- a\n- b\n", r"suite: expected a mapping with name and expectations"),
        ("name: [unclosed\n", r"suite: not valid YAML"),
    ],
)
def test_yaml_errors_say_what_is_wrong(text: str, match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        Suite.from_yaml(text)


def test_yaml_is_read_safely() -> None:
    with pytest.raises(InvalidParameter, match=r"not valid YAML"):
        Suite.from_yaml("!!python/object/apply:os.system ['true']\n")


def test_a_date_bound_in_yaml_is_kept_as_iso_text() -> None:
    suite = Suite.from_yaml(
        "name: s\nexpectations:\n  - between: {column: at, min: 2024-01-01, max: 2024-12-31}\n"
    )
    assert suite.expectations[0].params == {"min": "2024-01-01", "max": "2024-12-31"}
    assert json.loads(json.dumps(suite.to_dict())) == suite.to_dict()


def test_a_suite_holds_only_expectations() -> None:
    with pytest.raises(InvalidParameter, match=r"expectations\[1\]: not an Expectation"):
        Suite("s", [expect.not_null("a"), {"not_null": "b"}])  # type: ignore[list-item]
