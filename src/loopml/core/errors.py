"""One exception hierarchy for the whole platform.

Each error carries an MLflow-compatible ``error_code`` and the HTTP status the
server answers with, so the HTTP layer maps errors in one place and a client can
turn a response back into the same exception.
"""

from __future__ import annotations

from typing import ClassVar


class LoopmlError(Exception):
    """Base of every error loopml raises on purpose."""

    error_code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameter(LoopmlError):
    """Input that is malformed, out of range or not allowed; the message names the field."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class BadRequest(InvalidParameter):
    """A request body that cannot be parsed at all."""

    error_code = "BAD_REQUEST"


class ResourceNotFound(LoopmlError):
    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class ResourceAlreadyExists(LoopmlError):
    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class InvalidState(LoopmlError):
    """The operation is valid but not in the resource's current state."""

    error_code = "INVALID_STATE"
    http_status = 400


class LimitExceeded(InvalidParameter):
    """A request larger than a documented limit (batch sizes, value lengths, body size)."""

    error_code = "INVALID_PARAMETER_VALUE"


class Unauthenticated(LoopmlError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class PermissionDenied(LoopmlError):
    error_code = "PERMISSION_DENIED"
    http_status = 403


class Conflict(LoopmlError):
    """A write lost a race (compare-and-swap, a request still in flight); retry after a re-read."""

    error_code = "RESOURCE_CONFLICT"
    http_status = 409


class TooManyRequests(LoopmlError):
    """A caller over a rate limit (failed sign-ins); the message says when to retry."""

    error_code = "REQUEST_LIMIT_EXCEEDED"
    http_status = 429


class NotSupported(LoopmlError):
    """A backend does not implement an operation; the message names both."""

    error_code = "NOT_IMPLEMENTED"
    http_status = 501

    @classmethod
    def for_backend(cls, backend: str, operation: str) -> NotSupported:
        return cls(f"{backend} does not support {operation}")


class ModelIntegrityError(LoopmlError):
    """A model's files differ from its manifest or signature; the message names the first file.

    A 400 like ``InvalidState``: the request is well-formed but the stored model cannot be
    used as it is (a changed, missing or extra file, a missing manifest, a bad signature).
    """

    error_code = "MODEL_INTEGRITY_ERROR"
    http_status = 400


class UntrustedModel(PermissionDenied):
    """A model whose format runs code on load (pickle, cloudpickle, types off the allowlist).

    A 403 like ``PermissionDenied``: loading it needs an explicit ``trust=True`` (or the
    named types in ``trusted_types``), never a silent fallback to a less safe loader.
    """

    error_code = "UNTRUSTED_MODEL"
    http_status = 403


_BY_CODE: dict[str, type[LoopmlError]] = {
    c.error_code: c
    for c in (
        LoopmlError,
        InvalidParameter,
        BadRequest,
        ResourceNotFound,
        ResourceAlreadyExists,
        InvalidState,
        Unauthenticated,
        PermissionDenied,
        Conflict,
        TooManyRequests,
        NotSupported,
        ModelIntegrityError,
        UntrustedModel,
    )
}


def error_from_code(error_code: str, message: str) -> LoopmlError:
    """Rebuild the exception a server reported, for REST clients."""
    return _BY_CODE.get(error_code, LoopmlError)(message)
