"""Settings: where loopml keeps its state and how its server is guarded, from the env.

``LOOPML_HOME`` (default ``./.loopml``) holds the embedded SQLite database and
the local artifact root; ``LOOPML_DATABASE_URL`` and ``LOOPML_ARTIFACT_ROOT``
point either at real infrastructure (PostgreSQL, ``s3://``). The server's
guard settings (``LOOPML_AUTH``, ``LOOPML_AUTH_DEFAULT_PERMISSION``,
``LOOPML_ALLOWED_HOSTS``, ``LOOPML_CORS_ORIGINS``, ``LOOPML_MAX_REQUEST_BYTES``)
only matter to ``loopml server``; :func:`loopml.server.run.serve` turns auth on
by itself when it binds a non-loopback address.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from loopml.core.errors import InvalidParameter

DEFAULT_PERMISSIONS = ("none", "read", "edit")
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # JSON bodies; artifact uploads stream and are exempt
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    artifact_root: str
    # Require credentials on every non-public route.
    auth: bool = False
    # What an authenticated non-admin may do to a resource nobody granted them:
    # "none" (default-deny), "read" (MLflow's default), or "edit".
    auth_default_permission: str = "read"
    # Host header values the server answers (empty: any). Guards a loopback server
    # against DNS rebinding; "*" in the list also means any.
    allowed_hosts: tuple[str, ...] = ()
    # Origins allowed cross-origin requests; empty means CORS stays off.
    cors_origins: tuple[str, ...] = ()
    max_request_bytes: int = MAX_REQUEST_BYTES
    # Directories whose files may be snapshotted as dataset versions (empty: any path).
    data_roots: tuple[str, ...] = ()
    # Run scheduled monitors and pipelines from this server; several workers may
    # (each due time is claimed once in the database).
    scheduler: bool = False
    scheduler_tick_s: float = 10.0

    def __post_init__(self) -> None:
        if self.auth_default_permission not in DEFAULT_PERMISSIONS:
            raise InvalidParameter(
                f"LOOPML_AUTH_DEFAULT_PERMISSION must be one of {', '.join(DEFAULT_PERMISSIONS)};"
                f" got {self.auth_default_permission!r}"
            )
        if self.max_request_bytes < 1024:
            raise InvalidParameter(
                f"LOOPML_MAX_REQUEST_BYTES must be at least 1024; got {self.max_request_bytes}"
            )

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Settings:
        """Settings for ``home`` (or ``LOOPML_HOME``), with overrides from the env.

        An explicit ``home`` wins over the environment for every derived path,
        so ``Client("/tmp/x")`` never writes into another project's store.
        """
        explicit = home is not None
        base = Path(
            home if home is not None else os.environ.get("LOOPML_HOME", ".loopml")
        ).resolve()
        db_default = f"sqlite:///{base / 'loopml.db'}"
        art_default = str(base / "artifacts")
        env = os.environ
        return cls(
            home=base,
            database_url=db_default if explicit else env.get("LOOPML_DATABASE_URL", db_default),
            artifact_root=art_default if explicit else env.get("LOOPML_ARTIFACT_ROOT", art_default),
            auth=_flag(env.get("LOOPML_AUTH", ""), "LOOPML_AUTH"),
            auth_default_permission=env.get("LOOPML_AUTH_DEFAULT_PERMISSION", "read").lower(),
            allowed_hosts=_words(env.get("LOOPML_ALLOWED_HOSTS", "")),
            cors_origins=_words(env.get("LOOPML_CORS_ORIGINS", "")),
            max_request_bytes=_int(env.get("LOOPML_MAX_REQUEST_BYTES"), "LOOPML_MAX_REQUEST_BYTES"),
            data_roots=_words(env.get("LOOPML_DATA_ROOTS", "")),
            scheduler=_flag(env.get("LOOPML_SCHEDULER", ""), "LOOPML_SCHEDULER"),
            scheduler_tick_s=_seconds(
                env.get("LOOPML_SCHEDULER_TICK_S"), "LOOPML_SCHEDULER_TICK_S"
            ),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``Settings.from_env()`` return these settings."""
        return {
            "LOOPML_HOME": str(self.home),
            "LOOPML_DATABASE_URL": self.database_url,
            "LOOPML_ARTIFACT_ROOT": self.artifact_root,
            "LOOPML_AUTH": "true" if self.auth else "false",
            "LOOPML_AUTH_DEFAULT_PERMISSION": self.auth_default_permission,
            "LOOPML_ALLOWED_HOSTS": ",".join(self.allowed_hosts),
            "LOOPML_CORS_ORIGINS": ",".join(self.cors_origins),
            "LOOPML_MAX_REQUEST_BYTES": str(self.max_request_bytes),
            "LOOPML_DATA_ROOTS": ",".join(self.data_roots),
            "LOOPML_SCHEDULER": "true" if self.scheduler else "false",
            "LOOPML_SCHEDULER_TICK_S": str(self.scheduler_tick_s),
        }


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server reachable from this machine only."""
    return host.strip("[]") in {"localhost", "::1"} or host.startswith("127.")


def _flag(value: str, name: str) -> bool:
    text = value.strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise InvalidParameter(f"{name} must be true or false; got {value!r}")


def _words(value: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in value.split(",") if word.strip())


def _seconds(value: str | None, name: str) -> float:
    if value is None or not value.strip():
        return 10.0
    try:
        seconds = float(value)
    except ValueError:
        raise InvalidParameter(f"{name} must be a number of seconds; got {value!r}") from None
    if not 0 < seconds < 86_400:
        raise InvalidParameter(f"{name} must be between 0 and 86400 seconds; got {value!r}")
    return seconds


def _int(value: str | None, name: str) -> int:
    if value is None or not value.strip():
        return MAX_REQUEST_BYTES
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(f"{name} must be a whole number of bytes; got {value!r}") from None
