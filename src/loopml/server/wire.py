"""MLflow's wire format: proto-JSON scalars in, JSON out, errors that name the field.

MLflow's clients speak protobuf's JSON mapping. Int64 fields may arrive as
numbers (the Python client) or as decimal strings (protobuf's own printers, as
in the Java client); doubles may be the strings ``"NaN"``, ``"Infinity"`` and
``"-Infinity"``; enums arrive by name or by number. The types below accept
exactly that and nothing looser (no booleans as numbers, no numbers as
strings), and each request is a ``TypedDict`` that forbids unknown fields.

Validation runs in pydantic-core straight from the raw bytes (no per-item
Python objects), so a 1,000-metric batch costs about a millisecond; responses
are plain dicts serialised by orjson, with non-finite doubles written the way
MLflow writes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from pydantic import ConfigDict, GetCoreSchemaHandler, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, core_schema
from starlette.responses import Response

from loopml.core.errors import BadRequest, InvalidParameter

T = TypeVar("T")

# Request models forbid unknown fields and never coerce between JSON types.
STRICT = ConfigDict(extra="forbid", strict=True)
JSON_MEDIA_TYPE = "application/json"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NON_FINITE = ("NaN", "Infinity", "-Infinity")


@dataclass(frozen=True)
class _Wire:
    """``Annotated`` metadata that swaps in a hand-built pydantic-core schema."""

    schema: core_schema.CoreSchema

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return self.schema


def _one_of(
    native: core_schema.CoreSchema,
    text: core_schema.CoreSchema,
    convert: Callable[[Any], Any],
    message: str,
) -> _Wire:
    """The native JSON type, or a string form converted only when it is used."""
    return _Wire(
        core_schema.union_schema(
            [native, core_schema.no_info_after_validator_function(convert, text)],
            mode="left_to_right",
            custom_error_type="wire_type",
            custom_error_message=message,
        )
    )


def _enum(names: Sequence[str], first_number: int = 1) -> _Wire:
    """A proto enum: its name, or its number (``first_number`` is the first name's)."""
    by_number = dict(enumerate(names, start=first_number))
    return _one_of(
        core_schema.literal_schema(list(names)),
        core_schema.int_schema(strict=True, ge=first_number, le=first_number + len(names) - 1),
        by_number.__getitem__,
        "must be one of " + ", ".join(names),
    )


def _to_bool(text: str) -> bool:
    return text.lower() == "true"


Int64 = Annotated[
    int,
    _one_of(
        core_schema.int_schema(strict=True, ge=_INT64_MIN, le=_INT64_MAX),
        core_schema.str_schema(strict=True, pattern=r"^-?[0-9]{1,19}$"),
        int,
        "must be a 64-bit integer",
    ),
]
Double = Annotated[
    float,
    _one_of(
        core_schema.float_schema(strict=True),
        core_schema.literal_schema(list(_NON_FINITE)),
        float,
        "must be a number, 'NaN', 'Infinity' or '-Infinity'",
    ),
]
Bool = Annotated[
    bool,
    _one_of(
        core_schema.bool_schema(strict=True),
        core_schema.str_schema(strict=True, pattern=r"^(?i:true|false)$"),
        _to_bool,
        "must be true or false",
    ),
]
RunStatusName = Annotated[str, _enum(("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"))]
ViewTypeName = Annotated[str, _enum(("ACTIVE_ONLY", "DELETED_ONLY", "ALL"))]
LoggedModelStatusName = Annotated[
    str,
    _enum(
        (
            "LOGGED_MODEL_STATUS_UNSPECIFIED",
            "LOGGED_MODEL_PENDING",
            "LOGGED_MODEL_READY",
            "LOGGED_MODEL_UPLOAD_FAILED",
        ),
        first_number=0,
    ),
]


# --- responses ---------------------------------------------------------------


def double(value: float) -> float | str:
    """A double as protobuf's JSON mapping (and MLflow) writes it: NaN and infinities as text."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def json_response(payload: Mapping[str, Any], status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type=JSON_MEDIA_TYPE)


EMPTY = b"{}"


def empty_response() -> Response:
    """MLflow's answer to a write: an empty JSON object."""
    return Response(EMPTY, media_type=JSON_MEDIA_TYPE)


# --- requests ----------------------------------------------------------------


def describe(error: ValidationError) -> InvalidParameter:
    """Turn pydantic's first error into our error, naming the field as a JSON path.

    An unknown field is reported before the missing one it was probably meant to be.
    """
    errors = error.errors(include_url=False)
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    if first["type"] == "json_invalid":
        detail = first.get("ctx", {}).get("error", first["msg"])
        return BadRequest(f"request body is not valid JSON: {detail}")
    field = field_path(first["loc"])
    return InvalidParameter(_message(first, field))


def _message(detail: ErrorDetails, field: str) -> str:
    kind = detail["type"]
    if not field:
        return f"request must be a JSON object: {detail['msg']}"
    if kind == "missing":
        return f"missing required field {field!r}"
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    return f"invalid value for {field!r}: {detail['msg']}"


def field_path(loc: Sequence[int | str]) -> str:
    """``("metrics", 3, "value")`` -> ``"metrics[3].value"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_json(adapter: TypeAdapter[T], raw: bytes) -> T:
    """Validate a JSON body; an empty body is an empty object, as in MLflow."""
    try:
        return adapter.validate_json(raw if raw.strip() else EMPTY)
    except ValidationError as error:
        raise describe(error) from None


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != JSON_MEDIA_TYPE:
        raise BadRequest(f"Content-Type must be {JSON_MEDIA_TYPE}, got {content_type!r}")


def json_body(adapter: TypeAdapter[T]) -> Any:
    """A dependency that validates the request body against ``adapter``."""

    async def read(request: Request) -> T:
        raw = await request.body()
        if raw.strip():
            _check_content_type(request)
        return parse_json(adapter, raw)

    return Depends(read)


def query_params(adapter: TypeAdapter[T]) -> Any:
    """A dependency that validates the query string; repeated fields may repeat."""
    repeated = _array_fields(adapter)

    async def read(request: Request) -> T:
        params = request.query_params
        values: dict[str, Any] = {}
        for key in params:
            found = params.getlist(key)
            if key in repeated:
                values[key] = found
            elif len(found) > 1:
                raise InvalidParameter(f"query parameter {key!r} given more than once")
            else:
                values[key] = found[0]
        try:
            return adapter.validate_python(values)
        except ValidationError as error:
            raise describe(error) from None

    return Depends(read)


def _array_fields(adapter: TypeAdapter[Any]) -> frozenset[str]:
    properties = adapter.json_schema().get("properties", {})
    return frozenset(k for k, v in properties.items() if v.get("type") == "array")
