"""``loopml runs ...``: list, show and compare runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, duration, print_json, print_table, when
from loopml.core.errors import ResourceNotFound

if TYPE_CHECKING:
    from loopml.client import Client
    from loopml.tracking.entities import Run

app = typer.Typer(help="List, show and compare runs.", no_args_is_help=True)


def _experiment_ids(client: Client, experiment: str) -> list[str]:
    if experiment.isdigit():
        return [experiment]
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise ResourceNotFound(f"experiment {experiment!r} does not exist")
    return [found.experiment_id]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


@app.command("list")
@friendly_errors
def list_runs(
    experiment: Annotated[str, typer.Option("--experiment", "-e", help="Name or id.")] = "0",
    filter_string: Annotated[
        str | None, typer.Option("--filter", help='e.g. "metrics.acc > 0.9"')
    ] = None,
    order_by: Annotated[
        list[str] | None, typer.Option("--order-by", help="e.g. 'metrics.acc DESC'")
    ] = None,
    max_results: Annotated[int, typer.Option(help="At most this many.")] = 100,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs of an experiment, newest first (or as --order-by says)."""
    client = open_client(uri)
    ids = _experiment_ids(client, experiment)
    page = client.search_runs(ids, filter_string, max_results=max_results, order_by=order_by or [])
    if as_json:
        print_json(page.items)
        return
    metric_keys = sorted({m.key for r in page.items for m in r.data.metrics})[:6]
    print_table(
        f"Runs of experiment {experiment}",
        ["run id", "name", "status", "started", "duration", *metric_keys],
        [_run_row(r, metric_keys) for r in page.items],
    )


def _run_row(run: Run, metric_keys: list[str]) -> list[str]:
    latest = {m.key: m.value for m in run.data.metrics}
    info = run.info
    return [
        info.run_id,
        info.run_name,
        info.status,
        when(info.start_time),
        duration(info.start_time, info.end_time),
        *(_fmt(latest[k]) if k in latest else "" for k in metric_keys),
    ]


@app.command("show")
@friendly_errors
def show(run_id: str, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Everything a run recorded: info, params, latest metrics, tags, inputs, artifacts."""
    client = open_client(uri)
    run = client.get_run(run_id)
    if as_json:
        print_json(run)
        return
    info = run.info
    console.print(f"[bold]{info.run_name}[/bold] ({info.run_id})  {info.status}")
    console.print(f"experiment {info.experiment_id}, started {when(info.start_time)}")
    console.print(f"artifacts: {info.artifact_uri}")
    print_table("Params", ["key", "value"], sorted(run.data.params.items()))
    print_table(
        "Metrics (latest)",
        ["key", "value", "step"],
        [(m.key, _fmt(m.value), m.step) for m in sorted(run.data.metrics, key=lambda m: m.key)],
    )
    print_table("Tags", ["key", "value"], sorted(run.data.tags.items()))
    if run.dataset_inputs:
        print_table(
            "Inputs",
            ["dataset", "digest", "source"],
            [(d.dataset.name, d.dataset.digest, d.dataset.source_type) for d in run.dataset_inputs],
        )
    files = client.list_artifacts(run_id)
    print_table(
        "Artifacts",
        ["path", "size"],
        [(f.path + ("/" if f.is_dir else ""), f.file_size) for f in files],
    )


@app.command("compare")
@friendly_errors
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Params and latest metrics of several runs side by side; differences in bold."""
    client = open_client(uri)
    runs = [client.get_run(run_id) for run_id in run_ids]
    rows: list[list[str]] = []
    for key in sorted({k for r in runs for k in r.data.params}):
        rows.append(_compare_row(f"param {key}", [r.data.params.get(key, "") for r in runs]))
    for key in sorted({m.key for r in runs for m in r.data.metrics}):
        values = [{m.key: _fmt(m.value) for m in r.data.metrics}.get(key, "") for r in runs]
        rows.append(_compare_row(f"metric {key}", values))
    if as_json:
        print_json({"run_ids": run_ids, "rows": rows})
        return
    print_table("Comparison", ["", *(r.info.run_name for r in runs)], rows)


def _compare_row(label: str, values: list[str]) -> list[str]:
    differs = len(set(values)) > 1
    return [label, *(f"[bold]{v}[/bold]" if differs else v for v in values)]
