"""Retried writes are answered, not redone: the ``Idempotency-Key`` header, and experiment creation.

A POST that carries ``Idempotency-Key: <key>`` is done once. Its response
(status and body, errors included) is kept in the ``idempotency_keys`` table
with a hash of the method, path, query and body; a retry with the same key
and the same request gets the stored response back (with
``Idempotent-Replayed: true``) and changes nothing. The same key with a
different request is refused with 422; a retry that arrives while the first
attempt is still running gets 409. Server errors (5xx) are not kept, so a
retry after one does the work again. Keys are scoped to the calling actor and
expire after 24 hours, removed lazily.

Deliberate difference from MLflow: ``experiments/create`` without an
``Idempotency-Key``, for a name that already exists, answers with the existing
``experiment_id`` (instead of ``RESOURCE_ALREADY_EXISTS``) when that experiment
was created less than five minutes ago with the identical name, artifact
location and tags. The mlflow client retries a create whose response was lost
and sends no key; without this, the retry of a create that did succeed fails,
and the user's script with it. A client that sends keys (loopml's own) has
exact retries already, so for it a second create is the conflict MLflow reports.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Connection, delete, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidParameter, LoopmlError
from loopml.server.guard import authenticate
from loopml.server.wire import JSON_MEDIA_TYPE, json_response
from loopml.store import tables as t
from loopml.store.database import Database
from loopml.tracking import LifecycleStage, TrackingClient

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotent-replayed"
TTL_MS = 24 * 3600 * 1000
IN_FLIGHT_TIMEOUT_MS = 10 * 60 * 1000
CREATE_RETRY_WINDOW_MS = 5 * 60 * 1000
MAX_KEY_LENGTH = 200
_SWEEP_INTERVAL_S = 3600.0
_IN_FLIGHT = 0  # status_code of a row whose first attempt has not finished


class IdempotencyKeyReused(InvalidParameter):
    http_status = 422


class IdempotencyInProgress(Conflict):
    """The first attempt of a keyed request is still running."""


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


class IdempotencyStore:
    """Remembered responses in the ``idempotency_keys`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._last_sweep_s = 0.0

    def begin(self, key: str, request_hash: str) -> StoredResponse | None:
        """The response to replay, or None after claiming ``key`` for a first attempt."""
        self._maybe_sweep()
        try:
            return self._begin(key, request_hash)
        except IntegrityError:  # a concurrent first attempt claimed the key just now
            return self._begin(key, request_hash)

    def _begin(self, key: str, request_hash: str) -> StoredResponse | None:
        now = now_ms()
        table = t.idempotency_keys
        with self.db.write() as conn:
            row = conn.execute(select(table).where(table.c.key == key)).first()
            if row is None or _reusable(row.created_ms, row.status_code, now):
                _claim(conn, key, request_hash, now, replace=row is not None)
                return None
        if row.request_hash != request_hash:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key.split('/', 1)[-1]!r} was already used for a different "
                "request; use a new key for a new request"
            )
        if row.status_code == _IN_FLIGHT:
            raise IdempotencyInProgress(
                "a request with this Idempotency-Key is still being processed; retry later"
            )
        return StoredResponse(row.status_code, bytes(row.body))

    def finish(self, key: str, status_code: int, body: bytes) -> None:
        table = t.idempotency_keys
        with self.db.write() as conn:
            conn.execute(
                table.update().where(table.c.key == key).values(status_code=status_code, body=body)
            )

    def abandon(self, key: str) -> None:
        with self.db.write() as conn:
            conn.execute(delete(t.idempotency_keys).where(t.idempotency_keys.c.key == key))

    def sweep(self) -> int:
        """Delete expired rows; returns how many went."""
        table = t.idempotency_keys
        with self.db.write() as conn:
            result = conn.execute(delete(table).where(table.c.created_ms < now_ms() - TTL_MS))
        return int(result.rowcount)

    def _maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep_s >= _SWEEP_INTERVAL_S:
            self._last_sweep_s = time.monotonic()
            self.sweep()


def _reusable(created_ms: int, status_code: int, now: int) -> bool:
    """An expired row, or a first attempt that died without finishing."""
    expired = created_ms < now - TTL_MS
    stalled = status_code == _IN_FLIGHT and created_ms < now - IN_FLIGHT_TIMEOUT_MS
    return expired or stalled


def _claim(conn: Connection, key: str, request_hash: str, now: int, *, replace: bool) -> None:
    table = t.idempotency_keys
    if replace:
        conn.execute(delete(table).where(table.c.key == key))
    conn.execute(
        table.insert().values(
            key=key, request_hash=request_hash, status_code=_IN_FLIGHT, body=b"", created_ms=now
        )
    )


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}?{query}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _scoped_key(request: Request, key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidParameter(
            f"the Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return f"{credential_scope(request.headers.get('authorization', ''))}/{key}"


def credential_scope(authorization: str) -> str:
    """Keys are scoped by credential, so one caller's keys never answer another's requests.

    A retry carries the same credentials; the guard authenticates them as usual.
    """
    return hashlib.sha256(authorization.encode()).hexdigest()[:16]


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class IdempotentRoute(APIRoute):
    """An API route whose POSTs honour ``Idempotency-Key``."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None or request.method != "POST":
                return await handler(request)
            return await _once(request, _scoped_key(request, key), handler)

        return route


async def _once(request: Request, key: str, handler: Handler) -> Response:
    store: IdempotencyStore = request.app.state.idempotency
    # Credentials first: a revoked token must not get replays of what it once did.
    await run_in_threadpool(authenticate, request, request.app.state.access)
    digest = request_hash(request.method, request.url.path, request.url.query, await request.body())
    stored = await run_in_threadpool(store.begin, key, digest)
    if stored is not None:
        return Response(
            stored.body,
            status_code=stored.status_code,
            media_type=JSON_MEDIA_TYPE,
            headers={REPLAYED_HEADER: "true"},
        )
    try:
        response = await handler(request)
    except LoopmlError as error:
        response = json_response(error.to_dict(), error.http_status)
    except BaseException:
        await run_in_threadpool(store.abandon, key)
        raise
    if response.status_code >= 500:
        await run_in_threadpool(store.abandon, key)
    else:
        await run_in_threadpool(store.finish, key, response.status_code, bytes(response.body))
    return response


def recent_duplicate_experiment(
    client: TrackingClient, name: str, artifact_location: str | None, tags: dict[str, str]
) -> str | None:
    """The id of an identical experiment created within the retry window, if there is one."""
    existing = client.get_experiment_by_name(name)
    if existing is None or existing.lifecycle_stage != LifecycleStage.ACTIVE:
        return None
    if now_ms() - existing.creation_time > CREATE_RETRY_WINDOW_MS:
        return None
    location = artifact_location or f"mlflow-artifacts:/{existing.experiment_id}"
    if existing.artifact_location != location or existing.tags != tags:
        return None
    return existing.experiment_id
