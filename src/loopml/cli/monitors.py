"""``loopml monitors ...``: watch an endpoint's traffic against a reference, window by window."""

from __future__ import annotations

import json
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli._common import JsonOption, UriOption, embedded_or_remote, friendly_errors
from loopml.cli._output import console, print_json, print_table, when
from loopml.core.errors import InvalidParameter

if TYPE_CHECKING:
    from loopml.monitoring._rest import RestMonitors
    from loopml.monitoring.runner import MonitorsClient

app = typer.Typer(
    help="Monitors: drift and data quality of an endpoint's requests, per window.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Monitor name.")]


def _monitors(uri: str | None) -> AbstractContextManager[MonitorsClient | RestMonitors]:
    """Embedded (acting as the local user), or the server's monitoring API; closed after."""
    from loopml.monitoring._rest import RestMonitors

    return embedded_or_remote(uri, _embedded_monitors, RestMonitors)


def _embedded_monitors(client: Any, db: Any) -> MonitorsClient:
    from loopml.auth import local_actor
    from loopml.monitoring.monitors import MonitorStore
    from loopml.monitoring.runner import MonitorsClient

    return MonitorsClient(MonitorStore(db), client.artifacts, local_actor(), client)


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


@app.command("create")
@friendly_errors
def create(
    name: NameArgument,
    reference: Annotated[
        str,
        typer.Option(
            help="data:NAME@VERSION, or models:/NAME@ALIAS (the data its run trained on)."
        ),
    ],
    endpoint: Annotated[
        str | None, typer.Option(help="The endpoint whose prediction log to watch.")
    ] = None,
    batch: Annotated[
        str | None,
        typer.Option(help="Or: a registered model whose batch scorings (loopml predict) to watch."),
    ] = None,
    window: Annotated[str, typer.Option(help="Window length: 30m, 1h, 1d, 1w.")] = "1h",
    schedule: Annotated[
        str | None, typer.Option(help="Cron schedule for runs, e.g. '0 * * * *'.")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="classification or regression: also measure performance on labels."),
    ] = None,
    segment: Annotated[
        list[str] | None, typer.Option(help="An input column to break performance down by.")
    ] = None,
    alert: Annotated[
        list[str] | None,
        typer.Option(
            help="A rule on a run's values, e.g. 'share_drifted >= 0.3' or "
            "'performance.metrics.accuracy < 0.9'."
        ),
    ] = None,
    alert_for: Annotated[
        int, typer.Option(help="Fire after this many breaching windows in a row.", min=1)
    ] = 1,
    webhook: Annotated[
        list[str] | None,
        typer.Option(help="Post alerts here (hosts allowed by LOOPML_ALERT_URL_ALLOWLIST)."),
    ] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a monitor; the reference is profiled once, now, and kept."""
    if (endpoint is None) == (batch is None):
        raise InvalidParameter("give exactly one of --endpoint and --batch")
    with _monitors(uri) as monitors:
        made = monitors.create(
            name,
            endpoint or batch or "",
            reference,
            batch=batch is not None,
            window=window,
            schedule=schedule,
            task=task,
            segments=tuple(segment or ()),
            alerts=tuple(_rule(text, alert_for) for text in alert or ()),
            webhooks=tuple(webhook or ()),
        )
    if as_json:
        print_json(made.to_dict())
        return
    _say(f"created monitor {made.name}: {made.endpoint} vs {made.settings.get('source')}")


@app.command("list")
@friendly_errors
def list_monitors(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Every monitor."""
    with _monitors(uri) as monitors:
        found = monitors.list()
    if as_json:
        print_json([m.to_dict() for m in found])
        return
    rows = [
        (m.name, m.endpoint, m.settings.get("source", ""), f"{m.window_s}s", m.schedule or "")
        for m in found
    ]
    print_table("Monitors", ["name", "endpoint", "reference", "window", "schedule"], rows)


