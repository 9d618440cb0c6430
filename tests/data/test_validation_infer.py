"""infer_suite: a suite the clean version passes and that catches exactly what was corrupted."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from loopml.data.profile import ColumnProfile, Profile, profile_table
from loopml.data.validation import Suite, expect, infer_suite, validate

NAMES = [
    "ann", "bob", "carla", "dmitri", "eve", "fatima", "gus", "hana", "ivan", "jo",
    "kim", "lena", "marco", "nia", "otto", "pia", "quinn", "rosa", "sven", "tess",
]  # fmt: skip
ROWS = len(NAMES)


def clean_table() -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array(range(1, ROWS + 1), pa.int64()),
            "customer": NAMES,
            "status": (["new", "paid", "shipped", "paid"] * 5),
            "amount": [10.0 * i for i in range(1, ROWS + 1)],
            "discount": [None, None] + [0.5] * (ROWS - 2),
            "paid": [i % 3 == 0 for i in range(ROWS)],
        }
    )


def hand_built_profile(table: pa.Table) -> Profile:
    """What the profiler reports for ``clean_table``, written out by hand."""
    amounts = table["amount"]
    statuses = {"paid": 10, "new": 5, "shipped": 5}
    paid = sum(table["paid"].to_pylist())
    return Profile(
        row_count=ROWS,
        columns=[
            ColumnProfile("order_id", "int64", "numeric", ROWS, 0, ROWS, 1, ROWS, 10.5, 5.916),
            ColumnProfile(
                "customer", "string", "categorical", ROWS, 0, ROWS,
                top_values=[(name, 1) for name in NAMES[:10]], min_length=2, max_length=6,
            ),
            ColumnProfile(
                "status", "string", "categorical", ROWS, 0, 3,
                top_values=list(statuses.items()), min_length=3, max_length=7,
            ),
            ColumnProfile(
                "amount", "double", "numeric", ROWS, 0, ROWS, 10.0, 200.0,
                pc.mean(amounts).as_py(), pc.stddev(amounts, ddof=1).as_py(),
            ),
            ColumnProfile("discount", "double", "numeric", ROWS - 2, 2, 1, 0.5, 0.5, 0.5, 0.0),
            ColumnProfile(
                "paid", "bool", "boolean", ROWS, 0, 2,
                top_values=[(False, ROWS - paid), (True, paid)],
            ),
        ],
    )  # fmt: skip


def corrupt(table: pa.Table) -> pa.Table:
    """One corruption each: a null, a duplicated id, out of range, unknown, too long."""
    rows = table.to_pylist()
    rows[0]["customer"] = None
    rows[5]["order_id"] = 3
    rows[7]["amount"] = 250.0
    rows[9]["status"] = "refunded"
    rows[11]["customer"] = "a-very-long-customer-name"
    return pa.Table.from_pylist(rows, schema=table.schema)


def test_the_rules_give_the_documented_suite() -> None:
    suite = infer_suite(hand_built_profile(clean_table()), "orders")
    by_column: dict[str | None, list[str]] = {}
    for e in suite.expectations:
        by_column.setdefault(e.column, []).append(e.kind)
    assert suite.name == "orders"
    assert suite.expectations[0] == expect.row_count_between(10, 40)
    common = ["column_exists", "column_type", "not_null"]
    assert by_column["order_id"] == [*common, "unique", "between", "mean_between"]
    assert by_column["customer"] == [*common, "unique", "length_between"]
    assert by_column["status"] == [*common, "in_set"]
    assert by_column["amount"] == [*common, "between", "mean_between"]
    assert by_column["discount"] == [*common, "between", "mean_between"]
    assert by_column["paid"] == [*common, "in_set"]
    assert expect.not_null("discount", 0.11) in suite.expectations
    assert expect.in_set("status", ["paid", "new", "shipped"]) in suite.expectations
    assert expect.in_set("paid", [False, True]) in suite.expectations
    amount_mean = next(e for e in suite.expectations if e.label == "mean_between(amount)")
    assert amount_mean.params["min"] < 105 < amount_mean.params["max"]


@pytest.mark.parametrize("profiled", ["by hand", "by profile_table"])
def test_clean_data_passes_and_each_corruption_fails_its_expectation(
    tmp_path: Path, profiled: str
) -> None:
    clean = clean_table()
    profile = hand_built_profile(clean) if profiled == "by hand" else profile_table(clean)
    suite = infer_suite(profile, "orders")
    assert Suite.from_yaml(suite.to_yaml()) == suite
    pq.write_table(clean, tmp_path / "clean.parquet")
    pq.write_table(corrupt(clean), tmp_path / "corrupt.parquet")

    passed = validate(tmp_path / "clean.parquet", suite)
    assert passed.success, passed.summary()

    failed = validate(tmp_path / "corrupt.parquet", suite)
    failing = {r.expectation.label: r for r in failed.results if not r.success}
    assert sorted(failing) == [
        "between(amount)",
        "in_set(status)",
        "length_between(customer)",
        "not_null(customer)",
        "unique(order_id)",
    ]
    rows = {label: [row["order_id"] for row in r.failing_rows] for label, r in failing.items()}
    assert rows == {
        "between(amount)": [8],
        "in_set(status)": [10],
        "length_between(customer)": [12],
        "not_null(customer)": [1],
        "unique(order_id)": [3, 3],
    }
    assert failing["in_set(status)"].observed == ["refunded"]


def column(name: str, **fields: object) -> ColumnProfile:
    base: dict[str, object] = {"type": "string", "kind": "categorical", "count": 100}
    base.update(missing=0, distinct=100)
    base.update(fields)
    return ColumnProfile(name, **base)  # type: ignore[arg-type]


def kinds(profile_column: ColumnProfile, rows: int = 100) -> list[str]:
    suite = infer_suite(Profile(rows, [profile_column]), "s")
    return [e.kind for e in suite.expectations[1:]]


def test_no_in_set_when_the_top_values_do_not_cover_every_value() -> None:
    top = [(f"v{i}", 8) for i in range(10)]
    partial = column("c", distinct=12, top_values=top, min_length=2, max_length=3)
    assert "in_set" not in kinds(partial)
    assert "length_between" in kinds(partial)


def test_no_unique_for_floats_or_when_values_repeat() -> None:
    floats = column("x", type="double", kind="numeric", min=0.0, max=1.0, mean=0.5, std=0.1)
    assert "unique" not in kinds(floats)
    assert "unique" not in kinds(column("c", distinct=99))
    assert "unique" not in kinds(column("c", count=0, missing=0, distinct=0), rows=0)


def test_a_mostly_missing_column_gets_no_not_null_and_an_empty_table_no_max_rows() -> None:
    assert "not_null" not in kinds(column("c", count=1, missing=99, distinct=1))
    empty = infer_suite(Profile(0, []), "s")
    assert empty.expectations == [expect.row_count_between(min=0)]


def test_infinite_bounds_leave_between_open_and_skip_the_mean() -> None:
    infinite = column(
        "x", type="double", kind="numeric", min=0.0, max=float("inf"), mean=1.0, std=0.5
    )
    suite = infer_suite(Profile(100, [infinite]), "s")
    assert expect.between("x", min=0.0) in suite.expectations
    assert "mean_between" not in [e.kind for e in suite.expectations]
