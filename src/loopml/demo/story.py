"""The demo's story: a loan-default model that notices it went stale and fixes itself.

On one loopml home, with no server to start:

1. weeks 0-2 of applications become dataset ``loans``; the training pipeline
   (:mod:`loopml.demo.flows`) tunes, fits and registers ``loan`` v1, which is
   evaluated and released as ``champion``;
2. endpoint ``loan-api`` serves ``models:/loan@champion``; monitor
   ``loan-watch`` compares each week's traffic with the training data and
   alerts when a third of the columns drift; policy ``loan-retrain`` retrains
   on that alert, gates the candidate against the champion on the latest
   labelled week, canaries it and promotes it;
3. weeks of traffic are replayed through the real serving app, labels
   arriving a week late; a recession shifts the applicants from week 4;
4. then the failure branches: ``loan-bad-retrain`` trains on corrupted labels
   and the gates reject it; ``loan-risky`` lets the same kind of model past
   lenient gates and its canary is rolled back on live labelled traffic.

Everything is recorded (runs, versions, alias history, endpoint versions,
monitor runs with HTML reports, policy transitions, the audit log), so
``loopml server`` on the same home shows it all afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.core.clock import now_ms
from loopml.demo.data import FEATURES, SEGMENTS, SENSITIVE, TARGET, Drift, applications

ENDPOINT = "loan-api"
MONITOR = "loan-watch"
MODEL = "loan"
GUARDS = ("error_rate <= 0.02", "f1 >= baseline.f1 - 0.05")
# A recession that hits at once in week 4: the alert needs two drifted weeks (4, 5),
# and by week 5 the defaults of week 4 are known, so a retrain has drifted labels.
RECESSION = Drift(start_week=4, ramp_weeks=1)
HOLDOUT_SHARE = 0.3


@dataclass(frozen=True)
class Scale:
    """How big the story is: ``quick`` for tests, the default for ``loopml demo``."""

    rows_per_week: int = 4000
    request_rows: int = 40
    trials: int = 6
    weeks: int = 9

    @classmethod
    def quick(cls) -> Scale:
        return cls(rows_per_week=2000, request_rows=20, trials=3, weeks=9)


@dataclass
class Event:
    week: int
    what: str
    detail: str = ""


@dataclass
class Timeline:
    events: list[Event] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # policy -> final state
    reports: list[Path] = field(default_factory=list)

    def add(self, week: int, what: str, detail: str = "") -> None:
        self.events.append(Event(week, what, detail))


class Story:
    """Tells the story on ``client``'s embedded home; ``say`` narrates each step."""

    def __init__(
        self,
        client: Any,
        out: Path,
        *,
        scale: Scale = Scale(),
        say: Callable[[str], None] = print,
    ) -> None:
        import loopml
        from loopml.auth import local_actor
        from loopml.automation import PolicyRunner, PolicyScheduler, PolicyStore
        from loopml.monitoring.monitors import MonitorStore
        from loopml.monitoring.runner import MonitorsClient
        from loopml.serving.endpoints import EndpointsClient

        self.client, self.out, self.scale, self.say = client, out, scale, say
        loopml.set_tracking_uri(client.settings.home)  # the pipeline's steps use this home
        db = client.store.db
        self.endpoints = EndpointsClient(db, local_actor(), registry=client.registry)
        self.monitors = MonitorsClient(MonitorStore(db), client.artifacts, local_actor(), client)
        self.policies = PolicyStore(db)
        runner = PolicyRunner(self.policies, client, self.endpoints, local_actor())
        self.scheduler = PolicyScheduler(runner)
        self.timeline = Timeline()
        self.week = 0
        self._frames: dict[int, Any] = {}
        self._sent: dict[int, list[tuple[str, list[int]]]] = {}

    # --- the whole story ---------------------------------------------------------------

    def tell(self) -> Timeline:
        import sklearn.ensemble  # noqa: F401  (loads OpenMP, so the limit below reaches it)
        from threadpoolctl import threadpool_limits

        # one OpenMP thread: on 2 busy cores boosted trees fit 25x slower with two
        with threadpool_limits(limits=1):
            return self._tell()

    def _tell(self) -> Timeline:
        self.train_first_champion()
        self.serve_and_watch()
        for week in range(3, self.scale.weeks):
            self.replay(week)
        self.failure_branches()
        self.write_reports()
        return self.timeline

    def data(self, week: int) -> Any:
        if week not in self._frames:
            self._frames[week] = applications(
                week, self.scale.rows_per_week, seed=7, drift=RECESSION
            )
        return self._frames[week]

    # --- acts --------------------------------------------------------------------------

    def train_first_champion(self) -> None:
        import pandas as pd

        from loopml.demo.flows import train
        from loopml.evaluation.workflow import evaluate

        self.say("training the first model: weeks 0-2, tuned through the pipeline")
        self._add_data("loans", pd.concat([self.data(w) for w in range(3)]))
        self._add_data("loans-holdout", self.data(3))
        self.client.registry.create_registered_model(MODEL)
        done = train.run(
            {"data": "data:loans@latest", "trials": self.scale.trials},
            executor="inline",
            client=self.client,
        )
        candidate = done.result()
        evaluation = evaluate(
            self.client, candidate, "data:loans-holdout@latest", target=TARGET,
            task="classification", segments=tuple(SEGMENTS), sensitive=(SENSITIVE,),
        )  # fmt: skip
        auc = evaluation.values().get("roc_auc", float("nan"))
        version = int(candidate.rsplit("/", 1)[1])
        self.client.registry.set_alias(MODEL, "champion", version)
        self.timeline.add(2, "released", f"{candidate} as champion (ROC AUC {auc:.3f} on week 3)")

    def serve_and_watch(self) -> None:
        from loopml.automation import Policy
        from loopml.monitoring.alerts import AlertRule
        from loopml.serving.entities import EndpointConfig, Route

        self.endpoints.create(
            ENDPOINT, EndpointConfig([Route("main", f"models:/{MODEL}@champion")])
        )
        drift = AlertRule("drift", "share_drifted", ">=", 0.3, for_windows=2, cooldown_s=0)
        self.monitors.create(
            MONITOR, ENDPOINT, f"models:/{MODEL}@champion", window="1w", task="classification",
            segments=tuple(SEGMENTS), alerts=(drift,),
        )  # fmt: skip
        for policy in self._policies():
            self.policies.create(Policy.from_dict(policy), self.scheduler.runner.actor)
        self.timeline.add(2, "serving", f"{ENDPOINT} -> {MODEL}@champion; monitor {MONITOR}")

    def replay(self, week: int) -> None:
        """One week: traffic, last week's labels, new data, the monitor, the policies."""
        self.week = week
        start, versions = self._serve(week)
        end = now_ms() + 1
        self._label(week - 1)
        self._refresh_data(week)
        checked = self.monitors.run(MONITOR, start_ms=start, end_ms=end).run
        share = checked.result.get("share_drifted")
        fired = [a for a in checked.result.get("alerts", []) if a["state"] == "firing"]
        served = ", ".join(f"v{v}: {n}" for v, n in sorted(versions.items()))
        self.say(f"week {week}: {served} requests; drifted share {share:.0%}"
                 + ("; ALERT" if fired else ""))  # fmt: skip
        if fired:
            self.timeline.add(week, "alert", f"{MONITOR}: {fired[0]['message']}")
        self._advance_policies()

    def failure_branches(self) -> None:
        """A bad retrain the gates reject; a bad model past lenient gates rolled back live."""
        for name in ("loan-bad-retrain", "loan-risky"):
            self.say(f"running policy {name} by hand")
            run = self.scheduler.trigger(name)
            self._note_transitions(run)
            week = self.week
            while not self.policies.get_run(run.run_id).done and week < self.week + 3:
                week += 1
                self._extra_week(week)
                run = self.scheduler.advance(self.policies.get_run(run.run_id))
                self._note_transitions(run)
            self.timeline.outcomes[name] = self.policies.get_run(run.run_id).state

    def write_reports(self) -> None:
        from loopml.registry.card import model_card

        self.out.mkdir(parents=True, exist_ok=True)
        monitor = self.out / "monitor-report.html"
        monitor.write_text(self.monitors.report(MONITOR))
        champion = self.client.registry.get_model_version_by_alias(MODEL, "champion")
        card = self.out / "champion-card.html"
        card.write_text(model_card(self.client, MODEL, champion.version).render_html())
        self.timeline.reports += [monitor, card]

    # --- helpers -----------------------------------------------------------------------

    def _policies(self) -> list[dict[str, Any]]:
        gates: dict[str, Any] = {
            "data": "data:loans-holdout@latest", "target": TARGET, "task": "classification",
            "segments": list(SEGMENTS), "sensitive": [SENSITIVE],
            "rules": ["roc_auc >= baseline.roc_auc + 0.005", "f1 >= baseline.f1 - 0.02"],
        }  # fmt: skip
        rollout = {"weight": 30, "min_requests": 15, "min_duration_s": 0, "guards": list(GUARDS)}
        params: dict[str, Any] = {"data": "data:loans@latest", "trials": self.scale.trials}
        action: dict[str, Any] = {
            "pipeline": "loopml.demo.flows:train",
            "params": params,
        }
        base = {"endpoint": ENDPOINT, "model": MODEL, "gates": gates, "rollout": rollout}
        bad_action = {**action, "params": {**params, "corrupted": True}}
        lenient = {**gates, "rules": ["roc_auc >= 0.5"]}
        return [
            {**base, "name": "loan-retrain", "triggers": [f"alert:{MONITOR}/drift"],
             "action": action, "limits": {"cooldown_s": 3600}},
            {**base, "name": "loan-bad-retrain", "action": bad_action},
            {**base, "name": "loan-risky", "action": bad_action, "gates": lenient},
        ]  # fmt: skip

    def _add_data(self, name: str, frame: Any) -> str:
        """A new version of ``name``; ``data:NAME@latest`` always reads the newest."""
        return str(self.client.data.add(name, frame.reset_index(drop=True)).version.ref)

    def _refresh_data(self, week: int) -> None:
        """Last week's labels are in: it becomes the newest training data (``loans``) and,
        a random share of it held out, the newest holdout (``loans-holdout``)."""
        newest = self.data(week - 1)
        held = newest.sample(frac=HOLDOUT_SHARE, random_state=week)
        self._add_data("loans", newest.drop(held.index))
        self._add_data("loans-holdout", held)

    def _serve(self, week: int) -> tuple[int, dict[int, int]]:
        """Send the week's applications to the endpoint, as the real serving app answers."""
        import httpx

        from loopml.serving import ServeOptions, create_serving_app

        frame, step = self.data(week), self.scale.request_rows
        app = create_serving_app(
            ServeOptions(ENDPOINT, registry_uri=str(self.client.settings.home), poll_s=0)
        )
        start = now_ms()
        versions: dict[int, int] = {}
        sent: list[tuple[str, list[int]]] = []

        async def post_all() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
                for first in range(0, len(frame), step):
                    chunk = frame.iloc[first : first + step]
                    request_id = f"w{week:02d}-{first:06d}"
                    rows = chunk[FEATURES].astype(object).where(chunk[FEATURES].notna(), None)
                    body = {"dataframe_records": rows.to_dict(orient="records")}
                    answer = await http.post(
                        "/invocations", json=body, headers={"x-request-id": request_id}
                    )
                    answer.raise_for_status()
                    version = int(answer.headers["x-model-version"])
                    versions[version] = versions.get(version, 0) + 1
                    sent.append((request_id, chunk[TARGET].astype(int).tolist()))

        asyncio.run(post_all())
        app.close()
        self._sent[week] = sent
        return start, versions

    def _label(self, week: int) -> None:
        from loopml.predictions import log_ground_truth

        if week in self._sent:
            log_ground_truth(self.client.artifacts, ENDPOINT, dict(self._sent.pop(week)))

    def _extra_week(self, week: int) -> None:
        """One more week of traffic and labels, for a canary to be judged on."""
        self.week = week
        self._serve(week)
        self._label(week - 1)
        self._label(week)  # the canary's own traffic is labelled, late, before the next check

    def _advance_policies(self) -> None:
        for run in self.scheduler.run_due():
            self._note_transitions(run)

    def _note_transitions(self, run: Any) -> None:
        seen = {(e.what, e.detail) for e in self.timeline.events}
        for step in self.policies.transitions(run.run_id):
            what = f"{run.policy}: {step.to_state}"
            if (what, step.detail) not in seen:
                self.timeline.add(self.week, what, step.detail)
        latest = self.policies.get_run(run.run_id)
        if latest.done:
            self.timeline.outcomes.setdefault(run.policy, latest.state)
