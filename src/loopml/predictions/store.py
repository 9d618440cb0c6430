"""The prediction sink interface: what the serving hot path writes records to.

Two implementations: :class:`~loopml.predictions.writer.PredictionLog` (Parquet
files in the artifact store, written by a background thread) and
:class:`~loopml.predictions.memory.MemoryPredictionLog` (a list in memory, for
tests and for embedding).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from loopml.predictions.entities import PredictionRecord


@runtime_checkable
class PredictionSink(Protocol):
    """Takes prediction records without blocking the caller."""

    @property
    def dropped(self) -> int:
        """Records refused so far (a full queue, a closed sink): a running total."""
        ...

    def log(self, record: PredictionRecord) -> bool:
        """Accept one record; False when it was dropped instead. Never raises on its values."""
        ...

    def flush(self) -> None:
        """Persist everything accepted so far before returning."""
        ...

    def close(self) -> None:
        """Flush and stop taking records."""
        ...
