"""Drift data for the monitoring tests: real numpy draws with fixed seeds.

``drift_frames(n)`` gives a reference and a current frame of ``n`` rows each
with one column per case of the sensitivity matrix: changes that must be
flagged at every size (``mean_025``, ``std_10pct``, ``new_category``,
``frequency``) and ones that must never be (``mean_001``, ``std_1pct``,
``frequency_05pp``, and the unchanged ``same_*``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

CATEGORIES = np.array(["a", "b", "c", "d"])
BASE = [0.3, 0.3, 0.2, 0.2]
SHIFTED = [0.4, 0.6 * 0.3 / 0.7, 0.6 * 0.2 / 0.7, 0.6 * 0.2 / 0.7]  # a: 30% -> 40%
NUDGED = [0.305, 0.295, 0.2, 0.2]  # half a percentage point


def _frame(n: int, seed: int, drifted: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    new = rng.random(n) < 0.01
    category = rng.choice(CATEGORIES, n, p=BASE).astype(object)
    if drifted:
        category[new] = "brand-new"
    return pd.DataFrame(
        {
            "mean_025": rng.normal(0.25 if drifted else 0.0, 1.0, n),
            "std_10pct": rng.normal(0.0, 1.1 if drifted else 1.0, n),
            "mean_001": rng.normal(0.01 if drifted else 0.0, 1.0, n),
            "std_1pct": rng.normal(0.0, 1.01 if drifted else 1.0, n),
            "same_numeric": rng.exponential(2.0, n),
            "new_category": category,
            "frequency": rng.choice(CATEGORIES, n, p=SHIFTED if drifted else BASE),
            "frequency_05pp": rng.choice(CATEGORIES, n, p=NUDGED if drifted else BASE),
            "same_category": rng.choice(CATEGORIES, n, p=BASE),
        }
    )


@pytest.fixture(scope="session")
def drift_frames() -> Callable[[int], tuple[pd.DataFrame, pd.DataFrame]]:
    """Reference and current frames of ``n`` rows (cached per size)."""
    cache: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}

    def make(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        if n not in cache:
            cache[n] = (_frame(n, 1000 + n, False), _frame(n, 2000 + n, True))
        reference, current = cache[n]
        return reference.copy(), current.copy()  # a test that edits its frames edits its own

    return make
