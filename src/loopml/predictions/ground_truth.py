"""Ground truth: labels that arrive after the prediction, joined later by request id.

A label is JSON text keyed by the request id the server logged. Labels are
appended, never updated: logging a label again for the same request adds a row,
and readers take the one with the latest ``time_ms`` (ties within one
millisecond are broken arbitrarily). A label whose request was never logged, or
not yet flushed, is kept; :func:`~loopml.predictions.reader.read` only shows
labels of requests it returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter
from loopml.predictions.layout import (
    DEFAULT_PREFIX,
    check_endpoint_name,
    check_prefix,
    ground_truth_part_path,
)

if TYPE_CHECKING:
    from loopml.artifacts import ArtifactStore


def log_ground_truth(
    artifacts: ArtifactStore,
    endpoint: str,
    labels: Mapping[str, Any] | Iterable[tuple[str, Any]],
    *,
    time_ms: int | None = None,
    prefix: str = DEFAULT_PREFIX,
) -> int:
    """Store labels for logged requests as one Parquet part; return how many were stored.

    Args:
        artifacts: the store the prediction log is in.
        endpoint: the endpoint whose requests these are.
        labels: request id → label (any JSON-serialisable value), as a mapping or
            (request_id, label) pairs; for a repeated id the last pair counts.
        time_ms: when the labels became known (epoch ms UTC); now when None.
        prefix: the log's logical directory.

    Raises:
        InvalidParameter: a bad endpoint, request id, time or label (nothing is written).
    """
    check_endpoint_name(endpoint)
    logical_prefix = check_prefix(prefix)
    when = now_ms() if time_ms is None else _time_ms(time_ms)
    encoded = _encode_labels(labels)
    if not encoded:
        return 0

    from loopml.predictions import _arrow

    table = _arrow.ground_truth_table(endpoint, encoded, when)
    path = ground_truth_part_path(logical_prefix, endpoint, when)
    artifacts.put(path, _arrow.parquet_bytes(table))
    return len(encoded)


def _encode_labels(labels: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, str]:
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    encoded: dict[str, str] = {}
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise InvalidParameter(f"labels must be (request_id, label) pairs, got {pair!r}")
        request_id, label = pair
        if not isinstance(request_id, str) or not request_id:
            raise InvalidParameter(f"request_id must be a non-empty string, got {request_id!r}")
        try:
            encoded[request_id] = json.dumps(label, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidParameter(
                f"label of request_id {request_id!r} is not JSON-serialisable: {error}"
            ) from None
    return encoded


def _time_ms(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"time_ms must be epoch milliseconds (int), got {value!r}")
    return value
