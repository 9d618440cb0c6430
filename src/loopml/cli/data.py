"""``loopml data ...``: dataset versions, tags, reads and diffs.

Versions are named ``NAME@VERSION``, ``NAME@TAG`` or ``NAME@latest`` (a bare
``NAME`` means latest; the ``data:`` prefix is optional). Validation and
profiles are in :mod:`loopml.cli.data_quality`, on the same ``data`` group.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, errors, print_json, print_table, when

if TYPE_CHECKING:  # the CLI starts without loading pyarrow, pandas or DuckDB
    from loopml.data.diff import DataDiff
    from loopml.data.entities import DatasetVersion

app = typer.Typer(
    help="Version, tag, read, validate, profile and compare datasets.", no_args_is_help=True
)

RefArgument = Annotated[str, typer.Argument(help="NAME@VERSION, NAME@TAG or NAME (latest).")]


@app.command("add")
@friendly_errors
def add(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    path: Annotated[Path, typer.Argument(help="A Parquet or CSV file, or a directory of them.")],
    description: Annotated[str, typer.Option(help="What this version holds.")] = "",
    parent: Annotated[
        list[str] | None, typer.Option(help="A version this one was derived from (repeatable).")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="The run that produced this data.")] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Snapshot PATH as a new version of NAME (identical content is not added twice)."""
    client = open_client(uri)
    with Progress(
        SpinnerColumn(),
        TextColumn("snapshotting {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task("add", rows=0)
        added = client.data.add(
            name,
            path,
            description=description,
            parents=parent or (),
            run_id=run_id,
            progress=lambda rows: bar.update(task, rows=rows),
        )
    version = added.version
    if as_json:
        print_json({**version.to_dict(), "created": added.created})
        return
    if added.created:
        console.print(
            f"added [bold]{version.ref}[/bold]: {version.row_count:,} rows, "
            f"{len(version.schema)} columns, content {version.content_hash[:12]}",
            highlight=False,
        )
    else:
        console.print(
            f"unchanged: identical content is already [bold]{version.ref}[/bold]", highlight=False
        )
    if version.validation_status == "failed":
        errors.print(
            f"[yellow]warning:[/yellow] {version.ref} failed its dataset's suite "
            f"(see `loopml data validations {version.name}@{version.version}`)",
            highlight=False,
        )


@app.command("list")
@friendly_errors
def list_datasets(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List datasets with their latest version and tags."""
    datasets = open_client(uri).data.list_datasets()
    if as_json:
        print_json([d.to_dict() for d in datasets])
        return
    print_table(
        "Datasets",
        ["name", "latest", "tags", "created by", "updated"],
        [
            (
                d.name,
                d.latest_version,
                ", ".join(f"{t}→{v}" for t, v in sorted(d.tags.items())),
                d.created_by,
                when(d.updated_ms),
            )
            for d in datasets
        ],
    )


@app.command("versions")
@friendly_errors
def versions(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a dataset's versions, newest first."""
    found = open_client(uri).data.list_versions(name.removeprefix("data:"))
    if as_json:
        print_json([v.to_dict() for v in found])
        return
    print_table(
        f"Versions of {name}",
        ["version", "rows", "columns", "content", "validation", "created by", "created"],
        [
            (
                v.version,
                f"{v.row_count:,}",
                len(v.schema),
                v.content_hash[:12],
                v.validation_status or "",
                v.created_by,
                when(v.created_ms),
            )
            for v in found
        ],
    )


@app.command("show")
@friendly_errors
def show(ref: RefArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Show one version: schema, size, origin, lineage and validation status."""
    version = open_client(uri).data.get(ref)
    if as_json:
        print_json(version.to_dict())
        return
    _print_version(version)


def _print_version(version: DatasetVersion) -> None:
    facts = [
        ("version", version.ref),
        ("rows", f"{version.row_count:,}"),
        ("size", f"{version.size_bytes:,} bytes"),
        ("content", version.content_hash),
        ("source", version.source_uri),
        ("parents", ", ".join(version.parents)),
        ("produced by run", version.run_id or ""),
        ("validation", version.validation_status or "not validated"),
        ("created", f"{when(version.created_ms)} by {version.created_by}"),
        ("description", version.description),
    ]
    for label, value in facts:
        if value:
            console.print(f"[bold]{label:>16}[/bold]  {escape(str(value))}", highlight=False)
    print_table("Schema", ["column", "type"], [(f["name"], f["type"]) for f in version.schema])


@app.command("get")
@friendly_errors
def get(
    ref: RefArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the Parquet.")],
    mask: Annotated[bool, typer.Option(help="Null out sensitive (pii) columns.")] = False,
    uri: UriOption = None,
) -> None:
    """Write a version to a Parquet file (sensitive columns masked unless you hold a grant)."""
    if output.exists():
        raise typer.BadParameter(f"{output} exists; choose a new file", param_hint="--output")
    version = open_client(uri).data.download(ref, output, mask=mask)
    console.print(f"wrote {version.ref} ({version.row_count:,} rows) to {output}", highlight=False)


@app.command("tag")
@friendly_errors
def tag(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION to point the tag at.")],
    tag_name: Annotated[str, typer.Argument(metavar="TAG", help="e.g. prod, golden.")],
    expected: Annotated[
        int | None,
        typer.Option(help="Only move the tag if it still points at this version."),
    ] = None,
    uri: UriOption = None,
) -> None:
    """Point TAG at a version (compare-and-swap with --expected)."""
    client = open_client(uri)
    version = client.data.get(ref)
    current = client.data.dataset(version.name).tags.get(tag_name)
    previous = client.data.set_tag(
        version.name, tag_name, version.version, expected=current if expected is None else expected
    )
    moved = "set" if previous is None else f"moved from {previous}"
    console.print(f"{version.name}@{tag_name} → {version.version} ({moved})", highlight=False)


@app.command("tag-column")
@friendly_errors
def tag_column(
    name: Annotated[str, typer.Argument(help="Dataset name.")],
    column: Annotated[str, typer.Argument(help="Column name.")],
    tags: Annotated[list[str] | None, typer.Argument(help="Tags, e.g. pii (none: clear).")] = None,
    uri: UriOption = None,
) -> None:
    """Label a column; `pii` masks it for readers without an explicit grant."""
    open_client(uri).data.set_column_tags(name, column, tags or [])
    console.print(f"{name}.{column}: {', '.join(tags or []) or 'no tags'}", highlight=False)


@app.command("diff")
@friendly_errors
def diff(
    before: Annotated[str, typer.Argument(help="The older version, NAME@VERSION.")],
    after: Annotated[str, typer.Argument(help="The newer version, NAME@VERSION.")],
    key: Annotated[
        list[str] | None, typer.Option(help="Key column matching rows (repeatable).")
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Schema, row-count and (with --key) added, removed and changed rows."""
    result = open_client(uri).data.diff(before, after, keys=key or [])
    if as_json:
        print_json(result.to_dict())
        return
    _print_diff(result)


def _print_diff(result: DataDiff) -> None:
    console.print(
        f"[bold]{result.before}[/bold] → [bold]{result.after}[/bold]: "
        f"{result.rows_before:,} → {result.rows_after:,} rows",
        highlight=False,
    )
    if result.identical:
        console.print("identical content")
        return
    if result.schema_changes:
        print_table(
            "Schema changes",
            ["column", "change", "before", "after"],
            [(c.column, c.change, c.before, c.after) for c in result.schema_changes],
        )
    changed = "" if result.changed is None else f", {result.changed:,} changed"
    console.print(f"rows: {result.added:,} added, {result.removed:,} removed{changed}")
    for column, count in sorted(result.changed_columns.items()):
        console.print(f"  {escape(column)}: {count:,} values changed", highlight=False)
    for title, rows in (
        ("Added (sample)", result.added_sample),
        ("Removed (sample)", result.removed_sample),
        ("Changed (sample: key and [before, after])", result.changed_sample),
    ):
        if rows:
            columns = list(dict.fromkeys(k for row in rows for k in row))
            print_table(title, columns, [[row.get(c) for c in columns] for row in rows])
