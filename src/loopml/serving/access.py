"""Who may call an inference server: a token (or basic auth) whose account may read the model.

Checking a token and a grant costs a few database reads; an answer is kept
for ``ttl_s`` (default 30 s) per credential and model, so a busy server pays
it once a half-minute per caller, and a revoked token or grant stops working
within that time. Health and readiness stay open (orchestrators probe them
without credentials); models, inference and metrics need a caller.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING

from loopml.auth import Actor, AuthService, Permission
from loopml.auth.credentials import authenticate_header
from loopml.core.errors import PermissionDenied

if TYPE_CHECKING:
    from loopml.serving.app import Request

DEFAULT_TTL_S = 30.0


class ServingAccess:
    """``authorize(request, model_name, action)``: 401/403 unless the caller may (read: predict;
    edit: send ground truth)."""

    def __init__(self, service: AuthService, ttl_s: float = DEFAULT_TTL_S) -> None:
        self.service = service
        self.ttl_s = ttl_s
        self._answers: dict[tuple[str, str], tuple[float, Actor, str | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Request, model_name: str, action: str = "read") -> Actor:
        """The caller, once it may do ``action`` to the model (401/403 otherwise)."""
        header = request.header("authorization") or ""
        key = (hashlib.sha256(header.encode()).hexdigest(), f"{action}:{model_name}")
        now = time.monotonic()
        with self._lock:
            cached = self._answers.get(key)
        if cached is None or cached[0] <= now:
            actor = authenticate_header(self.service, header)  # a bad credential: not cached
            cached = (now + self.ttl_s, actor, self._refusal(actor, model_name, Permission(action)))
            with self._lock:
                if len(self._answers) > 10_000:
                    self._answers.clear()
                self._answers[key] = cached
        if cached[2] is not None:
            raise PermissionDenied(cached[2])
        return cached[1]

    def _refusal(self, actor: Actor, model_name: str, needed: Permission) -> str | None:
        """None when allowed, else why not."""
        if not model_name:
            return None
        held = self.service.permission(actor, "registered_model", model_name)
        if held.covers(needed):
            return None
        return f"{actor.name!r} may not {needed.value} registered model {model_name!r}"
