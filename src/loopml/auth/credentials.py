"""Who an ``Authorization`` header says the caller is: one reading for every server.

A bearer token, or HTTP basic auth with a password or with a token as the
password (so tools that only know basic auth still work). The tracking
server's guard and the inference server both authenticate through here.
"""

from __future__ import annotations

import base64
import binascii

from loopml.auth.entities import Actor
from loopml.auth.service import AuthService
from loopml.auth.tokens import looks_like_token
from loopml.core.errors import Unauthenticated


def authenticate_header(
    service: AuthService, header: str, client_addr: str = "", request_id: str = ""
) -> Actor:
    """The actor behind ``header``; 401 (``Unauthenticated``) naming what is wrong."""
    scheme, _, credentials = header.partition(" ")
    scheme, credentials = scheme.lower(), credentials.strip()
    if not header:
        raise Unauthenticated(
            "authentication required: send 'Authorization: Bearer <token>' "
            "(MLFLOW_TRACKING_TOKEN) or HTTP basic auth (MLFLOW_TRACKING_USERNAME/PASSWORD)"
        )
    if scheme == "bearer" and credentials:
        return service.authenticate_token(credentials, client_addr)
    if scheme == "basic" and credentials:
        name, password = _basic_credentials(credentials)
        if looks_like_token(password):
            actor = service.authenticate_token(password, client_addr)
            if name and name != actor.name:
                raise Unauthenticated(f"this token belongs to {actor.name!r}, not {name!r}")
            return actor
        return service.authenticate_password(name, password, client_addr, request_id)
    raise Unauthenticated(
        f"unsupported Authorization scheme {scheme!r}: use 'Bearer <token>' or 'Basic'"
    )


def _basic_credentials(encoded: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated(
            "malformed basic auth credentials: expected base64 of name:password"
        ) from None
    name, sep, password = decoded.partition(":")
    if not sep:
        raise Unauthenticated("malformed basic auth credentials: expected name:password")
    return name, password
