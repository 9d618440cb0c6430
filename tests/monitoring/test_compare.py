from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidParameter
from loopml.monitoring import compare, domain_classifier_auc, profile


def test_result_is_json_safe_and_values_are_what_rules_read(drift_frames):
    reference, current = drift_frames(1_000)
    result = compare(reference, current)
    json.dumps(result.to_dict(), allow_nan=False)
    values = result.values()
    json.dumps(values, allow_nan=False)
    assert values["share_drifted"] == result.share_drifted
    column = values["columns"]["mean_025"]
    assert column["drifted"] is True
    assert column["detector"] in column["detectors"]
    assert values["columns"]["new_category"]["unseen_share"] == pytest.approx(0.01, abs=0.005)


def test_dataset_verdict_follows_drift_share(drift_frames):
    reference, current = drift_frames(10_000)
    assert compare(reference, current, drift_share=0.4).dataset_drifted is True
    assert compare(reference, current, drift_share=0.5).dataset_drifted is False


def test_explicit_detectors_decide_alone(drift_frames):
    reference, current = drift_frames(100_000)
    result = compare(reference, current, detectors=["ks", "chi_square"])
    assert result.column("frequency_05pp").verdict == "drifted"  # p-values at 100k
    assert [r.detector for r in result.column("mean_025").results] == ["ks"]


def test_predictions_as_arrays_and_as_a_column():
    rng = np.random.default_rng(0)
    ref_preds, cur_preds = rng.uniform(0, 1, 2_000), rng.uniform(0.3, 1, 2_000)
    frame = pd.DataFrame({"x": rng.normal(size=2_000)})
    result = compare(frame, frame, predictions=(ref_preds, cur_preds))
    assert result.prediction is not None
    assert result.prediction.verdict == "drifted"
    assert result.values()["prediction"]["drifted"] is True
    assert result.share_drifted == 0.0
    with_column = compare(frame.assign(p=ref_preds), frame.assign(p=cur_preds), predictions="p")
    assert with_column.prediction.name == "p"
    assert [c.name for c in with_column.columns] == ["x"]


def test_multivariate_check_sees_a_joint_change_per_column_tests_miss():
    rng = np.random.default_rng(0)
    x = rng.normal(size=4_000)
    reference = pd.DataFrame({"x": x, "y": x + rng.normal(0, 0.1, 4_000)})
    x2 = rng.normal(size=4_000)
    current = pd.DataFrame({"x": x2, "y": -x2 + rng.normal(0, 0.1, 4_000)})
    result = compare(reference, current, multivariate=True)
    assert result.drifted_columns == ()
    assert result.multivariate is not None
    assert result.multivariate.score > 0.9
    assert result.multivariate.drifted is True
    same = domain_classifier_auc(reference.iloc[:2_000], reference.iloc[2_000:])
    assert same.score < 0.55
    assert same.drifted is False
    assert domain_classifier_auc(reference.iloc[:10], reference.iloc[10:20]).drifted is None


def test_profiles_are_accepted_on_either_side(drift_frames):
    reference, current = drift_frames(10_000)
    from_profiles = compare(profile(reference), current)
    assert from_profiles.drifted_columns == compare(reference, current).drifted_columns


def test_bad_arguments_name_the_field():
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(InvalidParameter, match="detectors: unknown \\['nope'\\]"):
        compare(frame, frame, detectors=["nope"])
    with pytest.raises(InvalidParameter, match="drift_share: must be in"):
        compare(frame, frame, drift_share=0)
    with pytest.raises(InvalidParameter, match="columns: \\['y'\\] are in neither"):
        compare(frame, frame, columns=["y"])
    with pytest.raises(InvalidParameter, match="predictions: column 'p'"):
        compare(frame, frame, predictions="p")


def test_importing_the_package_stays_light():
    code = (
        "import sys, loopml.monitoring; "
        "heavy = {'numpy', 'scipy', 'pandas', 'pyarrow', 'sklearn', 'datasketches'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
