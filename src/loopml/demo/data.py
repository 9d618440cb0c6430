"""Seeded loan applications for the end-to-end demo: weekly traffic, delayed labels, a recession.

Each simulated week brings a batch of personal-loan applications;
:func:`applications` draws one week, the same for the same seed. ``default``
says whether the borrower missed a payment early (a first-payment default), so
it is known :data:`LABEL_DELAY_WEEKS` week later rather than years later.

Features come from one latent "financial strength" per applicant, so they
correlate as real ones do: stronger applicants earn more (lognormal income),
have better FICO-like scores (300-850) and fewer delinquencies, carry less
existing debt (debt-to-income, a beta shape, in %) and are priced lower
interest rates (rate is set from the score and the term). Loan amounts scale
with income and purpose and stop at the lender's 40k cap. ``credit_score`` is
missing for thin files (mostly under-25s) and ``employment_years`` when left
blank (mostly the self-employed). The label is a logistic model of the
features plus unobserved shocks (job loss, illness), which holds a
gradient-boosted model near 0.8 ROC AUC at a default rate of about 15%.

:data:`SENSITIVE` (``age_band``) is carried for fairness checks but is not in
:data:`FEATURES`: lenders may not score on age, so the model never sees it.
Age still reaches the model through proxies (score, tenure, home ownership),
so per-band metrics differ, which is what a fairness check is there to see.

A :class:`Drift` (default :data:`RECESSION`, from week 4, complete in week 5)
shifts the population. Monitoring sees it without labels: incomes fall about
11%, debt-to-income and rates rise, scores slip, a ``living_expenses`` purpose
appears (10% of loans), contract work and the Midwest's share grow. Labels
then show the concept drift: high debt-to-income, insecure jobs and the
Midwest default far more often, and the score predicts less. The default rate
doubles to about 30%; a model trained on weeks 0-2 drops from about 0.79 ROC
AUC to 0.73 on recession weeks, and one retrained on them reaches about 0.77.

Timeline with the defaults: the champion trains at the start of week 3 on
:func:`labelled_weeks` ``(3)`` (weeks 0-2); monitoring flags week 4; a retrain
at week 6 can use weeks 4-5; :func:`corrupt` makes the bad retrain.

Models need an encoder for :data:`CATEGORICAL_FEATURES` (strings; a new
category appears under drift) and must accept missing values, e.g.
``OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)``
before scikit-learn's ``HistGradientBoostingClassifier``. Pure functions on
numpy and pandas, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from loopml.core.errors import InvalidParameter

ID = "application_id"
TIME = "applied_at"
TARGET = "default"
SENSITIVE = "age_band"
NUMERIC_FEATURES = [
    "income",
    "loan_amount",
    "term_months",
    "interest_rate",
    "debt_to_income",
    "credit_score",
    "employment_years",
    "open_credit_lines",
    "delinquencies_2y",
]
CATEGORICAL_FEATURES = ["loan_purpose", "home_ownership", "employment_type", "region"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
SEGMENTS = ["loan_purpose", "region"]
COLUMNS = [ID, TIME, *FEATURES, SENSITIVE, TARGET]

EPOCH = pd.Timestamp("2024-01-01T00:00:00Z")  # a Monday: week 0 starts here
_WEEK_S = 7 * 24 * 3600
LABEL_DELAY_WEEKS = 1

AGE_BANDS = ["18-29", "30-44", "45-59", "60+"]
EMPLOYMENT = ["salaried", "self_employed", "contract", "part_time", "retired"]
REGIONS = ["northeast", "midwest", "south", "west"]  # US census regions
HOMES = ["rent", "mortgage", "own"]
PURPOSES = [
    "debt_consolidation",
    "credit_card",
    "home_improvement",
    "car",
    "medical",
    "small_business",
    "major_purchase",
    "living_expenses",  # only under drift: people borrow to pay the bills
]

_Floats = NDArray[np.float64]
_Columns = dict[str, NDArray[Any]]  # columns being built, plus private latent ones ("_age")


@dataclass(frozen=True)
class Drift:
    """A population shift that starts at ``start_week`` and ramps in over ``ramp_weeks``.

    Attributes:
        start_week: the first week that differs from the weeks before it.
        ramp_weeks: weeks until the shift is complete (1: at once).
        severity: how far the shift goes; 1.0 is the documented recession.
    """

    start_week: int
    ramp_weeks: int = 2
    severity: float = 1.0

    def __post_init__(self) -> None:
        if self.start_week < 0:
            raise InvalidParameter(f"start_week: must be at least 0, got {self.start_week}")
        if self.ramp_weeks < 1:
            raise InvalidParameter(f"ramp_weeks: must be at least 1, got {self.ramp_weeks}")
        if not 0 <= self.severity <= 2:
            raise InvalidParameter(f"severity: must be in [0, 2], got {self.severity}")

    def intensity(self, week: int) -> float:
        """How much of the shift ``week`` shows: 0 before ``start_week``, then up to ``severity``.

        The ramp is linear: ``start_week`` shows ``1 / ramp_weeks`` of it.
        """
        ramped = (week - self.start_week + 1) / self.ramp_weeks
        return self.severity * min(1.0, max(0.0, ramped))


RECESSION = Drift(start_week=4, ramp_weeks=2)  # half-way in week 4, complete from week 5


def week_start(week: int) -> pd.Timestamp:
    """When ``week`` begins (UTC); its applications fall before ``week_start(week + 1)``."""
    _check_at_least("week", week, 0)
    return EPOCH + pd.Timedelta(seconds=week * _WEEK_S)


def labels_arrive(week: int) -> int:
    """The week at whose start the defaults of ``week``'s applications are known."""
    _check_at_least("week", week, 0)
    return week + LABEL_DELAY_WEEKS


