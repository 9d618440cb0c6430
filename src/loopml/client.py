"""``loopml.Client``: one entry point whose URI picks embedded or remote.

A local path (or nothing: ``LOOPML_TRACKING_URI``, else ``LOOPML_HOME``, else
``./.loopml``) opens the embedded SQLite store and artifact directory in
process, no server needed; an ``http(s)://`` URI talks to ``loopml server``
(or any MLflow-compatible tracking server) over its REST API.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from loopml.core.config import Settings
from loopml.tracking.client import TrackingClient

if TYPE_CHECKING:
    from loopml.auth.client import AuthApi

TRACKING_URI_ENV = "LOOPML_TRACKING_URI"


def resolve_uri(uri: str | os.PathLike[str] | None) -> str | None:
    if uri is None:
        return os.environ.get(TRACKING_URI_ENV) or None
    return os.fspath(uri)


class Client(TrackingClient):
    """The Python SDK: tracking today; registry, data and serving join it later."""

    def __init__(self, uri: str | os.PathLike[str] | None = None) -> None:
        resolved = resolve_uri(uri)
        self.uri = resolved
        if resolved and resolved.startswith(("http://", "https://")):
            from loopml.artifacts.http import HttpArtifactStore
            from loopml.tracking._rest import RestTrackingStore

            super().__init__(RestTrackingStore(resolved), HttpArtifactStore(resolved))
            self._auth: AuthApi | None = None
            return
        home = resolved.removeprefix("file://") if resolved else None
        settings = Settings.from_env(home)
        from loopml.artifacts import ArtifactStore
        from loopml.store.database import Database
        from loopml.tracking._sql import SqlTrackingStore

        super().__init__(
            SqlTrackingStore(Database(settings.database_url)),
            ArtifactStore(settings.artifact_root),
        )
        self.settings = settings
        self._auth = None

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

    def close(self) -> None:
        """Flush queued metrics and release connections (HTTP pools, database engine)."""
        self.metric_batcher.flush()
        for part in (self._auth, self.store, self.artifacts):
            closer = getattr(part, "close", None) or getattr(
                getattr(part, "db", None), "dispose", None
            )
            if closer is not None:
                closer()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
