"""Make monitors and run them: reference profile once, then one comparison per window.

``MonitorsClient`` is what the CLI (and later the server's scheduler) calls.
Making a monitor profiles its reference once (a ``data:`` dataset version or a
frame) and keeps the profile as JSON in the artifact store; a run reads the
window's primary-route requests from the prediction log, rebuilds their inputs
(named columns, as serving logs them) and their predictions, compares them
with the reference and stores the result. A window without requests is a run
with status ``insufficient data``, not a verdict.
"""

from __future__ import annotations

import builtins
import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from loopml.auth import Actor
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from loopml.monitoring.alerts import AlertEngine, AlertRule
from loopml.monitoring.monitors import (
    KIND,
    Monitor,
    MonitorRun,
    MonitorStore,
    check_schedule,
    new_run_id,
    parse_window,
)
from loopml.monitoring.performance import TASKS, window_performance
from loopml.monitoring.urls import check_url
from loopml.monitoring.window import PREDICTION_COLUMN, batch_frame, window_frame
from loopml.tracking.lineage import CONTEXT_TAG

ALERT_URL_ALLOWLIST_ENV = "LOOPML_ALERT_URL_ALLOWLIST"


def url_allowlist() -> tuple[str, ...]:
    """Hosts alert webhooks may reach (comma-separated ``LOOPML_ALERT_URL_ALLOWLIST``)."""
    raw = os.environ.get(ALERT_URL_ALLOWLIST_ENV, "")
    return tuple(host.strip() for host in raw.split(",") if host.strip())


@dataclass(frozen=True)
class Checked:
    """A monitor run as stored, and the comparison behind it (None: no data)."""

    run: MonitorRun
    drift: Any


