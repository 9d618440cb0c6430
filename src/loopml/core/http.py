"""What every loopml HTTP client shares: credentials, one pooled connection, error bodies.

Credentials come from the environment.

A token (``LOOPML_TRACKING_TOKEN``, else ``MLFLOW_TRACKING_TOKEN``) is sent as
``Authorization: Bearer``; a name and password (``LOOPML_TRACKING_USERNAME`` /
``LOOPML_TRACKING_PASSWORD``, else the ``MLFLOW_`` pair) as HTTP basic auth.
The same variables the ``mlflow`` client reads, so one shell works for both.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import httpx
import orjson

from loopml.core.errors import LoopmlError, error_from_code


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


class ServerConnection:
    """A lazily opened, pooled ``httpx`` client to ``base_url`` that sends :func:`http_auth`.

    Clients of the tracking, artifact and access-control APIs build on it;
    ``close()`` releases the pool, which reopens if the object is used again.
    """

    def __init__(
        self, base_url: str, timeout_s: float = 60.0, http: httpx.Client | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._http = http

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.base_url, timeout=self.timeout_s, auth=http_auth()
            )
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def send(self, method: str, path: str, body: Any = None, params: Any = None) -> httpx.Response:
        """One JSON request; a server error comes back as our exception, a dead server
        as one naming the address."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        content = orjson.dumps(body) if body is not None else None
        try:
            response = self.http.request(
                method, path, content=content, params=params, headers=headers
            )
        except httpx.TransportError as error:
            raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
        raise_for_error(response)
        return response

    def send_json(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        """:meth:`send`, answering the decoded JSON body (``{}`` when empty)."""
        response = self.send(method, path, body, params)
        return response.json() if response.content else {}


def raise_for_error(response: httpx.Response) -> None:
    """Turn a server error body ``{error_code, message}`` back into our exception."""
    if response.is_success:
        return
    try:
        body = response.json()
        error = error_from_code(str(body["error_code"]), str(body["message"]))
    except (ValueError, KeyError, TypeError):
        error = LoopmlError(
            f"HTTP {response.status_code} from {response.url}: {response.text[:200]}"
        )
    raise error
