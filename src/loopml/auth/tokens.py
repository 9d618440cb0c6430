"""API token strings: ``lml_<token id>_<secret>``; only the secret's SHA-256 is stored.

The secret is 256 random bits, so a fast hash is enough (no KDF needed to
resist guessing) and a lookup by the public id costs one indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from loopml.core.ids import new_id

PREFIX = "lml_"
_TOKEN = re.compile(r"^lml_([0-9a-f]{32})_([0-9a-f]{64})$")


def new_token() -> tuple[str, str, str]:
    """A fresh token: ``(token_id, bearer string, secret hash)``."""
    token_id = new_id()
    secret = secrets.token_hex(32)
    return token_id, f"{PREFIX}{token_id}_{secret}", hash_secret(secret)


def parse_token(bearer: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token string, else None."""
    match = _TOKEN.match(bearer.strip())
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def looks_like_token(text: str) -> bool:
    return text.startswith(PREFIX)
