"""Gate rules: parsed safely (no eval), evaluated against an evaluation result, clear failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.errors import InvalidParameter
from loopml.registry.gates import Gate, check_gates

RESULT = {
    "roc_auc": 0.91,
    "accuracy": 0.88,
    "baseline": {"roc_auc": 0.912, "accuracy": 0.85},
    "segment": {"region": {"recall": {"north": 0.72, "south": 0.61, "west": 0.58}}},
    "fairness": {"sex": {"demographic_parity_difference": 0.04}},
}


@pytest.mark.parametrize(
    ("rule", "passed", "left", "right"),
    [
        ("roc_auc >= baseline.roc_auc - 0.005", True, 0.91, 0.907),
        ("roc_auc > baseline.roc_auc", False, 0.91, 0.912),
        ("min(segment.region.recall) >= 0.6", False, 0.58, 0.6),
        ("max(segment.region.recall) >= 0.7", True, 0.72, 0.7),
        ("mean(segment.region.recall) >= 0.6", True, (0.72 + 0.61 + 0.58) / 3, 0.6),
        ("fairness.sex.demographic_parity_difference <= 0.1", True, 0.04, 0.1),
        ("abs(accuracy - baseline.accuracy) < 0.05", True, 0.03, 0.05),
        ("-(accuracy) * 2 <= -1.5", True, -1.76, -1.5),
        ("min(accuracy, roc_auc, 0.5) == 0.5", True, 0.5, 0.5),
        ("accuracy / 2 != 1e-3", True, 0.44, 0.001),
    ],
)
def test_rules_evaluate_to_the_right_verdict_and_values(
    rule: str, passed: bool, left: float, right: float
) -> None:
    result = Gate(rule).evaluate(RESULT)
    assert result.passed is passed
    assert result.left == pytest.approx(left)
    assert result.right == pytest.approx(right)
    assert rule in result.message
    assert ("passed" if passed else "failed") in result.message


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("roc_auc >=", "expected more at the end"),
        ("roc_auc 0.8", "expected a comparison"),
        ("roc_auc >= 0.8 0.9", "unexpected '0.9' after the comparison"),
        ("roc_auc >= (0.8", "expected ) at the end"),
        ("open(x) >= 1", "unknown function 'open'"),
        ("__import__('os').system('touch pwned') >= 0", "unexpected character"),
        ("roc_auc >= 0.8; import os", "unexpected character"),
        ("roc_auc >= 'x'", "unexpected character"),
        ("", "non-empty"),
        ("roc_auc >= " + "1 + " * 200 + "1", "the limit is 500"),
        ("abs(accuracy, roc_auc) > 0", "abs takes one argument"),
    ],
)
def test_syntax_errors_are_refused_when_the_gate_is_made(rule: str, problem: str) -> None:
    with pytest.raises(InvalidParameter, match=r"gate|non-empty|limit") as error:
        Gate(rule)
    assert problem in str(error.value)


def test_nothing_is_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for rule in ("__import__('os').system('touch pwned') > 0", "exec('x=1') > 0"):
        with pytest.raises(InvalidParameter):
            Gate(rule)
    assert not (tmp_path / "pwned").exists()


def test_a_missing_value_fails_that_gate_and_names_what_exists() -> None:
    verdicts = check_gates(["recall >= 0.5", "baseline.f1 > 0", "roc_auc >= 0.9"], RESULT)
    assert [v.passed for v in verdicts] == [False, False, True]
    assert "no value 'recall'" in verdicts[0].message
    assert "accuracy" in verdicts[0].message  # lists what the result has
    assert "baseline has accuracy, roc_auc" in verdicts[1].message


def test_a_mapping_must_be_reduced_and_division_by_zero_fails() -> None:
    plain = Gate("segment.region.recall >= 0.6").evaluate(RESULT)
    assert not plain.passed
    assert "reduce them with min(), max() or mean()" in plain.message
    assert not Gate("accuracy / 0 > 1").evaluate(RESULT).passed


def test_one_bad_rule_means_no_verdicts() -> None:
    with pytest.raises(InvalidParameter, match="expected a comparison"):
        check_gates(["roc_auc >= 0.9", "roc_auc"], RESULT)


def test_nan_never_passes() -> None:
    assert not Gate("roc_auc >= 0").evaluate({"roc_auc": float("nan")}).passed
