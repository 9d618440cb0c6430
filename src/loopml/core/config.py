"""Settings: where loopml keeps its state, from the environment with defaults.

``LOOPML_HOME`` (default ``./.loopml``) holds the embedded SQLite database and
the local artifact root; ``LOOPML_DATABASE_URL`` and ``LOOPML_ARTIFACT_ROOT``
point either at real infrastructure (PostgreSQL, ``s3://``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    artifact_root: str

    @classmethod
    def from_env(cls, home: str | os.PathLike[str] | None = None) -> Settings:
        """Settings for ``home`` (or ``LOOPML_HOME``), with URL overrides from the env.

        An explicit ``home`` wins over the environment for every derived path,
        so ``Client("/tmp/x")`` never writes into another project's store.
        """
        explicit = home is not None
        base = Path(
            home if home is not None else os.environ.get("LOOPML_HOME", ".loopml")
        ).resolve()
        db_default = f"sqlite:///{base / 'loopml.db'}"
        art_default = str(base / "artifacts")
        if explicit:
            return cls(home=base, database_url=db_default, artifact_root=art_default)
        return cls(
            home=base,
            database_url=os.environ.get("LOOPML_DATABASE_URL", db_default),
            artifact_root=os.environ.get("LOOPML_ARTIFACT_ROOT", art_default),
        )
