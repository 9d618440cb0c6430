"""Adaptive batching: requests that wait for the same model are answered by one call.

A request never waits for a batch to fill on its own: it is queued and the
queue is drained on the event loop's next turn, so a lone request (c=1) goes
straight to the model, while requests that arrived together (under load they
pile up while the previous call runs) are stacked into one matrix, predicted
once and split back to their callers. ``max_delay_ms`` lets a busy queue
(two or more waiting) linger that long for a fuller batch; it never delays a
request that is alone. A batch whose call raises is retried request by
request, so one bad input fails only its own request.

Only numeric matrices batch (the fast path); DataFrame inputs are predicted
as they come.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from loopml.serving.metrics import ServingMetrics
from loopml.serving.runtime import ModelInput, ServedModel


@dataclass
class _Waiting:
    data: ModelInput
    method: str
    future: asyncio.Future[np.ndarray]
    since: float


class Batcher:
    """Coalesces concurrent predictions for one served model."""

    def __init__(
        self,
        model: ServedModel,
        *,
        max_batch_size: int = 64,
        max_delay_ms: float = 0.0,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.model = model
        self.max_batch_size = max(1, max_batch_size)
        self.max_delay_s = max(0.0, max_delay_ms) / 1000
        self.metrics = metrics
        self._waiting: list[_Waiting] = []
        self._scheduled = False

    async def predict(self, data: ModelInput, method: str = "predict") -> np.ndarray:
        if data.matrix is None or not self.model.takes_arrays or self.max_batch_size == 1:
            return self.model.predict(data, method)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(data, method, loop.create_future(), time.monotonic())
        self._waiting.append(waiting)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._drain)
        return await waiting.future

    def _drain(self) -> None:
        self._scheduled = False
        waiting = self._waiting
        if not waiting:
            return
        loop = asyncio.get_event_loop()
        linger = self.max_delay_s - (time.monotonic() - waiting[0].since)
        if 1 < len(waiting) < self.max_batch_size and linger > 0:
            self._scheduled = True
            loop.call_later(linger, self._drain)
            return
        batch: list[_Waiting] = []
        rows = 0
        while waiting and (not batch or rows + waiting[0].data.rows <= self.max_batch_size):
            item = waiting.pop(0)
            batch.append(item)
            rows += item.data.rows
        if waiting:
            self._scheduled = True
            loop.call_soon(self._drain)
        if self.metrics is not None:
            self.metrics.batch_size.labels(self.model.name).observe(len(batch))
            self.metrics.queue_depth.labels(self.model.name).set(len(waiting))
        by_method: dict[str, list[_Waiting]] = defaultdict(list)
        for item in batch:
            by_method[item.method].append(item)
        for method, items in by_method.items():
            self._answer(method, items)

    def _answer(self, method: str, items: list[_Waiting]) -> None:
        if len(items) == 1:
            self._answer_one(method, items[0])
            return
        matrices = [i.data.matrix for i in items if i.data.matrix is not None]
        try:
            stacked = np.concatenate(matrices)
            result = self.model.predict(ModelInput(len(stacked), matrix=stacked), method)
        except Exception:  # one bad input: find it by answering each alone
            for item in items:
                self._answer_one(method, item)
            return
        at = 0
        for item in items:
            if not item.future.done():
                item.future.set_result(result[at : at + item.data.rows])
            at += item.data.rows

    def _answer_one(self, method: str, item: _Waiting) -> None:
        if item.future.done():  # the caller went away
            return
        try:
            item.future.set_result(self.model.predict(item.data, method))
        except Exception as error:
            item.future.set_exception(error)
