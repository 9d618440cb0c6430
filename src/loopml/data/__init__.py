"""Datasets: content-addressed versions, validation suites, profiles and lineage.

``loopml.data.log_dataset(name, df_or_path)`` snapshots a table as an
immutable, content-addressed version in the embedded store (``LOOPML_HOME``);
:func:`open_data` gives a :class:`DataClient` for any settings. References
``data:NAME@VERSION`` / ``@tag`` / ``@latest`` name versions everywhere.
"""

from __future__ import annotations

from typing import Any

from loopml.auth import Actor
from loopml.core.config import Settings
from loopml.data.client import Added, DataApi, DataClient
from loopml.data.entities import DataRef, Dataset, DatasetVersion


def open_data(settings: Settings | None = None, actor: Actor | None = None) -> DataClient:
    """A data client on the configured database and artifact root, acting as ``actor``.

    Embedded use acts as the local OS user, like the rest of the embedded API.
    """
    from loopml.artifacts import ArtifactStore
    from loopml.auth import local_actor
    from loopml.data._sql import SqlDataStore
    from loopml.store.database import Database

    settings = settings or Settings.from_env()
    db = Database(settings.database_url)
    db.initialize()
    return DataClient(
        SqlDataStore(db),
        ArtifactStore(settings.artifact_root),
        actor or local_actor(),
        settings.home / "tmp",
        data_roots=settings.data_roots,
    )


def log_dataset(name: str, source: Any, **options: Any) -> DatasetVersion:
    """Snapshot ``source`` (a DataFrame, Arrow table, Parquet/CSV path) as a version of ``name``."""
    client = open_data()
    try:
        return client.log_dataset(name, source, **options)
    finally:
        client.store.db.dispose()


__all__ = [
    "Added",
    "DataApi",
    "DataClient",
    "DataRef",
    "Dataset",
    "DatasetVersion",
    "log_dataset",
    "open_data",
]
