"""``loopml serve``: a registered model over the Open Inference Protocol and MLflow's routes."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli._common import UriOption, friendly_errors


@friendly_errors
def serve(
    target: Annotated[
        str,
        typer.Argument(
            help="An endpoint's name, or models:/NAME@ALIAS or models:/NAME/VERSION to serve."
        ),
    ],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth/--no-auth",
            help="Require a token whose account may read the model (always on off loopback).",
        ),
    ] = False,
    trust: Annotated[
        bool,
        typer.Option(
            help="Let a format that runs code on load (pickle) load. Prefer `models trust`."
        ),
    ] = False,
    max_body_mb: Annotated[
        float, typer.Option(help="Largest request body, in MiB.", min=0.001)
    ] = 16,
    endpoint: Annotated[
        str | None, typer.Option(help="Name in the prediction log (default: the model's name).")
    ] = None,
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Keep every prediction in the prediction log.")
    ] = True,
    log_flush_s: Annotated[
        float, typer.Option(help="Seconds between prediction-log writes (what a crash can lose).")
    ] = 1.0,
    log_block: Annotated[
        bool, typer.Option(help="Wait when the prediction-log queue is full instead of dropping.")
    ] = False,
    max_batch_size: Annotated[
        int, typer.Option(help="Most requests one model call answers (1: no batching).", min=1)
    ] = 64,
    max_batch_delay_ms: Annotated[
        float,
        typer.Option(
            help="How long a busy queue may wait for a fuller batch (a lone request never waits).",
            min=0,
        ),
    ] = 0.0,
    poll_s: Annotated[
        float,
        typer.Option(help="Seconds between checks for a new endpoint config or a moved alias."),
    ] = 2.0,
    uri: UriOption = None,
) -> None:
    """Serve TARGET: /v2/models/NAME/infer (KServe V2), /invocations, health and /metrics.

    Changes to an endpoint's configuration, and aliases that move, are picked up
    without a restart: new models are loaded, verified and warmed before they
    take traffic.
    """
    from loopml.serving import ServeOptions
    from loopml.serving import serve as run

    options = ServeOptions(
        target=target,
        registry_uri=uri,
        auth=auth,
        trust=trust,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        endpoint=endpoint,
        log_predictions=log,
        log_flush_s=log_flush_s,
        log_block=log_block,
        max_batch_size=max_batch_size,
        max_batch_delay_ms=max_batch_delay_ms,
        poll_s=poll_s,
    )
    run(options, host=host, port=port, workers=workers)
