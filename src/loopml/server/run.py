"""``serve()``: the tracking server under uvicorn, in one process or several.

One worker runs the app in this process. Several workers are separate
processes started by uvicorn from the import string
``loopml.server.app:create_app_from_env``, so the settings travel as the
``LOOPML_*`` environment variables; the schema is migrated once here, before
they start, so they never race to do it. Workers share nothing but the
database and the artifact store, which is why both must be safe for
concurrent writers (SQLite in WAL mode with immediate transactions is).
"""

from __future__ import annotations

import os

from loopml.core.config import Settings

APP_FACTORY = "loopml.server.app:create_app_from_env"


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``Settings.from_env()`` return ``settings``."""
    return {
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DATABASE_URL": settings.database_url,
        "LOOPML_ARTIFACT_ROOT": settings.artifact_root,
    }


def serve(host: str, port: int, workers: int = 1, settings: Settings | None = None) -> None:
    """Serve the tracking API on ``host:port`` until interrupted.

    Args:
        host: the address to bind (``127.0.0.1`` keeps it local).
        port: the TCP port.
        workers: worker processes; more than one needs a database that several
            processes can write (SQLite in WAL mode, or PostgreSQL).
        settings: where state lives; default from the environment.
    """
    import uvicorn

    settings = settings or Settings.from_env()
    if workers <= 1:
        from loopml.server.app import create_app

        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    from loopml.store.database import Database

    database = Database(settings.database_url)
    database.initialize()
    database.dispose()
    os.environ.update(settings_env(settings))
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level="info")
