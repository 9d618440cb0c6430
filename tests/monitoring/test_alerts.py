"""Alert rules and the alert lifecycle, with a MemoryNotifier and an injected clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from loopml.core.errors import InvalidParameter, InvalidState, ResourceNotFound
from loopml.monitoring.alerts import Alert, AlertEngine, AlertRule, MemoryAlertStore
from loopml.monitoring.notifiers import MemoryNotifier

HOUR_MS = 3_600_000


class Clock:
    """The engine's clock: seconds, moved by the test."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


EngineFactory = Callable[..., tuple[AlertEngine, MemoryNotifier, Clock]]


@pytest.fixture
def make_engine() -> EngineFactory:
    def make(*rules: AlertRule) -> tuple[AlertEngine, MemoryNotifier, Clock]:
        notifier, clock = MemoryNotifier(), Clock()
        return AlertEngine([notifier], rules=rules, clock=clock), notifier, clock

    return make


def drift(**scores: float | None) -> dict[str, Any]:
    return {"columns": {name: {"score": score} for name, score in scores.items()}}


def states(alerts: list[Alert]) -> list[tuple[str, str]]:
    return [(a.subject, a.state) for a in alerts]


def test_fires_after_n_consecutive_breaching_windows(make_engine: EngineFactory) -> None:
    engine, notifier, _ = make_engine(
        AlertRule("age-drift", "columns.age.score", ">", 0.2, for_windows=3)
    )
    assert engine.evaluate("churn", drift(age=0.3), 1 * HOUR_MS) == []
    assert engine.evaluate("churn", drift(age=0.3), 2 * HOUR_MS) == []
    [alert] = engine.evaluate("churn", drift(age=0.35), 3 * HOUR_MS)
    assert (alert.rule, alert.monitor, alert.subject, alert.state) == (
        "age-drift", "churn", "columns.age.score", "firing",
    )  # fmt: skip
    assert (alert.value, alert.threshold, alert.window_end_ms) == (0.35, 0.2, 3 * HOUR_MS)
    assert alert.message == "age-drift: churn columns.age.score = 0.35 > 0.2 for 3 windows"
    assert notifier.alerts == [alert]


def test_a_recovered_window_breaks_the_run(make_engine: EngineFactory) -> None:
    engine, notifier, _ = make_engine(AlertRule("r", "share_drifted", ">=", 0.5, for_windows=2))
    engine.evaluate("m", {"share_drifted": 0.6}, 1)
    engine.evaluate("m", {"share_drifted": 0.1}, 2)
    assert engine.evaluate("m", {"share_drifted": 0.6}, 3) == []
    assert states(engine.evaluate("m", {"share_drifted": 0.5}, 4)) == [("share_drifted", "firing")]
    assert len(notifier.alerts) == 1


def test_a_still_breaching_alert_is_not_announced_again(make_engine: EngineFactory) -> None:
    engine, notifier, clock = make_engine(AlertRule("r", "columns.*.score", ">", 0.2))
    [alert] = engine.evaluate("m", drift(age=0.3), 1)
    for window in range(2, 10):
        clock.now += 7200  # well past the cooldown: still one announcement
        assert engine.evaluate("m", drift(age=0.3 + window / 100), window) == []
    assert notifier.alerts == [alert]
    latest = engine.get_alert(alert.alert_id)
    assert (latest.state, latest.value, latest.window_end_ms) == ("firing", 0.39, 9)


def test_resolves_when_the_value_recovers_and_announces_it(make_engine: EngineFactory) -> None:
    engine, notifier, clock = make_engine(AlertRule("r", "columns.*.score", ">", 0.2))
    [fired] = engine.evaluate("m", drift(age=0.3), 1)
    clock.now += 60
    [resolved] = engine.evaluate("m", drift(age=0.1), 2)
    assert resolved.alert_id == fired.alert_id
    assert resolved.state == "resolved"
    assert resolved.value == 0.1
    assert resolved.updated_ms == fired.started_ms + 60_000
    assert "resolved" in resolved.message
    assert [a.state for a in notifier.alerts] == ["firing", "resolved"]
    assert engine.evaluate("m", drift(age=0.1), 3) == []  # nothing more to resolve


