"""Alert rules on monitor results, and the lifecycle of the alerts they raise.

A monitor run produces a result mapping per window (scores per column, a share
of drifted columns, performance metrics). An :class:`AlertRule` names one value
in it by a dotted path and a threshold; the :class:`AlertEngine`, fed one result
per window, keeps a state per (rule, monitor, subject) and turns breaches into
:class:`Alert` events sent through a :class:`~loopml.monitoring.notifiers.Dispatcher`.

The lifecycle, per (rule, monitor, subject):

- a breach counts; ``for_windows`` consecutive breaching windows fire an alert
  (a new ``alert_id``) and announce it;
- a still-breaching alert is not announced again (de-duplication);
- an alert that fires again within ``cooldown_s`` of the last announcement for
  the same key is recorded as firing but announced only once the cooldown has
  passed, if it is still firing then (so a flapping value notifies at most once
  per cooldown, and a lasting problem is never silenced);
- a recovered value resolves the alert and announces the resolution (when the
  firing was announced); the next breach starts a new alert;
- ``acknowledge(alert_id, by)`` stops further announcements of that alert until
  it resolves; the resolution is still announced, and the next alert for the
  same key is not acknowledged;
- a missing value, ``None`` (insufficient data) or NaN neither counts as a breach
  nor as a recovery, and does not break a run of breaching windows;
- a window that is not newer than the last one seen for a key is ignored, so
  running a monitor twice over the same window changes nothing.

Delivery failures are recorded by the dispatcher and do not change an alert:
it stays firing. State lives behind :class:`AlertStore`; this module ships the
in-memory :class:`MemoryAlertStore` (state is lost on restart). A SQL store on
``loopml.store`` comes with the monitors' tables.
"""

from __future__ import annotations

import math
import operator
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, NamedTuple, Protocol

from loopml.core.errors import InvalidParameter, InvalidState, ResourceNotFound
from loopml.core.ids import new_id
from loopml.monitoring.notifiers import Dispatcher, Notifier

AlertState = Literal["firing", "resolved", "acknowledged"]
SEVERITIES = ("info", "warning", "critical")
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


@dataclass(frozen=True)
class Alert:
    """One alert: a rule breached by a monitor's value for one subject.

    ``started_ms`` and ``updated_ms`` are when the engine fired it and last
    changed it (engine clock); ``window_end_ms`` is the end of the monitor window
    whose value it carries.
    """

    alert_id: str
    rule: str
    monitor: str
    subject: str
    severity: str
    state: AlertState
    value: float
    threshold: float
    message: str
    started_ms: int
    updated_ms: int
    acknowledged_by: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    window_end_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AlertRule:
    """Fire when ``metric`` compares ``op`` to ``threshold`` for ``for_windows`` windows.

    ``metric`` is a dotted path into a monitor's result mapping
    (``"share_drifted"``, ``"columns.age.score"``). A ``*`` segment stands for
    every key at that level (``"columns.*.score"``), and each key is a subject of
    its own; without ``*`` the subject is the metric path itself.

    Raises:
        InvalidParameter: naming the field (name, metric, op, for_windows,
            cooldown_s, severity).
    """

    name: str
    metric: str
    op: str
    threshold: float
    for_windows: int = 1
    cooldown_s: float = 3600.0
    severity: str = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameter("name must be a non-empty string")
        segments = self.metric.split(".") if isinstance(self.metric, str) else [""]
        if not all(segments):
            raise InvalidParameter(
                f"metric must be a dotted path like 'a.b.c', got {self.metric!r}"
            )
        if self.op not in OPERATORS:
            raise InvalidParameter(f"op must be one of {', '.join(OPERATORS)}, got {self.op!r}")
        if isinstance(self.threshold, bool) or not math.isfinite(self.threshold):
            raise InvalidParameter(f"threshold must be a finite number, got {self.threshold!r}")
        if isinstance(self.for_windows, bool) or self.for_windows < 1:
            raise InvalidParameter(f"for_windows must be at least 1, got {self.for_windows!r}")
        if not math.isfinite(self.cooldown_s) or self.cooldown_s < 0:
            raise InvalidParameter(f"cooldown_s must be 0 or more, got {self.cooldown_s!r}")
        if self.severity not in SEVERITIES:
            raise InvalidParameter(
                f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )

    def breached(self, value: float) -> bool:
        return OPERATORS[self.op](value, self.threshold)

    def values(self, result: Mapping[str, Any]) -> Iterator[tuple[str, float | None]]:
        """``(subject, value)`` for each subject the metric path reaches in ``result``.

        A value that is not a number (missing, None, NaN, a string) comes out as None.
        """
        wildcard = "*" in self.metric.split(".")
        for keys, value in _walk(result, self.metric.split("."), ()):
            subject = ".".join(keys) if wildcard else self.metric
            yield subject, _number(value)


