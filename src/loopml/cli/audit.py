"""``loopml audit ...``: read the audit log, newest first, and verify its hash chain.

``verify`` exits 0 when every event is intact and 1 naming the first event
that was edited, inserted or deleted; pin the head hash it prints somewhere
else to also catch a rewrite of the whole chain.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer
from rich.markup import escape

from loopml.auth import AuditFilter, parse_duration_ms
from loopml.auth.entities import AuditEvent
from loopml.cli._access import open_auth, parse_resource
from loopml.cli._common import JsonOption, UriOption, friendly_errors
from loopml.cli._output import console, errors, print_json, print_table
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter

app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)

CHANGE_WIDTH = 80

TimeOption = Annotated[
    str | None, typer.Option(help="How long ago (1h, 2d) or a time (ISO-8601, UTC if no zone).")
]


@app.command("list")
@friendly_errors
def list_events(
    actor: Annotated[str | None, typer.Option(help="Account name (or id) that acted.")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="Exact action, or a prefix ending in '.' or '*': account.*"),
    ] = None,
    resource: Annotated[
        str | None, typer.Option("--resource", help="KIND:ID, e.g. experiment:5.")
    ] = None,
    since: TimeOption = None,
    until: TimeOption = None,
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1)] = 50,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List audit events, newest first."""
    kind, resource_id = parse_resource(resource, "--resource") if resource else (None, None)
    where = AuditFilter(
        actor=actor,
        action=action,
        resource_kind=kind,
        resource_id=resource_id,
        since_ms=_time_ms(since, "--since"),
        until_ms=_time_ms(until, "--until"),
    )
    with open_auth(uri) as auth:
        events = auth.audit_events(where, limit)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    print_table(
        "Audit events",
        ["seq", "time (UTC)", "actor", "action", "resource", "change", "client", "request id"],
        [_row(e) for e in events],
    )
    if len(events) == limit:
        console.print(f"[dim]the newest {limit}; --limit or --until for more[/dim]")


@app.command("verify")
@friendly_errors
def verify(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Check every event's hash and the chain's head; exit 1 naming the first bad event."""
    with open_auth(uri) as auth:
        result = auth.verify_audit()
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        console.print(
            f"audit log intact: {result.checked} events, head {result.head_hash}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        errors.print(
            f"[red]audit log broken:[/red] {escape(result.problem)}",
            highlight=False,
            soft_wrap=True,
        )
        errors.print(
            f"{result.checked} events verified before event {result.first_bad_seq}; "
            f"recorded head: event {result.head_seq}, {result.head_hash}",
            highlight=False,
            soft_wrap=True,
        )
    if not result.ok:
        raise typer.Exit(1)


def _time_ms(text: str | None, option: str) -> int | None:
    """``1h`` (ago) or an ISO-8601 time as epoch ms; a usage error otherwise."""
    if text is None:
        return None
    try:
        return now_ms() - parse_duration_ms(text)
    except InvalidParameter:
        pass
    try:
        stamp = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (1h, 2d) nor an ISO-8601 time", param_hint=option
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return int(stamp.timestamp() * 1000)


def _row(event: AuditEvent) -> list[str]:
    return [
        str(event.seq),
        _iso(event.at_ms),
        event.actor_name,
        event.action,
        escape(f"{event.resource_kind}:{event.resource_id}"),
        escape(change(event.before, event.after)),
        event.client_addr,
        event.request_id,
    ]


def _iso(epoch_ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A one-line before→after: the fields that changed, or the state created / removed."""
    if before is None and after is None:
        return ""
    if before is None or after is None:
        state = ", ".join(f"{k}={_short(v)}" for k, v in (after or before or {}).items())
        summary = state if before is None else f"was {state}"
    else:
        keys = sorted(set(before) | set(after))
        summary = ", ".join(
            f"{k}: {_short(before.get(k))}→{_short(after.get(k))}"
            for k in keys
            if before.get(k) != after.get(k)
        )
    return summary if len(summary) <= CHANGE_WIDTH else summary[: CHANGE_WIDTH - 1] + "…"


def _short(value: Any) -> str:
    if value is None:
        return "∅"
    text = str(value)
    return text if len(text) <= 24 else text[:23] + "…"
