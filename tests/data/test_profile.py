"""A profile is exact, survives JSON, and holds up on the awkward tables real data brings."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidParameter
from loopml.data.profile import (
    HISTOGRAM_BINS,
    QUANTILES,
    ColumnProfile,
    Histogram,
    Profile,
    kind_of,
    profile_table,
)


def _table(rows: int = 1_000) -> pa.Table:
    rng = np.random.default_rng(3)
    return pa.table(
        {
            "id": pa.array(np.arange(rows, dtype="int64")),
            "x": pa.array(rng.normal(size=rows)),
            "label": pa.array(rng.choice(["cat", "dog", "eel"], rows)),
            "at": pa.array(
                pd.date_range("2024-01-01", periods=rows, freq="min"), pa.timestamp("us")
            ),
            "flag": pa.array(rng.random(rows) < 0.3),
        }
    )


def _roundtrip(profile: Profile) -> Profile:
    return Profile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))


def _plain(value: object) -> bool:
    """Only what JSON holds, with no numpy, Decimal or datetime hiding inside."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or type(value) in (bool, int, str)


def test_numeric_statistics_are_exact() -> None:
    values = np.arange(1, 101, dtype="float64")
    column = profile_table(pa.table({"v": values})).column("v")
    assert column.kind == "numeric"
    assert (column.count, column.missing, column.distinct) == (100, 0, 100)
    assert (column.min, column.max) == (1.0, 100.0)
    assert column.mean == pytest.approx(values.mean())
    assert column.std == pytest.approx(values.std(ddof=1))
    assert set(column.quantiles) == {str(q) for q in QUANTILES}
    assert column.quantiles["0.5"] == pytest.approx(np.quantile(values, 0.5))
    assert column.quantiles["0.99"] == pytest.approx(np.quantile(values, 0.99))


def test_integers_keep_integer_min_and_max() -> None:
    column = profile_table(pa.table({"n": [3, -7, 12, None]})).column("n")
    assert (column.min, column.max) == (-7, 12)
    assert type(column.min) is int
    assert (column.count, column.missing) == (3, 1)


def test_histogram_has_equal_width_bins_and_the_maximum_in_the_last() -> None:
    column = profile_table(pa.table({"v": [0.0, 1.0, 2.5, 9.0, 10.0, None]}), bins=5).column("v")
    assert column.histogram == Histogram(
        edges=[0.0, 2.0, 4.0, 6.0, 8.0, 10.0], counts=[2, 1, 0, 0, 2]
    )


def test_histogram_counts_every_finite_value_once() -> None:
    profile = profile_table(_table(5_000))
    for name in ("id", "x"):
        histogram = profile.column(name).histogram
        assert histogram is not None
        assert len(histogram.counts) == HISTOGRAM_BINS
        assert len(histogram.edges) == HISTOGRAM_BINS + 1
        assert sum(histogram.counts) == 5_000


def test_a_constant_column_gets_one_bin() -> None:
    column = profile_table(pa.table({"v": [4, 4, 4, None]})).column("v")
    assert column.histogram == Histogram(edges=[4.0, 4.0], counts=[3])
    assert column.std == 0.0


def test_nan_is_missing_and_infinity_only_counts_for_min_and_max() -> None:
    table = pa.table({"v": [1.0, 3.0, math.nan, math.inf, -math.inf, None]})
    column = profile_table(table, bins=2).column("v")
    assert (column.count, column.missing, column.distinct) == (4, 2, 4)
    assert (column.min, column.max) == (-math.inf, math.inf)
    assert column.mean == 2.0
    assert column.quantiles["0.5"] == 2.0
    assert column.histogram == Histogram(edges=[1.0, 2.0, 3.0], counts=[1, 1])


