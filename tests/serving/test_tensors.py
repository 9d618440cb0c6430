"""The V2 tensor codec: JSON and binary tensors in, JSON and binary out, mismatches named."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from loopml.core.errors import InvalidParameter
from loopml.serving.tensors import decode_request, encode_response


def _json(*inputs: dict[str, object], **extra: object) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def test_json_tensors_flat_or_nested_fill_their_shape() -> None:
    flat = {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}
    nested = {"name": "y", "shape": [2, 2], "datatype": "INT64", "data": [[1, 2], [3, 4]]}
    words = {"name": "z", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}
    decoded = decode_request(_json(flat, nested, words, id="r1"), None)
    assert decoded.id == "r1"
    x, y, z = (t.array for t in decoded.inputs)
    assert x.dtype == np.float32
    assert x.tolist() == [[1, 2], [3, 4]]
    assert y.dtype == np.int64
    assert y.shape == (2, 2)
    assert z.tolist() == ["a", "b"]


def test_binary_tensors_follow_the_json_header() -> None:
    floats = np.arange(6, dtype="<f8").reshape(2, 3)
    words = [b"ab", b"c"]
    packed = b"".join(len(w).to_bytes(4, "little") + w for w in words)
    header = _json(
        {"name": "x", "shape": [2, 3], "datatype": "FP64", "parameters": {"binary_data_size": 48}},
        {"name": "w", "shape": [2], "datatype": "BYTES",
         "parameters": {"binary_data_size": len(packed)}},
        outputs=[{"name": "predict", "parameters": {"binary_data": True}}],
    )  # fmt: skip
    decoded = decode_request(header + floats.tobytes() + packed, len(header))
    np.testing.assert_array_equal(decoded.inputs[0].array, floats)
    assert decoded.inputs[1].array.tolist() == words
    assert decoded.binary_output


@pytest.mark.parametrize(
    ("tensor", "message"),
    [
        ({"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}, "needs 4 values"),
        (
            {"name": "x", "shape": [1], "datatype": "INT32", "data": [1.5]},
            "does not match datatype INT32",
        ),
        ({"name": "x", "shape": [1], "datatype": "FP64", "data": ["a"]}, "does not match"),
        ({"name": "x", "shape": [2], "datatype": "FP99", "data": [1, 2]}, "datatype 'FP99'"),
        ({"name": "x", "shape": [-1], "datatype": "FP64", "data": [1]}, "non-negative"),
        ({"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[1], [2, 3]]}, "ragged"),
        ({"name": "x", "shape": [1], "datatype": "FP64"}, "no 'data'"),
        ({"shape": [1], "datatype": "FP64", "data": [1]}, "needs a 'name'"),
    ],
)
def test_bad_tensors_are_refused_naming_the_input(tensor: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        decode_request(_json(tensor), None)


def test_bad_binary_layouts_are_refused() -> None:
    header = _json(
        {"name": "x", "shape": [2], "datatype": "FP64", "parameters": {"binary_data_size": 16}}
    )
    with pytest.raises(InvalidParameter, match="out of range"):
        decode_request(header + b"\0" * 8, len(header))
    with pytest.raises(InvalidParameter, match="not claimed"):
        decode_request(header + b"\0" * 24, len(header))
    with pytest.raises(InvalidParameter, match="does not fit"):
        decode_request(header, len(header) + 5)
    with pytest.raises(InvalidParameter, match="not valid JSON"):
        decode_request(b"{", None)
    with pytest.raises(InvalidParameter, match="'inputs' list"):
        decode_request(b'{"input": []}', None)


def test_responses_in_json_and_binary() -> None:
    outputs = {"predict": np.array([1, 0], dtype=np.int64)}
    body, length = encode_response("m", "3", outputs, "id-1", binary=False)
    assert length is None
    message = orjson.loads(body)
    assert message["outputs"] == [
        {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]}
    ]
    body, length = encode_response("m", "3", outputs, "id-1", binary=True)
    assert length is not None
    head = orjson.loads(body[:length])
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 16}
    assert np.frombuffer(body[length:], dtype="<i8").tolist() == [1, 0]