def test_cooldown_holds_back_a_refired_alert_until_it_has_passed(
    make_engine: EngineFactory,
) -> None:
    engine, notifier, clock = make_engine(
        AlertRule("r", "columns.*.score", ">", 0.2, cooldown_s=3600)
    )
    [first] = engine.evaluate("m", drift(age=0.3), 1)
    clock.now += 600
    engine.evaluate("m", drift(age=0.1), 2)  # resolved, announced
    clock.now += 600
    [refired] = engine.evaluate("m", drift(age=0.4), 3)  # 20 min after the first: held back
    assert refired.state == "firing"
    assert refired.alert_id != first.alert_id
    assert [(a.alert_id, a.state) for a in notifier.alerts] == [
        (first.alert_id, "firing"),
        (first.alert_id, "resolved"),
    ]
    clock.now += 1200
    assert engine.evaluate("m", drift(age=0.4), 4) == []  # 40 min: still inside the cooldown
    assert len(notifier.alerts) == 2
    clock.now += 1200  # an hour after the first announcement, still firing: announced now
    assert engine.evaluate("m", drift(age=0.45), 5) == []
    assert [(a.alert_id, a.state, a.value) for a in notifier.alerts[2:]] == [
        (refired.alert_id, "firing", 0.45)
    ]


def test_flapping_inside_the_cooldown_announces_nothing_more(make_engine: EngineFactory) -> None:
    engine, notifier, clock = make_engine(
        AlertRule("r", "columns.*.score", ">", 0.2, cooldown_s=3600)
    )
    for window in range(1, 11):  # breaching on odd windows, recovered on even ones
        clock.now += 60
        engine.evaluate("m", drift(age=0.3 if window % 2 else 0.1), window)
    assert [a.state for a in notifier.alerts] == ["firing", "resolved"]
    assert len(engine.search_alerts(monitor="m")) == 5  # every episode is recorded


def test_acknowledged_alerts_are_not_announced_and_resolving_clears_it(
    make_engine: EngineFactory,
) -> None:
    engine, notifier, clock = make_engine(AlertRule("r", "columns.*.score", ">", 0.2, cooldown_s=0))
    [fired] = engine.evaluate("m", drift(age=0.3), 1)
    clock.now += 5
    acked = engine.acknowledge(fired.alert_id, "ana")
    assert (acked.state, acked.acknowledged_by, acked.updated_ms) == (
        "acknowledged", "ana", fired.started_ms + 5000,
    )  # fmt: skip
    assert engine.acknowledge(fired.alert_id, "bo") == acked  # a second ack keeps the first
    assert engine.evaluate("m", drift(age=0.9), 2) == []
    assert engine.search_alerts(state="acknowledged") == [engine.get_alert(fired.alert_id)]
    [resolved] = engine.evaluate("m", drift(age=0.1), 3)
    assert resolved.state == "resolved"
    [again] = engine.evaluate("m", drift(age=0.3), 4)
    assert again.state == "firing"
    assert again.acknowledged_by is None
    assert [a.state for a in notifier.alerts] == ["firing", "resolved", "firing"]
    with pytest.raises(InvalidState, match="is resolved; nothing to acknowledge"):
        engine.acknowledge(fired.alert_id, "ana")


def test_acknowledge_checks_its_arguments(make_engine: EngineFactory) -> None:
    engine, _, _ = make_engine(AlertRule("r", "x", ">", 1))
    with pytest.raises(ResourceNotFound, match="alert 'nope' does not exist"):
        engine.acknowledge("nope", "ana")
    [fired] = engine.evaluate("m", {"x": 2}, 1)
    with pytest.raises(InvalidParameter, match="by must name who"):
        engine.acknowledge(fired.alert_id, " ")


@pytest.mark.parametrize(
    "values",
    [{}, {"columns": {}}, drift(age=None), drift(age=float("nan")), {"columns": {"age": "n/a"}}],
    ids=["missing", "no-columns", "none", "nan", "not-a-number"],
)
def test_insufficient_data_neither_fires_nor_resolves(
    make_engine: EngineFactory, values: dict[str, Any]
) -> None:
    engine, notifier, _ = make_engine(AlertRule("r", "columns.age.score", ">", 0.2, for_windows=2))
    engine.evaluate("m", drift(age=0.3), 1)
    assert engine.evaluate("m", values, 2) == []  # does not break the run either
    [fired] = engine.evaluate("m", drift(age=0.3), 3)
    assert engine.evaluate("m", values, 4) == []
    assert engine.get_alert(fired.alert_id).state == "firing"
    assert notifier.alerts == [fired]


def test_several_subjects_and_monitors_are_independent(make_engine: EngineFactory) -> None:
    engine, notifier, _ = make_engine(
        AlertRule("drift", "columns.*.score", ">", 0.2, for_windows=2)
    )
    engine.evaluate("a", drift(age=0.3, income=0.3, city=0.1), 1)
    changes = engine.evaluate("a", drift(age=0.3, income=0.1, city=0.3), 2)
    assert states(changes) == [("age", "firing")]
    assert states(engine.evaluate("b", drift(age=0.3), 2)) == []  # another monitor's count
    changes = engine.evaluate("a", drift(age=0.1, income=0.3, city=0.3), 3)
    assert states(changes) == [("age", "resolved"), ("city", "firing")]
    assert [(a.subject, a.state) for a in notifier.alerts] == [
        ("age", "firing"), ("age", "resolved"), ("city", "firing"),
    ]  # fmt: skip