def test_a_column_of_only_nan_is_all_missing() -> None:
    column = profile_table(pa.table({"v": [math.nan, math.nan]})).column("v")
    assert (column.count, column.missing, column.distinct) == (0, 2, 0)
    assert (column.min, column.max, column.mean, column.std) == (None, None, None, None)
    assert column.quantiles == {}
    assert column.histogram is None


@pytest.mark.parametrize("arrow_type", [pa.float64(), pa.int32(), pa.string(), pa.bool_()])
def test_an_all_null_column_has_counts_and_nothing_else(arrow_type: pa.DataType) -> None:
    column = profile_table(pa.table({"v": pa.nulls(3, arrow_type)})).column("v")
    assert (column.count, column.missing, column.distinct) == (0, 3, 0)
    assert column.min is None
    assert column.top_values == []
    assert column.histogram is None


def test_an_empty_table_profiles_to_zeros() -> None:
    profile = profile_table(_table().slice(0, 0))
    assert profile.row_count == 0
    assert [c.name for c in profile.columns] == ["id", "x", "label", "at", "flag"]
    for column in profile.columns:
        assert (column.count, column.missing, column.distinct) == (0, 0, 0)
        assert column.histogram is None
        assert column.top_values == []
    assert _roundtrip(profile) == profile


def test_categorical_top_values_are_most_frequent_first_ties_by_value() -> None:
    table = pa.table({"s": ["b", "a", "c", "b", "a", "d", None, "héllo", "héllo"]})
    column = profile_table(table, top=3).column("s")
    assert column.kind == "categorical"
    assert column.top_values == [("a", 2), ("b", 2), ("héllo", 2)]
    assert (column.count, column.missing, column.distinct) == (8, 1, 5)
    assert (column.min_length, column.max_length) == (1, 5)
    assert (column.min, column.max) == (None, None)


def test_distinct_is_counted_even_without_top_values() -> None:
    column = profile_table(pa.table({"s": ["a", "b", "a", None]}), top=0).column("s")
    assert (column.distinct, column.top_values) == (2, [])


def test_boolean_top_values() -> None:
    column = profile_table(pa.table({"b": [True, False, True, None]})).column("b")
    assert column.kind == "boolean"
    assert column.top_values == [(True, 2), (False, 1)]
    assert column.distinct == 2


def test_dictionary_encoded_strings_are_categorical() -> None:
    frame = pd.DataFrame({"c": pd.Categorical(["x", "y", "x", None])})
    column = profile_table(frame).column("c")
    assert column.kind == "categorical"
    assert column.top_values == [("x", 2), ("y", 1)]


def test_timestamps_with_a_time_zone_give_utc_iso_strings() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    values = [dt.datetime(2024, 1, 1, 12, tzinfo=paris), dt.datetime(2024, 6, 1, tzinfo=dt.UTC)]
    table = pa.table({"at": pa.array(values, pa.timestamp("us", tz="Europe/Paris"))})
    column = profile_table(table).column("at")
    assert column.kind == "temporal"
    assert column.type == "timestamp[us, tz=Europe/Paris]"
    assert (column.min, column.max) == ("2024-01-01T11:00:00+00:00", "2024-06-01T00:00:00+00:00")


def test_naive_timestamps_and_dates_give_iso_strings() -> None:
    table = pa.table(
        {
            "at": pa.array([dt.datetime(2024, 3, 1, 8, 30), None], pa.timestamp("ns")),
            "on": pa.array([dt.date(2023, 12, 31), dt.date(2024, 1, 2)]),
        }
    )
    profile = profile_table(table)
    assert (profile.column("at").min, profile.column("at").missing) == ("2024-03-01T08:30:00", 1)
    assert (profile.column("on").min, profile.column("on").max) == ("2023-12-31", "2024-01-02")


def test_decimals_are_numeric_with_float_statistics() -> None:
    values = [Decimal("1.25"), Decimal("2.50"), None]
    column = profile_table(pa.table({"d": pa.array(values, pa.decimal128(10, 2))})).column("d")
    assert column.kind == "numeric"
    assert (column.min, column.max, column.mean) == (1.25, 2.5, 1.875)
    assert type(column.min) is float


