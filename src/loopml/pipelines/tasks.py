"""A task: one attempt of one step (or mapped item), as an executor ships it to a worker.

The driver sends a :class:`Task` (pickled: the worker trusts its own driver);
the worker loads the inputs, calls the function, stores the outputs and sends
back a :class:`TaskResult` as JSON, so the driver never unpickles anything a
worker produced. :func:`execute` is the whole worker side, the same on every
executor; that is why outputs hash the same wherever they are computed.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.clock import now_ms
from loopml.core.errors import LoopmlError
from loopml.pipelines.entities import ErrorInfo, InputValue, OutputRef
from loopml.pipelines.materializers import Materializer, adopt
from loopml.pipelines.values import INLINE_BUDGET, StoreSpec, value_store


@dataclass(frozen=True)
class StepPayload:
    """Where a worker finds the step function: import it, or unpickle it (cloudpickle)."""

    module: str
    qualname: str
    pickled: bytes | None = None

    def resolve(self) -> Callable[..., Any]:
        if self.pickled is not None:
            fn = pickle.loads(self.pickled)  # noqa: S301  (from our own driver, never from a record)
        else:
            fn = importlib.import_module(self.module)
            for part in self.qualname.split("."):
                fn = getattr(fn, part)
        found: Callable[..., Any] = getattr(fn, "fn", fn)  # a Step wraps the function
        return found


@dataclass(frozen=True)
class Task:
    task_id: str  # unique per attempt
    unit: str  # node id, or node[i] for a mapped item
    payload: StepPayload
    store: StoreSpec
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, InputValue] = field(default_factory=dict)
    outputs: int = 1
    timeout_s: float | None = None
    resources: dict[str, float] = field(default_factory=dict)
    materializers: tuple[Materializer, ...] = ()


@dataclass(frozen=True)
class TaskResult:
    task_id: str
    outputs: tuple[OutputRef, ...] = ()
    error: ErrorInfo | None = None
    started_ms: int = 0
    ended_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "task_id": self.task_id,
                "outputs": [o.to_dict() for o in self.outputs],
                "error": self.error.to_dict() if self.error else None,
                "started_ms": self.started_ms,
                "ended_ms": self.ended_ms,
            }
        ).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> TaskResult:
        raw = json.loads(data)
        error = raw.get("error")
        return cls(
            str(raw["task_id"]),
            tuple(OutputRef.from_dict(o) for o in raw.get("outputs", [])),
            ErrorInfo.from_dict(error) if error else None,
            int(raw.get("started_ms", 0)),
            int(raw.get("ended_ms", 0)),
        )

    @classmethod
    def failure(cls, task_id: str, error: ErrorInfo, started_ms: int = 0) -> TaskResult:
        ended = now_ms()
        return cls(task_id, (), error, started_ms or ended, ended)


def execute(task: Task) -> TaskResult:
    """Run one task here: load inputs, call the step, store its outputs."""
    started = now_ms()
    try:
        adopt(task.materializers)
        fn = task.payload.resolve()
        store = value_store(task.store)
        arguments = dict(task.params)
        arguments.update({name: store.load_input(v) for name, v in task.inputs.items()})
    except Exception as error:
        return TaskResult.failure(task.task_id, _describe(error, retryable=False), started)
    try:
        value = call(fn, arguments)
    except Exception as error:
        return TaskResult.failure(task.task_id, _describe(error), started)
    try:
        outputs = _save_outputs(value, task, store)
    except Exception as error:
        retryable = not isinstance(error, LoopmlError)
        return TaskResult.failure(task.task_id, _describe(error, retryable=retryable), started)
    return TaskResult(task.task_id, outputs, None, started, now_ms())


def call(fn: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
    """Call ``fn`` with arguments bound by name, whatever kind each parameter is."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        if name not in arguments:
            continue
        value = arguments[name]
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            args.append(value)
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            args.extend(value)
        elif parameter.kind is inspect.Parameter.VAR_KEYWORD:
            kwargs.update(value)
        else:
            kwargs[name] = value
    return fn(*args, **kwargs)


def _save_outputs(value: Any, task: Task, store: Any) -> tuple[OutputRef, ...]:
    where = f"step {task.unit!r}"
    if task.outputs == 1:
        values: tuple[Any, ...] = (value,)
    elif isinstance(value, tuple | list) and len(value) == task.outputs:
        values = tuple(value)
    else:
        from loopml.core.errors import InvalidParameter

        length = f" of length {len(value)}" if isinstance(value, tuple | list) else ""
        raise InvalidParameter(
            f"{where} declares {task.outputs} outputs but returned {type(value).__name__}{length}"
        )
    budget = INLINE_BUDGET
    refs = []
    for index, item in enumerate(values):
        label = where if task.outputs == 1 else f"{where} (output {index})"
        ref = store.save(item, label, inline_budget=budget)
        budget -= len(ref.inline or "")
        refs.append(ref)
    return tuple(refs)


def _describe(error: BaseException, *, retryable: bool = True) -> ErrorInfo:
    text = "".join(traceback.format_exception(error))
    return ErrorInfo.of(error, text[-6000:], retryable=retryable)
