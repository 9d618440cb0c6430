"""The ``loopml`` command: one sub-command group per lifecycle concern."""

from __future__ import annotations

import typer

from loopml.cli import (
    accounts,
    audit,
    data,
    data_quality,  # noqa: F401  (registers its commands on the data group)
    db,
    endpoints,
    experiments,
    models,
    monitors,
    permissions,
    pipeline_schedules,  # noqa: F401  (registers its commands on the pipelines group)
    pipelines,
    policies,
    runs,
    tokens,
)
from loopml.cli.demo import demo
from loopml.cli.predict import predict
from loopml.cli.serve import serve
from loopml.cli.server import server

app = typer.Typer(
    name="loopml",
    help="loopml: track, register, serve, monitor and retrain models, as one system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("server")(server)
app.command("serve")(serve)
app.command("predict")(predict)
app.command("demo")(demo)
app.add_typer(db.app, name="db")
app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(data.app, name="data")
app.add_typer(models.app, name="models")
app.add_typer(monitors.app, name="monitors")
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(policies.app, name="policies")
app.command("whoami")(accounts.whoami)
app.add_typer(accounts.users, name="users")
app.add_typer(accounts.service_accounts, name="service-accounts")
app.add_typer(tokens.app, name="tokens")
app.add_typer(permissions.app, name="permissions")
app.add_typer(audit.app, name="audit")


@app.command("version")
def version() -> None:
    """Print loopml's version."""
    from loopml import __version__

    print(__version__)