@app.command("show")
@friendly_errors
def show(
    name: NameArgument,
    runs: Annotated[int, typer.Option(help="How many of the latest runs.")] = 10,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """A monitor and its latest runs (share of drifted columns per window)."""
    with _monitors(uri) as monitors:
        monitor = monitors.get(name)
        history = monitors.runs(name, limit=runs)
    if as_json:
        print_json({"monitor": monitor.to_dict(), "runs": [r.to_dict() for r in history]})
        return
    _say(f"{monitor.name}: {monitor.endpoint}, window {monitor.window_s}s")
    rows = [(r.run_id, when(r.window_end_ms), r.rows, r.status, _share(r.result)) for r in history]
    print_table("Runs", ["run id", "window end", "rows", "status", "drifted"], rows)


def _rule(text: str, for_windows: int) -> Any:
    """``METRIC OP THRESHOLD`` as an alert rule named after its metric."""
    from loopml.monitoring.alerts import AlertRule

    found = re.fullmatch(r"\s*([A-Za-z0-9_.*-]+)\s*(>=|<=|>|<)\s*(\S+)\s*", text)
    if found is None:
        raise InvalidParameter(f"alert {text!r} must look like 'share_drifted >= 0.3'")
    try:
        threshold = float(found[3])
    except ValueError:
        raise InvalidParameter(f"alert {text!r}: {found[3]!r} is not a number") from None
    return AlertRule(found[1], found[1], found[2], threshold, for_windows=for_windows)


def _share(result: dict[str, Any]) -> str:
    value = result.get("share_drifted")
    return "" if value is None else f"{value:.0%}"


@app.command("run")
@friendly_errors
def run(
    name: NameArgument,
    html: Annotated[str | None, typer.Option(help="Also write the run's report here.")] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the monitor on the window that ends now."""
    with _monitors(uri) as monitors:
        checked = monitors.run(name)
        page = monitors.report(name, checked.run.run_id) if html and checked.run.rows else None
    done = checked.run
    if as_json:
        print_json(done.to_dict())
        return
    _say(f"run {done.run_id}: {done.rows} rows, {done.status}, drifted {_share(done.result)}")
    performance = done.result.get("performance")
    if performance:
        labelled = f"{performance['labelled_rows']} of {performance['rows']} rows labelled"
        _say(f"performance ({labelled}): {json.dumps(performance['metrics'])}")
    for column, verdict in sorted(done.result.get("columns", {}).items()):
        _say(f"  {column}: {json.dumps(verdict.get('verdict', verdict.get('drifted')))}")
    if html and page is not None:
        Path(html).write_text(page)
        _say(f"wrote {html}")


@app.command("report")
@friendly_errors
def report(
    name: NameArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the page.")],
    run_id: Annotated[str | None, typer.Option(help="A run's id (default: the latest).")] = None,
    uri: UriOption = None,
) -> None:
    """Write a monitor run's HTML report: verdicts, charts and each score's history."""
    with _monitors(uri) as monitors:
        page = monitors.report(name, run_id)
    output.write_text(page)
    _say(f"wrote {output}")


@app.command("alerts")
@friendly_errors
def list_alerts(
    name: NameArgument,
    state: Annotated[str | None, typer.Option(help="firing, acknowledged or resolved.")] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """A monitor's alerts, oldest change first."""
    with _monitors(uri) as monitors:
        found = monitors.alerts(name, state)
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    rows = [(a.alert_id, a.state, a.rule, a.subject, a.value, a.threshold) for a in found]
    print_table("Alerts", ["alert id", "state", "rule", "subject", "value", "threshold"], rows)


@app.command("ack")
@friendly_errors
def acknowledge(
    name: NameArgument,
    alert_id: Annotated[str, typer.Argument(help="The alert's id.")],
    uri: UriOption = None,
) -> None:
    """Acknowledge a firing alert of monitor NAME: no more notifications until it resolves."""
    with _monitors(uri) as monitors:
        done = monitors.acknowledge(alert_id, name)
    _say(f"acknowledged {done.alert_id} ({done.rule} on {done.monitor})")


@app.command("delete")
@friendly_errors
def delete(name: NameArgument, uri: UriOption = None) -> None:
    """Delete a monitor and its runs (audited)."""
    with _monitors(uri) as monitors:
        monitors.delete(name)
    _say(f"deleted monitor {name}")