def _walk(
    node: Any, path: list[str], keys: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Any]]:
    if not path:
        yield keys, node
        return
    if not isinstance(node, Mapping):
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for key in sorted(node, key=str):
            yield from _walk(node[key], rest, (*keys, str(key)))
    elif head in node:
        yield from _walk(node[head], rest, keys)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


class AlertKey(NamedTuple):
    rule: str
    monitor: str
    subject: str


@dataclass(frozen=True)
class AlertTrack:
    """What the engine remembers per (rule, monitor, subject) between windows."""

    key: AlertKey
    breaches: int = 0
    last_window_ms: int | None = None
    alert_id: str | None = None  # the open (firing or acknowledged) alert
    announced: bool = False  # whether the open alert's firing was announced
    last_announced_s: float | None = None  # engine clock, for the cooldown


class AlertStore(Protocol):
    """Where alert state lives: tracks per key, and every alert by id."""

    def get_track(self, key: AlertKey) -> AlertTrack | None: ...

    def put_track(self, track: AlertTrack) -> None: ...

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def put_alert(self, alert: Alert) -> None: ...

    def search_alerts(
        self, *, monitor: str | None = None, state: AlertState | None = None
    ) -> list[Alert]: ...


class MemoryAlertStore:
    """Alert state in dictionaries: embedded use and tests; lost when the process ends."""

    def __init__(self) -> None:
        self._tracks: dict[AlertKey, AlertTrack] = {}
        self._alerts: dict[str, Alert] = {}

    def get_track(self, key: AlertKey) -> AlertTrack | None:
        return self._tracks.get(key)

    def put_track(self, track: AlertTrack) -> None:
        self._tracks[track.key] = track

    def get_alert(self, alert_id: str) -> Alert | None:
        return self._alerts.get(alert_id)

    def put_alert(self, alert: Alert) -> None:
        self._alerts[alert.alert_id] = alert

    def search_alerts(
        self, *, monitor: str | None = None, state: AlertState | None = None
    ) -> list[Alert]:
        """Matching alerts, oldest first."""
        found = [
            alert
            for alert in self._alerts.values()
            if (monitor is None or alert.monitor == monitor)
            and (state is None or alert.state == state)
        ]
        return sorted(found, key=lambda alert: (alert.started_ms, alert.alert_id))


