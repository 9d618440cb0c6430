"""``loopml pipelines ...``: run a pipeline, list and show its runs, resume a failed one.

``schedule`` and ``unschedule`` (cron and event triggers, run by the server)
join this group from :mod:`loopml.pipelines.schedules`; the commands here are
the ones that run or read pipeline runs.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, duration, print_json, print_table, when
from loopml.core.errors import InvalidParameter

if TYPE_CHECKING:
    from rich.live import Live

    from loopml.pipelines.entities import PipelineRun
    from loopml.pipelines.history import PipelineRunView
    from loopml.pipelines.pipeline import Pipeline
    from loopml.pipelines.runner import StepEvent
    from loopml.tracking.entities import Run

app = typer.Typer(
    help="Pipelines: run steps as a cached, retried, recorded DAG; list, show and resume runs.",
    no_args_is_help=True,
)

RunIdArgument = Annotated[str, typer.Argument(help="A pipeline run id.")]
ExecutorOption = Annotated[
    str, typer.Option("--executor", "-x", help="Where steps run: process, inline or ray.")
]
NoCacheOption = Annotated[
    bool, typer.Option("--no-cache", help="Run every step, even those with a cached result.")
]


def parse_params(pairs: list[str], pipeline: Pipeline[..., Any]) -> dict[str, Any]:
    """``k=v`` pairs, each value read as the pipeline's annotation for ``k`` wants."""
    from loopml.pipelines.typecheck import coerce_text, type_hints

    hints = type_hints(pipeline.fn)
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParameter(f"--param {pair!r} must look like name=value")
        params[key.strip()] = coerce_text(raw, hints.get(key.strip()))
    return params


