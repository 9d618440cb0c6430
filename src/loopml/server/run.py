"""``serve()``: the tracking server under uvicorn, in one process or several.

One worker runs the app in this process. Several workers are separate
processes started by uvicorn from the import string
``loopml.server.app:create_app_from_env``, so the settings travel as the
``LOOPML_*`` environment variables; the schema is migrated once here, before
they start, so they never race to do it. Workers share nothing but the
database and the artifact store, which is why both must be safe for
concurrent writers (SQLite in WAL mode with immediate transactions is).

Auth is on whenever the server binds a non-loopback address (there is no
switch to turn it off there), and on loopback only when asked. A loopback
server answers only loopback ``Host`` names unless told otherwise, so a web
page cannot reach it through DNS rebinding.
"""

from __future__ import annotations

import dataclasses
import os

from loopml.core.config import LOOPBACK_HOSTS, Settings, is_loopback
from loopml.core.errors import InvalidParameter, InvalidState

APP_FACTORY = "loopml.server.app:create_app_from_env"


def server_settings(settings: Settings, host: str, auth: bool | None = None) -> Settings:
    """``settings`` as a server bound to ``host`` must run them.

    ``auth=None`` keeps the configured choice; a non-loopback ``host`` forces
    auth on and refuses ``auth=False``.
    """
    loopback = is_loopback(host)
    if auth is False and not loopback:
        raise InvalidParameter(
            f"auth cannot be turned off on {host}: a server reachable from other machines "
            "always requires credentials; bind 127.0.0.1 to run without auth"
        )
    wanted = settings.auth if auth is None else auth
    hosts = settings.allowed_hosts or (LOOPBACK_HOSTS if loopback else ())
    return dataclasses.replace(settings, auth=wanted or not loopback, allowed_hosts=hosts)


def serve(
    host: str,
    port: int,
    workers: int = 1,
    settings: Settings | None = None,
    auth: bool | None = None,
) -> None:
    """Serve the tracking API on ``host:port`` until interrupted.

    Args:
        host: the address to bind (``127.0.0.1`` keeps it local).
        port: the TCP port.
        workers: worker processes; more than one needs a database that several
            processes can write (SQLite in WAL mode, or PostgreSQL).
        settings: where state lives; default from the environment.
        auth: require credentials (``None``: as configured; always on off loopback).
    """
    import uvicorn

    settings = server_settings(settings or Settings.from_env(), host, auth)
    if settings.auth:
        _require_an_admin(settings)
    if workers <= 1:
        from loopml.server.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    from loopml.store.database import Database

    database = Database(settings.database_url)
    database.initialize()
    database.dispose()
    os.environ.update(settings.to_env())
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="info")


def _require_an_admin(settings: Settings) -> None:
    """Refuse to start a guarded server nobody could ever sign in to."""
    from loopml.auth import AuthService
    from loopml.store.database import Database

    database = Database(settings.database_url)
    try:
        database.initialize()
        if not AuthService(database).has_admin():
            raise InvalidState(
                "auth is on but there is no admin account yet; create one first with "
                "`loopml users create NAME --role admin` (it asks for a password)"
            )
    finally:
        database.dispose()
