from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from loopml.monitoring import compare


def _codes(result, name):
    return result.column(name).quality.codes


def test_schema_violations_are_reported_not_raised():
    reference = pd.DataFrame({"age": np.arange(100.0), "gone": np.arange(100.0)})
    current = pd.DataFrame({"age": [str(v) for v in range(100)], "extra": np.arange(100.0)})
    result = compare(reference, current)
    assert _codes(result, "gone") == ("missing_column",)
    assert _codes(result, "extra") == ("extra_column",)
    age = result.column("age")
    assert "type_changed" in age.quality.codes
    assert (age.kind, age.current_kind, age.verdict) == ("numeric", "categorical", "not compared")
    assert "numeric (double) in the reference, categorical (large_string) now" in (
        age.quality.issues[0].message
    )
    assert {c.verdict for c in result.columns} == {"not compared"}
    assert result.dataset_drifted is None


def test_missing_rate_jump_and_all_missing():
    rng = np.random.default_rng(0)
    values = rng.normal(size=1_000)
    holes = values.copy()
    holes[:200] = np.nan
    reference = pd.DataFrame({"x": values, "y": values})
    current = pd.DataFrame({"x": holes, "y": np.full(1_000, np.nan)})
    result = compare(reference, current)
    x = result.column("x")
    assert x.quality.codes == ("missing_rate_jump",)
    assert x.quality.missing_share_current == 0.2
    y = result.column("y")
    assert y.quality.codes == ("all_missing",)
    assert y.verdict == "insufficient data"


def test_out_of_range_and_constant_columns():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.uniform(0, 1, 5_000), "k": rng.normal(size=5_000)})
    current = pd.DataFrame({"x": rng.uniform(0.5, 1.5, 5_000), "k": np.full(5_000, 2.0)})
    result = compare(reference, current)
    x = result.column("x")
    assert "out_of_range" in x.quality.codes
    assert 0.45 <= x.quality.out_of_range_share <= 0.55
    k = result.column("k")
    assert "constant" in k.quality.codes
    assert k.verdict == "drifted"


def test_constant_on_both_sides_is_stable():
    frame = pd.DataFrame({"x": np.ones(500), "c": ["only"] * 500})
    result = compare(frame, frame)
    assert result.column("x").verdict == "stable"
    assert result.column("c").verdict == "stable"
    assert result.column("x").quality.ok


def test_nan_and_infinities_are_flagged_and_left_out_of_the_tests():
    rng = np.random.default_rng(0)
    reference = pa.table({"x": rng.normal(size=2_000)})
    dirty = rng.normal(size=2_000)
    dirty[:10] = np.nan
    dirty[10:15] = np.inf
    dirty[15:20] = -np.inf
    result = compare(reference, pa.table({"x": dirty}))
    column = result.column("x")
    assert column.quality.codes == ("nan_values", "infinite_values")
    assert column.quality.nan_share == 0.005
    assert column.quality.inf_share == 0.005
    assert column.verdict == "stable"


def test_unseen_categories_and_thousands_of_categories():
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {"c": rng.choice(["a", "b"], 5_000), "id": [f"u{i}" for i in rng.integers(0, 5_000, 5_000)]}
    )
    current = pd.DataFrame(
        {
            "c": np.where(rng.random(5_000) < 0.03, "z", rng.choice(["a", "b"], 5_000)),
            "id": [f"u{i}" for i in rng.integers(0, 5_000, 5_000)],
        }
    )
    result = compare(reference, current)
    c = result.column("c")
    assert "unseen_categories" in c.quality.codes
    assert c.verdict == "drifted"
    ids = result.column("id")
    assert "high_cardinality" in ids.quality.codes
    assert ids.result("unseen_share").drifted is None
    assert ids.verdict == "stable"
