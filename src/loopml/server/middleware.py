"""Request plumbing below the routes: request ids, a last-resort error body, a body-size cap.

All are plain ASGI (no ``BaseHTTPMiddleware``): they wrap ``receive`` and
``send`` and cost a few microseconds per request. An exception no handler
claimed becomes MLflow's ``INTERNAL_ERROR`` body with the request id (the
traceback goes to the log, never to the client). The cap refuses a declared
``Content-Length`` before reading anything and counts bytes as they arrive, so
a chunked body cannot slip past it; artifact uploads are exempt because they
stream to storage instead of into memory.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.core.errors import LimitExceeded
from loopml.core.ids import new_id

logger = logging.getLogger("loopml.server")

REQUEST_ID_HEADER = b"x-request-id"
_CLIENT_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class PayloadTooLarge(LimitExceeded):
    """A request body over the server's limit."""

    error_code = "RESOURCE_LIMIT_EXCEEDED"
    http_status = 413


def scope_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (``name`` lower-case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


class RequestIdMiddleware:
    """Give each request an id (the client's ``X-Request-Id`` when sane) and echo it back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = scope_header(scope, REQUEST_ID_HEADER)
        rid = offered if offered and _CLIENT_REQUEST_ID.match(offered) else new_id().encode()
        scope.setdefault("state", {})["request_id"] = rid.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, rid)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class UnexpectedErrorMiddleware:
    """Answer an unhandled exception with a 500 error body naming the request id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            rid = scope.get("state", {}).get("request_id", "unknown")
            logger.exception("request %s failed", rid)
            if started:
                raise
            message = f"internal server error (request id {rid}); the server log has the details"
            await send_error(send, 500, {"error_code": "INTERNAL_ERROR", "message": message})


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413, except where ``exempt(scope)``."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Callable[[Scope], bool]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS or self.exempt(scope):
            await self.app(scope, receive, send)
            return
        declared = scope_header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_too_large(send, self._error(int(declared)))
            return
        await self.app(scope, self._counting(receive), send)

    def _error(self, size: int | None) -> PayloadTooLarge:
        got = f" ({size} bytes)" if size is not None else ""
        return PayloadTooLarge(
            f"request body{got} exceeds the limit of {self.max_bytes} bytes; "
            "send large data as artifacts, or split batches"
        )

    def _counting(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._error(None)
            return message

        return counted


async def _send_too_large(send: Send, error: PayloadTooLarge) -> None:
    # The body was never read, so the connection cannot carry another request.
    await send_error(send, error.http_status, error.to_dict(), close=True)


async def send_error(
    send: Send, status: int, payload: dict[str, str], *, close: bool = False
) -> None:
    """Answer with MLflow's JSON error body, from middleware that has no app to ask."""
    body = orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
