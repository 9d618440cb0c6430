"""The pipeline store interface: the step cache and the step runs, in a few primitives.

Two implementations: :class:`~loopml.pipelines._sql.SqlPipelineStore` on the
metadata database (the ``pipeline_cache`` table; step runs written in bulk, one
transaction per batch) for an embedded client, and
:class:`~loopml.pipelines._tracking.TrackingPipelineStore` through any tracking
client (a loopml or MLflow server): the cache is then the step runs themselves,
found by their cache-key tag. Both write step runs that read back the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from loopml.pipelines.entities import CacheEntry


@dataclass(frozen=True)
class StepRun:
    """A step's child run, shaped as tracking stores it."""

    run_name: str
    status: str
    start_time: int
    end_time: int
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


class PipelineStore(Protocol):
    def get_cached(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        """The entries found for ``keys`` (missing keys are absent)."""
        ...

    def put_cached(self, entries: Sequence[CacheEntry]) -> None:
        """Insert or replace entries (a re-run refreshes its key)."""
        ...

    def record_steps(self, experiment_id: str, user_id: str, runs: Sequence[StepRun]) -> list[str]:
        """Create the finished step runs; return their run ids in order."""
        ...


def open_store(client: object, experiment_id: str) -> PipelineStore:
    """The SQL store when the client holds a database; the tracking store otherwise."""
    from loopml.store.database import Database

    db = getattr(getattr(client, "store", None), "db", None)
    if isinstance(db, Database):
        from loopml.pipelines._sql import SqlPipelineStore

        return SqlPipelineStore(db)
    from loopml.pipelines._tracking import TrackingPipelineStore
    from loopml.tracking.client import TrackingClient

    assert isinstance(client, TrackingClient)
    return TrackingPipelineStore(client, experiment_id)
