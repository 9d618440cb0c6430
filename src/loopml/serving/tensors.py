"""The Open Inference Protocol's tensors (KServe V2), in JSON and with binary data.

A request is a JSON object whose ``inputs`` are typed tensors ``{name, shape,
datatype, data}``. With Triton's binary extension (what ``tritonclient`` sends
by default) the JSON header is followed by raw little-endian tensor bytes:
the ``Inference-Header-Content-Length`` header gives the JSON's length, and
each input with ``parameters.binary_data_size`` takes that many bytes, in
order. A response is JSON, or JSON plus binary output data when the request
asked for it (``binary_data`` on an output, or ``binary_data_output``).

Every mismatch — data that does not fill the shape, a value of the wrong
datatype, bytes that do not add up — is an ``InvalidParameter`` naming the
tensor, which the server answers with a 400.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from loopml.core.errors import InvalidParameter

BINARY_HEADER = "inference-header-content-length"

# V2 datatype -> numpy dtype (BYTES are Python bytes/str objects).
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
_KIND_OK = {"BOOL": "b", "UINT": "iu", "INT": "iu", "FP": "fiu", "BYTES": "OUS"}


@dataclass
class Tensor:
    name: str
    shape: list[int]
    datatype: str
    array: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class InferRequest:
    """A decoded request: its tensors, requested outputs, parameters and id."""

    inputs: list[Tensor]
    outputs: list[dict[str, Any]]
    parameters: dict[str, Any]
    id: str | None
    binary_output: bool


def _shape(value: Any, name: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise InvalidParameter(f"input {name!r}: shape must be a list of non-negative integers")
    return value


def _datatype(value: Any, name: str) -> str:
    if value not in DATATYPES:
        raise InvalidParameter(
            f"input {name!r}: datatype {value!r} is not one of {', '.join(DATATYPES)}"
        )
    return str(value)


def _check_kind(array: np.ndarray, datatype: str, name: str) -> None:
    family = next(f for f in ("BOOL", "UINT", "INT", "FP", "BYTES") if datatype.startswith(f))
    if array.size and array.dtype.kind not in _KIND_OK[family]:
        raise InvalidParameter(
            f"input {name!r}: data of kind {array.dtype.kind!r} does not match datatype {datatype}"
        )


def _from_json_data(data: Any, shape: list[int], datatype: str, name: str) -> np.ndarray:
    """Flat or nested JSON data as an array of ``shape``."""
    if not isinstance(data, list):
        raise InvalidParameter(f"input {name!r}: data must be a list")
    if datatype == "BYTES":
        flat = np.asarray(data, dtype=object).reshape(-1)
    else:
        try:
            flat = np.asarray(data).reshape(-1)
        except ValueError:
            raise InvalidParameter(f"input {name!r}: data is ragged") from None
        _check_kind(flat, datatype, name)
        flat = flat.astype(DATATYPES[datatype], copy=False)
    expected = math.prod(shape)
    if flat.size != expected:
        raise InvalidParameter(
            f"input {name!r}: shape {shape} needs {expected} values, data has {flat.size}"
        )
    return flat.reshape(shape)


def _from_bytes(raw: memoryview, shape: list[int], datatype: str, name: str) -> np.ndarray:
    if datatype == "BYTES":
        return _decode_bytes_tensor(raw, shape, name)
    dtype = np.dtype(DATATYPES[datatype]).newbyteorder("<")
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise InvalidParameter(
            f"input {name!r}: shape {shape} of {datatype} needs {expected} bytes, got {len(raw)}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _decode_bytes_tensor(raw: memoryview, shape: list[int], name: str) -> np.ndarray:
    """Triton's BYTES layout: each element a 4-byte little-endian length, then the bytes."""
    items: list[bytes] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise InvalidParameter(f"input {name!r}: truncated BYTES element")
        size = int.from_bytes(raw[at : at + 4], "little")
        items.append(bytes(raw[at + 4 : at + 4 + size]))
        at += 4 + size
    if at != len(raw) or len(items) != math.prod(shape):
        raise InvalidParameter(f"input {name!r}: BYTES data does not fill shape {shape}")
    return np.asarray(items, dtype=object).reshape(shape)


