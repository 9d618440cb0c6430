"""Mergeable column profiles: the summary a drift comparison reads on either side.

A :class:`Profile` keeps, per column, its kind, counts (rows, missing, NaN, +inf
and -inf apart), finite min/max, mean and sum of squared deviations, a KLL
quantile sketch for numbers, exact category counts up to ``MAX_CATEGORIES``
(the rest pooled in ``other_count``) with a frequent-items sketch for
categories, and one uniform sample of whole rows shared by every column (so
exact tests run on it and the domain classifier sees real rows).

Profiles merge (:meth:`Profile.merge`): sketches merge, counts add, moments
combine exactly (Chan et al.), and the two samples are re-sampled into one
uniform sample of the union. So the profiles of server replicas or of hourly
windows combine into the profile of the day, and a reference profile is
computed once, stored (:meth:`Profile.to_bytes`) and reused.

Missing values: ``null`` is missing. A pandas frame is read through Arrow,
where pandas' own missing marker (``NaN`` in a float column, ``None``, ``NA``)
becomes ``null``; an Arrow table keeps ``NaN`` apart from ``null`` and it is
counted as ``nan``. Sketches and samples see finite values only.

Sketches are stored serialized (bytes), so a profile is a frozen value with no
live native object, and importing this module imports neither numpy nor
datasketches.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

PROFILE_VERSION = 1
KLL_K = 200
FREQUENT_LG_MAX_K = 10
MAX_CATEGORIES = 1_000
DEFAULT_SAMPLE_SIZE = 10_000

NUMERIC = "numeric"
CATEGORICAL = "categorical"
OTHER = "other"


@dataclass(frozen=True)
class ColumnProfile:
    """One column's summary; ``kind`` says which of the fields are filled in."""

    name: str
    kind: str
    type_name: str
    count: int = 0
    missing: int = 0
    nan: int = 0
    pos_inf: int = 0
    neg_inf: int = 0
    min: float | None = None
    max: float | None = None
    mean: float = 0.0
    m2: float = 0.0
    kll: bytes | None = None
    categories: dict[str, int] = field(default_factory=dict)
    other_count: int = 0
    frequent: bytes | None = None

    @property
    def present(self) -> int:
        """Rows with a value: finite numbers for numeric columns, any value otherwise."""
        return self.count - self.missing - self.nan - self.pos_inf - self.neg_inf

    @property
    def std(self) -> float:
        """Population standard deviation of the finite values (0 with fewer than 2)."""
        return math.sqrt(self.m2 / self.present) if self.present > 1 else 0.0

    @property
    def overflowed(self) -> bool:
        """Whether categories beyond ``MAX_CATEGORIES`` were pooled into ``other_count``."""
        return self.other_count > 0

    def quantiles(self, ranks: list[float]) -> list[float]:
        """Approximate quantiles from the KLL sketch (empty list when there is none)."""
        sketch = _kll(self.kll)
        if sketch is None or sketch.is_empty():
            return []
        return [float(q) for q in sketch.get_quantiles(ranks)]

    def cdf(self, points: list[float]) -> list[float]:
        """Approximate share of finite values ``<= p`` for each point, then 1.0."""
        sketch = _kll(self.kll)
        if sketch is None or sketch.is_empty():
            return []
        return [float(v) for v in sketch.get_cdf(points)]

    def share_outside(self, low: float, high: float) -> float:
        """Approximate share of finite values below ``low`` or above ``high`` (exact 0
        when this column's own min and max lie inside)."""
        sketch = _kll(self.kll)
        if sketch is None or sketch.is_empty() or self.min is None or self.max is None:
            return 0.0
        below = float(sketch.get_rank(low)) if self.min < low else 0.0
        above = 1.0 - float(sketch.get_rank(high, inclusive=True)) if self.max > high else 0.0
        return below + above

    def merge(self, other: ColumnProfile) -> ColumnProfile:
        if (self.name, self.kind) != (other.name, other.kind):
            raise InvalidParameter(
                f"column {self.name!r}: cannot merge a {self.kind} profile with a {other.kind} one"
            )
        mean, m2 = _merge_moments(self, other)
        return replace(
            self,
            count=self.count + other.count,
            missing=self.missing + other.missing,
            nan=self.nan + other.nan,
            pos_inf=self.pos_inf + other.pos_inf,
            neg_inf=self.neg_inf + other.neg_inf,
            min=_extreme(min, self.min, other.min),
            max=_extreme(max, self.max, other.max),
            mean=mean,
            m2=m2,
            kll=_merge_sketch("kll", self.kll, other.kll),
            frequent=_merge_sketch("frequent", self.frequent, other.frequent),
            **_merge_categories(self, other),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("kll", "frequent"):
            raw = data[key]
            data[key] = base64.b64encode(raw).decode("ascii") if raw is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnProfile:
        try:
            fields = dict(data)
            for key in ("kll", "frequent"):
                if fields.get(key) is not None:
                    fields[key] = base64.b64decode(fields[key], validate=True)
            fields["categories"] = {str(k): int(v) for k, v in fields["categories"].items()}
            return cls(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameter(f"profile column: malformed ({exc})") from exc


@dataclass(frozen=True)
class Profile:
    """Every column of a table, plus one uniform sample of its rows."""

    columns: dict[str, ColumnProfile]
    rows: int
    sample: dict[str, list[Any]]
    sample_size: int = DEFAULT_SAMPLE_SIZE
    seed: int = 0

    def __getitem__(self, name: str) -> ColumnProfile:
        return self.columns[name]

    @property
    def sample_rows(self) -> int:
        return len(next(iter(self.sample.values()), []))

    def finite_sample(self, name: str) -> np.ndarray:
        """The sampled finite values of a numeric column, as float64."""
        import numpy as np

        values = np.array([v for v in self.sample.get(name, []) if v is not None], dtype=np.float64)
        return values[np.isfinite(values)]

    def merge(self, other: Profile) -> Profile:
        """The profile of both tables' rows together (order does not matter for counts)."""
        if list(self.columns) != list(other.columns):
            raise InvalidParameter(
                "profiles have different columns: "
                f"{sorted(set(self.columns) ^ set(other.columns)) or 'same names, other order'}"
            )
        columns = {n: c.merge(other.columns[n]) for n, c in self.columns.items()}
        return Profile(
            columns=columns,
            rows=self.rows + other.rows,
            sample=_merge_samples(self, other),
            sample_size=self.sample_size,
            seed=self.seed,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PROFILE_VERSION,
            "rows": self.rows,
            "sample_size": self.sample_size,
            "seed": self.seed,
            "columns": [c.to_dict() for c in self.columns.values()],
            "sample": self.sample,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        if not isinstance(data, dict) or data.get("version") != PROFILE_VERSION:
            raise InvalidParameter(f"profile: expected version {PROFILE_VERSION}")
        try:
            columns = [ColumnProfile.from_dict(c) for c in data["columns"]]
            return cls(
                columns={c.name: c for c in columns},
                rows=int(data["rows"]),
                sample={str(k): list(v) for k, v in data["sample"].items()},
                sample_size=int(data["sample_size"]),
                seed=int(data["seed"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidParameter(f"profile: malformed ({exc})") from exc

    def to_bytes(self) -> bytes:
        """UTF-8 JSON of :meth:`to_dict`, the form the artifact store keeps."""
        return json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Profile:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidParameter(f"profile: not JSON ({exc})") from exc
        return cls.from_dict(data)


def profile(data: Any, *, sample_size: int = DEFAULT_SAMPLE_SIZE, seed: int = 0) -> Profile:
    """Profile a pandas DataFrame or an Arrow table.

    Args:
        data: the rows (a ``pandas.DataFrame`` or ``pyarrow.Table``).
        sample_size: rows kept in the uniform sample used by exact tests.
        seed: seeds the sample, so the same data gives the same profile.

    Returns:
        The profile, ready to merge, compare or serialize.

    Raises:
        InvalidParameter: ``data`` is neither, or ``sample_size`` is below 1.
    """
    import numpy as np

    if sample_size < 1:
        raise InvalidParameter(f"sample_size: must be at least 1, got {sample_size}")
    table = to_table(data)
    rows = table.num_rows
    rng = np.random.default_rng(seed)
    picked = (
        np.arange(rows)
        if rows <= sample_size
        else np.sort(rng.choice(rows, sample_size, replace=False))
    )
    columns: dict[str, ColumnProfile] = {}
    sample: dict[str, list[Any]] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.combine_chunks()
        columns[name] = _profile_column(name, array)
        sample[name] = _sample_values(columns[name].kind, array.take(picked))
    return Profile(columns=columns, rows=rows, sample=sample, sample_size=sample_size, seed=seed)


def to_table(data: Any) -> pa.Table:
    """An Arrow table from a pandas DataFrame or Arrow table; a pandas column Arrow
    cannot type (mixed objects) is read as strings."""
    import pyarrow as pa

    from loopml.data.sql import is_dataframe

    if isinstance(data, pa.Table):
        return data
    if not is_dataframe(data):
        raise InvalidParameter(
            f"data: expected a pandas DataFrame or pyarrow Table, got {type(data).__name__}"
        )
    arrays = []
    for name in data.columns:
        series = data[name]
        try:
            arrays.append(pa.array(series, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            as_text = series.map(lambda v: v if v is None or v != v else str(v))
            arrays.append(pa.array(as_text, type=pa.string(), from_pandas=True))
    return pa.table(arrays, names=[str(n) for n in data.columns])


def kind_of(dtype: pa.DataType) -> str:
    import pyarrow.types as t

    if t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype):
        return NUMERIC
    if t.is_string(dtype) or t.is_large_string(dtype) or t.is_boolean(dtype):
        return CATEGORICAL
    if t.is_dictionary(dtype):
        return CATEGORICAL
    return OTHER


def _profile_column(name: str, array: pa.Array) -> ColumnProfile:
    base = ColumnProfile(
        name=name,
        kind=kind_of(array.type),
        type_name=str(array.type),
        count=len(array),
        missing=array.null_count,
    )
    if base.kind == NUMERIC:
        return _numeric(base, array)
    if base.kind == CATEGORICAL:
        return _categorical(base, array)
    return base


def _numeric(base: ColumnProfile, array: pa.Array) -> ColumnProfile:
    import datasketches
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.drop_null(array).cast(pa.float64()).to_numpy(zero_copy_only=False)
    finite = values[np.isfinite(values)]
    sketch = datasketches.kll_doubles_sketch(KLL_K)
    if finite.size:
        sketch.update(finite)
    mean = float(finite.mean()) if finite.size else 0.0
    return replace(
        base,
        nan=int(np.isnan(values).sum()),
        pos_inf=int(np.isposinf(values).sum()),
        neg_inf=int(np.isneginf(values).sum()),
        min=float(finite.min()) if finite.size else None,
        max=float(finite.max()) if finite.size else None,
        mean=mean,
        m2=float(((finite - mean) ** 2).sum()),
        kll=sketch.serialize(),
    )


def _categorical(base: ColumnProfile, array: pa.Array) -> ColumnProfile:
    import datasketches
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    counted = pc.value_counts(pc.drop_null(array).cast(pa.string()))
    pairs = zip(
        counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
    )
    counts = {str(v): int(c) for v, c in pairs}
    sketch = datasketches.frequent_strings_sketch(FREQUENT_LG_MAX_K)
    for value, number in counts.items():
        sketch.update(value, number)
    kept, other = _cap(counts)
    return replace(base, categories=kept, other_count=other, frequent=sketch.serialize())


def _cap(counts: dict[str, int]) -> tuple[dict[str, int], int]:
    """The ``MAX_CATEGORIES`` most frequent categories (ties by name) and the rest's total."""
    if len(counts) <= MAX_CATEGORIES:
        return dict(sorted(counts.items())), 0
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = dict(sorted(ranked[:MAX_CATEGORIES]))
    return kept, sum(c for _, c in ranked[MAX_CATEGORIES:])


def _sample_values(kind: str, array: pa.Array) -> list[Any]:
    """JSON-safe sampled values: finite floats or strings; anything else is ``None``."""
    import pyarrow as pa

    if kind == NUMERIC:
        floats = array.cast(pa.float64()).to_pylist()
        return [v if v is not None and math.isfinite(v) else None for v in floats]
    if kind == CATEGORICAL:
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        return [None if v is None else str(v) for v in array.cast(pa.string()).to_pylist()]
    return [None] * len(array)


def _extreme(pick: Any, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return float(pick(a, b))


def _merge_moments(a: ColumnProfile, b: ColumnProfile) -> tuple[float, float]:
    """Mean and sum of squared deviations of both sides together (Chan et al.)."""
    n_a, n_b = a.present, b.present
    if n_a == 0 or n_b == 0:
        return (a.mean, a.m2) if n_b == 0 else (b.mean, b.m2)
    n = n_a + n_b
    delta = b.mean - a.mean
    return a.mean + delta * n_b / n, a.m2 + b.m2 + delta**2 * n_a * n_b / n


def _kll(raw: bytes | None) -> Any:
    if raw is None:
        return None
    import datasketches

    return datasketches.kll_doubles_sketch.deserialize(raw)


def _merge_sketch(kind: str, a: bytes | None, b: bytes | None) -> bytes | None:
    if a is None or b is None:
        return a if b is None else b
    import datasketches

    cls = datasketches.kll_doubles_sketch if kind == "kll" else datasketches.frequent_strings_sketch
    merged = cls.deserialize(a)
    merged.merge(cls.deserialize(b))
    return bytes(merged.serialize())


def _merge_categories(a: ColumnProfile, b: ColumnProfile) -> dict[str, Any]:
    counts = dict(a.categories)
    for value, number in b.categories.items():
        counts[value] = counts.get(value, 0) + number
    kept, pooled = _cap(counts)
    return {"categories": kept, "other_count": a.other_count + b.other_count + pooled}


def _merge_samples(a: Profile, b: Profile) -> dict[str, list[Any]]:
    """One uniform sample of the union: how many rows come from each side is drawn
    from the hypergeometric law of their row counts, then rows are drawn within."""
    import numpy as np

    size = max(a.sample_size, b.sample_size)
    if a.rows + b.rows <= size:
        return {n: a.sample[n] + b.sample[n] for n in a.sample}
    rng = np.random.default_rng([a.seed, b.seed, a.rows, b.rows])
    from_a = int(rng.hypergeometric(a.rows, b.rows, size)) if a.rows and b.rows else 0
    if not b.rows:
        from_a = min(size, a.sample_rows)
    picks_a = np.sort(rng.choice(a.sample_rows, min(from_a, a.sample_rows), replace=False))
    from_b = min(size - len(picks_a), b.sample_rows)
    picks_b = np.sort(rng.choice(b.sample_rows, from_b, replace=False))
    return {
        n: [a.sample[n][i] for i in picks_a] + [b.sample[n][i] for i in picks_b] for n in a.sample
    }
