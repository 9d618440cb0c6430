"""``loopml policies ...``: continuous-training policies, embedded or on a server."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli._common import JsonOption, UriOption, embedded_or_remote, friendly_errors
from loopml.cli._output import console, print_json, print_table, when

if TYPE_CHECKING:
    from loopml.automation._rest import RestPolicies
    from loopml.automation.client import PoliciesClient

app = typer.Typer(
    help="Policies: retrain on alerts, new data or a schedule; gate, canary, promote.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(help="Policy name.")]


def _policies(uri: str | None) -> AbstractContextManager[PoliciesClient | RestPolicies]:
    """Embedded (acting as the local user), or the server's policies API; closed after."""
    from loopml.automation._rest import RestPolicies

    return embedded_or_remote(uri, _embedded_policies, RestPolicies)


def _embedded_policies(client: Any, db: Any) -> PoliciesClient:
    from loopml.auth import local_actor
    from loopml.automation import PolicyRunner, PolicyScheduler, PolicyStore
    from loopml.automation.client import PoliciesClient
    from loopml.serving.endpoints import EndpointsClient

    store = PolicyStore(db)
    endpoints = EndpointsClient(db, local_actor(), registry=client.registry)
    runner = PolicyRunner(store, client, endpoints, local_actor())
    return PoliciesClient(store, PolicyScheduler(runner), local_actor())


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


@app.command("create")
@friendly_errors
def create(
    file: Annotated[Path, typer.Argument(help="The policy as YAML.", exists=True, dir_okay=False)],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a policy from a YAML file; it is checked whole before anything is stored."""
    from loopml.automation import load_policy

    policy = load_policy(file.read_text())
    with _policies(uri) as policies:
        made = policies.create(policy)
    if as_json:
        print_json(made.to_dict())
        return
    triggers = ", ".join(policy.triggers) or "manual runs only"
    serves = f"{policy.endpoint} ({policy.model}@{policy.alias})"
    _say(f"created policy {policy.name}: {serves}; {triggers}")


@app.command("list")
@friendly_errors
def list_policies(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Every policy you may read."""
    with _policies(uri) as policies:
        found = policies.list()
    if as_json:
        print_json([p.to_dict() for p in found])
        return
    rows = [
        (r.policy.name, r.policy.endpoint, f"{r.policy.model}@{r.policy.alias}",
         ", ".join(r.policy.triggers), "yes" if r.enabled else "paused", r.created_by)
        for r in found
    ]  # fmt: skip
    print_table("policies", ["name", "endpoint", "model", "triggers", "enabled", "by"], rows)


@app.command("show")
@friendly_errors
def show(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """A policy's settings and its latest runs."""
    with _policies(uri) as policies:
        record = policies.get(name)
        history = policies.history(name)
    if as_json:
        print_json({"policy": record.to_dict(), "runs": [h.to_dict() for h in history[-10:]]})
        return
    print_json(record.to_dict())
    _runs_table(name, history[-10:])


@app.command("pause")
@friendly_errors
def pause(name: NameArgument, uri: UriOption = None) -> None:
    """No new runs until resumed (runs in flight go on)."""
    with _policies(uri) as policies:
        policies.set_enabled(name, False)
    _say(f"paused policy {name}")


@app.command("resume")
@friendly_errors
def resume(name: NameArgument, uri: UriOption = None) -> None:
    """Let triggers start runs again."""
    with _policies(uri) as policies:
        policies.set_enabled(name, True)
    _say(f"resumed policy {name}")


@app.command("run")
@friendly_errors
def run(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Start a run now (past the cooldown); embedded, it advances as far as it can here."""
    with _policies(uri) as policies:
        started = policies.run(name)
    if as_json:
        print_json(started.to_dict())
        return
    _say(f"run {started.run_id}: {started.state}")
    if not started.done:
        _say(f"it goes on as traffic and labels arrive: loopml policies history {name}")


@app.command("history")
@friendly_errors
def history(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Every run with each of its transitions."""
    with _policies(uri) as policies:
        found = policies.history(name)
    if as_json:
        print_json([h.to_dict() for h in found])
        return
    rows = [
        (h.run.run_id, when(t.at_ms), t.from_state or "", t.to_state, t.detail)
        for h in found
        for t in h.transitions
    ]
    print_table(f"policy {name}", ["run id", "at (UTC)", "from", "to", "detail"], rows)


def _runs_table(name: str, history: list[Any]) -> None:
    rows = [
        (h.run.run_id, when(h.run.created_ms), h.run.trigger.get("reason", ""), h.run.state,
         h.run.data.get("candidate", ""))
        for h in history
    ]  # fmt: skip
    print_table(
        f"runs of {name}", ["run id", "started (UTC)", "trigger", "state", "candidate"], rows
    )


@app.command("delete")
@friendly_errors
def delete(name: NameArgument, uri: UriOption = None) -> None:
    """Remove a policy and its history (refused while a run is in flight)."""
    with _policies(uri) as policies:
        policies.delete(name)
    _say(f"deleted policy {name}")
