"""Experiment tracking: experiments, runs, metrics, params, tags, inputs, logged models."""

from __future__ import annotations

from loopml.core.config import Settings
from loopml.tracking.client import TrackingClient
from loopml.tracking.entities import (
    Dataset,
    DatasetInput,
    Experiment,
    LifecycleStage,
    LoggedModel,
    Metric,
    Page,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)


def open_tracking(settings: Settings | None = None) -> TrackingClient:
    """A tracking client on the embedded or configured database and artifact root."""
    from loopml.artifacts import ArtifactStore
    from loopml.store.database import Database
    from loopml.tracking._sql import SqlTrackingStore

    settings = settings or Settings.from_env()
    db = Database(settings.database_url)
    db.initialize()
    return TrackingClient(SqlTrackingStore(db), ArtifactStore(settings.artifact_root))


__all__ = [
    "Dataset",
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "LoggedModel",
    "Metric",
    "Page",
    "Param",
    "Run",
    "RunInfo",
    "RunStatus",
    "RunTag",
    "TrackingClient",
    "ViewType",
    "open_tracking",
]