@app.command("run")
@friendly_errors
def run(
    target: Annotated[str, typer.Argument(help="module:function or path/to/file.py:function.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A parameter, name=value.")
    ] = None,
    executor: ExecutorOption = "process",
    no_cache: NoCacheOption = False,
    experiment: Annotated[
        str | None, typer.Option(help="Experiment for the run (default: the pipeline's).")
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline; live step status on a terminal; exit 1 if a step failed."""
    from loopml.pipelines.targets import canonical_target, load_target

    pipeline = load_target(target)
    params = parse_params(param or [], pipeline)
    client = open_client(uri)
    with _LiveSteps(enabled=not as_json and console.is_terminal) as live:
        result = pipeline.run(
            params,
            executor=executor,
            cache=not no_cache,
            experiment=experiment,
            client=client,
            target=canonical_target(target),
            on_event=live.update,
        )
    _report(result, as_json)


@app.command("resume")
@friendly_errors
def resume(
    run_id: RunIdArgument,
    executor: ExecutorOption = "process",
    no_cache: NoCacheOption = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-run a failed run's failed steps and what depends on them; reuse the rest."""
    from loopml.pipelines.resumption import resume as resume_run

    client = open_client(uri)
    with _LiveSteps(enabled=not as_json and console.is_terminal) as live:
        result = resume_run(
            run_id,
            client=client,
            executor=executor,
            cache=False if no_cache else None,
            on_event=live.update,
        )
    _report(result, as_json)


@app.command("list")
@friendly_errors
def list_runs(
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Name or id (default: all).")
    ] = None,
    max_results: Annotated[int, typer.Option(help="At most this many.")] = 50,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Recent pipeline runs, newest first."""
    from loopml.pipelines.history import list_pipeline_runs

    runs = list_pipeline_runs(open_client(uri), experiment, max_results)
    if as_json:
        print_json([_run_summary(r) for r in runs])
        return
    print_table(
        "Pipeline runs",
        ["run id", "pipeline", "status", "started", "duration", "steps", "executor"],
        [_run_row(r) for r in runs],
    )


@app.command("show")
@friendly_errors
def show(run_id: RunIdArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """A pipeline run's steps: status, duration, cache hit, attempts, errors."""
    from loopml.pipelines.history import get_pipeline_run

    view = get_pipeline_run(open_client(uri), run_id)
    if as_json:
        print_json({**_run_summary(view.run), "steps": [_step_summary(s) for s in view.steps]})
        return
    info, tags = view.run.info, view.run.data.tags
    console.print(f"[bold]{view.name}[/bold] ({info.run_id})  {info.status}", highlight=False)
    console.print(
        f"started {when(info.start_time)}, took {duration(info.start_time, info.end_time)}, "
        f"executor {tags.get('loopml.pipeline.executor', '?')}",
        highlight=False,
    )
    if tags.get("loopml.pipeline.resumed_from"):
        console.print(f"resumed from {tags['loopml.pipeline.resumed_from']}", highlight=False)
    print_table(
        "Steps", ["step", "status", "duration", "cache hit", "attempts", "error"], _rows(view)
    )


# --- printing --------------------------------------------------------------------------


def _report(result: PipelineRun, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "pipeline": result.pipeline,
                "status": result.status,
                "resumed_from": result.resumed_from,
                "steps": {
                    unit: {
                        "status": r.status.value,
                        "duration_ms": r.duration_ms,
                        "attempts": r.attempts,
                        "error": r.error.message if r.error else None,
                    }
                    for unit, r in result.steps.items()
                },
            }
        )
    else:
        tally = Counter(r.status.value for r in result.steps.values())
        counts = ", ".join(f"{n} {status}" for status, n in sorted(tally.items()))
        colour = "green" if result.status == "FINISHED" else "red"
        status = f"[{colour}]{result.status}[/{colour}]"
        console.print(f"{status} {result.pipeline} run {result.run_id} ({counts})", highlight=False)
        for unit in result.failed:
            error = result.steps[unit].error
            if error is not None:
                console.print(f"  {unit}: {error.short_type}: {error.message}", highlight=False)
    if result.status != "FINISHED":
        raise typer.Exit(1)


def _run_summary(run: Run) -> dict[str, Any]:
    metrics = {m.key: m.value for m in run.data.metrics}
    tags = run.data.tags
    return {
        "run_id": run.info.run_id,
        "pipeline": tags.get("loopml.pipeline.name", run.info.run_name),
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "executor": tags.get("loopml.pipeline.executor"),
        "target": tags.get("loopml.pipeline.target"),
        "resumed_from": tags.get("loopml.pipeline.resumed_from"),
        "steps": {
            k.removeprefix("steps_"): int(v)
            for k, v in metrics.items()
            if k.startswith("steps_") and v
        },
    }


def _run_row(run: Run) -> list[str]:
    summary = _run_summary(run)
    steps = ", ".join(f"{n} {status}" for status, n in sorted(summary["steps"].items()))
    return [
        run.info.run_id,
        summary["pipeline"],
        run.info.status,
        when(run.info.start_time),
        duration(run.info.start_time, run.info.end_time),
        steps,
        summary["executor"] or "",
    ]


def _step_summary(run: Run) -> dict[str, Any]:
    tags = run.data.tags
    metrics = {m.key: m.value for m in run.data.metrics}
    return {
        "step": run.info.run_name,
        "run_id": run.info.run_id,
        "status": tags.get("loopml.step.status", run.info.status.lower()),
        "duration_ms": metrics.get("duration_ms"),
        "cache_hit": tags.get("loopml.step.cache_hit") == "true",
        "attempts": int(tags.get("loopml.step.attempts", "0") or 0),
        "error": tags.get("loopml.step.error.message"),
    }


def _rows(view: PipelineRunView) -> list[list[str]]:
    rows = []
    for summary in (_step_summary(s) for s in view.steps):
        millis = summary["duration_ms"]
        rows.append(
            [
                summary["step"],
                summary["status"],
                "" if millis is None else f"{millis / 1000:.2f}s",
                "yes" if summary["cache_hit"] else "",
                str(summary["attempts"] or ""),
                (summary["error"] or "")[:120],
            ]
        )
    recorded = {s.data.tags.get("loopml.step.node") for s in view.steps}
    rows += [
        [n["id"], "not run", "", "", "", ""] for n in view.nodes if n.get("id") not in recorded
    ]
    return rows


class _LiveSteps:
    """Each step's units by latest status, redrawn in place while the run goes (terminals)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.units: dict[str, dict[str, str]] = {}  # node -> unit -> latest status
        self._live: Live | None = None

    def __enter__(self) -> _LiveSteps:
        if self.enabled:
            from rich.live import Live

            self._live = Live(self._render(), console=console, refresh_per_second=8, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def update(self, event: StepEvent) -> None:
        if self._live is not None:
            self.units.setdefault(event.node, {})[event.unit] = event.status
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title="Steps", header_style="bold")
        table.add_column("step", no_wrap=True)
        table.add_column("status")
        for node, units in self.units.items():
            counts = Counter(units.values())
            table.add_row(node, ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
        return table