def decode_request(body: bytes, header_length: int | None) -> InferRequest:
    """Parse a V2 infer request, with binary tensor data when ``header_length`` is given."""
    head = body if header_length is None else body[:header_length]
    if header_length is not None and not 0 < header_length <= len(body):
        raise InvalidParameter(
            f"Inference-Header-Content-Length {header_length} does not fit a {len(body)}-byte body"
        )
    try:
        message = orjson.loads(head)
    except orjson.JSONDecodeError as error:
        raise InvalidParameter(f"request body is not valid JSON: {error}") from None
    if not isinstance(message, dict) or not isinstance(message.get("inputs"), list):
        raise InvalidParameter("request must be a JSON object with an 'inputs' list")
    binary = memoryview(body)[len(head) :]
    inputs = []
    for item in message["inputs"]:
        tensor, binary = _decode_input(item, binary)
        inputs.append(tensor)
    if len(binary):
        raise InvalidParameter(f"{len(binary)} bytes of binary data are not claimed by any input")
    if not inputs:
        raise InvalidParameter("'inputs' is empty")
    parameters = message.get("parameters") or {}
    outputs = message.get("outputs") or []
    if not isinstance(parameters, dict) or not isinstance(outputs, list):
        raise InvalidParameter("'parameters' must be an object and 'outputs' a list")
    binary_output = bool(parameters.get("binary_data_output")) or any(
        isinstance(o, dict) and (o.get("parameters") or {}).get("binary_data") for o in outputs
    )
    request_id = message.get("id")
    return InferRequest(
        inputs,
        outputs,
        parameters,
        request_id if isinstance(request_id, str) else None,
        binary_output,
    )


def _decode_input(item: Any, binary: memoryview) -> tuple[Tensor, memoryview]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        raise InvalidParameter("each input needs a 'name'")
    name = item["name"]
    shape = _shape(item.get("shape"), name)
    datatype = _datatype(item.get("datatype"), name)
    parameters = item.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or size > len(binary):
            raise InvalidParameter(f"input {name!r}: binary_data_size {size!r} is out of range")
        array = _from_bytes(binary[:size], shape, datatype, name)
        return Tensor(name, shape, datatype, array, parameters), binary[size:]
    if "data" not in item:
        raise InvalidParameter(f"input {name!r} has no 'data' and no binary_data_size")
    array = _from_json_data(item["data"], shape, datatype, name)
    return Tensor(name, shape, datatype, array, parameters), binary


def datatype_of(array: np.ndarray) -> str:
    """The V2 datatype for an output array."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    if kind == "b":
        return "BOOL"
    if kind in "iu":
        return f"{'UINT' if kind == 'u' else 'INT'}{size * 8}"
    if kind == "f":
        return f"FP{size * 8}"
    return "BYTES"


def _json_data(array: np.ndarray) -> list[Any]:
    flat = array.reshape(-1)
    if flat.dtype.kind in "OUS":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in flat.tolist()]
    return flat.tolist()


def _bytes_of(array: np.ndarray) -> bytes:
    if array.dtype.kind in "OUS":
        parts = []
        for value in array.reshape(-1).tolist():
            data = value if isinstance(value, bytes) else str(value).encode()
            parts.append(len(data).to_bytes(4, "little") + data)
        return b"".join(parts)
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def encode_response(
    model_name: str,
    model_version: str,
    outputs: dict[str, np.ndarray],
    request_id: str,
    binary: bool,
    parameters: dict[str, Any] | None = None,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary data follows it."""
    described = []
    chunks = []
    for name, array in outputs.items():
        entry: dict[str, Any] = {
            "name": name,
            "shape": list(array.shape),
            "datatype": datatype_of(array),
        }
        if binary:
            data = _bytes_of(array)
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = _json_data(array)
        described.append(entry)
    message: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "id": request_id,
        "outputs": described,
    }
    if parameters:
        message["parameters"] = parameters
    head = orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY)
    if not binary:
        return head, None
    return head + b"".join(chunks), len(head)
