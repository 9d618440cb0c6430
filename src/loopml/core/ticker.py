"""A background thread that calls one function every few seconds: every scheduler's loop.

A failing call is logged and the next tick comes anyway, so one bad monitor,
schedule or policy never stops the loop; ``close`` waits for the call in
progress to end.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any


class Ticker:
    def __init__(
        self, name: str, tick_s: float, work: Callable[[], Any], logger: logging.Logger
    ) -> None:
        self.name, self.tick_s, self.work, self.logger = name, tick_s, work, logger
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.work()
            except Exception:
                self.logger.exception("%s: a tick failed", self.name)