def labelled_weeks(now: int) -> range:
    """The weeks whose defaults are known at the start of week ``now`` (what a retrain can use)."""
    _check_at_least("now", now, 0)
    return range(max(0, now - LABEL_DELAY_WEEKS + 1))


def applications(week: int, rows: int, *, seed: int, drift: Drift | None = None) -> pd.DataFrame:
    """One week of applications, sorted by ``applied_at``, with their (later known) defaults.

    The same ``(week, rows, seed, drift)`` always gives the same frame; weeks are
    independent draws, so any week can be generated alone.

    Args:
        week: the simulated week, 0 or more.
        rows: how many applications arrive that week.
        seed: seeds the draw (with ``week``).
        drift: the population shift to apply, if any.

    Returns:
        A frame with :data:`COLUMNS`: ids unique across weeks, ``applied_at``
        inside the week (UTC), :data:`FEATURES`, :data:`SENSITIVE` and
        :data:`TARGET` (0 or 1).

    Raises:
        InvalidParameter: ``week``, ``rows`` or ``seed`` is negative.
    """
    _check_at_least("week", week, 0)
    _check_at_least("rows", rows, 0)
    _check_at_least("seed", seed, 0)
    shift = drift.intensity(week) if drift is not None else 0.0
    rng = np.random.default_rng([seed, week])
    offsets_s = np.sort(_arrival_offsets_s(rng, rows))
    columns = _applicants(rng, rows, shift)
    columns.update(_credit(rng, columns, shift))
    columns.update(_loans(rng, columns, shift))
    risk = _default_logit(rng, columns, shift)
    columns[TARGET] = (rng.random(rows) < 1 / (1 + np.exp(-risk))).astype(np.int64)
    columns[ID] = np.array([f"w{week:02d}-{i:06d}" for i in range(rows)], dtype=object)
    columns[TIME] = week_start(week) + pd.to_timedelta(offsets_s, unit="s")
    return pd.DataFrame({name: columns[name] for name in COLUMNS})