@dataclass
class MonitorsClient:
    """Monitors over one metadata store and artifact store, acting as ``actor``."""

    store: MonitorStore
    artifacts: Any
    actor: Actor
    client: Any = None  # a loopml Client: data (``data:`` refs), registry and runs (``models:/``)
    request_id: str = ""

    def create(
        self,
        name: str,
        endpoint: str,
        reference: Any,
        *,
        window: str = "1h",
        schedule: str | None = None,
        task: str | None = None,
        segments: tuple[str, ...] = (),
        alerts: tuple[AlertRule, ...] = (),
        webhooks: tuple[str, ...] = (),
        settings: dict[str, Any] | None = None,
        batch: bool = False,
    ) -> Monitor:
        """A monitor of ``endpoint`` against ``reference``: ``data:NAME@V``, a frame, or
        ``models:/NAME@ALIAS`` (the dataset version that version's run trained on).

        With ``batch=True``, ``endpoint`` names a registered model and the monitor
        reads the outputs of its batch scorings (``loopml predict``) that finished
        in each window instead of an endpoint's prediction log.
        """
        from loopml.monitoring.profile import profile

        window_s = parse_window(window)
        check_schedule(schedule)
        frame, described = self._reference_frame(reference)
        if isinstance(reference, str) and reference.startswith("models:/"):
            frame = self._with_predictions(frame, reference)
        path = f"monitoring/{name}/reference.json"
        if task is not None and task not in TASKS:
            raise InvalidParameter(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        if task is not None and batch:
            raise InvalidParameter(
                "task: performance joins labels by request id, and batch outputs have none; "
                "monitor the batch for drift, or measure performance on an endpoint"
            )
        for url in webhooks:
            check_url(url, url_allowlist())
        extra = {
            **(settings or {}),
            "source": described,
            "task": task,
            "segments": list(segments),
            "alerts": [asdict(rule) for rule in alerts],
            "webhooks": list(webhooks),
            "batch": batch,
        }
        monitor = Monitor(name, endpoint, path, window_s, schedule, extra)
        self._refuse_taken(name)
        self.artifacts.put(path, json.dumps(profile(frame).to_dict()).encode())
        return self.store.create(monitor, self.actor)

    def get(self, name: str) -> Monitor:
        return self.store.get(name)

    def list(self) -> builtins.list[Monitor]:
        return self.store.list()

    def runs(self, name: str, limit: int = 100) -> builtins.list[MonitorRun]:
        return self.store.runs(name, limit)

    def delete(self, name: str) -> None:
        from loopml.store.claims import forget

        self.store.delete(name, self.actor, self.request_id)
        forget(self.store.db, KIND, name)

    def _refuse_taken(self, name: str) -> None:
        """Refuse a taken name before a profile is written over another monitor's."""
        try:
            self.store.get(name)
        except ResourceNotFound:
            return
        raise ResourceAlreadyExists(f"monitor {name!r} already exists")

    def _with_predictions(self, frame: Any, model_uri: str) -> Any:
        """The model's inputs and its predictions on them, so prediction drift has a baseline.

        The reference is what the model saw: its signature's columns (the target
        and other extras are dropped) plus a ``prediction`` column.
        """
        model = self.client.registry.load_model(model_uri)
        if model.signature is not None and model.signature.inputs:
            frame = frame[model.signature.input_names]
        frame = frame.copy()
        frame[PREDICTION_COLUMN] = model.predict(frame)
        return frame

    def _reference_frame(self, reference: Any) -> tuple[Any, str]:
        if not isinstance(reference, str):
            return reference, "a frame"
        if self.client is not None and reference.startswith("models:/"):
            reference = training_data(self.client, reference)
        if not reference.startswith("data:") or self.client is None:
            raise InvalidParameter(
                f"reference {reference!r} must be data:NAME@VERSION, models:/NAME@ALIAS or a frame"
            )
        version = self.client.data.get(reference)
        return self.client.data.read_pandas(version.ref), version.ref

    def run(self, name: str, *, end_ms: int | None = None, start_ms: int | None = None) -> Checked:
        """Compare the window ending at ``end_ms`` (default now) with the reference.

        ``start_ms`` overrides the monitor's window length for this run (a replay
        of traffic whose windows are not the wall clock's, as in the demo).
        """
        from loopml.monitoring.compare import compare
        from loopml.monitoring.profile import Profile

        monitor = self.store.get(name)
        end = end_ms if end_ms is not None else now_ms()
        start = start_ms if start_ms is not None else end - monitor.window_s * 1000
        if monitor.settings.get("batch"):
            current = batch_frame(self.client, monitor.endpoint, start, end)
        else:
            current = window_frame(self.artifacts, monitor.endpoint, start, end)
        run_id = new_run_id()
        if current is None or len(current) == 0:
            run = MonitorRun(run_id, name, start, end, 0, "insufficient data", {}, now_ms())
            return Checked(self.store.add_run(run, self.actor, self.request_id), None)
        reference = Profile.from_dict(json.loads(self.artifacts.get_bytes(monitor.reference)))
        predicted = PREDICTION_COLUMN in reference.columns and PREDICTION_COLUMN in current.columns
        if not predicted:
            current = current[[c for c in current.columns if c != PREDICTION_COLUMN]]
        result = compare(reference, current, predictions=PREDICTION_COLUMN if predicted else None)
        values = result.values()
        task = monitor.settings.get("task")
        if task:
            segments = tuple(monitor.settings.get("segments") or ())
            values["performance"] = window_performance(
                self.artifacts, monitor.endpoint, start, end, task=task, segments=segments
            ).to_dict()
        if monitor.settings.get("alerts"):
            engine = self._alert_engine(monitor, end)
            changed = engine.evaluate(name, values, end)
            values["alerts"] = [alert.to_dict() for alert in changed]
            # every delivery attempt, failures included, is kept with the run
            values["deliveries"] = [record.to_dict() for record in engine.dispatcher.records]
        values["report"] = self._write_report(monitor, run_id, result, values, end)
        run = MonitorRun(run_id, name, start, end, len(current), "ok", values, now_ms())
        return Checked(self.store.add_run(run, self.actor, self.request_id), result)

    def _write_report(
        self, monitor: Monitor, run_id: str, result: Any, values: dict[str, Any], end: int
    ) -> str:
        """The run's HTML report, with the monitor's history, kept beside its reference."""
        from loopml.monitoring.report import render_html

        earlier = self.store.runs(monitor.name)
        history = [(r.window_end_ms, r.result.get("share_drifted")) for r in earlier]
        history.append((end, values["share_drifted"]))
        by_column: dict[str, builtins.list[tuple[int, float | None]]] = {}
        for column in [*result.columns, *([result.prediction] if result.prediction else [])]:
            if column.headline is None:
                continue
            detector = column.headline.detector
            by_column[column.name] = [
                (r.window_end_ms, _detector_score(r.result, column.name, detector)) for r in earlier
            ] + [(end, column.headline.score)]
        page = render_html(
            result, title=f"monitor {monitor.name}", history=history, column_history=by_column
        )
        path = f"monitoring/{monitor.name}/reports/{run_id}.html"
        self.artifacts.put(path, page.encode())
        return path

    def report(self, name: str, run_id: str | None = None) -> str:
        """The HTML report of ``run_id`` (default: the monitor's latest run that has one)."""
        runs = self.store.runs(name)
        chosen = [r for r in runs if r.result.get("report") and run_id in (None, r.run_id)]
        if not chosen:
            which = f"run {run_id!r}" if run_id else "any run"
            raise ResourceNotFound(f"monitor {name!r} has no report for {which}")
        return bytes(self.artifacts.get_bytes(chosen[-1].result["report"])).decode()

    def _alert_engine(self, monitor: Monitor, window_end_ms: int) -> AlertEngine:
        """The monitor's rules over alert state in the store; notify the log and webhooks.

        The engine's clock is the window's end, so cooldowns are measured in
        monitored time: a late or replayed run alerts exactly as a live one.
        """
        from loopml.monitoring._sql_alerts import SqlAlertStore
        from loopml.monitoring.notifiers import LogNotifier, Notifier, WebhookNotifier

        notifiers: list[Notifier] = [LogNotifier()]
        notifiers += [
            WebhookNotifier(url, allowlist=url_allowlist())
            for url in monitor.settings.get("webhooks", [])
        ]
        rules = [AlertRule(**rule) for rule in monitor.settings["alerts"]]
        return AlertEngine(
            notifiers,
            rules=rules,
            store=SqlAlertStore(self.store.db),
            clock=lambda: window_end_ms / 1000,
        )

    def alerts(self, name: str, state: str | None = None) -> builtins.list[Any]:
        from loopml.monitoring._sql_alerts import SqlAlertStore

        self.store.get(name)
        return SqlAlertStore(self.store.db).search_alerts(monitor=name, state=state)  # type: ignore[arg-type]

    def acknowledge(self, alert_id: str, monitor: str | None = None) -> Any:
        """Stop an alert's notifications until it resolves (audited); ``monitor`` must own it."""
        from loopml.monitoring._sql_alerts import SqlAlertStore

        store = SqlAlertStore(self.store.db)
        found = store.get_alert(alert_id)
        if found is None or (monitor is not None and found.monitor != monitor):
            raise ResourceNotFound(
                f"no alert {alert_id!r}" + (f" on monitor {monitor!r}" if monitor else "")
            )
        done = AlertEngine(store=store).acknowledge(alert_id, self.actor.name)
        self.store.auth.audit.append(
            self.actor, "monitor.ack_alert", "monitor", done.monitor,
            after={"alert_id": alert_id, "rule": done.rule, "subject": done.subject},
            request_id=self.request_id,
        )  # fmt: skip
        return done


def _detector_score(result: dict[str, Any], column: str, detector: str) -> float | None:
    """One detector's score for a column in a stored run (None where it did not run)."""
    found = result.get("columns", {}).get(column) or (
        result.get("prediction") if column == PREDICTION_COLUMN else None
    )
    score = (found or {}).get("detectors", {}).get(detector)
    return None if score is None else float(score)


def training_data(client: Any, model_uri: str) -> str:
    """The ``data:`` version the model version's run read for training (its lineage)."""
    version = client.registry.resolve(model_uri)
    if not version.run_id:
        raise InvalidParameter(f"{model_uri} has no run, so no training data to profile")
    run = client.get_run(version.run_id)
    for item in run.dataset_inputs:
        context = item.tags.get(CONTEXT_TAG, "")
        if item.dataset.source.startswith("data:") and context in ("training", ""):
            return str(item.dataset.source)
    raise InvalidParameter(
        f"{model_uri}'s run {version.run_id} read no loopml dataset for training; "
        "pass --reference data:NAME@VERSION"
    )