def test_nested_columns_are_other_with_counts_only() -> None:
    column = profile_table(pa.table({"l": pa.array([[1, 2], None, [1, 2], [3]])})).column("l")
    assert column.kind == "other"
    assert (column.count, column.missing, column.distinct) == (3, 1, 2)
    assert (column.min, column.histogram, column.top_values) == (None, None, [])


def test_awkward_column_names_are_profiled_apart() -> None:
    table = pa.table(
        {'a "quoted" name': [1, 2], "A": [10, 20], "a": [5, 5], "名前; DROP": ["x", "y"]}
    )
    profile = profile_table(table)
    assert profile.column('a "quoted" name').max == 2
    assert (profile.column("A").max, profile.column("a").max) == (20, 5)
    assert profile.column("名前; DROP").distinct == 2


@pytest.mark.parametrize(
    ("arrow_type", "kind"),
    [
        (pa.int8(), "numeric"),
        (pa.uint64(), "numeric"),
        (pa.float32(), "numeric"),
        (pa.decimal128(5, 1), "numeric"),
        (pa.date32(), "temporal"),
        (pa.timestamp("s", tz="UTC"), "temporal"),
        (pa.large_string(), "categorical"),
        (pa.bool_(), "boolean"),
        (pa.binary(), "other"),
        (pa.struct([("a", pa.int64())]), "other"),
        (pa.duration("s"), "other"),
    ],
)
def test_kind_follows_the_arrow_type(arrow_type: pa.DataType, kind: str) -> None:
    assert kind_of(arrow_type) == kind


def test_a_parquet_file_and_a_dataframe_profile_like_the_table(tmp_path: Path) -> None:
    table = _table()
    path = tmp_path / "it's [a] file.parquet"
    pq.write_table(table, path)
    expected = profile_table(table)
    assert profile_table(path) == expected
    assert profile_table(str(path)) == expected
    from_pandas = profile_table(table.to_pandas())
    # pandas turns strings into large strings; nothing else may differ
    assert from_pandas.column("label").type == "large_string"
    assert [replace(c, type="") for c in from_pandas.columns] == [
        replace(c, type="") for c in expected.columns
    ]


def test_the_profile_is_plain_json_and_round_trips() -> None:
    table = pa.table(
        {
            "v": [1.5, math.inf, math.nan, None],
            "d": pa.array([Decimal("1.5"), None, None, Decimal("3")], pa.decimal128(4, 1)),
            "at": pa.array([dt.datetime(2024, 1, 1)] * 4, pa.timestamp("ms", tz="UTC")),
            "b": [True, None, False, True],
            "s": ["x", "y", None, "x"],
        }
    )
    profile = profile_table(table)
    data = profile.to_dict()
    assert _plain(data)
    assert data["columns"][0]["max"] == "inf"
    assert _roundtrip(profile) == profile
    assert _roundtrip(profile_table(_table())) == profile_table(_table())


def test_missing_fraction_counts_nan_and_nulls() -> None:
    column = profile_table(pa.table({"v": [1.0, math.nan, None, 2.0]})).column("v")
    assert column.missing_fraction == 0.5
    assert isinstance(column, ColumnProfile)


@pytest.mark.parametrize(
    ("options", "match"),
    [({"bins": 0}, "bins must be"), ({"top": -1}, "top must be"), ({"bins": True}, "bins must")],
)
def test_bad_options_are_refused(options: dict[str, int], match: str) -> None:
    with pytest.raises(InvalidParameter, match=match):
        profile_table(_table(), **options)


def test_unreadable_sources_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="no such Parquet file"):
        profile_table(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidParameter, match="cannot read"):
        profile_table(tmp_path / "bad.parquet")
    with pytest.raises(InvalidParameter, match="cannot profile a list"):
        profile_table([1, 2, 3])
