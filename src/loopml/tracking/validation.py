"""Limits and name rules for tracking input, checked once at the boundary.

The numbers are MLflow's, so a batch MLflow accepts we accept, and one it
refuses we refuse with a message naming the field.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from loopml.core.errors import InvalidParameter, LimitExceeded
from loopml.tracking.entities import Metric, Param, RunTag

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_KEY_LENGTH = 250
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_RESULTS_RUNS = 50_000
MAX_RESULTS_EXPERIMENTS = 50_000
MAX_RUN_NAME_LENGTH = 250
MAX_USER_ID_LENGTH = 256
MAX_INPUT_TAG_KEY_LENGTH = 255
MAX_DATASET_SOURCE_TYPE_LENGTH = 36
MAX_MODEL_TYPE_LENGTH = 500
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Keys may hold letters, digits and ``_ - . / space``, as in MLflow; never a
# path that climbs (keys become file names in some exporters).
_KEY_PATTERN = re.compile(r"^[\w\-./ :]+$")


def check_key(key: object, field: str) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidParameter(f"{field} must be a non-empty string, got {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise LimitExceeded(f"{field} {key[:40]!r}... exceeds {MAX_KEY_LENGTH} characters")
    if not _KEY_PATTERN.fullmatch(key):
        raise InvalidParameter(
            f"{field} {key!r} may only contain letters, digits, '_', '-', '.', ' ', ':' and '/'"
        )
    if (
        posixpath.normpath(key) != key
        or key == "."
        or key.startswith("/")
        or ".." in key.split("/")
    ):
        raise InvalidParameter(f"{field} {key!r} must be a normalised relative path without '..'")
    return key


def check_value(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(f"{field} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise LimitExceeded(f"{field} is {len(value)} characters; the limit is {limit}")
    check_storable_text(value, field)
    return value


def check_storable_text(value: str, field: str) -> None:
    """Text every database can hold: no NUL (PostgreSQL refuses it), valid UTF-8."""
    if "\x00" in value:
        raise InvalidParameter(f"{field} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameter(f"{field} is not valid UTF-8 text (a lone surrogate)") from None


def check_int64(value: object, field: str, minimum: int = INT64_MIN) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"{field} must be an integer, got {value!r}")
    if not minimum <= value <= INT64_MAX:
        raise InvalidParameter(
            f"{field} {value} is outside the 64-bit range [{minimum}, {INT64_MAX}]"
        )
    return value


def check_metric(metric: Metric, index: int | None = None) -> None:
    where = f"metrics[{index}]" if index is not None else "metric"
    check_key(metric.key, f"{where}.key")
    _check_metric_numbers(metric, where)


def _check_metric_numbers(metric: Metric, where: str) -> None:
    value = metric.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameter(f"{where}.value must be a number, got {value!r}")
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            raise InvalidParameter(f"{where}.value is too large for a double") from None
    check_int64(metric.timestamp, f"{where}.timestamp")
    check_int64(metric.step, f"{where}.step")


def check_metrics(metrics: Sequence[Metric]) -> None:
    """Check every metric; each distinct key is checked once (batches repeat keys)."""
    seen: set[str] = set()
    for i, metric in enumerate(metrics):
        if metric.key not in seen:
            check_key(metric.key, f"metrics[{i}].key")
            seen.add(metric.key)
        _check_metric_numbers(metric, f"metrics[{i}]")


def check_batch(metrics: Sequence[Metric], params: Sequence[Param], tags: Sequence[RunTag]) -> None:
    """Validate a whole batch before anything is written."""
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise LimitExceeded(
            f"a batch may hold at most {MAX_METRICS_PER_BATCH} metrics, got {len(metrics)}"
        )
    if len(params) > MAX_PARAMS_TAGS_PER_BATCH:
        raise LimitExceeded(
            f"a batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} params, got {len(params)}"
        )
    if len(tags) > MAX_PARAMS_TAGS_PER_BATCH:
        raise LimitExceeded(
            f"a batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} tags, got {len(tags)}"
        )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise LimitExceeded(
            f"a batch may hold at most {MAX_ENTITIES_PER_BATCH} entities in all, got {total}"
        )
    check_metrics(metrics)
    seen: dict[str, str] = {}
    for i, param in enumerate(params):
        check_key(param.key, f"params[{i}].key")
        check_value(param.value, f"params[{i}].value", MAX_PARAM_VALUE_LENGTH)
        if seen.setdefault(param.key, param.value) != param.value:
            raise InvalidParameter(
                f"params[{i}]: param {param.key!r} appears twice in the batch with different values"
            )
    for i, tag in enumerate(tags):
        check_key(tag.key, f"tags[{i}].key")
        check_value(tag.value, f"tags[{i}].value", MAX_TAG_VALUE_LENGTH)


def check_experiment_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter("experiment name must be a non-empty string")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise LimitExceeded(
            f"experiment name is {len(name)} characters; the limit is {MAX_EXPERIMENT_NAME_LENGTH}"
        )
    check_storable_text(name, "experiment name")
    return name


def check_max_results(max_results: int, limit: int, field: str = "max_results") -> int:
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise InvalidParameter(f"{field} must be a positive integer, got {max_results!r}")
    if max_results > limit:
        raise InvalidParameter(f"{field} must be at most {limit}, got {max_results}")
    return max_results
