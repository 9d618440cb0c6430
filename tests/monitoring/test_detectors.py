from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.monitoring import profile
from loopml.monitoring.detectors import (
    MIN_ROWS,
    ColumnPair,
    chi_square,
    jensen_shannon,
    ks,
    psi,
    std_change,
    unseen_share,
    wasserstein,
)
from loopml.monitoring.profile import ColumnProfile


def _categorical(categories: dict[str, int]) -> ColumnProfile:
    return ColumnProfile(
        name="c",
        kind="categorical",
        type_name="string",
        count=sum(categories.values()),
        categories={k: v for k, v in categories.items() if v},
    )


def _numeric_pair(reference: np.ndarray, current: np.ndarray) -> ColumnPair:
    ref = profile(pa.table({"x": reference}))
    cur = profile(pa.table({"x": current}))
    return ColumnPair(ref["x"], cur["x"], ref.finite_sample("x"), cur.finite_sample("x"))


shares = st.lists(st.integers(0, 1_000), min_size=2, max_size=8).filter(lambda c: sum(c) >= 50)


@settings(max_examples=60, deadline=None)
@given(shares, shares)
def test_psi_is_non_negative_and_js_is_a_distance_in_0_1(ref_counts, cur_counts):
    ref = _categorical({f"k{i}": n for i, n in enumerate(ref_counts)})
    cur = _categorical({f"k{i}": n for i, n in enumerate(cur_counts)})
    pair = ColumnPair(ref, cur)
    assert psi(pair).score >= 0
    assert 0.0 <= jensen_shannon(pair).score <= 1.0


@settings(max_examples=40, deadline=None)
@given(shares)
def test_identical_distributions_score_zero(counts):
    column = _categorical({f"k{i}": n for i, n in enumerate(counts)})
    pair = ColumnPair(column, column)
    assert psi(pair).score == 0.0
    assert jensen_shannon(pair).score == 0.0
    assert chi_square(pair).score == 1.0
    assert unseen_share(pair).score == 0.0


def test_numeric_detectors_see_a_mean_shift():
    rng = np.random.default_rng(0)
    pair = _numeric_pair(rng.normal(0, 2, 5_000), rng.normal(1, 2, 5_000))
    assert ks(pair).drifted is True
    shift = wasserstein(pair)
    assert math.isclose(shift.score, 0.5, abs_tol=0.05)  # one unit over a std of 2
    assert shift.drifted is True
    assert std_change(pair).drifted is False
    assert psi(pair).score > 0.1


def test_too_few_values_is_insufficient_data_never_a_verdict():
    rng = np.random.default_rng(0)
    pair = _numeric_pair(rng.normal(0, 1, 1_000), rng.normal(5, 1, MIN_ROWS - 1))
    for detector in (ks, wasserstein, std_change, psi, jensen_shannon):
        result = detector(pair)
        assert result.drifted is None
        assert result.note.startswith("insufficient data")


def test_constant_reference_is_handled():
    pair = _numeric_pair(np.full(200, 3.0), np.full(200, 4.0))
    assert wasserstein(pair).score == 1.0
    assert "not normalised" in wasserstein(pair).note
    assert std_change(pair).score == 0.0
    assert psi(pair).drifted is True


def test_unseen_share_counts_rows_in_new_categories():
    ref = _categorical({"a": 500, "b": 500})
    cur = _categorical({"a": 490, "b": 490, "new": 20})
    result = unseen_share(ColumnPair(ref, cur))
    assert result.score == 0.02
    assert result.drifted is True


def test_unseen_share_is_unknown_when_the_reference_pooled_categories():
    ref = ColumnProfile(
        name="c",
        kind="categorical",
        type_name="string",
        count=2_000,
        categories={"a": 1_000},
        other_count=1_000,
    )
    result = unseen_share(ColumnPair(ref, _categorical({"a": 900, "z": 100})))
    assert result.drifted is None
    assert "unknown" in result.note
