"""The multivariate drift check: can a classifier tell reference rows from current rows?

A small histogram gradient-boosting classifier is trained, with stratified
cross-validation, to label each row as reference or current. Its out-of-fold
ROC AUC is the score: about 0.5 when the windows look alike, towards 1.0 when
they differ in any way the model can find, including in how columns relate to
one another, which per-column tests cannot see. Drift at ``AUC >= 0.55``.
"""

from __future__ import annotations

import math
from typing import Any

from loopml.monitoring.entities import DetectorResult

AUC_THRESHOLD = 0.55
MAX_ROWS_PER_SIDE = 5_000
MIN_ROWS_PER_SIDE = 50
FOLDS = 5


def domain_classifier_auc(
    reference_sample: Any,
    current_sample: Any,
    *,
    threshold: float = AUC_THRESHOLD,
    seed: int = 0,
) -> DetectorResult:
    """Cross-validated ROC AUC of a classifier telling the two samples apart.

    Args:
        reference_sample: reference rows (a pandas DataFrame, or a mapping of
            column name to values); numeric columns are used as numbers, any
            other column as category codes.
        current_sample: current rows with the same columns.
        threshold: the AUC at and above which the result is drift.
        seed: seeds the subsampling, the folds and the model.

    Returns:
        A ``domain_classifier`` result; ``drifted`` is ``None`` with fewer than
        ``MIN_ROWS_PER_SIDE`` rows on either side.
    """
    import pandas as pd

    reference = pd.DataFrame(reference_sample)
    current = pd.DataFrame(current_sample)
    shared = [c for c in reference.columns if c in current.columns]
    if min(len(reference), len(current)) < MIN_ROWS_PER_SIDE or not shared:
        note = (
            f"insufficient data: {len(reference)} reference and {len(current)} current rows "
            f"over {len(shared)} shared columns, at least {MIN_ROWS_PER_SIDE} rows needed"
        )
        return DetectorResult("domain_classifier", math.nan, threshold, None, note)
    auc = _cross_validated_auc(reference[shared], current[shared], seed)
    note = f"{FOLDS}-fold ROC AUC over {len(shared)} columns (0.5: indistinguishable)"
    return DetectorResult("domain_classifier", auc, threshold, auc >= threshold, note)


def _cross_validated_auc(reference: Any, current: Any, seed: int) -> float:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    reference = reference.sample(min(len(reference), MAX_ROWS_PER_SIDE), random_state=seed)
    current = current.sample(min(len(current), MAX_ROWS_PER_SIDE), random_state=seed)
    both = pd.concat([reference, current], ignore_index=True)
    features = np.column_stack([_encoded(both[c]) for c in both.columns])
    labels = np.r_[np.zeros(len(reference)), np.ones(len(current))]
    model = HistGradientBoostingClassifier(max_iter=60, random_state=seed)
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    scores = cross_val_score(model, features, labels, cv=folds, scoring="roc_auc")
    return float(np.mean(scores))


def _encoded(column: Any) -> Any:
    """Numbers as floats (non-finite as NaN); anything else as category codes."""
    import numpy as np
    import pandas as pd

    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().sum() == column.notna().sum():
        values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isfinite(values), values, np.nan)
    codes = pd.Categorical(column.astype("string")).codes.astype(np.float64)
    return np.where(codes < 0, np.nan, codes)
