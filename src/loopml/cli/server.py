"""``loopml server``: the tracking server (MLflow-compatible REST API)."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli._common import friendly_errors


@friendly_errors
def server(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 5000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    auth: Annotated[
        bool | None,
        typer.Option(
            "--auth/--no-auth",
            help="Require credentials (always on when HOST is not a loopback address). "
            "Default: $LOOPML_AUTH.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the tracking API; point mlflow at it with MLFLOW_TRACKING_URI=http://HOST:PORT."""
    from loopml.server.run import serve

    serve(host=host, port=port, workers=workers, auth=auth)
