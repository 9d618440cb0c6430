"""``loopml predict``: score a table or a dataset version with a registered model, as a run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, errors, print_json

if TYPE_CHECKING:  # the CLI starts without loading pyarrow, pandas or scikit-learn
    from loopml.serving.batch import BatchResult


@friendly_errors
def predict(
    model: Annotated[
        str, typer.Argument(help="models:/NAME@ALIAS or models:/NAME/VERSION to score with.")
    ],
    source: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="A Parquet or CSV file, a directory of Parquet parts, or data:NAME@VERSION.",
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The Parquet file to write the predictions to.")
    ],
    chunk_rows: Annotated[
        int, typer.Option(help="Rows scored (and held in memory) at a time.", min=1)
    ] = 65_536,
    proba: Annotated[
        bool, typer.Option("--proba", help="Write class probabilities, one column per class.")
    ] = False,
    only_predictions: Annotated[
        bool, typer.Option("--only-predictions", help="Leave the input's columns out.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the --output file if it exists.")
    ] = False,
    trust: Annotated[
        bool,
        typer.Option(
            help="Let a format that runs code on load (pickle) load. Prefer `models trust`."
        ),
    ] = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score every row of --input with MODEL into --output, whole or not at all, as a run."""
    from loopml.serving.batch import score

    if output.exists() and not overwrite:
        raise typer.BadParameter(
            f"{output} exists; choose a new file or pass --overwrite", param_hint="--output"
        )
    client = open_client(uri)
    with Progress(
        SpinnerColumn(),
        TextColumn("scoring {task.completed:,.0f} rows"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("predict", total=None)
        result = score(
            client,
            model,
            source,
            output,
            chunk_rows=chunk_rows,
            method="predict_proba" if proba else "predict",
            keep_columns=not only_predictions,
            trust=trust,
            overwrite=overwrite,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if as_json:
        print_json(result)
        return
    _print_result(result)


def _print_result(result: BatchResult) -> None:
    console.print(
        f"scored [bold]{result.rows:,}[/bold] rows in {result.chunks:,} chunks with "
        f"{escape(result.model_name)} v{result.model_version} in {result.seconds:.1f}s",
        highlight=False,
    )
    console.print(f"output  {escape(str(result.destination))}", highlight=False)
    console.print(f"run     {result.run_id}", highlight=False)
