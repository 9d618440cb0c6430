"""What the server refuses before routing, and what every response says about itself.

:func:`install_hardening` adds the whole request plumbing to an app, outermost
first (the order is the point, so it is written once, here):

1. :class:`~loopml.server.middleware.RequestIdMiddleware`: every response,
   refusals included, carries ``X-Request-Id``.
2. :class:`SecurityHeadersMiddleware`: every response, refusals and 500s
   included, carries ``nosniff``, ``X-Frame-Options``, ``Referrer-Policy`` and
   a Content-Security-Policy; API responses are ``Cache-Control: no-store``.
3. :class:`~loopml.server.middleware.UnexpectedErrorMiddleware`: an exception
   anywhere below becomes a JSON 500.
4. :class:`HostAllowlistMiddleware` (``LOOPML_ALLOWED_HOSTS``): a request for
   another name is refused before anything else looks at it, which is what
   stops a DNS-rebinding page from reaching a loopback server.
5. Starlette's ``CORSMiddleware``, only when ``LOOPML_CORS_ORIGINS`` names
   origins: without it no ``Access-Control-*`` header is ever sent and a
   preflight is just an ``OPTIONS`` the API does not serve. It sits above the
   limits so a browser can read their refusals.
6. :class:`RequestHeadLimitMiddleware`: query strings over 64 KiB are 414,
   header blocks over 64 KiB are 431.
7. :class:`~loopml.server.middleware.BodyLimitMiddleware`
   (``LOOPML_MAX_REQUEST_BYTES``): JSON bodies over the limit are 413.

uvicorn's own limits come first, but they are partial: its default parser
(httptools) refuses a request target over 65,535 bytes with a plain 400 and
has no header limit at all; h11's 16 KiB limit holds only for a request head
that arrives in pieces. Hence the 414 and 431 here, the same under either.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml.core.config import Settings
from loopml.server.data_api import is_dataset_upload
from loopml.server.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    UnexpectedErrorMiddleware,
    scope_header,
    send_error,
)
from loopml.server.mlflow_artifacts import is_upload

MAX_QUERY_STRING_BYTES = 64 * 1024
MAX_HEADER_BYTES = 64 * 1024
CORS_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")
CORS_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id")

API_PREFIXES = ("/api/", "/ajax-api/")
DOCS_PREFIX = "/docs"
# JSON and text: nothing may load, nothing may frame it.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# The landing page: its own inline <style> and nothing else.
PAGE_CSP = (
    b"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    b"frame-ancestors 'none'"
)
# FastAPI's Swagger UI: bundle and stylesheet from jsDelivr, an inline bootstrap
# script, inline styles and data: icons, FastAPI's favicon, and fetches of
# /openapi.json and of the API itself ("Try it out").
DOCS_CSP = (
    b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"style-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    b"img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
    b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def install_hardening(app: FastAPI, settings: Settings) -> None:
    """Add the request plumbing to ``app``, in the order the module docstring explains.

    Args:
        app: the app, before it serves its first request.
        settings: ``allowed_hosts``, ``cors_origins`` and ``max_request_bytes`` are used.
    """
    # Starlette puts the middleware added last outermost, so this runs inside out.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_request_bytes, exempt=is_streamed_upload
    )
    app.add_middleware(RequestHeadLimitMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=list(CORS_METHODS),
            allow_headers=list(CORS_HEADERS),
            expose_headers=["X-Request-Id"],
            allow_credentials=False,
        )
    app.add_middleware(HostAllowlistMiddleware, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)


def host_name(header: str) -> str:
    """The name in a ``Host`` header, lower-cased, without port, brackets or trailing dot.

    ``"LocalHost:5000"`` -> ``"localhost"``; ``"[::1]:5000"`` and ``"::1"`` -> ``"::1"``.
    """
    host = header.strip().lower()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


class HostAllowlistMiddleware:
    """Answer only requests whose ``Host`` is allowed; no list, or ``"*"``, allows any."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        hosts = frozenset(host_name(host) for host in allowed_hosts)
        self.allowed: frozenset[str] | None = None if not hosts or "*" in hosts else hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allowed is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = scope_header(scope, b"host")
        name = host_name(raw.decode("latin-1")) if raw is not None else None
        if name in self.allowed:
            await self.app(scope, receive, send)
            return
        if name is None:
            message = "request has no Host header; send the server's name in Host"
        else:
            message = f"host {name!r} is not allowed; set LOOPML_ALLOWED_HOSTS to serve it"
        await send_error(send, 400, {"error_code": "BAD_REQUEST", "message": message}, close=True)


class RequestHeadLimitMiddleware:
    """Refuse a query string over ``max_query_bytes`` (414) or headers over ``max_header_bytes``.

    Headers count as their names and values; 431 is "Request Header Fields Too Large".
    """

    def __init__(
        self,
        app: ASGIApp,
        max_query_bytes: int = MAX_QUERY_STRING_BYTES,
        max_header_bytes: int = MAX_HEADER_BYTES,
    ) -> None:
        self.app = app
        self.max_query_bytes = max_query_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = len(scope.get("query_string", b""))
        headers = sum(len(key) + len(value) for key, value in scope.get("headers", ()))
        if query > self.max_query_bytes:
            what = f"query string ({query} bytes) exceeds the limit of {self.max_query_bytes} bytes"
            await _send_limit(send, 414, f"{what}; send large requests as a POST body")
        elif headers > self.max_header_bytes:
            what = f"request headers ({headers} bytes) exceed the limit of {self.max_header_bytes}"
            await _send_limit(send, 431, f"{what} bytes")
        else:
            await self.app(scope, receive, send)


async def _send_limit(send: Send, status: int, message: str) -> None:
    payload = {"error_code": "RESOURCE_LIMIT_EXCEEDED", "message": message}
    await send_error(send, status, payload, close=True)


class SecurityHeadersMiddleware:
    """Add the security headers to every response, keeping any a handler set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                message = {**message, "headers": headers + _missing(headers, path)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _missing(headers: list[tuple[bytes, bytes]], path: str) -> list[tuple[bytes, bytes]]:
    """The security headers a response lacks."""
    present = {bytes(key).lower(): bytes(value) for key, value in headers}
    wanted = [*_ALWAYS, (b"content-security-policy", _csp(path, present.get(b"content-type")))]
    if path.startswith(API_PREFIXES):
        wanted.append((b"cache-control", b"no-store"))
    return [(key, value) for key, value in wanted if key not in present]


def _csp(path: str, content_type: bytes | None) -> bytes:
    """Pages get what they need; anything else, an uploaded HTML artifact too, gets nothing."""
    html = (content_type or b"").lower().startswith(b"text/html")
    if not html or path.startswith(API_PREFIXES):
        return API_CSP
    return DOCS_CSP if path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/") else PAGE_CSP


def is_streamed_upload(scope: MutableMapping[str, Any]) -> bool:
    """Artifact and dataset uploads stream to disk, so the JSON body cap does not apply."""
    return is_upload(scope) or is_dataset_upload(scope)
