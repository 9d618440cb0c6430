"""Password rules and hashing (argon2id); there is no default password anywhere.

Verification costs tens of milliseconds and 64 MiB on purpose, so the server
remembers a successful check briefly (:class:`VerifiedCache`) instead of
re-hashing on every basic-auth request of a busy client.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from loopml.core.errors import InvalidParameter

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()


def check_password_rules(name: str, password: str) -> None:
    """Raise ``InvalidParameter`` naming the rule a new password breaks."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidParameter(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters; got {len(password)}"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidParameter(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if password.strip().lower() == name.strip().lower():
        raise InvalidParameter("password must not be the account name")
    if any(ord(c) < 32 for c in password):
        raise InvalidParameter("password must not contain control characters")
    if password.startswith("lml_"):
        # Basic auth takes a password in this form for an API token.
        raise InvalidParameter("password must not start with 'lml_' (the API token prefix)")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class VerifiedCache:
    """Remembers (name, password, stored hash) triples that verified, for ``ttl_s``.

    Keys are keyed hashes under a per-process secret, so the cache never holds
    a password; a changed stored hash (password reset) misses.
    """

    def __init__(self, ttl_s: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._seen: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def _digest(self, name: str, password: str, stored_hash: str) -> bytes:
        message = "\0".join((name, password, stored_hash)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def hit(self, name: str, password: str, stored_hash: str) -> bool:
        """Whether this exact triple verified within the last ``ttl_s`` seconds."""
        digest = self._digest(name, password, stored_hash)
        with self._lock:
            seen = self._seen.get(digest)
        return seen is not None and time.monotonic() - seen < self.ttl_s

    def verify(self, name: str, password: str, stored_hash: str) -> bool:
        """Check the password for real (argon2) and remember a success."""
        digest = self._digest(name, password, stored_hash)
        now = time.monotonic()
        if not verify_password(stored_hash, password):
            return False
        with self._lock:
            if len(self._seen) >= self.max_entries:
                self._seen.clear()
            self._seen[digest] = now
        return True
