"""Pipeline entities: output references, errors, step records and runs. No I/O here.

An :class:`OutputRef` is how a value travels between steps: its sha256 (the
address of its bytes in the artifact store), the materializer that wrote it,
and, for a small JSON value, the JSON text itself, so trivial values cost no
file. Everything here round-trips through plain JSON, because that is what
workers send back and what run records hold: the driver never unpickles
anything a worker or a record produced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from loopml.core.errors import InvalidState

_SHA256 = re.compile(r"[0-9a-f]{64}")
_ROOT = re.compile(r"[0-9]+/pipeline-objects|pipelines/objects")  # see values.objects_root
OBJECTS_PREFIX = "pipelines/objects"  # where values go when no experiment folder is known
DEFAULT_EXPERIMENT = "pipelines"


class StepStatus(StrEnum):
    """What happened to a step (or one mapped item) in a run."""

    COMPLETED = "completed"  # ran and succeeded
    CACHED = "cached"  # skipped: an earlier run with the same cache key produced the outputs
    REUSED = "reused"  # skipped on resume: the resumed run had completed it
    FAILED = "failed"  # ran out of attempts
    SKIPPED = "skipped"  # never ran because something upstream failed

    @property
    def succeeded(self) -> bool:
        return self in (StepStatus.COMPLETED, StepStatus.CACHED, StepStatus.REUSED)


@dataclass(frozen=True)
class OutputRef:
    """One stored value: content hash, size, the materializer that reads it, its type."""

    sha256: str
    size: int
    materializer: str
    type_name: str
    inline: str | None = None  # the canonical JSON text of a small JSON value
    root: str = OBJECTS_PREFIX  # the folder of content-addressed values it is stored under

    @property
    def path(self) -> str:
        """The artifact-store path of the bytes (unused for inline values)."""
        return f"{self.root}/{self.sha256[:2]}/{self.sha256}"

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "sha256": self.sha256,
            "size": self.size,
            "materializer": self.materializer,
            "type": self.type_name,
        }
        if self.inline is not None:
            doc["inline"] = self.inline
        if self.root != OBJECTS_PREFIX:
            doc["root"] = self.root
        return doc

    @classmethod
    def from_dict(cls, raw: Any) -> OutputRef:
        if not isinstance(raw, Mapping):
            raise InvalidState(f"an output reference must be an object, got {raw!r:.80}")
        sha256, size, name = raw.get("sha256"), raw.get("size"), raw.get("materializer")
        inline, root = raw.get("inline"), raw.get("root", OBJECTS_PREFIX)
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise InvalidState(f"output reference has no valid sha256: {raw!r:.120}")
        if type(size) is not int or size < 0 or not isinstance(name, str):
            raise InvalidState(f"output reference has no valid size or materializer: {raw!r:.120}")
        if inline is not None and not isinstance(inline, str):
            raise InvalidState("an inline output must be JSON text")
        if not isinstance(root, str) or not _ROOT.fullmatch(root):
            raise InvalidState(f"output reference has an invalid root: {root!r:.80}")
        return cls(sha256, size, name, str(raw.get("type", "")), inline, root)


# A step input: one stored value, or a list of them (a mapped step's results, a list of outputs).
InputValue: TypeAlias = "OutputRef | list[InputValue]"


def input_to_json(value: InputValue) -> Any:
    if isinstance(value, OutputRef):
        return value.to_dict()
    return [input_to_json(item) for item in value]


def input_from_json(raw: Any) -> InputValue:
    if isinstance(raw, list):
        return [input_from_json(item) for item in raw]
    return OutputRef.from_dict(raw)


def input_hashes(value: InputValue) -> Any:
    """The hashes alone, in the value's shape: what a cache key and a record keep."""
    if isinstance(value, OutputRef):
        return value.sha256
    return [input_hashes(item) for item in value]


