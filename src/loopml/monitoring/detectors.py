"""Drift detectors: small pure functions from a reference and a current column.

Each takes a :class:`ColumnPair` (both columns' profiles and their sampled
finite values) and returns a :class:`DetectorResult`. ``drifted`` is ``None``
("insufficient data") when either side has fewer than ``MIN_ROWS`` values.

Numeric detectors:

- ``ks`` — two-sample Kolmogorov-Smirnov on the samples; score is the p-value.
- ``wasserstein`` — Wasserstein-1 distance between the samples divided by the
  reference's standard deviation (exact, from the profile's moments): 0.1 means
  the distributions sit a tenth of a standard deviation apart. With a constant
  reference the raw distance is used (and said so in the note).
- ``std_change`` — ``|std_current / std_reference - 1|`` from the exact moments;
  the p-value is the Brown-Forsythe test (Levene's, median-centred) on the
  samples, which holds for heavy tails; the F-test of the variances (used only
  without samples) assumes normal data and reads a lognormal's noisy spread as
  a change.
- ``psi`` — population stability index on 10 bins cut at the reference's
  deciles (from its KLL sketch; current shares from the current sketch), plus
  one bin on each side for values outside the reference's [min, max]; shares
  floored at ``EPSILON``: ``sum((q - p) * ln(q / p))``.
- ``jensen_shannon`` — Jensen-Shannon distance (base 2, so in [0, 1]) on the
  same bins.

Categorical detectors (categories are the union of both sides' counted
categories; when either side pooled categories past ``MAX_CATEGORIES``, the
categories both kept, with everything else in one pooled bucket per side):
``chi_square`` (chi-square test of homogeneity; score is the p-value),
``psi``, ``jensen_shannon``, and ``unseen_share`` — the share of current rows
whose category the reference never had (``None`` when the reference pooled
categories, since then it cannot be known).

Default selection (a product decision; thresholds in ``THRESHOLDS``)
--------------------------------------------------------------------
*Small samples* — fewer than ``SMALL_SAMPLE`` (1,000) values on the smaller
side: a p-value test decides, ``ks`` for numbers and ``chi_square`` for
categories, drift at p < 0.05. Effect sizes are too noisy there to threshold.

*Large samples*: effect sizes decide, because at 100k-1M rows p-values flag
shifts nobody cares about. A numeric column drifts when any of
``wasserstein >= 0.1`` (a location shift of 0.1 std), ``std_change >= 0.05``
(spread 5% wider or narrower; the Wasserstein distance of a 10% rise in std is
only 0.08 std, and PSI 0.01, so neither would see it), ``psi >= 0.1``, or
``jensen_shannon >= 0.1``. A categorical column drifts when
``jensen_shannon >= 0.05`` (about one category moving 30% -> 35.5%; 30% -> 40%
scores 0.093) or ``unseen_share >= 0.005`` (0.5% of rows in new categories).

Each effect size also carries the p-value of a test on the same data (KS for
Wasserstein, the F-test for ``std_change``, chi-square on the bins or
categories for PSI and Jensen-Shannon) and counts as drift only when that is
below 0.05 too. Above ~10k rows every effect past a threshold is significant,
so the thresholds alone decide; at 1k-10k rows the guard keeps sampling noise
in the effect estimates (the null Wasserstein distance of two 1k samples is
about 0.06 std, the null Jensen-Shannon distance over 20 categories about
0.08) from being read as drift.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from loopml.monitoring.entities import DetectorResult
from loopml.monitoring.profile import CATEGORICAL, NUMERIC, ColumnProfile

if TYPE_CHECKING:
    import numpy as np

MIN_ROWS = 30
SMALL_SAMPLE = 1_000
SIGNIFICANCE = 0.05
BINS = 10
EPSILON = 1e-4
OTHER_LABEL = "(other)"
THRESHOLDS: dict[str, float] = {
    "ks": SIGNIFICANCE,
    "chi_square": SIGNIFICANCE,
    "wasserstein": 0.1,
    "std_change": 0.05,
    "psi": 0.1,
    "jensen_shannon": 0.1,
    "jensen_shannon_categorical": 0.05,
    "unseen_share": 0.005,
}


@dataclass(frozen=True)
class ColumnPair:
    """What every detector reads: two profiles of one column and their sampled values."""

    reference: ColumnProfile
    current: ColumnProfile
    reference_sample: Any = field(default=None, repr=False)
    current_sample: Any = field(default=None, repr=False)

    @property
    def smaller_side(self) -> int:
        return min(self.reference.present, self.current.present)

    @cached_property
    def bins(self) -> tuple[list[float], np.ndarray, np.ndarray]:
        """Numeric: inner edges (reference deciles) and both sides' shares per bin."""
        import numpy as np

        ref = self.reference
        deciles = ref.quantiles([i / BINS for i in range(1, BINS)])
        # the reference's own min and just past its max bound two outer bins that
        # only values outside the reference's range fall into
        bounds = (
            []
            if ref.min is None or ref.max is None
            else [ref.min, math.nextafter(ref.max, math.inf)]
        )
        edges = sorted(set(deciles + bounds))
        p = np.diff(np.array([0.0, *self.reference.cdf(edges)]))
        q = np.diff(np.array([0.0, *self.current.cdf(edges)]))
        return edges, np.clip(p, 0.0, 1.0), np.clip(q, 0.0, 1.0)

    @cached_property
    def categories(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Categorical: labels and both sides' counts (pooled bucket last, when any)."""
        import numpy as np

        ref, cur = self.reference, self.current
        if ref.overflowed or cur.overflowed:
            # a category kept on one side may hide in the other's pooled rows:
            # compare the categories both kept, and pool the rest on each side
            labels = sorted(set(ref.categories) & set(cur.categories))
        else:
            labels = sorted(set(ref.categories) | set(cur.categories))
        p = [ref.categories.get(c, 0) for c in labels]
        q = [cur.categories.get(c, 0) for c in labels]
        pooled = (ref.present - sum(p), cur.present - sum(q))
        if any(pooled):
            labels.append(OTHER_LABEL)
            p.append(pooled[0])
            q.append(pooled[1])
        return labels, np.array(p, dtype=np.float64), np.array(q, dtype=np.float64)


Detector = Callable[[ColumnPair], DetectorResult]


def ks(pair: ColumnPair, threshold: float = THRESHOLDS["ks"]) -> DetectorResult:
    short = _too_few("ks", pair, threshold, samples=True)
    if short:
        return short
    statistic, p_value = _ks(pair)
    return _result("ks", p_value, threshold, p_value < threshold, f"D = {statistic:.4g}")


def wasserstein(pair: ColumnPair, threshold: float = THRESHOLDS["wasserstein"]) -> DetectorResult:
    short = _too_few("wasserstein", pair, threshold, samples=True)
    if short:
        return short
    from scipy import stats

    scale, note = pair.reference.std, "divided by the reference's standard deviation"
    if scale == 0.0:
        scale, note = 1.0, "reference is constant: raw distance, not normalised"
    distance = stats.wasserstein_distance(pair.reference_sample, pair.current_sample) / scale
    return _effect("wasserstein", float(distance), threshold, _ks(pair)[1], note)


def std_change(pair: ColumnPair, threshold: float = THRESHOLDS["std_change"]) -> DetectorResult:
    short = _too_few("std_change", pair, threshold)
    if short:
        return short
    from scipy import stats

    ref, cur = pair.reference, pair.current
    if ref.std == 0.0:
        score = 0.0 if cur.std == 0.0 else math.inf
        return _effect("std_change", score, threshold, None, "reference is constant")
    ratio = cur.std / ref.std
    p_value = _spread_p_value(pair)
    if p_value is None:
        f_dist = stats.f(cur.present - 1, ref.present - 1)
        p_value = 2 * min(float(f_dist.sf(ratio**2)), float(f_dist.cdf(ratio**2)))
    note = f"std {ref.std:.4g} -> {cur.std:.4g}"
    return _effect("std_change", abs(ratio - 1), threshold, min(p_value, 1.0), note)


def _spread_p_value(pair: ColumnPair) -> float | None:
    """Brown-Forsythe's p-value for equal spread on the samples (None without samples)."""
    ref, cur = pair.reference_sample, pair.current_sample
    if ref is None or cur is None or min(len(ref), len(cur)) < MIN_ROWS:
        return None
    from scipy import stats

    p_value = float(stats.levene(ref, cur, center="median").pvalue)
    return None if math.isnan(p_value) else p_value


def psi(pair: ColumnPair, threshold: float = THRESHOLDS["psi"]) -> DetectorResult:
    short = _too_few("psi", pair, threshold)
    if short:
        return short
    import numpy as np

    p, q, p_value = _shares(pair)
    p, q = np.maximum(p, EPSILON), np.maximum(q, EPSILON)
    return _effect("psi", float(((q - p) * np.log(q / p)).sum()), threshold, p_value, _about(pair))


def jensen_shannon(pair: ColumnPair, threshold: float | None = None) -> DetectorResult:
    if threshold is None:
        categorical = pair.reference.kind == CATEGORICAL
        threshold = THRESHOLDS["jensen_shannon_categorical" if categorical else "jensen_shannon"]
    short = _too_few("jensen_shannon", pair, threshold)
    if short:
        return short
    from scipy.spatial.distance import jensenshannon

    p, q, p_value = _shares(pair)
    distance = float(jensenshannon(p, q, base=2))
    return _effect("jensen_shannon", distance, threshold, p_value, _about(pair))


def chi_square(pair: ColumnPair, threshold: float = THRESHOLDS["chi_square"]) -> DetectorResult:
    short = _too_few("chi_square", pair, threshold)
    if short:
        return short
    _, p_value = _chi_square(*pair.categories[1:])
    return _result("chi_square", p_value, threshold, p_value < threshold, _about(pair))


def unseen_share(pair: ColumnPair, threshold: float = THRESHOLDS["unseen_share"]) -> DetectorResult:
    short = _too_few("unseen_share", pair, threshold)
    if short:
        return short
    ref, cur = pair.reference, pair.current
    unseen = sum(n for c, n in cur.categories.items() if c not in ref.categories)
    share = unseen / cur.present
    if ref.overflowed:
        note = f"reference pooled categories past {len(ref.categories)}: unseen share unknown"
        return _result("unseen_share", share, threshold, None, note)
    return _result("unseen_share", share, threshold, share >= threshold, f"{unseen} rows")


NUMERIC_DETECTORS: dict[str, Detector] = {
    "ks": ks,
    "wasserstein": wasserstein,
    "std_change": std_change,
    "psi": psi,
    "jensen_shannon": jensen_shannon,
}
CATEGORICAL_DETECTORS: dict[str, Detector] = {
    "chi_square": chi_square,
    "psi": psi,
    "jensen_shannon": jensen_shannon,
    "unseen_share": unseen_share,
}
DETECTORS = {NUMERIC: NUMERIC_DETECTORS, CATEGORICAL: CATEGORICAL_DETECTORS}


def default_detectors(kind: str, smaller_side: int) -> tuple[str, ...]:
    """The detectors whose results decide a column's verdict by default (see above)."""
    small = smaller_side < SMALL_SAMPLE
    if kind == NUMERIC:
        return ("ks",) if small else ("wasserstein", "std_change", "psi", "jensen_shannon")
    return ("chi_square",) if small else ("jensen_shannon", "unseen_share")


def _result(
    name: str, score: float, threshold: float, drifted: bool | None, note: str
) -> DetectorResult:
    return DetectorResult(
        detector=name, score=score, threshold=threshold, drifted=drifted, note=note
    )


def _effect(
    name: str, score: float, threshold: float, p_value: float | None, note: str
) -> DetectorResult:
    """An effect size: drift when past its threshold and (when it has one) significant."""
    significant = p_value is None or p_value < SIGNIFICANCE
    return DetectorResult(
        detector=name,
        score=score,
        threshold=threshold,
        drifted=bool(score >= threshold and significant),
        note=note,
        p_value=p_value,
    )


def _too_few(
    name: str, pair: ColumnPair, threshold: float, *, samples: bool = False
) -> DetectorResult | None:
    sizes = [pair.reference.present, pair.current.present]
    if samples:
        sizes += [len(pair.reference_sample), len(pair.current_sample)]
    if min(sizes) >= MIN_ROWS:
        return None
    note = (
        f"insufficient data: {pair.reference.present} reference and "
        f"{pair.current.present} current values, at least {MIN_ROWS} needed on each side"
    )
    return _result(name, math.nan, threshold, None, note)


def _ks(pair: ColumnPair) -> tuple[float, float]:
    from scipy import stats

    a, b = pair.reference_sample, pair.current_sample
    method = "auto" if max(len(a), len(b)) <= SMALL_SAMPLE else "asymp"
    result = stats.ks_2samp(a, b, method=method)
    return float(result.statistic), float(result.pvalue)


def _shares(pair: ColumnPair) -> tuple[np.ndarray, np.ndarray, float]:
    """Both sides' shares per bin or category, and the chi-square p-value of the counts."""
    if pair.reference.kind == NUMERIC:
        _, p, q = pair.bins
        ref_counts, cur_counts = p * pair.reference.present, q * pair.current.present
    else:
        _, ref_counts, cur_counts = pair.categories
    _, p_value = _chi_square(ref_counts, cur_counts)
    return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum(), p_value


def _chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity over the cells either side has; one cell: p = 1."""
    import numpy as np
    from scipy import stats

    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    statistic, p_value, _, _ = stats.chi2_contingency(table, correction=False)
    return float(statistic), float(p_value)


def _about(pair: ColumnPair) -> str:
    if pair.reference.kind == NUMERIC:
        return f"{len(pair.bins[0]) + 1} bins at the reference's quantiles"
    return f"{len(pair.categories[0])} categories"
