"""Run monitors when their cron schedule says, from one background thread.

A monitor is due when its schedule has fired since its last run's window end
(or since the monitor was made); each due run covers the window ending at the
scheduled time, not at "now", so a late tick still measures the window the
schedule meant. Missed ticks are not replayed one by one: the next tick runs
the latest window (monitoring a stale window helps nobody). A failing run is
logged and does not stop the others. Several server workers may run this
scheduler over one database: each due time is claimed first
(:func:`loopml.store.claims.claim`), so exactly one of them runs it; a worker
that dies between its claim and its run loses that window (at most once).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from loopml.core.cron import latest_tick
from loopml.core.ticker import Ticker
from loopml.monitoring.monitors import KIND, Monitor
from loopml.monitoring.runner import MonitorsClient
from loopml.store.claims import claim

logger = logging.getLogger("loopml.monitoring")

DEFAULT_TICK_S = 30.0


def due_at(monitor: Monitor, last_end_ms: int | None, now_ms: int) -> int | None:
    """The latest scheduled time in (last run or creation, now], or None when not due."""
    if monitor.schedule is None:
        return None
    since_ms = last_end_ms if last_end_ms is not None else monitor.created_ms
    return latest_tick(monitor.schedule, since_ms, now_ms)


class MonitorScheduler:
    """Checks every ``tick_s`` which monitors are due and runs them."""

    def __init__(
        self,
        client: MonitorsClient,
        *,
        tick_s: float = DEFAULT_TICK_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.tick_s = tick_s
        self.clock = clock
        self._ticker = Ticker("loopml-monitor-scheduler", tick_s, self.run_due, logger)

    def run_due(self) -> list[str]:
        """Run every due monitor once; returns the names that ran."""
        now = int(self.clock() * 1000)
        ran = []
        for monitor in self.client.store.list():
            history = self.client.store.runs(monitor.name, limit=1)
            end = due_at(monitor, history[-1].window_end_ms if history else None, now)
            if end is None or not claim(self.client.store.db, KIND, monitor.name, end):
                continue  # not due, or another worker has this due time
            try:
                self.client.run(monitor.name, end_ms=end)
                ran.append(monitor.name)
            except Exception:
                logger.exception("scheduled run of monitor %s failed", monitor.name)
        return ran

    def start(self) -> MonitorScheduler:
        self._ticker.start()
        return self

    def close(self) -> None:
        self._ticker.close()
