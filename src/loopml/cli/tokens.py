"""``loopml tokens ...``: create (the secret is shown once), list and revoke API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from loopml.auth import parse_duration_ms
from loopml.auth.entities import ApiToken, Scope
from loopml.cli._access import open_auth
from loopml.cli._common import JsonOption, UriOption, friendly_errors
from loopml.cli._output import console, print_json, print_table, when
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, ResourceNotFound

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

ForOption = Annotated[
    str | None,
    typer.Option("--for", help="The account the token belongs to (default: yourself)."),
]


@app.command("create")
@friendly_errors
def create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. ci-deploy.")],
    scope: Annotated[
        Scope, typer.Option(help="read; write (read and write); admin (all its account may do).")
    ] = Scope.READ,
    owner: ForOption = None,
    expires: Annotated[
        str, typer.Option(help="Lifetime such as 90d, 12h or 30m, or 'never'.")
    ] = "90d",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print its secret, this once."""
    expires_ms = _expiry(expires)
    with open_auth(uri) as auth:
        try:
            new = auth.create_token(name, scope=scope, owner=owner, expires_ms=expires_ms)
        except ResourceNotFound:
            if owner is not None:
                raise
            me = auth.whoami().get("name")
            raise typer.BadParameter(
                f"{me} is not an account, so it cannot own a token; name the account it is for",
                param_hint="--for",
            ) from None
    if as_json:
        print_json({"token": _token_dict(new.token), "secret": new.secret})
        return
    token = new.token
    expiry = f"expires {when(token.expires_ms)} UTC" if token.expires_ms else "never expires"
    console.print(
        f"created token [bold]{token.name}[/bold] (id {token.token_id}) for "
        f"{token.principal_name}: scope {token.scope.value}, {expiry}",
        highlight=False,
    )
    console.print("[yellow]Store it now, it cannot be shown again:[/yellow]")
    print(f"\n    {new.secret}\n")
    console.print(
        "Use it:  export LOOPML_TRACKING_TOKEN=<token>   (loopml)\n"
        "         export MLFLOW_TRACKING_TOKEN=<token>   (the mlflow client)\n"
        "or send the header 'Authorization: Bearer <token>'.",
        highlight=False,
        markup=False,
    )


@app.command("list")
@friendly_errors
def list_tokens(
    owner: ForOption = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every account's tokens.")] = False,
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """List tokens (never their secrets): yours, one account's (--for), or all (--all)."""
    with open_auth(uri) as auth:
        tokens = auth.list_tokens(owner, everyone=everyone)
    at = now_ms()
    if as_json:
        print_json([_token_dict(t, at) for t in tokens])
        return
    print_table(
        "API tokens",
        ["id", "account", "name", "scope", "state", "created", "expires", "last used"],
        [
            (
                t.token_id,
                t.principal_name,
                t.name,
                t.scope.value,
                t.state(at),
                when(t.created_ms),
                when(t.expires_ms) or "never",
                when(t.last_used_ms),
            )
            for t in tokens
        ],
    )
    if not tokens and not everyone and owner is None:
        console.print("no tokens of yours; --for ACCOUNT lists one account's, --all everyone's")


@app.command("revoke")
@friendly_errors
def revoke(token_id: str, uri: UriOption = None) -> None:
    """Revoke a token now; requests that use it fail from then on."""
    with open_auth(uri) as auth:
        token = auth.revoke_token(token_id)
    console.print(
        f"revoked token [bold]{token.name}[/bold] ({token.token_id}) of {token.principal_name}",
        highlight=False,
    )


def _expiry(text: str) -> int | None:
    if text.strip().lower() == "never":
        return None
    try:
        return now_ms() + parse_duration_ms(text)
    except InvalidParameter as error:
        raise typer.BadParameter(error.message, param_hint="--expires") from None


def _token_dict(token: ApiToken, at_ms: int | None = None) -> dict[str, object]:
    return {**token.to_dict(), "state": token.state(now_ms() if at_ms is None else at_ms)}
