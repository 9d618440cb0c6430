"""Reports are JSON-safe: NumPy, decimals, times and NaN survive json.dumps and read back."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from loopml.data.validation import (
    ExpectationResult,
    Suite,
    ValidationReport,
    expect,
    validate,
)


def awkward_table() -> pa.Table:
    return pa.table(
        {
            "price": pa.array(
                [decimal.Decimal("1.50"), decimal.Decimal("99.99")], pa.decimal128(6, 2)
            ),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 6, 1, 8)], pa.timestamp("us")
            ),
            "score": [float("nan"), 0.5],
            "blob": [b"\x00\x01", b"ok"],
            "tags": [["a"], []],
        }
    )


def test_a_report_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "awkward.parquet"
    pq.write_table(awkward_table(), path)
    suite = Suite(
        "awkward",
        [
            expect.between("price", 0, 10),
            expect.between("at", "2024-01-01", "2024-03-01"),
            expect.not_null("score"),
            expect.mean_between("score", 0, 1),
        ],
    )
    report = validate(path, suite)
    data = report.to_dict()
    again = json.loads(json.dumps(data, allow_nan=False))
    assert again == data
    assert ValidationReport.from_dict(again).to_dict() == data
    price, at, score, _ = ValidationReport.from_dict(again).results
    assert price.observed == {"min": 1.5, "max": 99.99}
    assert price.failing_rows[0]["price"] == 99.99
    assert at.failing_rows[0]["at"] == "2024-06-01T08:00:00"
    assert score.failing_rows[0]["score"] is None  # NaN
    assert score.failing_rows[0]["tags"] == ["a"]
    assert isinstance(score.failing_rows[0]["blob"], str)


def test_a_report_read_back_equals_the_original() -> None:
    report = validate(
        pa.table({"x": [1, 2, 2]}), Suite("s", [expect.unique("x"), expect.in_set("x", [1])])
    )
    assert ValidationReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_numpy_values_in_a_result_become_plain_json() -> None:
    result = ExpectationResult(
        expectation=expect.mean_between("x", 0, 1),
        success=False,
        observed={"mean": np.float64(1.5), "values": np.array([1, 2]), "n": np.int64(3)},
        unexpected_count=None,
        unexpected_fraction=float("nan"),
        failing_rows=[{"x": np.float32(0.5), "at": np.datetime64("2024-01-01")}],
        message="x: mean 1.5 outside [0, 1]",
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["observed"] == {"mean": 1.5, "values": [1, 2], "n": 3}
    assert data["unexpected_fraction"] is None
    assert data["failing_rows"] == [{"x": 0.5, "at": "2024-01-01"}]
    assert data["expectation"] == {"mean_between": {"column": "x", "min": 0, "max": 1}}


def test_zoned_timestamps_compare_with_iso_bounds_and_come_back_as_iso_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "zoned.parquet"
    at = [dt.datetime(2024, 1, d, tzinfo=dt.UTC) for d in (1, 2, 9)]
    pq.write_table(pa.table({"at": pa.array(at, pa.timestamp("us", tz="UTC"))}), path)
    suite = Suite("s", [expect.between("at", "2024-01-01T00:00:00+00:00", "2024-01-05")])
    result = validate(path, suite).results[0]
    assert result.unexpected_count == 1
    assert result.failing_rows == [{"at": "2024-01-09T00:00:00+00:00"}]
    assert result.observed["max"] == "2024-01-09T00:00:00+00:00"
