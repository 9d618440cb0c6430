"""``loopml pipelines schedule|unschedule|schedules|pause|unpause``: when the server runs
a pipeline by itself (cron, a new dataset version, an alert). Registered on the
``pipelines`` group; embedded or against a server (``--uri``)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Annotated, Any

import typer

from loopml.cli._common import JsonOption, UriOption, embedded_or_remote, friendly_errors
from loopml.cli._output import console, print_json, print_table, when
from loopml.cli.pipelines import app
from loopml.core.errors import InvalidParameter

NameArgument = Annotated[str, typer.Argument(help="Schedule name.")]


class _Embedded:
    """The schedule store acting as the local user, with the REST client's verbs."""

    def __init__(self, db: Any) -> None:
        from loopml.auth import local_actor
        from loopml.pipelines.schedules import ScheduleStore

        self.store, self.actor = ScheduleStore(db), local_actor()

    def create(self, schedule: Any) -> Any:
        return self.store.create(schedule, self.actor)

    def list(self) -> list[Any]:
        return self.store.list()

    def set_enabled(self, name: str, enabled: bool) -> Any:
        return self.store.set_enabled(name, enabled, self.actor)

    def delete(self, name: str) -> None:
        self.store.delete(name, self.actor)


def _schedules(uri: str | None) -> AbstractContextManager[Any]:
    from loopml.pipelines._rest_schedules import RestSchedules

    return embedded_or_remote(uri, lambda client, db: _Embedded(db), RestSchedules)


def _params(pairs: list[str], target: str) -> dict[str, Any]:
    """``name=value`` pairs, typed by the pipeline's annotations when it imports here;
    otherwise each value is read as JSON (a bare word stays text)."""
    from loopml.cli.pipelines import parse_params
    from loopml.pipelines.targets import load_target

    try:
        pipeline = load_target(target)
    except InvalidParameter:
        pipeline = None
    if pipeline is not None:
        return parse_params(pairs, pipeline)
    found: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidParameter(f"--param {pair!r} must look like name=value")
        try:
            found[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            found[key.strip()] = raw
    return found


@app.command("schedule")
@friendly_errors
def schedule(
    name: NameArgument,
    target: Annotated[str, typer.Argument(help="package.module:function the server imports.")],
    cron: Annotated[str | None, typer.Option(help="e.g. '0 3 * * *' (UTC).")] = None,
    on: Annotated[
        list[str] | None,
        typer.Option(help="An event: dataset:NAME (a new version), alert:MONITOR[/RULE]."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A parameter, name=value.")
    ] = None,
    executor: Annotated[str, typer.Option(help="process, inline or ray.")] = "process",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline on a cron schedule and/or on events, from the server's scheduler."""
    from loopml.pipelines.schedules import Schedule, Trigger

    made = Schedule(
        name=name,
        target=target,
        cron=cron,
        triggers=tuple(Trigger.parse(text) for text in on or ()),
        params=_params(param or [], target),
        executor=executor,
    )
    with _schedules(uri) as schedules:
        made = schedules.create(made)
    if as_json:
        print_json(made.to_dict())
        return
    when_ = " and ".join([*([f"cron {cron}"] if cron else []), *(on or [])])
    console.print(f"scheduled {name}: {target} on {when_}", highlight=False, markup=False)
    console.print("the server runs it with LOOPML_SCHEDULER=true", highlight=False)


@app.command("schedules")
@friendly_errors
def list_schedules(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Every pipeline schedule you may read."""
    with _schedules(uri) as schedules:
        found = schedules.list()
    if as_json:
        print_json([s.to_dict() for s in found])
        return
    rows = [
        (s.name, s.target, s.cron or "", ", ".join(str(t) for t in s.triggers),
         "yes" if s.enabled else "paused", when(s.created_ms))
        for s in found
    ]  # fmt: skip
    print_table("schedules", ["name", "target", "cron", "on", "enabled", "created"], rows)


@app.command("pause")
@friendly_errors
def pause(name: NameArgument, uri: UriOption = None) -> None:
    """Stop a schedule firing until it is unpaused."""
    with _schedules(uri) as schedules:
        schedules.set_enabled(name, False)
    console.print(f"paused {name}", highlight=False, markup=False)


@app.command("unpause")
@friendly_errors
def unpause(name: NameArgument, uri: UriOption = None) -> None:
    """Let a paused schedule fire again (missed ticks are not replayed)."""
    with _schedules(uri) as schedules:
        schedules.set_enabled(name, True)
    console.print(f"unpaused {name}", highlight=False, markup=False)


@app.command("unschedule")
@friendly_errors
def unschedule(name: NameArgument, uri: UriOption = None) -> None:
    """Remove a schedule (runs it started stay recorded)."""
    with _schedules(uri) as schedules:
        schedules.delete(name)
    console.print(f"unscheduled {name}", highlight=False, markup=False)