class AlertEngine:
    """Evaluates rules on each window's results and runs the alert lifecycle.

    Args:
        notifiers: where announcements go, through ``self.dispatcher``.
        rules: the rules ``evaluate`` applies unless it is given its own.
        store: alert state; a new :class:`MemoryAlertStore` by default.
        clock: seconds since the epoch (cooldowns, ``started_ms``, ``updated_ms``);
            a monitor passes its window's end. Deliveries are stamped with wall time.
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier] = (),
        *,
        rules: Sequence[AlertRule] = (),
        store: AlertStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = _unique_rules(rules)
        self.store: AlertStore = store if store is not None else MemoryAlertStore()
        self.clock = clock
        self.dispatcher = Dispatcher(notifiers)
        self._lock = threading.Lock()

    def evaluate(
        self,
        monitor: str,
        values: Mapping[str, Any],
        window_end_ms: int,
        *,
        rules: Sequence[AlertRule] | None = None,
    ) -> list[Alert]:
        """Apply the rules to one window's ``values``; return the alerts that changed state.

        Announcements (fired, resolved) are dispatched after the state is stored.
        """
        if not isinstance(monitor, str) or not monitor.strip():
            raise InvalidParameter("monitor must be a non-empty string")
        if not isinstance(values, Mapping):
            raise InvalidParameter(f"values must be a mapping, got {type(values).__name__}")
        chosen = self.rules if rules is None else _unique_rules(rules)
        changes: list[Alert] = []
        announce: list[Alert] = []
        with self._lock:
            for rule in chosen:
                for subject, value in rule.values(values):
                    key = AlertKey(rule.name, monitor, subject)
                    step = self._step(rule, key, value, window_end_ms)
                    changes += step[0]
                    announce += step[1]
        for alert in announce:
            self.dispatcher.dispatch(alert)
        return changes

    def acknowledge(self, alert_id: str, by: str) -> Alert:
        """Stop announcing ``alert_id`` until it resolves; acknowledging twice keeps the first.

        Raises:
            InvalidParameter: ``by`` is empty.
            ResourceNotFound: no such alert.
            InvalidState: the alert is already resolved.
        """
        if not isinstance(by, str) or not by.strip():
            raise InvalidParameter("by must name who acknowledges the alert")
        with self._lock:
            alert = self.store.get_alert(alert_id)
            if alert is None:
                raise ResourceNotFound(f"alert {alert_id!r} does not exist")
            if alert.state == "resolved":
                raise InvalidState(f"alert {alert_id!r} is resolved; nothing to acknowledge")
            if alert.state == "acknowledged":
                return alert
            alert = replace(alert, state="acknowledged", acknowledged_by=by, updated_ms=self._ms())
            self.store.put_alert(alert)
            return alert

    def get_alert(self, alert_id: str) -> Alert:
        alert = self.store.get_alert(alert_id)
        if alert is None:
            raise ResourceNotFound(f"alert {alert_id!r} does not exist")
        return alert

    def search_alerts(
        self, *, monitor: str | None = None, state: AlertState | None = None
    ) -> list[Alert]:
        return self.store.search_alerts(monitor=monitor, state=state)

    def _step(
        self, rule: AlertRule, key: AlertKey, value: float | None, window_end_ms: int
    ) -> tuple[list[Alert], list[Alert]]:
        """One key, one window: (changed alerts, alerts to announce)."""
        track = self.store.get_track(key) or AlertTrack(key)
        if track.last_window_ms is not None and window_end_ms <= track.last_window_ms:
            return [], []
        track = replace(track, last_window_ms=window_end_ms)
        alert = self.store.get_alert(track.alert_id) if track.alert_id else None
        if value is None:
            self.store.put_track(track)
            return [], []
        if not rule.breached(value):
            return self._recover(rule, track, alert, value, window_end_ms)
        track = replace(track, breaches=track.breaches + 1)
        if alert is None and track.breaches >= rule.for_windows:
            return self._fire(rule, track, value, window_end_ms)
        if alert is not None:
            alert = replace(alert, value=value, window_end_ms=window_end_ms)
            self.store.put_alert(alert)
            if self._may_announce(rule, track, alert):
                return [], [self._announced(track, alert)]
        self.store.put_track(track)
        return [], []

    def _fire(
        self, rule: AlertRule, track: AlertTrack, value: float, window_end_ms: int
    ) -> tuple[list[Alert], list[Alert]]:
        now_ms = self._ms()
        alert = Alert(
            alert_id=new_id(), rule=rule.name, monitor=track.key.monitor,
            subject=track.key.subject, severity=rule.severity, state="firing", value=value,
            threshold=float(rule.threshold), message=_message(rule, track, value),
            started_ms=now_ms, updated_ms=now_ms, labels=dict(rule.labels),
            window_end_ms=window_end_ms,
        )  # fmt: skip
        self.store.put_alert(alert)
        track = replace(track, alert_id=alert.alert_id, announced=False)
        if self._may_announce(rule, track, alert):
            return [alert], [self._announced(track, alert)]
        self.store.put_track(track)
        return [alert], []

    def _recover(
        self,
        rule: AlertRule,
        track: AlertTrack,
        alert: Alert | None,
        value: float,
        window_end_ms: int,
    ) -> tuple[list[Alert], list[Alert]]:
        self.store.put_track(replace(track, breaches=0, alert_id=None, announced=False))
        if alert is None:
            return [], []
        resolved = replace(
            alert, state="resolved", value=value, updated_ms=self._ms(),
            window_end_ms=window_end_ms,
            message=f"{rule.name} resolved: {alert.monitor} {alert.subject} = {value:g} "
            f"(threshold {rule.op} {rule.threshold:g})",
        )  # fmt: skip
        self.store.put_alert(resolved)
        return [resolved], [resolved] if track.announced else []

    def _may_announce(self, rule: AlertRule, track: AlertTrack, alert: Alert) -> bool:
        if track.announced or alert.state != "firing":
            return False
        last = track.last_announced_s
        return last is None or self.clock() - last >= rule.cooldown_s

    def _announced(self, track: AlertTrack, alert: Alert) -> Alert:
        self.store.put_track(replace(track, announced=True, last_announced_s=self.clock()))
        return alert

    def _ms(self) -> int:
        return int(self.clock() * 1000)


def _message(rule: AlertRule, track: AlertTrack, value: float) -> str:
    windows = f" for {track.breaches} windows" if track.breaches > 1 else ""
    return (
        f"{rule.name}: {track.key.monitor} {track.key.subject} = {value:g} "
        f"{rule.op} {rule.threshold:g}{windows}"
    )


def _unique_rules(rules: Sequence[AlertRule]) -> list[AlertRule]:
    names = [rule.name for rule in rules]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidParameter(f"rules must have unique names; repeated: {', '.join(repeated)}")
    return list(rules)
