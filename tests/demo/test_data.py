from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

from loopml.core.errors import InvalidParameter
from loopml.demo import (
    CATEGORICAL_FEATURES,
    COLUMNS,
    FEATURES,
    ID,
    NUMERIC_FEATURES,
    RECESSION,
    SEGMENTS,
    SENSITIVE,
    TARGET,
    TIME,
    Drift,
    applications,
    corrupt,
    inputs_and_label,
    labelled_weeks,
    labels_arrive,
    week_start,
)
from loopml.monitoring import compare

SEED = 2024
ROWS = 4_000
Weeks = dict[int, pd.DataFrame]


def _model() -> Pipeline:
    """The demo's kind of model: categories ordinal-encoded (unseen ones as missing), then HGB."""
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    columns = make_column_transformer((encoder, CATEGORICAL_FEATURES), remainder="passthrough")
    is_categorical = [True] * len(CATEGORICAL_FEATURES) + [False] * len(NUMERIC_FEATURES)
    booster = HistGradientBoostingClassifier(
        categorical_features=is_categorical, max_iter=80, early_stopping=False, random_state=0
    )
    return make_pipeline(columns, booster)


@pytest.fixture(scope="module")
def weeks() -> Weeks:
    return {week: applications(week, ROWS, seed=SEED, drift=RECESSION) for week in range(9)}


@pytest.fixture(scope="module")
def train() -> Callable[[pd.DataFrame], Pipeline]:
    def fit(frame: pd.DataFrame) -> Pipeline:
        # One OpenMP thread: on a busy 2-core machine more threads spin and run 10x slower.
        with threadpool_limits(limits=1):
            return _model().fit(*inputs_and_label(frame))

    return fit


@pytest.fixture(scope="module")
def champion(weeks: Weeks, train: Callable[[pd.DataFrame], Pipeline]) -> Pipeline:
    return train(pd.concat([weeks[w] for w in labelled_weeks(3)], ignore_index=True))


def _auc(model: Pipeline, frames: list[pd.DataFrame]) -> float:
    inputs, label = inputs_and_label(pd.concat(frames, ignore_index=True))
    with threadpool_limits(limits=1):
        return float(roc_auc_score(label, model.predict_proba(inputs)[:, 1]))


def test_same_seed_gives_the_same_frame_and_another_seed_another():
    first = applications(3, 500, seed=11, drift=RECESSION)
    pd.testing.assert_frame_equal(first, applications(3, 500, seed=11, drift=RECESSION))
    other = applications(3, 500, seed=12, drift=RECESSION)
    assert not first[FEATURES].equals(other[FEATURES])


def test_drift_leaves_the_weeks_before_it_unchanged(weeks):
    pd.testing.assert_frame_equal(weeks[3], applications(3, ROWS, seed=SEED))
    assert not weeks[4][FEATURES].equals(applications(4, ROWS, seed=SEED)[FEATURES])


def test_schema_and_dtypes(weeks):
    frame = weeks[0]
    assert list(frame.columns) == COLUMNS
    assert FEATURES == NUMERIC_FEATURES + CATEGORICAL_FEATURES
    assert set(SEGMENTS) <= set(CATEGORICAL_FEATURES)
    assert not {ID, TIME, SENSITIVE, TARGET} & set(FEATURES)
    assert all(pd.api.types.is_numeric_dtype(frame[c]) for c in NUMERIC_FEATURES)
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in [*CATEGORICAL_FEATURES, SENSITIVE])
    assert isinstance(frame[TIME].dtype, pd.DatetimeTZDtype)
    assert str(frame[TIME].dt.tz) == "UTC"
    assert frame[TARGET].dtype == np.int64
    assert set(frame[TARGET].unique()) == {0, 1}
    missing = frame.isna().mean()
    assert set(missing[missing > 0].index) == {"credit_score", "employment_years"}
    assert missing.max() < 0.1


def test_empty_week_keeps_the_schema():
    frame = applications(2, 0, seed=SEED)
    assert frame.empty
    assert list(frame.columns) == COLUMNS


def test_values_are_realistic(weeks):
    frame = weeks[0]
    assert frame["credit_score"].dropna().between(300, 850).all()
    assert 45_000 < frame["income"].median() < 75_000
    assert frame["income"].mean() > frame["income"].median()  # lognormal: a long right tail
    assert frame["loan_amount"].between(1_000, 40_000).all()
    assert frame["debt_to_income"].between(0, 60).all()
    assert set(frame["term_months"].unique()) == {36, 60}
    assert frame["interest_rate"].corr(frame["credit_score"]) < -0.6  # priced from the score
    assert frame["income"].corr(frame["credit_score"]) > 0.1
    assert set(frame[SENSITIVE].unique()) == {"18-29", "30-44", "45-59", "60+"}


