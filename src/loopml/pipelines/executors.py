"""Executors: where tasks run. Found by name, imported lazily, extended by entry points.

An executor only runs tasks and reports results: ``submit`` hands it a task,
``poll`` returns the results that are in (waiting at most ``timeout_s``). It
must stop a task that runs past ``task.timeout_s`` and report it as a
:class:`StepTimeout`, and report a worker that dies as :class:`WorkerLost`:
a result comes back for every task, so a run never hangs. Retries, caching and
recording belong to the driver (:mod:`loopml.pipelines.runner`), the same for
every executor.

Built in: ``inline`` (in the driver, one task at a time: for debugging),
``process`` (a local pool of worker processes, the default) and ``ray``.
Others register under the ``loopml.executors`` entry-point group.
"""

from __future__ import annotations

import importlib
import signal
import threading
from abc import ABC, abstractmethod
from collections import deque
from types import FrameType
from typing import Any, ClassVar

from loopml.core.errors import InvalidParameter
from loopml.pipelines.entities import ErrorInfo
from loopml.pipelines.errors import StepTimeout
from loopml.pipelines.tasks import Task, TaskResult, execute

ENTRY_POINT_GROUP = "loopml.executors"
BUILTIN_EXECUTORS = {
    "inline": "loopml.pipelines.executors:InlineExecutor",
    "process": "loopml.pipelines._process:ProcessExecutor",
    "ray": "loopml.pipelines._ray:RayExecutor",
}


class Executor(ABC):
    """Runs tasks and reports a result for each (see the module docstring)."""

    name: ClassVar[str]

    def start(self, parallelism_hint: int) -> None:  # noqa: B027  (optional hook)
        """Get ready (start workers, connect); ``parallelism_hint``: tasks that may run at once."""

    @abstractmethod
    def submit(self, task: Task) -> None: ...

    @abstractmethod
    def poll(self, timeout_s: float | None) -> list[TaskResult]:
        """Results that are in; waits up to ``timeout_s`` (None: until one is) for the first."""

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Stop every worker; tasks still running are abandoned."""


def known_executors() -> dict[str, str]:
    """Executor names and where each lives (``module:Class``), entry points included."""
    from importlib.metadata import entry_points

    found = dict(BUILTIN_EXECUTORS)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(point.name, point.value)
    return found


def get_executor(name: str | Executor, **options: Any) -> Executor:
    """An executor by name (``inline``, ``process``, ``ray`` or an entry point).

    Raises:
        InvalidParameter: an unknown name (the message lists the known ones), or
            options the executor does not take.
    """
    if isinstance(name, Executor):
        return name
    known = BUILTIN_EXECUTORS if name in BUILTIN_EXECUTORS else known_executors()
    if name not in known:
        raise InvalidParameter(
            f"unknown executor {name!r}; known executors: {', '.join(sorted(known))}"
        )
    module_name, _, attr = known[name].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    try:
        executor = factory(**options)
    except TypeError as error:
        raise InvalidParameter(f"executor {name!r}: {error}") from None
    if not isinstance(executor, Executor):
        raise InvalidParameter(f"executor {name!r} ({known[name]}) is not an Executor")
    return executor


class InlineExecutor(Executor):
    """Runs each task in the driver process, one at a time: breakpoints and prints work.

    A timeout interrupts the step with SIGALRM when the driver runs in the main
    thread; elsewhere the step runs to its end and is reported as timed out.
    """

    name = "inline"

    def __init__(self) -> None:
        self._queue: deque[Task] = deque()

    def submit(self, task: Task) -> None:
        self._queue.append(task)

    def poll(self, timeout_s: float | None) -> list[TaskResult]:
        if not self._queue:
            return []
        task = self._queue.popleft()
        if task.timeout_s is None:
            return [execute(task)]
        return [_execute_with_alarm(task, task.timeout_s)]


class _Alarm(BaseException):
    """Raised into the step when its time is up (a BaseException: steps do not catch it)."""


def _execute_with_alarm(task: Task, timeout_s: float) -> TaskResult:
    if threading.current_thread() is not threading.main_thread():
        result = execute(task)
        if result.ended_ms - result.started_ms > timeout_s * 1000:
            return TaskResult.failure(task.task_id, timeout_error(task, timeout_s, False))
        return result

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise _Alarm

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        return execute(task)
    except _Alarm:
        return TaskResult.failure(task.task_id, timeout_error(task, timeout_s, False))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timeout_error(task: Task, timeout_s: float, killed: bool) -> ErrorInfo:
    how = "; its worker process was killed" if killed else ""
    error = StepTimeout(f"step {task.unit!r} ran past its timeout of {timeout_s:g} s{how}")
    return ErrorInfo.of(error)
