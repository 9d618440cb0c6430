"""``compare(reference, current)``: drift and data quality, column by column.

Either side is a pandas DataFrame, an Arrow table or a :class:`Profile`; a
table is profiled first, so a stored reference profile is reused as is. Every
detector valid for a column's kind runs; the verdict comes from the deciding
ones — by default the selection documented in
:mod:`loopml.monitoring.detectors` (p-value tests below 1,000 values,
effect sizes above), or exactly the ``detectors`` the caller names. A column
present on one side only, or whose kind changed, is ``not compared`` and
reported by its data quality; one with fewer than 30 values on a side is
``insufficient data``. The dataset drifts when the share of drifted columns,
among those with a verdict, reaches ``drift_share``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loopml.core.errors import InvalidParameter
from loopml.monitoring.detectors import DETECTORS, OTHER_LABEL, ColumnPair, default_detectors
from loopml.monitoring.entities import (
    DRIFTED,
    INSUFFICIENT,
    NOT_COMPARED,
    STABLE,
    ColumnDrift,
    Distribution,
    DriftResult,
)
from loopml.monitoring.multivariate import domain_classifier_auc
from loopml.monitoring.profile import (
    CATEGORICAL,
    DEFAULT_SAMPLE_SIZE,
    NUMERIC,
    Profile,
    profile,
)
from loopml.monitoring.quality import assess

PREDICTION = "prediction"
TOP_CATEGORIES = 10


def compare(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    detectors: Sequence[str] | None = None,
    drift_share: float = 0.5,
    predictions: str | tuple[Any, Any] | None = None,
    multivariate: bool = False,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    seed: int = 0,
) -> DriftResult:
    """Compare a current window with a reference, column by column.

    Args:
        reference: a DataFrame, Arrow table or :class:`Profile`.
        current: likewise.
        columns: the columns to compare (default: every column of either side).
        detectors: detector names whose results decide each verdict (default:
            the documented selection by kind and sample size).
        drift_share: the share of drifted columns at which the dataset drifts.
        predictions: ``(reference_predictions, current_predictions)``, or the
            name of a column holding them on both sides; compared on their own
            and left out of the share.
        multivariate: also run :func:`domain_classifier_auc` on the samples.
        sample_size: rows sampled when profiling a table.
        seed: seeds the samples and the domain classifier.

    Returns:
        The result, per column and for the dataset.

    Raises:
        InvalidParameter: an unknown detector or column, or ``drift_share``
            outside (0, 1].
    """
    chosen = _check_detectors(detectors)
    if not 0 < drift_share <= 1:
        raise InvalidParameter(f"drift_share: must be in (0, 1], got {drift_share}")
    ref = _profiled(reference, sample_size, seed)
    cur = _profiled(current, sample_size, seed + 1)
    names = _column_names(ref, cur, columns, predictions)
    prediction = _prediction(ref, cur, predictions, chosen, sample_size, seed)
    return DriftResult(
        columns=tuple(compare_column(name, ref, cur, chosen) for name in names),
        drift_share=drift_share,
        reference_rows=ref.rows,
        current_rows=cur.rows,
        prediction=prediction,
        multivariate=_multivariate(ref, cur, names, seed) if multivariate else None,
    )


def compare_column(
    name: str, reference: Profile, current: Profile, detectors: Sequence[str] | None = None
) -> ColumnDrift:
    """One column of two profiles: detectors, verdict, data quality and chart shares."""
    ref, cur = reference.columns.get(name), current.columns.get(name)
    quality = assess(ref, cur)
    if ref is None or cur is None or ref.kind != cur.kind or ref.kind not in DETECTORS:
        known = ref or cur
        assert known is not None
        return ColumnDrift(
            name=name,
            kind=ref.kind if ref else "absent",
            current_kind=cur.kind if cur else "absent",
            verdict=NOT_COMPARED,
            quality=quality,
            reference_count=ref.count if ref else 0,
            current_count=cur.count if cur else 0,
        )
    pair = ColumnPair(
        ref,
        cur,
        reference.finite_sample(name) if ref.kind == NUMERIC else None,
        current.finite_sample(name) if ref.kind == NUMERIC else None,
    )
    available = DETECTORS[ref.kind]
    deciding = (
        default_detectors(ref.kind, pair.smaller_side)
        if detectors is None
        else tuple(d for d in detectors if d in available)
    )
    results = tuple(available[d](pair) for d in available if detectors is None or d in deciding)
    return ColumnDrift(
        name=name,
        kind=ref.kind,
        current_kind=cur.kind,
        verdict=_verdict([r.drifted for r in results if r.detector in deciding]),
        results=results,
        decided_by=deciding,
        quality=quality,
        distribution=_distribution(pair),
        reference_count=ref.count,
        current_count=cur.count,
    )


def _verdict(drifted: list[bool | None]) -> Any:
    if not drifted:
        return NOT_COMPARED
    if any(d is True for d in drifted):
        return DRIFTED
    return INSUFFICIENT if all(d is None for d in drifted) else STABLE


def _check_detectors(detectors: Sequence[str] | None) -> tuple[str, ...] | None:
    if detectors is None:
        return None
    known = sorted({d for by_kind in DETECTORS.values() for d in by_kind})
    if isinstance(detectors, str) or not detectors:
        raise InvalidParameter(f"detectors: expected a non-empty list of names from {known}")
    unknown = [d for d in detectors if d not in known]
    if unknown:
        raise InvalidParameter(f"detectors: unknown {unknown}; known detectors are {known}")
    return tuple(detectors)


def _profiled(data: Any, sample_size: int, seed: int) -> Profile:
    return data if isinstance(data, Profile) else profile(data, sample_size=sample_size, seed=seed)


def _column_names(
    ref: Profile,
    cur: Profile,
    columns: Sequence[str] | None,
    predictions: str | tuple[Any, Any] | None,
) -> list[str]:
    every = list(dict.fromkeys([*ref.columns, *cur.columns]))
    if columns is None:
        names = every
    else:
        unknown = [c for c in columns if c not in every]
        if unknown:
            raise InvalidParameter(f"columns: {unknown} are in neither reference nor current")
        names = list(columns)
    return [n for n in names if n != predictions]


def _prediction(
    ref: Profile,
    cur: Profile,
    predictions: str | tuple[Any, Any] | None,
    chosen: Sequence[str] | None,
    sample_size: int,
    seed: int,
) -> ColumnDrift | None:
    if predictions is None:
        return None
    if isinstance(predictions, str):
        if predictions not in ref.columns or predictions not in cur.columns:
            raise InvalidParameter(
                f"predictions: column {predictions!r} must be in both reference and current"
            )
        return compare_column(predictions, ref, cur, chosen)
    if not isinstance(predictions, tuple) or len(predictions) != 2:
        raise InvalidParameter(
            "predictions: expected a column name or (reference_predictions, current_predictions)"
        )
    sides = [_prediction_profile(p, sample_size, seed + i) for i, p in enumerate(predictions)]
    return compare_column(PREDICTION, sides[0], sides[1], chosen)


def _prediction_profile(values: Any, sample_size: int, seed: int) -> Profile:
    if isinstance(values, Profile):
        return values
    import numpy as np
    import pyarrow as pa

    array = values if isinstance(values, pa.Array) else pa.array(np.asarray(values))
    table = pa.table({PREDICTION: array})
    return profile(table, sample_size=sample_size, seed=seed)


def _multivariate(ref: Profile, cur: Profile, names: Sequence[str], seed: int) -> Any:
    shared = [
        n
        for n in names
        if n in ref.columns
        and n in cur.columns
        and ref.columns[n].kind == cur.columns[n].kind
        and ref.columns[n].kind in DETECTORS
    ]
    return domain_classifier_auc(
        {n: ref.sample[n] for n in shared}, {n: cur.sample[n] for n in shared}, seed=seed
    )


def _distribution(pair: ColumnPair) -> Distribution | None:
    if pair.reference.kind == NUMERIC:
        return _numeric_distribution(pair)
    if pair.reference.kind == CATEGORICAL:
        return _categorical_distribution(pair)
    return None


def _numeric_distribution(pair: ColumnPair) -> Distribution | None:
    ref, cur = pair.reference, pair.current
    ends = [v for v in (ref.min, ref.max, cur.min, cur.max) if v is not None]
    if not ends or not ref.present or not cur.present:
        return None
    inner, p, q = pair.bins
    edges = (min(ends), *inner, max(ends))
    return Distribution(tuple(p.tolist()), tuple(q.tolist()), edges=edges)


def _categorical_distribution(pair: ColumnPair) -> Distribution | None:
    labels, ref_counts, cur_counts = pair.categories
    if not ref_counts.sum() or not cur_counts.sum():
        return None
    p, q = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    order = sorted(range(len(labels)), key=lambda i: (-max(p[i], q[i]), labels[i]))
    top = [i for i in order if labels[i] != OTHER_LABEL][:TOP_CATEGORIES]
    shown_p, shown_q = [float(p[i]) for i in top], [float(q[i]) for i in top]
    rest_p, rest_q = 1.0 - sum(shown_p), 1.0 - sum(shown_q)
    names = [labels[i] for i in top]
    if len(top) < len(labels):
        names.append(OTHER_LABEL)
        shown_p.append(max(rest_p, 0.0))
        shown_q.append(max(rest_q, 0.0))
    return Distribution(tuple(shown_p), tuple(shown_q), labels=tuple(names))
