"""Data quality of a current window, measured against the reference profile.

:func:`assess` turns two column profiles (either may be absent) into a
:class:`ColumnQuality`: the shares it measured and a list of issues, each with
a stable code that alert rules match on:

| code | when |
| --- | --- |
| ``missing_column`` | the reference has the column, the current window does not |
| ``extra_column`` | the current window has a column the reference does not |
| ``type_changed`` | the kinds differ (a numeric column arriving as strings) |
| ``all_missing`` | every current value is missing |
| ``missing_rate_jump`` | current missing share exceeds the reference's by ``MISSING_JUMP`` |
| ``constant`` | one distinct value in the current window (but not in the reference) |
| ``nan_values`` / ``infinite_values`` | the current window has NaN / +-inf |
| ``out_of_range`` | at least ``OUT_OF_RANGE`` of values outside the reference's [min, max] |
| ``unseen_categories`` | current rows in categories the reference never had |
| ``high_cardinality`` | more than ``MAX_CATEGORIES`` categories (the rest were pooled) |
"""

from __future__ import annotations

from loopml.monitoring.entities import ColumnQuality, QualityIssue
from loopml.monitoring.profile import CATEGORICAL, MAX_CATEGORIES, NUMERIC, ColumnProfile

MISSING_JUMP = 0.05
OUT_OF_RANGE = 0.01


def assess(reference: ColumnProfile | None, current: ColumnProfile | None) -> ColumnQuality:
    """The data quality of one column; never raises on odd data."""
    if current is None:
        assert reference is not None
        issue = QualityIssue("missing_column", f"{reference.name!r} is missing from current data")
        return ColumnQuality(missing_share_reference=_missing(reference), issues=(issue,))
    if reference is None:
        issue = QualityIssue("extra_column", f"{current.name!r} is not in the reference")
        return ColumnQuality(missing_share_current=_missing(current), issues=(issue,))
    issues = [*_type_issues(reference, current), *_missing_issues(reference, current)]
    out_of_range = unseen = None
    if reference.kind == current.kind == NUMERIC:
        out_of_range = _out_of_range(reference, current)
        issues += _numeric_issues(reference, current, out_of_range)
    elif reference.kind == current.kind == CATEGORICAL:
        unseen = _unseen(reference, current)
        issues += _categorical_issues(reference, current, unseen)
    rows = current.count or 1
    return ColumnQuality(
        missing_share_reference=_missing(reference),
        missing_share_current=_missing(current),
        out_of_range_share=out_of_range,
        unseen_share=unseen,
        nan_share=current.nan / rows if current.kind == NUMERIC else None,
        inf_share=(current.pos_inf + current.neg_inf) / rows if current.kind == NUMERIC else None,
        issues=tuple(issues),
    )


def _missing(column: ColumnProfile) -> float | None:
    return column.missing / column.count if column.count else None


def _type_issues(reference: ColumnProfile, current: ColumnProfile) -> list[QualityIssue]:
    if reference.kind == current.kind:
        return []
    message = (
        f"{current.name!r} was {reference.kind} ({reference.type_name}) in the reference, "
        f"{current.kind} ({current.type_name}) now"
    )
    return [QualityIssue("type_changed", message)]


def _missing_issues(reference: ColumnProfile, current: ColumnProfile) -> list[QualityIssue]:
    if current.count and current.missing == current.count:
        return [QualityIssue("all_missing", f"every one of {current.count:,} values is missing")]
    before, now = _missing(reference) or 0.0, _missing(current) or 0.0
    if now - before >= MISSING_JUMP:
        message = f"missing share rose from {before:.1%} to {now:.1%}"
        return [QualityIssue("missing_rate_jump", message)]
    return []


def _numeric_issues(
    reference: ColumnProfile, current: ColumnProfile, out_of_range: float | None
) -> list[QualityIssue]:
    issues = []
    if current.present and current.min == current.max and reference.min != reference.max:
        issues.append(QualityIssue("constant", f"every current value is {current.min:g}"))
    if current.nan:
        issues.append(QualityIssue("nan_values", f"{current.nan:,} NaN values"))
    if current.pos_inf or current.neg_inf:
        message = f"{current.pos_inf:,} +inf and {current.neg_inf:,} -inf values"
        issues.append(QualityIssue("infinite_values", message))
    if out_of_range is not None and out_of_range >= OUT_OF_RANGE:
        message = (
            f"{out_of_range:.1%} of values outside the reference's range "
            f"[{reference.min:g}, {reference.max:g}]"
        )
        issues.append(QualityIssue("out_of_range", message))
    return issues


def _categorical_issues(
    reference: ColumnProfile, current: ColumnProfile, unseen: float | None
) -> list[QualityIssue]:
    issues = []
    if len(current.categories) == 1 and not current.overflowed and len(reference.categories) > 1:
        only = next(iter(current.categories))
        issues.append(QualityIssue("constant", f"every current value is {only!r}"))
    if unseen:
        message = f"{unseen:.2%} of current rows are in categories the reference never had"
        issues.append(QualityIssue("unseen_categories", message))
    if current.overflowed:
        message = (
            f"more than {MAX_CATEGORIES:,} categories: {current.other_count:,} rows pooled "
            "as (other)"
        )
        issues.append(QualityIssue("high_cardinality", message))
    return issues


def _out_of_range(reference: ColumnProfile, current: ColumnProfile) -> float | None:
    if reference.min is None or reference.max is None or not current.present:
        return None
    return current.share_outside(reference.min, reference.max)


def _unseen(reference: ColumnProfile, current: ColumnProfile) -> float | None:
    """Share of current rows in categories the reference lacks (``None`` when it pooled)."""
    if reference.overflowed or not current.present:
        return None
    unseen = sum(n for c, n in current.categories.items() if c not in reference.categories)
    return unseen / current.present
