"""``loopml db ...``: schema migrations."""

from __future__ import annotations

import typer

from loopml.cli._common import friendly_errors
from loopml.cli._output import console

app = typer.Typer(help="Manage the metadata database.", no_args_is_help=True)


@app.command("upgrade")
@friendly_errors
def upgrade() -> None:
    """Migrate the database ($LOOPML_DATABASE_URL or the embedded one) to the newest schema."""
    from sqlalchemy.engine import make_url

    from loopml.core.config import Settings
    from loopml.store.database import Database
    from loopml.store.migrate import head_revision, upgrade_to_head

    settings = Settings.from_env()
    db = Database(settings.database_url)
    migrated = upgrade_to_head(db)
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    state = "migrated to" if migrated else "already at"
    console.print(f"{where}: {state} revision {head_revision()}")
