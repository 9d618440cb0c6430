"""A prediction sink that keeps records in a list: the cheap test double, and a feature.

Serving tests assert on what was logged without a thread or a file; an embedded
app can inspect its own recent predictions. Same bound and drop counting as
:class:`~loopml.predictions.writer.PredictionLog`.
"""

from __future__ import annotations

import threading
from types import TracebackType

from loopml.core.errors import InvalidParameter
from loopml.predictions.entities import PredictionRecord


class MemoryPredictionLog:
    """Keep logged records in ``records``, in the order they were logged.

    Args:
        max_records: how many records it holds; later ones are dropped and counted.
    """

    def __init__(self, *, max_records: int = 100_000) -> None:
        if max_records < 1:
            raise InvalidParameter(f"max_records must be at least 1, got {max_records}")
        self.max_records = max_records
        self.records: list[PredictionRecord] = []
        self._lock = threading.Lock()
        self._dropped = 0
        self._closed = False

    @property
    def dropped(self) -> int:
        return self._dropped

    def log(self, record: PredictionRecord) -> bool:
        with self._lock:
            if self._closed or len(self.records) >= self.max_records:
                self._dropped += 1
                return False
            self.records.append(record)
            return True

    def flush(self) -> None:
        """Nothing to persist: records are visible as soon as they are logged."""

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def __enter__(self) -> MemoryPredictionLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
