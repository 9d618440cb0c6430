"""What the access-control commands share: the ``AuthApi`` to call and how to name a resource."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from loopml.cli._common import open_client

if TYPE_CHECKING:
    from loopml.auth.client import AuthApi

_RESOURCE = re.compile(r"^([a-z][a-z_]*):(\S+)$")


@contextmanager
def open_auth(uri: str | None) -> Iterator[AuthApi]:
    """Accounts, tokens, grants and audit at ``uri``: in process as the OS user, or the server's."""
    with open_client(uri) as client:
        yield client.auth


def parse_resource(text: str, option: str, kinds: tuple[str, ...] = ()) -> tuple[str, str]:
    """``"experiment:5"`` as ``("experiment", "5")``; a usage error (exit 2) otherwise."""
    match = _RESOURCE.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not KIND:ID, e.g. experiment:5", param_hint=option)
    kind, resource_id = match.group(1), match.group(2)
    if kinds and kind not in kinds:
        raise typer.BadParameter(
            f"{kind!r} is not one of {', '.join(kinds)} (e.g. {kinds[0]}:5)", param_hint=option
        )
    return kind, resource_id
