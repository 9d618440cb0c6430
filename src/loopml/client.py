"""``loopml.Client``: one entry point whose URI picks embedded or remote.

A local path (or nothing: ``LOOPML_TRACKING_URI``, else ``LOOPML_HOME``, else
``./.loopml``) opens the embedded SQLite store and artifact directory in
process, no server needed; an ``http(s)://`` URI talks to ``loopml server``
(or any MLflow-compatible tracking server) over its REST API.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from loopml.core.config import Settings
from loopml.core.errors import InvalidParameter
from loopml.tracking.client import TrackingClient

if TYPE_CHECKING:
    from loopml.auth.client import AuthApi
    from loopml.data import DataApi
    from loopml.registry import RegistryClient
    from loopml.registry._rest import RestRegistry
    from loopml.tracking.lineage import ModelLineage

TRACKING_URI_ENV = "LOOPML_TRACKING_URI"


def resolve_uri(uri: str | os.PathLike[str] | None) -> str | None:
    if uri is None:
        return os.environ.get(TRACKING_URI_ENV) or None
    return os.fspath(uri)


class Client(TrackingClient):
    """The Python SDK: tracking today; registry, data and serving join it later."""

    def __init__(
        self, uri: str | os.PathLike[str] | None = None, *, settings: Settings | None = None
    ) -> None:
        """``uri``: a local path or ``http(s)://`` server; or ``settings`` of an embedded
        store (a server's own, for work it does as itself)."""
        resolved = resolve_uri(uri) if settings is None else ""
        self.uri = resolved
        if resolved and resolved.startswith(("http://", "https://")):
            from loopml.artifacts.http import HttpArtifactStore
            from loopml.tracking._rest import RestTrackingStore

            super().__init__(RestTrackingStore(resolved), HttpArtifactStore(resolved))
            self._auth: AuthApi | None = None
            self._data: DataApi | None = None
            self._registry: RegistryClient | RestRegistry | None = None
            return
        home = resolved.removeprefix("file://") if resolved else None
        settings = settings if settings is not None else Settings.from_env(home)
        from loopml.artifacts import ArtifactStore
        from loopml.store.database import Database
        from loopml.tracking._sql import SqlTrackingStore

        super().__init__(
            SqlTrackingStore(Database(settings.database_url)),
            ArtifactStore(settings.artifact_root),
        )
        self.settings = settings
        self._auth = None
        self._data = None
        self._registry = None

    @property
    def auth(self) -> AuthApi:
        """Accounts, tokens, grants and the audit log: in process, or the server's."""
        if self._auth is None:
            self._auth = self._open_auth()
        return self._auth

    def _open_auth(self) -> AuthApi:
        if self.uri and self.uri.startswith(("http://", "https://")):
            from loopml.auth._rest import RestAuth

            return RestAuth(self.uri)
        from loopml.auth import AuthService, local_actor
        from loopml.auth.client import LocalAuth

        db = getattr(self.store, "db", None)
        assert db is not None
        db.initialize()
        return LocalAuth(AuthService(db), local_actor())

    @property
    def data(self) -> DataApi:
        """Dataset versions, validation, profiles and diffs: in process, or the server's."""
        if self._data is None:
            self._data = self._open_data()
        return self._data

    def _open_data(self) -> DataApi:
        if self.uri and self.uri.startswith(("http://", "https://")):
            from loopml.data._rest import RestData

            return RestData(self.uri)
        from loopml.artifacts import ArtifactStore
        from loopml.auth import local_actor
        from loopml.data import DataClient
        from loopml.data._sql import SqlDataStore

        db = getattr(self.store, "db", None)
        assert db is not None
        assert isinstance(self.artifacts, ArtifactStore)
        db.initialize()
        return DataClient(
            SqlDataStore(db),
            self.artifacts,
            local_actor(),
            self.settings.home / "tmp",
            data_roots=self.settings.data_roots,
        )

    @property
    def registry(self) -> RegistryClient | RestRegistry:
        """Registered models, versions, aliases, approvals and release gates: in process,
        or the server's."""
        if self._registry is None:
            self._registry = self._open_registry()
        return self._registry

    def _open_registry(self) -> RegistryClient | RestRegistry:
        if self.uri and self.uri.startswith(("http://", "https://")):
            from loopml.registry._rest import RestRegistry

            return RestRegistry(self.uri)
        from loopml.auth import local_actor
        from loopml.registry import RegistryClient, SqlRegistryStore

        db = getattr(self.store, "db", None)
        assert db is not None
        db.initialize()
        return RegistryClient(SqlRegistryStore(db), self, local_actor())

    def read_dataset(
        self,
        ref: str,
        *,
        run_id: str | None = None,
        format: str = "pandas",
        context: str = "training",
    ) -> Any:
        """Read a dataset version and record it as an input of ``run_id`` (or the active run).

        ``format``: ``pandas``, ``arrow`` or ``duckdb``. The input appears in the
        run's inputs for the ``mlflow`` client too, which is what lineage follows.
        """
        readers = {
            "pandas": self.data.read_pandas,
            "arrow": self.data.read_arrow,
            "duckdb": self.data.read_duckdb,
        }
        if format not in readers:
            raise InvalidParameter(f"format must be one of {', '.join(readers)}; got {format!r}")
        version = self.data.get(ref)
        frame = readers[format](version.ref)
        if run_id is None:
            from loopml.tracking.fluent import active_run

            active = active_run()
            run_id = active.info.run_id if active is not None else None
        if run_id is not None:
            self.log_dataset_input(run_id, version.ref, context=context)
        return frame

    def log_dataset_input(self, run_id: str, ref: str, *, context: str = "training") -> None:
        """Record that ``run_id`` used the dataset version ``ref`` (MLflow's ``log_inputs``)."""
        from loopml.tracking.lineage import dataset_input

        self.log_inputs(run_id, [dataset_input(self.data.get(ref), context)])

    def model_lineage(self, model_id: str) -> ModelLineage:
        """The dataset versions behind a logged model: its run's inputs and their ancestors."""
        from loopml.tracking.lineage import ModelLineage, run_lineage

        model = self.get_logged_model(model_id)
        if model.source_run_id is None:
            return ModelLineage(model_id, None, [])
        run = self.get_run(model.source_run_id)
        return ModelLineage(model_id, run.info.run_id, run_lineage(self.data, run))

    def close(self) -> None:
        """Flush queued metrics and release connections (HTTP pools, database engine)."""
        self.metric_batcher.flush()
        for part in (self._auth, self._data, self._registry, self.store, self.artifacts):
            closer = getattr(part, "close", None) or getattr(
                getattr(part, "db", None), "dispose", None
            )
            if closer is not None:
                closer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
