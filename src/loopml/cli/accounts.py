"""``loopml whoami``, ``loopml users ...`` and ``loopml service-accounts ...``.

Users sign in with a password (asked twice, hidden, or read from stdin; never
an argument, which would land in shell history) or a token; service accounts
only with tokens. Embedded, these commands act as the local OS user, which
owns the database file and so is an admin: that is how the first admin is made.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.markup import escape

from loopml.auth.entities import Principal, PrincipalKind, Role
from loopml.cli._access import open_auth
from loopml.cli._common import JsonOption, UriOption, friendly_errors
from loopml.cli._output import console, print_json, print_table, when
from loopml.core.errors import InvalidParameter

users = typer.Typer(
    help="Create and manage users (people: a password, or tokens).", no_args_is_help=True
)
service_accounts = typer.Typer(
    help="Create and manage service accounts (pipelines, CI, serving: tokens only).",
    no_args_is_help=True,
)

RoleOption = Annotated[
    Role, typer.Option(help="viewer reads; editor also writes and creates; admin does all.")
]
DescriptionOption = Annotated[str, typer.Option(help="What the account is for.")]
PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from stdin instead of asking."),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@friendly_errors
def whoami(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Who the commands act as here, with which role (and token scope)."""
    with open_auth(uri) as auth:
        me = auth.whoami()
    if as_json:
        print_json(me)
        return
    line = f"[bold]{me.get('name')}[/bold] (role {me.get('role')})"
    if me.get("token_id"):
        line += f" with token {me['token_id']} (scope {me.get('scope')})"
    console.print(line, highlight=False)


# --- users ----------------------------------------------------------------------------


