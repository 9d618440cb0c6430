"""Options and error handling shared by every command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from loopml.cli._output import errors
from loopml.core.errors import LoopmlError

if TYPE_CHECKING:
    from loopml.client import Client

P = ParamSpec("P")
R = TypeVar("R")

UriOption = Annotated[
    str | None,
    typer.Option(
        "--uri",
        envvar="LOOPML_TRACKING_URI",
        help="A local path (embedded store) or http(s):// server URL. Default: $LOOPML_HOME.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn loopml errors into one red line and a meaningful exit code, not a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LoopmlError as error:
            errors.print(f"[red]error:[/red] {error.message}", highlight=False)
            code = EXIT_NOT_FOUND if error.http_status == 404 else 1
            raise typer.Exit(code) from None
        finally:
            _close_opened_clients()

    return wrapper


_opened: list[Client] = []


def open_client(uri: str | None) -> Client:
    """A client for ``uri``, closed (connections released) when the command ends."""
    from loopml.client import Client

    client = Client(uri)
    _opened.append(client)
    return client


def _close_opened_clients() -> None:
    while _opened:
        _opened.pop().close()


@contextmanager
def embedded_or_remote(
    uri: str | None,
    embedded: Callable[[Any, Any], Any],
    remote: Callable[[str], Any],
) -> Iterator[Any]:
    """``embedded(client, db)`` on a local store (migrated first), else ``remote(url)``,
    closed when the command ends: how every command group talks to either."""
    with open_client(uri) as client:
        db = getattr(client.store, "db", None)
        if db is not None:
            db.initialize()
            yield embedded(client, db)
            return
        connection = remote(str(client.uri))
        try:
            yield connection
        finally:
            connection.close()