def test_several_rules_on_one_result(make_engine: EngineFactory) -> None:
    engine, _, _ = make_engine(
        AlertRule("share", "share_drifted", ">", 0.3, severity="critical"),
        AlertRule("auc", "performance.auc", "<", 0.7, labels={"team": "risk"}),
    )
    changes = engine.evaluate("m", {"share_drifted": 0.5, "performance": {"auc": 0.65}}, 1)
    assert [(a.rule, a.severity, a.labels) for a in changes] == [
        ("share", "critical", {}),
        ("auc", "warning", {"team": "risk"}),
    ]


def test_rules_can_be_given_per_evaluation(make_engine: EngineFactory) -> None:
    engine, _, _ = make_engine()
    rule = AlertRule("r", "x", "<=", 0)
    assert states(engine.evaluate("m", {"x": 0}, 1, rules=[rule])) == [("x", "firing")]
    assert engine.evaluate("m", {"x": 0}, 2) == []  # the engine itself has no rules


def test_a_window_already_seen_changes_nothing(make_engine: EngineFactory) -> None:
    engine, notifier, _ = make_engine(AlertRule("r", "x", ">", 1, for_windows=2))
    engine.evaluate("m", {"x": 2}, 5)
    assert engine.evaluate("m", {"x": 2}, 5) == []  # the same window run twice
    assert engine.evaluate("m", {"x": 2}, 4) == []  # an older one
    assert states(engine.evaluate("m", {"x": 2}, 6)) == [("x", "firing")]
    assert len(notifier.alerts) == 1


def test_state_lives_in_the_store() -> None:
    store, clock = MemoryAlertStore(), Clock()
    rule = AlertRule("r", "x", ">", 1, for_windows=2)
    AlertEngine(rules=[rule], store=store, clock=clock).evaluate("m", {"x": 2}, 1)
    notifier = MemoryNotifier()
    engine = AlertEngine([notifier], rules=[rule], store=store, clock=clock)
    [fired] = engine.evaluate("m", {"x": 2}, 2)  # the second breach, counted across engines
    assert store.search_alerts(state="firing") == [fired]
    assert notifier.alerts == [fired]


def test_alert_to_dict_holds_every_field(make_engine: EngineFactory) -> None:
    engine, _, _ = make_engine(AlertRule("r", "x", ">", 1))
    [alert] = engine.evaluate("m", {"x": 2}, 1)
    data = alert.to_dict()
    assert data["alert_id"] == alert.alert_id
    assert len(alert.alert_id) == 32
    assert {k: data[k] for k in ("rule", "monitor", "subject", "state", "value", "threshold")} == {
        "rule": "r", "monitor": "m", "subject": "x", "state": "firing", "value": 2.0,
        "threshold": 1,
    }  # fmt: skip
    assert data["acknowledged_by"] is None
    assert data["labels"] == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "name must be a non-empty string"),
        ({"metric": "columns..score"}, "metric must be a dotted path"),
        ({"op": "=="}, "op must be one of >, >=, <, <="),
        ({"threshold": float("nan")}, "threshold must be a finite number"),
        ({"for_windows": 0}, "for_windows must be at least 1"),
        ({"cooldown_s": -1}, "cooldown_s must be 0 or more"),
        ({"severity": "page"}, "severity must be one of info, warning, critical"),
    ],
)
def test_rules_are_checked_naming_the_field(kwargs: dict[str, Any], match: str) -> None:
    settings: dict[str, Any] = {"name": "r", "metric": "x", "op": ">", "threshold": 1}
    with pytest.raises(InvalidParameter, match=match):
        AlertRule(**{**settings, **kwargs})


def test_rule_names_must_be_unique_and_inputs_are_checked(make_engine: EngineFactory) -> None:
    with pytest.raises(InvalidParameter, match="unique names; repeated: r"):
        AlertEngine(rules=[AlertRule("r", "x", ">", 1), AlertRule("r", "y", ">", 1)])
    engine, _, _ = make_engine(AlertRule("r", "x", ">", 1))
    with pytest.raises(InvalidParameter, match="monitor must be a non-empty string"):
        engine.evaluate("", {"x": 2}, 1)
    with pytest.raises(InvalidParameter, match="values must be a mapping, got list"):
        engine.evaluate("m", [], 1)  # type: ignore[arg-type]