@users.command("create")
@friendly_errors
def create_user(
    name: str,
    role: RoleOption = Role.VIEWER,
    description: DescriptionOption = "",
    password_stdin: PasswordStdinOption = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user; asks for its password twice (at least 12 characters)."""
    password = _read_password("Password", password_stdin, confirm=True)
    with open_auth(uri) as auth:
        user = auth.create_account(name, role=role, password=password, description=description)
    _created(user, as_json)


@users.command("list")
@friendly_errors
def list_users(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List users by name."""
    _list(PrincipalKind.USER, "Users", uri, as_json)


@users.command("show")
@friendly_errors
def show(name: str, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """One account (user or service account) in full."""
    with open_auth(uri) as auth:
        account = auth.get_account(name)
    if as_json:
        print_json(account.to_dict())
        return
    print_table(
        f"Account {account.name}",
        ["field", "value"],
        [
            ("id", account.principal_id),
            ("kind", account.kind.value),
            ("role", account.role.value),
            ("state", _state(account)),
            ("description", escape(account.description)),
            ("created", f"{when(account.created_ms)} by {account.created_by}"),
            ("updated", when(account.updated_ms)),
        ],
    )


@users.command("update")
@friendly_errors
def update(
    name: str,
    role: Annotated[Role | None, typer.Option(help="The new role.", show_default=False)] = None,
    disabled: Annotated[
        bool | None,
        typer.Option("--disable/--enable", help="Block or allow sign-in.", show_default=False),
    ] = None,
    description: Annotated[str | None, typer.Option(help="The new description.")] = None,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Change any account's role or description, or disable / enable it."""
    if role is None and disabled is None and description is None:
        raise typer.BadParameter(
            "nothing to change: give --role, --disable/--enable or --description"
        )
    with open_auth(uri) as auth:
        account = auth.update_account(name, role=role, disabled=disabled, description=description)
    if as_json:
        print_json(account.to_dict())
        return
    console.print(
        f"{account.kind.value} [bold]{account.name}[/bold]: role {account.role.value}, "
        f"{_state(account)}",
        highlight=False,
    )


@users.command("passwd")
@friendly_errors
def passwd(
    name: str,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read from stdin instead of asking: the current password first (with "
            "--current), then the new one, one per line.",
        ),
    ] = False,
    current: Annotated[
        bool,
        typer.Option(
            "--current", help="Also give the current password (a non-admin changing its own)."
        ),
    ] = False,
    uri: UriOption = None,
) -> None:
    """Set a user's password: admins reset anyone's, users change their own."""
    current_password = (
        _read_password("Current password", password_stdin, confirm=False) if current else None
    )
    new_password = _read_password("New password", password_stdin, confirm=True)
    with open_auth(uri) as auth:
        auth.set_password(name, new_password, current_password=current_password)
    console.print(f"password of [bold]{name}[/bold] changed", highlight=False)


@users.command("delete")
@friendly_errors
def delete_user(name: str, yes: YesOption = False, uri: UriOption = None) -> None:
    """Delete a user with its tokens and grants (never the last admin)."""
    _delete(PrincipalKind.USER, name, yes, uri)


# --- service accounts -----------------------------------------------------------------


@service_accounts.command("create")
@friendly_errors
def create_service_account(
    name: str,
    role: RoleOption = Role.VIEWER,
    description: DescriptionOption = "",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a service account (no password); give it a token with `loopml tokens create`."""
    with open_auth(uri) as auth:
        account = auth.create_account(
            name, kind=PrincipalKind.SERVICE, role=role, description=description
        )
    _created(account, as_json)
    if not as_json:
        console.print(
            f"give it a token: loopml tokens create NAME --for {name} --scope read|write",
            highlight=False,
            markup=False,
        )


@service_accounts.command("list")
@friendly_errors
def list_service_accounts(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List service accounts by name."""
    _list(PrincipalKind.SERVICE, "Service accounts", uri, as_json)


@service_accounts.command("delete")
@friendly_errors
def delete_service_account(name: str, yes: YesOption = False, uri: UriOption = None) -> None:
    """Delete a service account with its tokens and grants."""
    _delete(PrincipalKind.SERVICE, name, yes, uri)


# --- helpers --------------------------------------------------------------------------


def _read_password(prompt: str, from_stdin: bool, *, confirm: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line.strip("\r\n"):
            raise InvalidParameter(f"--password-stdin: no {prompt.lower()} on stdin")
        return line.rstrip("\r\n")
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def _state(account: Principal) -> str:
    return "disabled" if account.disabled else "active"


def _kind_name(kind: PrincipalKind) -> str:
    return "user" if kind is PrincipalKind.USER else "service account"


def _created(account: Principal, as_json: bool) -> None:
    if as_json:
        print_json(account.to_dict())
        return
    console.print(
        f"created {_kind_name(account.kind)} [bold]{account.name}[/bold] "
        f"(role {account.role.value})",
        highlight=False,
    )


def _list(kind: PrincipalKind, title: str, uri: str | None, as_json: bool) -> None:
    with open_auth(uri) as auth:
        accounts = auth.list_accounts(kind)
    if as_json:
        print_json([a.to_dict() for a in accounts])
        return
    _print_accounts(title, accounts)


def _print_accounts(title: str, accounts: Sequence[Principal]) -> None:
    print_table(
        title,
        ["name", "role", "state", "description", "created", "created by"],
        [
            (
                a.name,
                a.role.value,
                _state(a),
                escape(a.description),
                when(a.created_ms),
                a.created_by,
            )
            for a in accounts
        ],
    )


def _delete(kind: PrincipalKind, name: str, yes: bool, uri: str | None) -> None:
    with open_auth(uri) as auth:
        account = auth.get_account(name)
        if account.kind is not kind:
            other = "users" if account.kind is PrincipalKind.USER else "service-accounts"
            raise InvalidParameter(
                f"{name!r} is a {_kind_name(account.kind)}; use `loopml {other} delete`"
            )
        if not yes:
            typer.confirm(
                f"Delete {_kind_name(kind)} {name!r} with its tokens and grants?", abort=True
            )
        auth.delete_account(name)
    console.print(f"deleted {_kind_name(kind)} [bold]{name}[/bold]", highlight=False)
