"""The monitoring loop end to end: a real ``loopml serve``, drifted traffic, the scheduler,
a real webhook receiver on 127.0.0.1 and the HTML report.

Traffic goes over HTTP in phases (drifted, clean, drifted, drifted); after each
phase the scheduler runs the monitor for the window that covers exactly that
phase. The monitor's schedule fires every second and its window is 3 s, so
each phase is sent inside a fresh window and the scheduler's clock is set to
the tick that closes it. The receiver must get one firing alert per cooldown:
the flap back to drift inside the cooldown is recorded but not announced.
"""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from loopml.auth import local_actor
from loopml.client import Client
from loopml.monitoring.alerts import AlertRule
from loopml.monitoring.monitors import MonitorStore
from loopml.monitoring.runner import MonitorsClient
from loopml.monitoring.scheduler import MonitorScheduler
from loopml.predictions import read

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
WINDOW_S = 3
COOLDOWN_S = 12.0


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def states(self) -> list[str]:
        return [body["alert"]["state"] for body in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def traffic(drifted: bool, seed: int) -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    rows = frame[FEATURES].sample(400, replace=True, random_state=seed).reset_index(drop=True)
    rows += np.random.default_rng(seed).normal(0, 0.05, size=rows.shape)
    if drifted:
        rows["petal_length"] += 2.0
        rows["petal_width"] += 1.0
    return rows


class Phases:
    """Sends each phase inside its own window and runs the scheduler at the closing tick."""

    def __init__(self, url: str, home: Path, scheduler: MonitorScheduler, clock: dict[str, float]):
        self.url, self.home, self.scheduler, self.clock = url, home, scheduler, clock
        self.last_tick = math.ceil(time.time())
        self.sent = 0

    def run(self, drifted: bool, seed: int, not_before: float = 0.0) -> int:
        """Send one phase; return the tick whose window holds exactly it."""
        _sleep_until(max(self.last_tick + WINDOW_S, not_before))
        rows = traffic(drifted, seed)
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for start in range(0, len(rows), 100):
                chunk = rows.iloc[start : start + 100]
                body = {"dataframe_split": {"columns": FEATURES, "data": chunk.values.tolist()}}
                assert http.post("/invocations", json=body).status_code == 200
        self.sent += 4
        self._wait_for_log()
        tick = math.ceil(time.time())
        _sleep_until(tick)
        self.clock["now"] = tick + 0.001
        assert self.scheduler.run_due() == ["drift-watch"]
        assert self.scheduler.run_due() == []  # the same tick never runs twice
        self.last_tick = tick
        return tick

    def _wait_for_log(self) -> None:
        with Client(self.home) as client:
            deadline = time.monotonic() + 20
            while read(client.artifacts, endpoint="iris").num_rows < self.sent:
                assert time.monotonic() < deadline, "the prediction log was not flushed"
                time.sleep(0.05)


def _sleep_until(wall_s: float) -> None:
    time.sleep(max(0.0, wall_s - time.time()))


def test_drifted_traffic_alerts_once_per_cooldown_and_leaves_a_report(
    iris_home: Path,
    start_inference: Callable[..., Any],
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOOPML_ALERT_URL_ALLOWLIST", "127.0.0.1")
    server = start_inference(iris_home, "models:/iris@champion", "--log-flush-s", "0.1")
    client = Client(iris_home)
    monitors = MonitorsClient(
        MonitorStore(client.store.db), client.artifacts, local_actor(), client
    )  # type: ignore[attr-defined]
    rule = AlertRule("drift", "share_drifted", ">=", 0.25, cooldown_s=COOLDOWN_S)
    made = monitors.create(
        "drift-watch", "iris", "models:/iris@champion", window=f"{WINDOW_S}s",
        schedule="* * * * * *", alerts=(rule,), webhooks=(receiver.url,),
    )  # fmt: skip
    assert made.settings["source"] == "data:iris-train@1"
    clock = {"now": time.time()}
    scheduler = MonitorScheduler(monitors, clock=lambda: clock["now"])
    phases = Phases(server.url, iris_home, scheduler, clock)

    first = phases.run(drifted=True, seed=1)
    assert receiver.states() == ["firing"]
    phases.run(drifted=False, seed=2)
    assert receiver.states() == ["firing", "resolved"]
    flap = phases.run(drifted=True, seed=3)
    assert flap - first < COOLDOWN_S, "the phases ran too slowly to test the cooldown"
    assert receiver.states() == ["firing", "resolved"]  # refired inside the cooldown: held
    phases.run(drifted=True, seed=4, not_before=first + COOLDOWN_S)
    assert receiver.states() == ["firing", "resolved", "firing"]  # cooldown over, still firing

    runs = monitors.runs("drift-watch")
    assert [r.rows for r in runs] == [400, 400, 400, 400]
    assert [r.result["dataset_drifted"] for r in runs] == [True, False, True, True]
    assert runs[0].result["prediction"]["verdict"] == "drifted"  # predictions moved too
    assert runs[1].result["prediction"]["verdict"] == "stable"
    firing = monitors.alerts("drift-watch", "firing")
    assert len(firing) == 1
    assert receiver.bodies[-1]["alert"]["alert_id"] == firing[0].alert_id

    page = monitors.report("drift-watch")
    assert "petal_length" in page
    assert "share of drifted columns per window" in page
    assert "petal_length: " in page  # the column's score history is drawn
    assert "<script" not in page
