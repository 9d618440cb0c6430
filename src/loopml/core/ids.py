"""Identifiers: opaque, unguessable, URL- and path-safe."""

from __future__ import annotations

import re
import uuid

_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


def new_id() -> str:
    """A 32-character lowercase hex id (the shape of an MLflow run id)."""
    return uuid.uuid4().hex


def is_hex_id(value: str) -> bool:
    return bool(_HEX_ID.match(value))