def test_ids_are_unique_across_weeks_and_times_fall_inside_their_week(weeks):
    ids = pd.concat([frame[ID] for frame in weeks.values()])
    assert ids.is_unique
    for week, frame in weeks.items():
        assert frame[TIME].is_monotonic_increasing
        assert frame[TIME].min() >= week_start(week)
        assert frame[TIME].max() < week_start(week + 1)
        assert frame[ID].iloc[0] == f"w{week:02d}-000000"


def test_default_rate_is_realistic_and_doubles_in_the_recession(weeks):
    before = [weeks[w][TARGET].mean() for w in range(4)]
    during = [weeks[w][TARGET].mean() for w in range(5, 9)]
    assert all(0.10 <= rate <= 0.20 for rate in before)
    assert all(0.25 <= rate <= 0.35 for rate in during)


def test_recession_ramps_in_and_brings_a_new_loan_purpose(weeks):
    assert [RECESSION.intensity(w) for w in (0, 3, 4, 5, 8)] == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert Drift(start_week=2, ramp_weeks=1, severity=0.5).intensity(2) == 0.5
    shares = [weeks[w]["loan_purpose"].eq("living_expenses").mean() for w in range(9)]
    assert shares[:4] == [0.0] * 4
    assert 0.03 < shares[4] < shares[6]
    assert 0.07 < shares[6] < 0.13


def test_labels_arrive_a_week_later():
    assert labels_arrive(3) == 4
    assert labelled_weeks(3) == range(3)
    assert labelled_weeks(0) == range(0)
    assert all(labels_arrive(w) <= 6 for w in labelled_weeks(6))


def test_inputs_and_label_split_a_frame(weeks):
    inputs, label = inputs_and_label(weeks[0])
    assert list(inputs.columns) == FEATURES
    assert label.name == TARGET
    with pytest.raises(InvalidParameter, match=r"frame: missing columns \['default'\]"):
        inputs_and_label(weeks[0].drop(columns=[TARGET]))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: applications(-1, 10, seed=0), "week: must be at least 0"),
        (lambda: applications(0, -1, seed=0), "rows: must be at least 0"),
        (lambda: applications(0, 10, seed=-1), "seed: must be at least 0"),
        (lambda: week_start(-1), "week: must be at least 0"),
        (lambda: labelled_weeks(-2), "now: must be at least 0"),
        (lambda: Drift(start_week=-1), "start_week: must be at least 0"),
        (lambda: Drift(start_week=1, ramp_weeks=0), "ramp_weeks: must be at least 1"),
        (lambda: Drift(start_week=1, severity=3.0), r"severity: must be in \[0, 2\]"),
        (lambda: corrupt(applications(0, 10, seed=0), seed=0, share=1.5), "share: must be in"),
    ],
)
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises(InvalidParameter, match=match):
        call()


def test_monitoring_sees_the_recession_but_not_week_to_week_noise(weeks):
    calm = compare(weeks[0][FEATURES], weeks[1][FEATURES])
    assert len(calm.drifted_columns) <= 1
    recession = compare(weeks[0][FEATURES], weeks[6][FEATURES])
    assert {"income", "debt_to_income", "credit_score", "loan_purpose", "region"} <= set(
        recession.drifted_columns
    )
    assert recession.share_drifted is not None
    assert recession.share_drifted >= 0.5


def test_champion_degrades_under_the_recession_and_a_retrain_recovers(weeks, champion, train):
    before = _auc(champion, [weeks[3]])
    during = _auc(champion, [weeks[7], weeks[8]])
    assert before >= 0.72
    assert before - during >= 0.03
    retrained = train(pd.concat([weeks[5], weeks[6]], ignore_index=True))
    assert _auc(retrained, [weeks[7], weeks[8]]) >= during + 0.02


def test_corrupted_training_set_gives_a_clearly_worse_model(weeks, champion, train):
    clean = pd.concat([weeks[w] for w in range(3)], ignore_index=True)
    bad = corrupt(clean, seed=1)
    pd.testing.assert_frame_equal(bad, corrupt(clean, seed=1))
    pd.testing.assert_frame_equal(bad[FEATURES], clean[FEATURES])
    assert bad[TARGET].sum() == clean[TARGET].sum()
    assert (bad[TARGET] != clean[TARGET]).mean() > 0.15
    assert _auc(train(bad), [weeks[3]]) <= _auc(champion, [weeks[3]]) - 0.1