@dataclass(frozen=True)
class ErrorInfo:
    """A step's failure as data: type, message, traceback and the type's ancestry."""

    error_type: str  # module.qualname of the exception class
    message: str
    traceback: str = ""
    lineage: tuple[str, ...] = ()  # module.qualname of every class in the type's MRO
    retryable: bool = True  # False for loopml's own refusals (no materializer, bad input)

    def matches(self, classes: tuple[type[BaseException], ...]) -> bool:
        """Whether ``retry_on`` names this error's type or one of its bases."""
        names = set(self.lineage or (self.error_type,))
        return any(f"{c.__module__}.{c.__qualname__}" in names for c in classes)

    @property
    def short_type(self) -> str:
        return self.error_type.rpartition(".")[2]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.error_type,
            "message": self.message,
            "traceback": self.traceback,
            "lineage": list(self.lineage),
            "retryable": self.retryable,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ErrorInfo:
        return cls(
            str(raw.get("type", "Exception")),
            str(raw.get("message", "")),
            str(raw.get("traceback", "")),
            tuple(str(n) for n in raw.get("lineage", ())),
            bool(raw.get("retryable", True)),
        )

    @classmethod
    def of(cls, error: BaseException, traceback: str = "", *, retryable: bool = True) -> ErrorInfo:
        lineage = tuple(f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__)
        message = str(error) or type(error).__name__
        return cls(lineage[0], message, traceback, lineage, retryable)


@dataclass(frozen=True)
class StepRecord:
    """One step (or one mapped item, ``node[i]``) of a run: what it got, did and made."""

    unit: str  # the node id, or node[i] for a mapped item
    node: str
    step: str
    status: StepStatus
    cache_key: str = ""
    code_hash: str = ""
    params: dict[str, str] = field(default_factory=dict)  # canonical JSON per constant
    inputs: dict[str, Any] = field(default_factory=dict)  # hashes per input, in its shape
    outputs: tuple[OutputRef, ...] = ()
    attempts: int = 0
    started_ms: int = 0
    ended_ms: int = 0
    error: ErrorInfo | None = None
    run_id: str = ""  # the step's child run, once recorded
    source_run_id: str = ""  # cached/reused: the step run that produced the outputs
    map_index: int | None = None

    @property
    def duration_ms(self) -> int:
        return max(0, self.ended_ms - self.started_ms)


@dataclass(frozen=True)
class CacheEntry:
    """A row of ``pipeline_cache``: a cache key and the outputs the step produced for it."""

    cache_key: str
    pipeline: str
    step: str
    outputs: tuple[OutputRef, ...]
    run_id: str
    created_ms: int


@dataclass(frozen=True)
class PipelineRun:
    """A finished pipeline run: its tracking run id, status and every step's record.

    ``result()`` loads what the pipeline function returned (its outputs' values).
    """

    run_id: str
    pipeline: str
    status: str  # FINISHED, FAILED or KILLED, as the tracking run
    steps: dict[str, StepRecord]
    outputs: Any = None  # the pipeline function's return, with OutputRef in place of values
    resumed_from: str | None = None
    loader: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)

    def _with(self, status: StepStatus) -> list[str]:
        return [unit for unit, record in self.steps.items() if record.status == status]

    @property
    def completed(self) -> list[str]:
        return self._with(StepStatus.COMPLETED)

    @property
    def cached(self) -> list[str]:
        return self._with(StepStatus.CACHED)

    @property
    def reused(self) -> list[str]:
        return self._with(StepStatus.REUSED)

    @property
    def failed(self) -> list[str]:
        return self._with(StepStatus.FAILED)

    @property
    def skipped(self) -> list[str]:
        return self._with(StepStatus.SKIPPED)

    def result(self) -> Any:
        """The values the pipeline function returned (loaded from the artifact store)."""
        self.raise_for_status()
        if self.loader is None:
            raise InvalidState(f"run {self.run_id} has no loader; load its outputs by hash")
        return self.loader(self.outputs)

    def raise_for_status(self) -> None:
        """Raise :class:`~loopml.pipelines.PipelineFailed` naming the failed steps, if any."""
        if self.status == "FINISHED":
            return
        from loopml.pipelines.errors import PipelineFailed

        failures = [
            f"{unit}: {record.error.short_type}: {record.error.message}"
            for unit, record in self.steps.items()
            if record.status == StepStatus.FAILED and record.error is not None
        ]
        detail = "; ".join(failures) or self.status
        raise PipelineFailed(f"pipeline {self.pipeline!r} run {self.run_id} failed: {detail}")