def inputs_and_label(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Split ``frame`` into the model's inputs (:data:`FEATURES`, in order) and ``default``."""
    missing = [c for c in [*FEATURES, TARGET] if c not in frame.columns]
    if missing:
        raise InvalidParameter(f"frame: missing columns {missing}")
    return frame[FEATURES].copy(), frame[TARGET].copy()


def corrupt(frame: pd.DataFrame, *, seed: int, share: float = 0.9) -> pd.DataFrame:
    """A broken training set: the label join matched most applications to the wrong outcome.

    A ``share`` of rows carry another row's ``default``, as when labels are
    joined on a shifted or non-unique key. The default rate and every feature
    stay as they were, so schema and data-quality checks pass; only the
    relationship is gone. A model trained on it ranks applicants little better
    than chance (ROC AUC about 0.55-0.6 against the champion's 0.8 at the
    default ``share``): a gate evaluating it on an honest holdout rejects it,
    and served as a canary (skipping the gate) its live ROC AUC falls well below
    the champion's once labels arrive, so the canary is rolled back.

    Raises:
        InvalidParameter: ``share`` is outside [0, 1], ``seed`` is negative or
            ``frame`` lacks a feature or the label.
    """
    if not 0 <= share <= 1:
        raise InvalidParameter(f"share: must be in [0, 1], got {share}")
    _check_at_least("seed", seed, 0)
    inputs_and_label(frame)  # checks the columns
    rng = np.random.default_rng(seed)
    picked = np.flatnonzero(rng.random(len(frame)) < share)
    labels = frame[TARGET].to_numpy().copy()
    labels[picked] = labels[rng.permutation(picked)]
    return frame.assign(**{TARGET: labels})


def _check_at_least(name: str, value: int, least: int) -> None:
    if value < least:
        raise InvalidParameter(f"{name}: must be at least {least}, got {value}")


def _arrival_offsets_s(rng: np.random.Generator, rows: int) -> NDArray[np.int64]:
    """Seconds into the week: weekdays busier than weekends, most traffic 08:00-22:00."""
    day = rng.choice(7, size=rows, p=[0.16, 0.16, 0.16, 0.16, 0.15, 0.11, 0.10])
    hour = np.clip(rng.normal(14.5, 3.8, rows), 0, 23.999)
    return (day * 86_400 + hour * 3_600).astype(np.int64)


def _pick(u: _Floats, shares: _Floats, names: list[str]) -> NDArray[np.object_]:
    """Inverse-CDF categories: row ``i`` falls where ``u[i]`` lands in its cumulative shares.

    One uniform per row, drawn whatever the shares, so a drift moves rows between
    categories without changing the random stream of anything drawn after.
    """
    cumulative = np.cumsum(np.clip(shares, 0.0, None), axis=-1)
    cumulative = cumulative / cumulative[..., -1:]
    index = (u[:, None] >= np.broadcast_to(cumulative, (len(u), len(names)))).sum(axis=1)
    picked: NDArray[np.object_] = np.asarray(names, dtype=object)[np.minimum(index, len(names) - 1)]
    return picked


def _applicants(rng: np.random.Generator, rows: int, shift: float) -> _Columns:
    """Who applies: age, region, job and income, all tied to a latent financial strength."""
    strength = rng.normal(0.0, 1.0, rows)
    age = np.minimum(18 + rng.gamma(4.5, 5.5, rows), 80).round()  # mean 43, right-skewed
    band = np.asarray(AGE_BANDS, dtype=object)[np.digitize(age, [30, 45, 60])]
    # A regional downturn: the Midwest's share grows as its factories lay off.
    region_shares = np.array([0.18, 0.21, 0.38, 0.23]) + shift * np.array(
        [-0.03, 0.12, -0.06, -0.03]
    )
    region = _pick(rng.random(rows), region_shares, REGIONS)
    older = (age >= 62)[:, None]
    work = np.where(older, [0.35, 0.15, 0.05, 0.10, 0.35], [0.66, 0.13, 0.12, 0.09, 0.0])
    work = work + shift * np.array([-0.10, 0.0, 0.06, 0.04, 0.0])  # gig work replaces jobs
    employment = _pick(rng.random(rows), work, EMPLOYMENT)
    tenure = np.minimum(rng.gamma(1.6, 3.5, rows), age - 18).round(1)
    tenure[employment == "retired"] = 0.0
    unreported = rng.random(rows) < np.where(employment == "self_employed", 0.12, 0.02)
    tenure[unreported] = np.nan  # a self-reported field, often blank without an employer
    job_effect = {"self_employed": 0.05, "contract": -0.10, "part_time": -0.55, "retired": -0.35}
    region_effect = {"northeast": 0.08, "midwest": -0.03, "south": -0.05, "west": 0.06}
    log_income = (
        np.log(58_000)
        + 0.25 * strength
        + 0.012 * (np.minimum(age, 55) - 40)
        + _lookup(employment, job_effect)
        + _lookup(region, region_effect)
        - shift * (0.12 + 0.10 * np.isin(employment, ["contract", "part_time"]))
        + rng.normal(0.0, 0.45, rows)
    )
    income = np.clip(np.exp(log_income), 12_000, 500_000).round(-2)
    return {
        "_strength": strength,
        "_age": age,
        SENSITIVE: band,
        "region": region,
        "employment_type": employment,
        "employment_years": tenure,
        "income": income,
    }


def _credit(rng: np.random.Generator, columns: _Columns, shift: float) -> _Columns:
    """Credit history: FICO-like scores in [300, 850], delinquencies, lines, home ownership."""
    strength, age = columns["_strength"], columns["_age"]
    score = 690 + 48 * strength + 1.2 * (age - 40) + rng.normal(0, 30, len(age)) - 15 * shift
    score = np.clip(score, 300, 850).round()
    thin_file = rng.random(len(age)) < np.where(age < 25, 0.06, 0.015)
    score[thin_file] = np.nan  # no bureau record: young applicants most often
    delinquencies = rng.poisson(np.exp(-1.6 - 0.7 * strength) * (1 + 0.5 * shift))
    lines = 1 + rng.poisson(3 + 0.12 * (age - 21))
    log_income_gap = np.log(columns["income"] / 58_000)
    logits = np.stack(
        [
            np.zeros(len(age)),
            -1.2 + 0.06 * (age - 30) + 0.8 * log_income_gap,
            -3.5 + 0.07 * (age - 30),
        ],
        axis=1,
    )
    home = _pick(rng.random(len(age)), np.exp(logits), HOMES)
    return {
        "credit_score": score,
        "delinquencies_2y": delinquencies.astype(np.int64),
        "open_credit_lines": lines.astype(np.int64),
        "home_ownership": home,
    }


def _loans(rng: np.random.Generator, columns: _Columns, shift: float) -> _Columns:
    """The loan asked for: purpose, amount (scaled to income), term, priced rate, existing DTI."""
    rows = len(columns["income"])
    purpose_shares = np.array([0.44, 0.20, 0.11, 0.09, 0.06, 0.05, 0.05, 0.0]) + shift * np.array(
        [0.05, 0.0, -0.05, -0.05, 0.02, -0.03, -0.04, 0.10]
    )
    purpose = _pick(rng.random(rows), purpose_shares, PURPOSES)
    size = {"home_improvement": 1.3, "small_business": 1.6, "car": 1.1, "medical": 0.6}
    size |= {"credit_card": 0.8, "major_purchase": 0.8, "living_expenses": 0.5}
    factor = np.exp(_lookup(purpose, {k: float(np.log(v)) for k, v in size.items()}))
    amount = columns["income"] * factor * np.exp(rng.normal(np.log(0.2), 0.55, rows))
    amount = np.clip(amount, 1_000, 40_000).round(-2)  # 40k: the lender's cap
    long_term = rng.random(rows) < 0.15 + 0.6 / (1 + np.exp(-(amount - 18_000) / 4_000))
    term = np.where(long_term, 60, 36)
    priced_score = np.nan_to_num(columns["credit_score"], nan=640.0)  # thin files priced as 640
    rate = (
        7.5
        + 0.055 * (740 - priced_score)
        + 1.8 * long_term
        + 0.3 * columns["delinquencies_2y"]
        + 1.0 * shift  # credit spreads widen
        + rng.normal(0, 1.3, rows)
    )
    dti = 45 * rng.beta(2.2, 3.8, rows) * np.exp(-0.2 * columns["_strength"])
    dti = np.clip(dti * (1 + 0.1 * shift) + 4 * shift, 0, 60).round(1)
    return {
        "loan_purpose": purpose,
        "loan_amount": amount,
        "term_months": term.astype(np.int64),
        "interest_rate": np.clip(rate, 5.5, 30.0).round(2),
        "debt_to_income": dti,
    }


def _default_logit(rng: np.random.Generator, columns: _Columns, shift: float) -> _Floats:
    """Log-odds of default: the features' effects, unseen shocks, and the recession's new rules."""
    score = np.nan_to_num(columns["credit_score"], nan=650.0)
    dti, employment = columns["debt_to_income"], columns["employment_type"]
    tenure = np.nan_to_num(columns["employment_years"], nan=2.0)
    job = {"self_employed": 0.15, "contract": 0.30, "part_time": 0.35, "retired": -0.10}
    purpose = {"small_business": 0.55, "medical": 0.25, "credit_card": -0.05}
    purpose |= {"home_improvement": -0.20, "car": -0.25, "living_expenses": 0.80}
    insecure = np.isin(employment, ["contract", "part_time"])
    effects = (
        -2.3
        - 0.9 * (score - 690) / 50 * (1 - 0.6 * shift)  # history predicts less in a new shock
        + 0.035 * (dti - 17)
        + 2.0 * (columns["loan_amount"] / columns["income"] - 0.2)
        + 0.06 * (columns["interest_rate"] - 13)
        + 0.35 * columns["delinquencies_2y"]
        - 0.05 * np.minimum(tenure, 10)
        + 0.20 * (columns["term_months"] == 60)
        + _lookup(employment, job)
        + _lookup(columns["loan_purpose"], purpose)
        + _lookup(columns["home_ownership"], {"own": -0.25, "mortgage": -0.15})
    )
    recession = shift * (
        0.10 * np.maximum(dti - 25, 0)  # stretched borrowers break first
        + 0.9 * insecure  # layoffs hit contract and part-time work
        + 0.5 * (columns["region"] == "midwest")
    )
    shocks = rng.normal(0.0, 0.9, len(score))  # job loss, illness: unseen by any model
    return np.asarray(effects + recession + shocks, dtype=np.float64)


def _lookup(values: NDArray[Any], effects: dict[str, float]) -> _Floats:
    """Per-row effect of a category; categories not listed have none."""
    out = np.zeros(len(values))
    for name, effect in effects.items():
        out[values == name] = effect
    return out
