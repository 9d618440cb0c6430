"""``loopml permissions ...``: grant, revoke and list read / edit / manage on experiments
and datasets.

A run, logged model or artifact is governed by its experiment's grants, so
grants name experiments (``experiment:5``) or datasets (``dataset:orders``).
Whoever manages one may grant on it; creators manage what they create; admins
manage everything.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from loopml.auth.entities import Permission
from loopml.cli._access import open_auth, parse_resource
from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, print_json, print_table, when

app = typer.Typer(
    help="Grant, revoke and list permissions on experiments, datasets and registered models.",
    no_args_is_help=True,
)

GRANT_KINDS = ("experiment", "dataset", "registered_model", "monitor")


class Level(StrEnum):
    """A grantable permission: each includes the ones before it."""

    READ = "read"
    EDIT = "edit"
    MANAGE = "manage"


AccountArgument = Annotated[str, typer.Argument(help="User or service account name.")]
ResourceArgument = Annotated[
    str,
    typer.Argument(help="KIND:ID, e.g. experiment:5, dataset:orders or registered_model:churn."),
]


@app.command("grant")
@friendly_errors
def grant(
    account: AccountArgument,
    resource: ResourceArgument,
    permission: Annotated[
        Level, typer.Argument(help="read; edit (also write); manage (also grant, delete).")
    ],
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give ACCOUNT PERMISSION on RESOURCE (replacing what it had there)."""
    kind, resource_id = parse_resource(resource, "RESOURCE", GRANT_KINDS)
    with open_client(uri) as client:
        # A typo is "does not exist", not a stray grant.
        if kind == "dataset":
            client.data.dataset(resource_id)
        elif kind == "registered_model":
            client.registry.get_registered_model(resource_id)
        elif kind == "monitor":
            _check_monitor(client, resource_id)
        else:
            client.get_experiment(resource_id)
        granted = client.auth.grant(account, kind, resource_id, Permission(permission.value))
    if as_json:
        print_json(granted.to_dict())
        return
    console.print(
        f"[bold]{granted.principal_name}[/bold] may now {granted.permission.value} "
        f"{kind} {escape(resource_id)}",
        highlight=False,
    )


@app.command("revoke")
@friendly_errors
def revoke(account: AccountArgument, resource: ResourceArgument, uri: UriOption = None) -> None:
    """Take ACCOUNT's grant on RESOURCE away (the server default applies again)."""
    kind, resource_id = parse_resource(resource, "RESOURCE", GRANT_KINDS)
    with open_auth(uri) as auth:
        auth.revoke(account, kind, resource_id)
    console.print(
        f"revoked [bold]{account}[/bold]'s grant on {kind} {escape(resource_id)}", highlight=False
    )


@app.command("list")
@friendly_errors
def list_grants(
    resource: Annotated[
        str | None, typer.Option("--resource", help="Only grants on KIND:ID.")
    ] = None,
    account: Annotated[str | None, typer.Option("--account", help="Only this account's.")] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List grants: on one resource, of one account, or (admins) all of them."""
    kind, resource_id = (
        parse_resource(resource, "--resource", GRANT_KINDS) if resource else (None, None)
    )
    with open_auth(uri) as auth:
        grants = auth.list_grants(kind, resource_id, account)
    if as_json:
        print_json([g.to_dict() for g in grants])
        return
    print_table(
        "Permissions",
        ["account", "resource", "permission", "granted", "granted by"],
        [
            (
                g.principal_name,
                escape(f"{g.resource_kind}:{g.resource_id}"),
                g.permission.value,
                when(g.granted_ms),
                g.granted_by,
            )
            for g in grants
        ],
    )


def _check_monitor(client: Any, name: str) -> None:
    """Embedded: the monitor must exist (a server checks it itself when granting)."""
    db = getattr(client.store, "db", None)
    if db is not None:
        from loopml.monitoring.monitors import MonitorStore

        MonitorStore(db).get(name)
