"""Credentials a loopml HTTP client sends, from the environment.

A token (``LOOPML_TRACKING_TOKEN``, else ``MLFLOW_TRACKING_TOKEN``) is sent as
``Authorization: Bearer``; a name and password (``LOOPML_TRACKING_USERNAME`` /
``LOOPML_TRACKING_PASSWORD``, else the ``MLFLOW_`` pair) as HTTP basic auth.
The same variables the ``mlflow`` client reads, so one shell works for both.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import httpx


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def _env(name: str) -> str:
    return os.environ.get(f"LOOPML_{name}") or os.environ.get(f"MLFLOW_{name}") or ""


def http_auth() -> httpx.Auth | None:
    """The auth to send, or None when no credentials are configured."""
    token = _env("TRACKING_TOKEN")
    if token:
        return BearerAuth(token)
    username, password = _env("TRACKING_USERNAME"), _env("TRACKING_PASSWORD")
    if username or password:
        return httpx.BasicAuth(username, password)
    return None
