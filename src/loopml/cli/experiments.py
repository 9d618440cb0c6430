"""``loopml experiments ...``: list, create, rename, delete, restore."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, print_json, print_table, when
from loopml.tracking.entities import ViewType

app = typer.Typer(help="Create, list and manage experiments.", no_args_is_help=True)


@app.command("list")
@friendly_errors
def list_experiments(
    uri: UriOption = None,
    as_json: JsonOption = False,
    view: Annotated[ViewType, typer.Option(help="Which lifecycle stages to show.")] = (
        ViewType.ACTIVE_ONLY
    ),
    filter_string: Annotated[
        str | None, typer.Option("--filter", help="e.g. \"name LIKE 'iris%'\"")
    ] = None,
    max_results: Annotated[int, typer.Option(help="At most this many.")] = 1000,
) -> None:
    """List experiments, newest first."""
    page = open_client(uri).search_experiments(view, max_results, filter_string)
    if as_json:
        print_json(page.items)
        return
    print_table(
        "Experiments",
        ["id", "name", "stage", "created", "artifact location"],
        [
            (e.experiment_id, e.name, e.lifecycle_stage, when(e.creation_time), e.artifact_location)
            for e in page.items
        ],
    )


@app.command("create")
@friendly_errors
def create(
    name: str,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an experiment and print its id."""
    experiment_id = open_client(uri).create_experiment(name)
    if as_json:
        print_json({"experiment_id": experiment_id, "name": name})
    else:
        console.print(f"created experiment [bold]{name}[/bold] with id {experiment_id}")


@app.command("rename")
@friendly_errors
def rename(experiment_id: str, new_name: str, uri: UriOption = None) -> None:
    """Rename an experiment."""
    open_client(uri).rename_experiment(experiment_id, new_name)
    console.print(f"experiment {experiment_id} is now named [bold]{new_name}[/bold]")


@app.command("delete")
@friendly_errors
def delete(experiment_id: str, uri: UriOption = None) -> None:
    """Mark an experiment and its runs deleted (restorable)."""
    open_client(uri).delete_experiment(experiment_id)
    console.print(f"experiment {experiment_id} deleted (restore with `loopml experiments restore`)")


@app.command("restore")
@friendly_errors
def restore(experiment_id: str, uri: UriOption = None) -> None:
    """Restore a deleted experiment and its runs."""
    open_client(uri).restore_experiment(experiment_id)
    console.print(f"experiment {experiment_id} restored")
