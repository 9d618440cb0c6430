"""Monitors end to end: a served model's prediction log compared with its training data.

An iris model trained on a dataset version is served in process; requests
from the same distribution, then shifted ones, land in the prediction log;
a monitor made against ``models:/iris@champion`` (its run's training data)
runs per window and keeps each run's per-column verdicts.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from typer.testing import CliRunner

from loopml.auth import AuditFilter, local_actor
from loopml.client import Client
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from loopml.monitoring.monitors import MonitorStore, parse_window
from loopml.monitoring.runner import MonitorsClient
from loopml.serving import ServeOptions, create_serving_app

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def home(iris_home: Path) -> Path:
    return iris_home


def monitors(home: Path) -> MonitorsClient:
    client = Client(home)
    return MonitorsClient(MonitorStore(client.store.db), client.artifacts, local_actor(), client)  # type: ignore[attr-defined]


def send(home: Path, rows: pd.DataFrame, prefix: str = "req") -> list[str]:
    app = create_serving_app(
        ServeOptions("models:/iris@champion", registry_uri=str(home), poll_s=0)
    )

    sent: list[str] = []

    async def post_all() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving") as http:
            for start in range(0, len(rows), 50):
                chunk = rows.iloc[start : start + 50]
                body = {"dataframe_split": {"columns": FEATURES, "data": chunk.to_numpy().tolist()}}
                request_id = f"{prefix}-{start}"
                answer = await http.post(
                    "/invocations", json=body, headers={"x-request-id": request_id}
                )
                assert answer.status_code == 200, answer.text
                sent.append(request_id)

    asyncio.run(post_all())
    app.close()  # flushes the prediction log
    return sent


def test_a_monitor_sees_drift_in_the_window_that_has_it(home: Path) -> None:
    client = monitors(home)
    made = client.create("iris-watch", "iris", "models:/iris@champion", window="1h")
    assert made.settings["source"] == "data:iris-train@1"
    rng = np.random.default_rng(1)
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    same = frame[FEATURES].sample(1000, replace=True, random_state=1).reset_index(drop=True)
    same += rng.normal(0, 0.05, size=same.shape)
    send(home, same)
    first = client.run("iris-watch")
    assert first.run.status == "ok"
    assert first.run.rows == 1000
    shifted = same.copy()
    shifted["petal_length"] += 1.5  # a large shift in one column
    send(home, shifted)
    second = client.run("iris-watch", end_ms=now_ms() + 1)
    columns = second.run.result["columns"]
    assert columns["petal_length"]["verdict"] == "drifted"
    assert columns["sepal_width"]["verdict"] == "stable"
    runs = client.store.runs("iris-watch")
    assert [r.run_id for r in runs] == [first.run.run_id, second.run.run_id]


def test_an_empty_window_is_insufficient_data_not_a_verdict(home: Path) -> None:
    client = monitors(home)
    client.create("quiet", "iris", "models:/iris@champion", window="30m")
    checked = client.run("quiet")
    assert checked.run.status == "insufficient data"
    assert checked.drift is None


def test_bad_monitors_are_refused_and_changes_are_audited(home: Path) -> None:
    client = monitors(home)
    with pytest.raises(InvalidParameter, match="window '90' must look like"):
        client.create("m", "iris", "models:/iris@champion", window="90")
    with pytest.raises(InvalidParameter, match="not a cron expression"):
        client.create("m", "iris", "models:/iris@champion", schedule="every hour")
    with pytest.raises(InvalidParameter, match="must be data:NAME@VERSION"):
        client.create("m", "iris", "iris.csv")
    client.create("m", "iris", "data:iris-train@1", schedule="0 * * * *")
    with pytest.raises(ResourceAlreadyExists, match="already exists"):
        client.create("m", "iris", "data:iris-train@1")
    client.store.delete("m", local_actor())
    with pytest.raises(ResourceNotFound, match="no monitor named 'm'"):
        client.run("m")
    events = Client(home).auth.audit_events(AuditFilter(action="monitor.*"))
    assert sorted(e.action for e in events) == ["monitor.create", "monitor.delete"]
    assert parse_window("1d") == 86_400


def test_the_cli_makes_runs_and_shows_monitors(
    home: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    from loopml.cli.main import app

    monkeypatch.setenv("LOOPML_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "monitors",
            "create",
            "cli-watch",
            "--endpoint",
            "iris",
            "--reference",
            "data:iris-train@1",
        ],
    )
    assert made.exit_code == 0, made.output
    both = ["--endpoint", "iris", "--batch", "iris", "--reference", "data:iris-train@1"]
    refused = runner.invoke(app, ["monitors", "create", "both", *both])
    assert refused.exit_code == 1
    assert "give exactly one of --endpoint and --batch" in refused.output
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    send(home, frame[FEATURES].sample(300, replace=True, random_state=2).reset_index(drop=True))
    ran = runner.invoke(app, ["monitors", "run", "cli-watch", "--html", str(tmp_path / "r.html")])
    assert ran.exit_code == 0, ran.output
    assert "300 rows, ok" in ran.output
    assert "<script" not in (tmp_path / "r.html").read_text()
    again = runner.invoke(app, ["monitors", "report", "cli-watch", "-o", str(tmp_path / "a.html")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "a.html").read_text() == (tmp_path / "r.html").read_text()  # kept
    shown = runner.invoke(app, ["monitors", "show", "cli-watch"])
    assert "cli-watch" in shown.output
    listed = runner.invoke(app, ["monitors", "list", "--json"])
    assert '"endpoint": "iris"' in listed.output
    assert runner.invoke(app, ["monitors", "delete", "cli-watch"]).exit_code == 0


def test_the_scheduler_runs_due_monitors_for_their_scheduled_window(home: Path) -> None:
    from loopml.monitoring.scheduler import MonitorScheduler, due_at

    client = monitors(home)
    made = client.create("hourly", "iris", "data:iris-train@1", window="1h", schedule="0 * * * *")
    client.create("manual", "iris", "data:iris-train@1", window="1h")
    hour_ms = 3_600_000
    next_hour = (made.created_ms // hour_ms + 1) * hour_ms
    assert due_at(made, None, next_hour - 1) is None
    assert due_at(made, None, next_hour + 5_000) == next_hour
    clock = {"now": (next_hour + 5_000) / 1000}
    scheduler = MonitorScheduler(client, clock=lambda: clock["now"])
    assert scheduler.run_due() == ["hourly"]
    assert scheduler.run_due() == []  # already ran for this tick
    clock["now"] += 3 * 3600  # three ticks missed: only the latest window runs
    assert scheduler.run_due() == ["hourly"]
    ends = [r.window_end_ms for r in client.store.runs("hourly")]
    assert ends == [next_hour, next_hour + 3 * hour_ms]
    assert client.store.runs("manual") == []


def test_performance_per_window_counts_only_the_rows_labelled_so_far(home: Path) -> None:
    from loopml.predictions import log_ground_truth

    client = monitors(home)
    client.create(
        "iris-perf", "iris", "data:iris-train@1", task="classification", segments=("species_hint",)
    )
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    rows = frame.sample(200, replace=True, random_state=3).reset_index(drop=True)
    sent = send(home, rows[FEATURES])
    unlabelled = client.run("iris-perf")
    assert unlabelled.run.result["performance"]["labelled_rows"] == 0
    with Client(home) as store_client:  # labels arrive later, for the first two requests only
        truth = {sent[0]: rows["target"][:50].tolist(), sent[1]: rows["target"][50:100].tolist()}
        log_ground_truth(store_client.artifacts, "iris", truth)
    later = client.run("iris-perf")
    performance = later.run.result["performance"]
    assert performance["rows"] == 200
    assert performance["labelled_rows"] == 100
    assert 0.8 <= performance["metrics"]["accuracy"] <= 1.0
    assert performance["segments"]["species_hint"]["(missing)"]["count"] == 100.0


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps the JSON bodies it was sent."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.bodies: list[Any] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import json as json_module

                length = int(self.headers["content-length"])
                outer.bodies.append(json_module.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_drift_fires_an_alert_to_a_webhook_and_it_can_be_acknowledged(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.monitoring.alerts import AlertRule

    receiver = Receiver()
    monkeypatch.setenv("LOOPML_ALERT_URL_ALLOWLIST", "127.0.0.1")
    try:
        client = monitors(home)
        rule = AlertRule("drift", "share_drifted", ">=", 0.25)
        client.create(
            "alerting", "iris", "data:iris-train@1", alerts=(rule,), webhooks=(receiver.url,)
        )
        frame = load_iris(as_frame=True).frame
        frame.columns = [*FEATURES, "target"]
        shifted = frame[FEATURES].sample(600, replace=True, random_state=4).reset_index(drop=True)
        shifted["petal_length"] += 2.0
        shifted["petal_width"] += 1.0
        send(home, shifted)
        fired = client.run("alerting").run.result["alerts"]
        assert [(a["rule"], a["state"]) for a in fired] == [("drift", "firing")]
        assert receiver.bodies[0]["alert"]["rule"] == "drift"
        again = client.run("alerting", end_ms=now_ms() + 1)
        assert again.run.result["alerts"] == []  # still firing: not announced twice
        firing = client.alerts("alerting", "firing")
        assert len(firing) == 1
        assert client.acknowledge(firing[0].alert_id).state == "acknowledged"
        assert len(receiver.bodies) == 1
    finally:
        receiver.close()


def test_webhooks_outside_the_allowlist_are_refused_when_the_monitor_is_made(home: Path) -> None:
    from loopml.monitoring.alerts import AlertRule

    client = monitors(home)
    rule = AlertRule("drift", "share_drifted", ">=", 0.25)
    refused = {
        "http://169.254.169.254/latest": "cloud metadata address",
        "http://127.0.0.1:9/hook": "internal .* address",
        "file:///etc/passwd": "scheme 'file' is not allowed",
    }
    for url, why in refused.items():
        with pytest.raises(InvalidParameter, match=why):
            client.create("bad-hook", "iris", "data:iris-train@1", alerts=(rule,), webhooks=(url,))
    with pytest.raises(ResourceNotFound, match="no monitor named 'bad-hook'"):
        client.store.get("bad-hook")


def test_two_schedulers_on_one_database_run_each_due_window_once(home: Path) -> None:
    """Two server workers (each its own engine on the same database) race every tick."""
    import threading

    from loopml.monitoring.scheduler import MonitorScheduler

    made = monitors(home).create("twice", "iris", "data:iris-train@1", schedule="* * * * *")
    minute_ms = 60_000
    first_tick = (made.created_ms // minute_ms + 1) * minute_ms
    workers = [monitors(home) for _ in range(2)]
    ran: list[str] = []
    for tick in range(3):
        now_s = (first_tick + tick * minute_ms + 500) / 1000
        schedulers = [MonitorScheduler(w, clock=lambda now_s=now_s: now_s) for w in workers]
        start = threading.Barrier(2)

        def tick_once(scheduler: MonitorScheduler, start: threading.Barrier = start) -> None:
            start.wait()
            ran.extend(scheduler.run_due())

        threads = [threading.Thread(target=tick_once, args=(s,)) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert ran == ["twice"] * 3
    ends = [r.window_end_ms for r in workers[0].store.runs("twice")]
    assert ends == [first_tick + i * minute_ms for i in range(3)]


def test_a_down_receiver_leaves_failed_deliveries_on_the_run_and_the_alert_firing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from loopml.monitoring.alerts import AlertRule

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LOOPML_ALERT_URL_ALLOWLIST", "127.0.0.1")
    client = monitors(home)
    rule = AlertRule("drift", "share_drifted", ">=", 0.25)
    hook = f"http://127.0.0.1:{port}/hook"
    client.create("down", "iris", "data:iris-train@1", alerts=(rule,), webhooks=(hook,))
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    shifted = frame[FEATURES].sample(300, replace=True, random_state=5).reset_index(drop=True)
    shifted["petal_length"] += 2.0
    shifted["petal_width"] += 1.0
    send(home, shifted)
    done = client.run("down").run
    webhook = [d for d in done.result["deliveries"] if d["notifier"] == "webhook"]
    assert [(d["attempt"], d["ok"]) for d in webhook] == [(1, False), (2, False), (3, False)]
    assert webhook[0]["error"].startswith("ConnectError")
    assert [d["ok"] for d in done.result["deliveries"] if d["notifier"] == "log"] == [True]
    stored = client.store.runs("down")[-1].result["deliveries"]
    assert stored == done.result["deliveries"]  # kept with the run, not only in memory
    assert [a.state for a in client.alerts("down")] == ["firing"]


def test_a_batch_monitor_watches_the_outputs_of_batch_scorings(home: Path, tmp_path: Path) -> None:
    from loopml.serving.batch import score

    client = monitors(home)
    made = client.create("nightly", "iris", "models:/iris@champion", window="1h", batch=True)
    assert made.settings["batch"] is True
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    rows = frame[FEATURES].sample(500, replace=True, random_state=6).reset_index(drop=True)
    rows += np.random.default_rng(6).normal(0, 0.05, size=rows.shape)  # as the training data
    rows["petal_length"] += 2.0
    rows.to_parquet(tmp_path / "in.parquet")
    with Client(home) as scorer:
        score(scorer, "models:/iris@champion", tmp_path / "in.parquet", tmp_path / "out.parquet")
    done = client.run("nightly", end_ms=now_ms() + 1).run
    assert done.rows == 500
    assert done.result["columns"]["petal_length"]["verdict"] == "drifted"
    assert done.result["columns"]["sepal_width"]["verdict"] == "stable"
    assert done.result["prediction"] is not None  # the scored column, against the model's own
    (tmp_path / "out.parquet").unlink()  # an output that is gone leaves the window empty
    assert client.run("nightly", end_ms=now_ms() + 2).run.status == "insufficient data"
    with pytest.raises(InvalidParameter, match="batch outputs have none"):
        client.create("perf", "iris", "data:iris-train@1", task="classification", batch=True)
