from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.errors import InvalidParameter
from loopml.monitoring import Profile, compare, profile
from loopml.monitoring.profile import KLL_K, MAX_CATEGORIES, ColumnProfile


def _frame(rng: np.random.Generator, n: int, loc: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": rng.normal(loc, 1.0, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def test_merged_quantiles_match_one_pass_within_the_kll_bound():
    rng = np.random.default_rng(7)
    a, b = _frame(rng, 60_000, 0.0), _frame(rng, 40_000, 1.0)
    merged = profile(a).merge(profile(b, seed=1))
    whole = profile(pd.concat([a, b], ignore_index=True))
    ranks = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    truth = np.sort(pd.concat([a, b])["x"].to_numpy())
    bound = 2 * 0.0133  # the sketch's one-sided normalised rank error at k=200, twice
    for rank, value in zip(ranks, merged["x"].quantiles(ranks), strict=True):
        true_rank = np.searchsorted(truth, value) / truth.size
        assert abs(true_rank - rank) <= bound
    assert merged["x"].count == whole["x"].count == 100_000
    assert merged["x"].mean == pytest.approx(whole["x"].mean)
    assert merged["x"].std == pytest.approx(whole["x"].std)
    assert merged["c"].categories == whole["c"].categories
    assert merged.rows == 100_000
    assert merged.sample_rows == 10_000
    assert KLL_K == 200


def test_merged_sample_is_uniform_over_the_union():
    rng = np.random.default_rng(3)
    a, b = _frame(rng, 30_000, 0.0), _frame(rng, 10_000, 5.0)
    merged = profile(a).merge(profile(b))
    from_b = (merged.finite_sample("x") > 2.5).mean()
    assert from_b == pytest.approx(0.25, abs=0.02)


def test_merged_window_profiles_give_the_verdicts_of_one_pass(drift_frames):
    reference, current = drift_frames(10_000)
    windows = [profile(current.iloc[i : i + 2_500], seed=i) for i in range(0, 10_000, 2_500)]
    merged = windows[0].merge(windows[1]).merge(windows[2]).merge(windows[3])
    stored = Profile.from_bytes(profile(reference).to_bytes())
    by_windows = compare(stored, merged)
    one_pass = compare(reference, current)
    assert by_windows.drifted_columns == one_pass.drifted_columns
    for column in one_pass.columns:
        if column.kind == "categorical":
            assert by_windows.column(column.name).result("jensen_shannon").score == pytest.approx(
                column.result("jensen_shannon").score
            )


def test_counts_keep_missing_nan_and_infinities_apart():
    table = pa.table({"x": pa.array([1.0, None, float("nan"), float("inf"), -np.inf, 3.0])})
    column = profile(table)["x"]
    assert (column.count, column.missing, column.nan, column.pos_inf, column.neg_inf) == (
        6,
        1,
        1,
        1,
        1,
    )
    assert (column.min, column.max, column.present) == (1.0, 3.0, 2)


def test_pandas_nan_is_missing():
    column = profile(pd.DataFrame({"x": [1.0, np.nan, 2.0]}))["x"]
    assert (column.missing, column.nan) == (1, 0)


def test_kinds_and_mixed_object_columns():
    frame = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "s": ["a", "b", None],
            "b": [True, False, True],
            "t": pd.to_datetime(["2024-01-01"] * 3),
            "mixed": [1, "two", 3.0],
        }
    )
    result = profile(frame)
    kinds = {name: column.kind for name, column in result.columns.items()}
    assert kinds == {
        "n": "numeric",
        "s": "categorical",
        "b": "categorical",
        "t": "other",
        "mixed": "categorical",
    }
    assert result["mixed"].categories == {"1": 1, "3.0": 1, "two": 1}


def test_categories_past_the_cap_are_pooled():
    values = [f"v{i}" for i in range(3_000)] * 2 + ["top"] * 50
    column = profile(pa.table({"c": values}))["c"]
    assert len(column.categories) == MAX_CATEGORIES
    assert column.categories["top"] == 50
    assert column.other_count == 6_050 - sum(column.categories.values())
    assert column.overflowed


def test_round_trip_through_json_bytes():
    rng = np.random.default_rng(1)
    original = profile(_frame(rng, 500, 0.0))
    raw = original.to_bytes()
    json.loads(raw)  # plain JSON, sketches as base64
    again = Profile.from_bytes(raw)
    assert again == original
    assert again["x"].quantiles([0.5]) == original["x"].quantiles([0.5])


def test_bad_input_is_refused_with_the_field_named():
    with pytest.raises(InvalidParameter, match="data: expected a pandas DataFrame"):
        profile([1, 2, 3])
    with pytest.raises(InvalidParameter, match="sample_size"):
        profile(pd.DataFrame({"x": [1]}), sample_size=0)
    with pytest.raises(InvalidParameter, match="profile: expected version"):
        Profile.from_dict({"version": 99})
    with pytest.raises(InvalidParameter, match="profile: not JSON"):
        Profile.from_bytes(b"\xff")
    with pytest.raises(InvalidParameter, match="different columns"):
        profile(pd.DataFrame({"x": [1.0]})).merge(profile(pd.DataFrame({"y": [1.0]})))
    with pytest.raises(InvalidParameter, match="cannot merge a numeric profile"):
        profile(pd.DataFrame({"x": [1.0]})).merge(profile(pd.DataFrame({"x": ["a"]})))


counts = st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 50), min_size=1)


def _column(categories: dict[str, int]) -> ColumnProfile:
    return ColumnProfile(
        name="c",
        kind="categorical",
        type_name="string",
        count=sum(categories.values()),
        categories=categories,
    )


@settings(max_examples=50, deadline=None)
@given(counts, counts, counts)
def test_merging_counts_is_associative(a, b, c):
    x, y, z = _column(a), _column(b), _column(c)
    left, right = x.merge(y).merge(z), x.merge(y.merge(z))
    assert left.categories == right.categories
    assert left.count == right.count == sum(a.values()) + sum(b.values()) + sum(c.values())
