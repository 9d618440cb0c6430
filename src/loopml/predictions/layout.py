"""Where prediction and ground-truth files live in the artifact store, and how to find them.

Layout under ``prefix`` (default ``predictions``), Hive-style so any Parquet
tool reads the partitions from the path::

    endpoint=<endpoint>/date=<YYYY-MM-DD>/part-<min time_ms>-<hex>.parquet
    ground_truth/endpoint=<endpoint>/date=<YYYY-MM-DD>/part-<time_ms>-<hex>.parquet

Dates are UTC. A prediction part is named after the earliest record it holds,
so a reader skips parts that start after its time range without opening them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loopml.core.errors import InvalidParameter
from loopml.core.ids import new_id
from loopml.core.paths import safe_relpath

if TYPE_CHECKING:
    from loopml.artifacts import ArtifactStore

DEFAULT_PREFIX = "predictions"
GROUND_TRUTH_DIR = "ground_truth"
MS_PER_DAY = 86_400_000

_ENDPOINT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_DATE_DIR = re.compile(r"date=(\d{4}-\d{2}-\d{2})")
_PART = re.compile(r"part-(-?\d+)-[0-9a-f]{32}\.parquet")


def check_endpoint_name(endpoint: str, *, field: str = "endpoint") -> str:
    """Return ``endpoint`` if it can name a partition directory, else raise.

    One path segment of letters, digits, ``_``, ``.`` and ``-`` (starting with a
    letter or digit), at most 128 characters. The server checks its endpoint
    names once, when it loads its configuration; the writer re-checks each
    distinct name once and drops records whose name fails, never raising on
    the hot path.

    Raises:
        InvalidParameter: naming ``field`` and the rule.
    """
    if not isinstance(endpoint, str) or not _ENDPOINT.fullmatch(endpoint):
        raise InvalidParameter(
            f"{field} {endpoint!r} must be 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return endpoint


def check_prefix(prefix: str) -> str:
    return safe_relpath(prefix, field="prefix", allow_empty=False)


def utc_date(time_ms: int) -> str:
    """The UTC calendar date of an epoch-millisecond time, as ``YYYY-MM-DD``."""
    day_start_s = (time_ms // MS_PER_DAY) * (MS_PER_DAY // 1000)
    return datetime.fromtimestamp(day_start_s, tz=UTC).date().isoformat()


def prediction_part_path(prefix: str, endpoint: str, date: str, min_time_ms: int) -> str:
    return f"{prefix}/endpoint={endpoint}/date={date}/part-{min_time_ms}-{new_id()}.parquet"


def ground_truth_part_path(prefix: str, endpoint: str, time_ms: int) -> str:
    date = utc_date(time_ms)
    return (
        f"{prefix}/{GROUND_TRUTH_DIR}/endpoint={endpoint}/date={date}/"
        f"part-{time_ms}-{new_id()}.parquet"
    )


@dataclass(frozen=True)
class TimeRange:
    """``[start_ms, end_ms)``; either end may be open."""

    start_ms: int | None = None
    end_ms: int | None = None

    def keeps_date(self, date: str) -> bool:
        if self.start_ms is not None and date < utc_date(self.start_ms):
            return False
        return self.end_ms is None or date <= utc_date(self.end_ms - 1)

    def keeps_part(self, min_time_ms: int) -> bool:
        return self.end_ms is None or min_time_ms < self.end_ms


def prediction_parts(
    artifacts: ArtifactStore, prefix: str, endpoint: str | None, window: TimeRange
) -> list[str]:
    """Logical paths of the prediction parts that may hold rows of ``endpoint`` in ``window``.

    Pruning happens on directory listings, before any part's ref is read.
    """
    paths = []
    for date_dir in _date_dirs(artifacts, prefix, endpoint):
        match = _DATE_DIR.fullmatch(_name(date_dir))
        if match is None or not window.keeps_date(match.group(1)):
            continue
        for part in _parts(artifacts, date_dir):
            if window.keeps_part(part[1]):
                paths.append(part[0])
    return paths


def ground_truth_parts(artifacts: ArtifactStore, prefix: str, endpoint: str | None) -> list[str]:
    """Every ground-truth part of ``endpoint`` (all of them when None), whatever its date.

    Labels arrive days after their predictions, so their dates cannot prune.
    """
    root = f"{prefix}/{GROUND_TRUTH_DIR}"
    dirs = _date_dirs(artifacts, root, endpoint)
    return [path for date_dir in dirs for path, _ in _parts(artifacts, date_dir)]


def _date_dirs(artifacts: ArtifactStore, root: str, endpoint: str | None) -> Iterator[str]:
    if endpoint is not None:
        endpoint_dirs = [f"{root}/endpoint={check_endpoint_name(endpoint)}"]
    else:
        endpoint_dirs = [
            info.path
            for info in artifacts.list(root)
            if info.is_dir and _name(info.path).startswith("endpoint=")
        ]
    for endpoint_dir in endpoint_dirs:
        yield from (info.path for info in artifacts.list(endpoint_dir) if info.is_dir)


def _parts(artifacts: ArtifactStore, date_dir: str) -> Iterator[tuple[str, int]]:
    for info in artifacts.list(date_dir):
        match = _PART.fullmatch(_name(info.path))
        if not info.is_dir and match is not None:
            yield info.path, int(match.group(1))


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]
