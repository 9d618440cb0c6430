"""The seeded reference and current frames that bench/drift.py compares, and their ground truth.

20 columns, 15 numeric and 5 categorical. Six carry injected drift of four kinds
(mean shift of 0.25 standard deviations, a 10% rise in standard deviation, a new
category at 1% of rows, one category's share going from 30% to 40%); four carry a
deliberately negligible change (mean shift of 0.01 std, std +1%, category shares
moved by half a point) that a detector must not flag at any sample size; ten are
unchanged. Reference and current are independent draws, so unchanged columns
differ by sampling noise only.

The frames are generated once per size and cached as an uncompressed .npz under
.bench/data. The measured processes (the project's .venv and Evidently's venv) put
this folder on sys.path and call `load_frames`: it needs numpy and pandas only, so
both get the same data without pyarrow or pickles crossing pandas versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 20241207
DATA_VERSION = 1  # bump when the generated data changes, so caches are rebuilt
DATA_DIR = Path(__file__).resolve().parent.parent / ".bench" / "data"

DRIFT = "drift"
NEGLIGIBLE = "negligible"
UNCHANGED = "unchanged"

# Category shares shared by three columns: the first goes 30% -> 40% in cat_1.
FIVE_SHARES = (0.30, 0.25, 0.20, 0.15, 0.10)
FIVE_NAMES = ("A", "B", "C", "D", "E")


@dataclass(frozen=True)
class ColumnSpec:
    """One column: how the reference is drawn, what changes in current, the ground truth."""

    name: str
    truth: str  # DRIFT, NEGLIGIBLE or UNCHANGED
    change: str  # a short description, printed in the README and the JSON
    draw: str  # the numpy Generator method (numeric) or "choice" (categorical)
    params: tuple[Any, ...] = ()
    mean_shift_std: float = 0.0  # current += shift * std of the draw
    std_factor: float = 1.0  # current = mean + factor * (x - mean)
    missing: float = 0.0  # share of NaN, both frames
    names: tuple[str, ...] = ()  # categories (categorical only)
    current_shares: tuple[float, ...] = ()  # shares in current, may add categories

    @property
    def categorical(self) -> bool:
        return self.draw == "choice"


def _zipf_names(count: int) -> tuple[str, ...]:
    return tuple(f"item_{index:03d}" for index in range(count))


def _zipf_shares(count: int) -> tuple[float, ...]:
    weights = [1.0 / (rank + 1) for rank in range(count)]
    return tuple(weight / sum(weights) for weight in weights)


_NEW_CATEGORY = (*[share * 0.99 for share in FIVE_SHARES], 0.01)
_THIRTY_TO_FORTY = (0.40, *[share * 0.60 / 0.70 for share in FIVE_SHARES[1:]])
_HALF_POINT = (0.305, 0.245, 0.205, 0.145, 0.10)

COLUMNS: tuple[ColumnSpec, ...] = (
    # injected drift
    ColumnSpec("num_00", DRIFT, "mean +0.25 std (normal)", "normal", (0.0, 1.0), 0.25),
    ColumnSpec("num_01", DRIFT, "mean +0.25 std (lognormal)", "lognormal", (3.0, 0.5), 0.25),
    ColumnSpec("num_02", DRIFT, "std +10% (normal)", "normal", (10.0, 2.0), std_factor=1.10),
    ColumnSpec("num_03", DRIFT, "std +10% (uniform)", "uniform", (0.0, 100.0), std_factor=1.10),
    ColumnSpec(
        "cat_0",
        DRIFT,
        "new category at 1% of rows",
        "choice",
        names=(*FIVE_NAMES, "NEW"),
        params=FIVE_SHARES,
        current_shares=_NEW_CATEGORY,
    ),
    ColumnSpec(
        "cat_1",
        DRIFT,
        "category A 30% -> 40%",
        "choice",
        names=FIVE_NAMES,
        params=FIVE_SHARES,
        current_shares=_THIRTY_TO_FORTY,
    ),
    # negligible changes: must not be flagged at any size
    ColumnSpec("num_04", NEGLIGIBLE, "mean +0.01 std (normal)", "normal", (0.0, 1.0), 0.01),
    ColumnSpec("num_05", NEGLIGIBLE, "std +1% (normal)", "normal", (50.0, 5.0), std_factor=1.01),
    ColumnSpec("num_06", NEGLIGIBLE, "mean +0.01 std (exponential)", "exponential", (1.0,), 0.01),
    ColumnSpec(
        "cat_2",
        NEGLIGIBLE,
        "shares moved by 0.5 points",
        "choice",
        names=FIVE_NAMES,
        params=FIVE_SHARES,
        current_shares=_HALF_POINT,
    ),
    # unchanged
    ColumnSpec("num_07", UNCHANGED, "unchanged (normal)", "normal", (0.0, 1.0)),
    ColumnSpec("num_08", UNCHANGED, "unchanged (lognormal)", "lognormal", (0.0, 1.0)),
    ColumnSpec("num_09", UNCHANGED, "unchanged (uniform)", "uniform", (0.0, 1.0)),
    ColumnSpec("num_10", UNCHANGED, "unchanged (exponential)", "exponential", (2.0,)),
    ColumnSpec("num_11", UNCHANGED, "unchanged (integers 0..99)", "integers", (0, 100)),
    ColumnSpec("num_12", UNCHANGED, "unchanged (poisson 3, few values)", "poisson", (3.0,)),
    ColumnSpec("num_13", UNCHANGED, "unchanged (beta 2,5)", "beta", (2.0, 5.0)),
    ColumnSpec(
        "num_14",
        UNCHANGED,
        "unchanged (normal, 5% missing)",
        "normal",
        (100.0, 15.0),
        missing=0.05,
    ),
    ColumnSpec(
        "cat_3",
        UNCHANGED,
        "unchanged (3 categories)",
        "choice",
        names=("red", "green", "blue"),
        params=(0.5, 0.3, 0.2),
    ),
    ColumnSpec(
        "cat_4",
        UNCHANGED,
        "unchanged (200 categories, Zipf)",
        "choice",
        names=_zipf_names(200),
        params=_zipf_shares(200),
    ),
)

NUMERIC = [spec.name for spec in COLUMNS if not spec.categorical]
CATEGORICAL = [spec.name for spec in COLUMNS if spec.categorical]
TRUTH = {spec.name: spec.truth for spec in COLUMNS}


def data_path(rows: int) -> Path:
    return DATA_DIR / f"drift-{rows}rows-seed{SEED}-v{DATA_VERSION}.npz"


def ensure_data(rows: int) -> Path:
    """Generate the frames for `rows` once and cache them; return the .npz path."""
    path = data_path(rows)
    if path.exists():
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")
    _write(partial, rows)
    partial.replace(path)
    return path


def _write(path: Path, rows: int) -> None:
    import numpy as np

    arrays: dict[str, Any] = {}
    root = np.random.SeedSequence([SEED, rows])
    for spec, seed in zip(COLUMNS, root.spawn(len(COLUMNS)), strict=True):
        reference_rng, current_rng = (np.random.default_rng(s) for s in seed.spawn(2))
        if spec.categorical:
            arrays[f"names__{spec.name}"] = np.array(spec.names)
            arrays[f"reference__{spec.name}"] = _codes(reference_rng, spec.params, rows)
            arrays[f"current__{spec.name}"] = _codes(
                current_rng, spec.current_shares or spec.params, rows
            )
        else:
            arrays[f"reference__{spec.name}"] = _numbers(reference_rng, spec, rows, changed=False)
            arrays[f"current__{spec.name}"] = _numbers(current_rng, spec, rows, changed=True)
    np.savez(path, **arrays)


def _codes(rng: Any, shares: tuple[float, ...], rows: int) -> Any:
    import numpy as np

    weights = np.asarray(shares, dtype=float)
    return rng.choice(len(weights), size=rows, p=weights / weights.sum()).astype(np.int16)


def _numbers(rng: Any, spec: ColumnSpec, rows: int, changed: bool) -> Any:
    import numpy as np

    values = getattr(rng, spec.draw)(*spec.params, size=rows)
    if changed and spec.std_factor != 1.0:
        values = values.mean() + spec.std_factor * (values - values.mean())
    if changed and spec.mean_shift_std:
        values = values + spec.mean_shift_std * values.std()
    if spec.missing:
        values = values.astype(float)
        values[rng.random(rows) < spec.missing] = np.nan
    return values


def load_frames(path: str | Path, which: tuple[str, ...] = ("reference", "current")) -> list[Any]:
    """The frames named in `which` as pandas DataFrames, columns in COLUMNS order.

    Categorical columns are strings (pandas' default string dtype for that
    version), numeric ones float64 or int64.
    """
    import numpy as np
    import pandas as pd

    with np.load(path) as stored:
        frames = []
        for frame in which:
            columns = {}
            for spec in COLUMNS:
                values = stored[f"{frame}__{spec.name}"]
                if spec.categorical:
                    values = pd.Series(stored[f"names__{spec.name}"][values])
                columns[spec.name] = values
            frames.append(pd.DataFrame(columns))
    return frames
