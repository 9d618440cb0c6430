"""One error hierarchy: each error rebuilds from its code, as a REST client needs."""

from __future__ import annotations

import pytest

from loopml.core import errors
from loopml.core.errors import (
    BadRequest,
    InvalidParameter,
    InvalidState,
    LimitExceeded,
    LoopmlError,
    NotSupported,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceNotFound,
    Unauthenticated,
    error_from_code,
)


def _all_errors() -> list[type[LoopmlError]]:
    found: list[type[LoopmlError]] = [LoopmlError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == errors.__name__]


@pytest.mark.parametrize("cls", _all_errors(), ids=lambda cls: cls.__name__)
def test_every_error_round_trips_through_its_code(cls: type[LoopmlError]) -> None:
    sent = cls("experiment 7 does not exist")
    body = sent.to_dict()
    assert body == {"error_code": cls.error_code, "message": "experiment 7 does not exist"}
    rebuilt = error_from_code(body["error_code"], body["message"])
    assert rebuilt.message == sent.message
    assert rebuilt.error_code == cls.error_code
    assert rebuilt.http_status == cls.http_status
    # A code shared with a parent (LimitExceeded) comes back as that parent.
    assert isinstance(sent, type(rebuilt))


@pytest.mark.parametrize(
    ("cls", "code", "status"),
    [
        (InvalidParameter, "INVALID_PARAMETER_VALUE", 400),
        (LimitExceeded, "INVALID_PARAMETER_VALUE", 400),
        (BadRequest, "BAD_REQUEST", 400),
        (ResourceNotFound, "RESOURCE_DOES_NOT_EXIST", 404),
        (ResourceAlreadyExists, "RESOURCE_ALREADY_EXISTS", 400),
        (InvalidState, "INVALID_STATE", 400),
        (Unauthenticated, "UNAUTHENTICATED", 401),
        (PermissionDenied, "PERMISSION_DENIED", 403),
        (NotSupported, "NOT_IMPLEMENTED", 501),
        (LoopmlError, "INTERNAL_ERROR", 500),
    ],
)
def test_codes_and_statuses_match_mlflow(cls: type[LoopmlError], code: str, status: int) -> None:
    assert (cls.error_code, cls.http_status) == (code, status)


def test_distinct_codes_rebuild_their_own_class() -> None:
    for cls in (BadRequest, ResourceNotFound, ResourceAlreadyExists, NotSupported):
        assert type(error_from_code(cls.error_code, "m")) is cls


def test_an_unknown_code_becomes_the_base_error() -> None:
    rebuilt = error_from_code("SOMETHING_NEW", "the server said so")
    assert type(rebuilt) is LoopmlError
    assert rebuilt.message == "the server said so"
    with pytest.raises(LoopmlError, match="the server said so"):
        raise rebuilt


def test_not_supported_names_backend_and_operation() -> None:
    with pytest.raises(NotSupported, match=r"^RestTrackingStore does not support log_outputs$"):
        raise NotSupported.for_backend("RestTrackingStore", "log_outputs")
