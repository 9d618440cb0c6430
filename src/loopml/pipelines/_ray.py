"""The ``ray`` executor: each task (a step, or one mapped item) is a Ray task.

A task asks Ray for its step's ``resources`` (``num_cpus``, ``num_gpus``,
``memory`` in bytes, anything else as a custom resource). Ray runs the same
:func:`loopml.pipelines.tasks.execute` a local worker does and returns JSON,
so outputs hash the same as on any executor. Ray's own retries are off: the
driver retries, as for every executor. The artifact store must be reachable
from the Ray workers (a shared path, S3 or a loopml server).

Cluster: ``address=`` or ``LOOPML_RAY_ADDRESS`` connects to a running cluster
(``host:port`` or ``ray://host:port``), checked first with a plain TCP connect
so an unreachable address fails fast with its name in the message instead of
Ray retrying for minutes; with neither, a Ray already initialised in this
process is used, else a local Ray is started (and shut down at the end).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

from loopml.core.errors import InvalidParameter
from loopml.pipelines.entities import ErrorInfo
from loopml.pipelines.errors import WorkerLost
from loopml.pipelines.executors import Executor, timeout_error
from loopml.pipelines.tasks import Task, TaskResult, execute

ADDRESS_ENV = "LOOPML_RAY_ADDRESS"
CONNECT_TIMEOUT_S = 5.0


def run_task(task: Task) -> str:
    """What a Ray worker runs: one task, answered in JSON."""
    return execute(task).to_json().decode()


class RayExecutor(Executor):
    """Runs tasks as Ray tasks, locally or on a cluster (see the module docstring)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.num_cpus = num_cpus
        self.init_options = dict(init_options or {})
        self._started_ray = False
        self._remote: Any = None
        self._running: dict[Any, tuple[Task, float | None]] = {}

    def start(self, parallelism_hint: int) -> None:
        import ray

        if self.address:
            check_reachable(self.address)
        if not ray.is_initialized():
            self._init(ray)
        self._remote = ray.remote(max_retries=0)(run_task)

    def _init(self, ray: Any) -> None:
        options = dict(self.init_options)
        options.setdefault("include_dashboard", False)
        options.setdefault("log_to_driver", True)
        if self.address:
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise InvalidParameter(
                    f"cannot connect to the Ray cluster at {self.address!r}: {error}"
                ) from None
        else:
            # Local workers import step modules by name: give them the driver's path.
            path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
            runtime_env = options.pop("runtime_env", None) or {"env_vars": {"PYTHONPATH": path}}
            ray.init(num_cpus=self.num_cpus, runtime_env=runtime_env, **options)
        self._started_ray = True

    def submit(self, task: Task) -> None:
        ref = self._remote.options(**ray_options(task.resources)).remote(task)
        deadline = time.monotonic() + task.timeout_s if task.timeout_s else None
        self._running[ref] = (task, deadline)

    def poll(self, timeout_s: float | None) -> list[TaskResult]:
        import ray

        if not self._running:
            return []
        deadlines = [d for _, d in self._running.values() if d is not None]
        wait_s = timeout_s
        if deadlines:
            left = max(0.0, min(deadlines) - time.monotonic())
            wait_s = left if wait_s is None else min(wait_s, left)
        refs = list(self._running)
        ready, _ = ray.wait(refs, num_returns=1, timeout=wait_s)
        if ready:
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        results = [self._collect(ray, ref) for ref in ready]
        now = time.monotonic()
        for ref, (task, deadline) in list(self._running.items()):
            if deadline is not None and now >= deadline:
                ray.cancel(ref, force=True)
                del self._running[ref]
                assert task.timeout_s is not None
                results.append(
                    TaskResult.failure(task.task_id, timeout_error(task, task.timeout_s, True))
                )
        return results

    def _collect(self, ray: Any, ref: Any) -> TaskResult:
        task, _ = self._running.pop(ref)
        try:
            return TaskResult.from_json(ray.get(ref))
        except Exception as error:  # the worker died, the node went away, Ray failed
            lost = WorkerLost(f"the Ray worker running step {task.unit!r} failed: {error}")
            return TaskResult.failure(task.task_id, ErrorInfo.of(lost))

    def close(self) -> None:
        import ray

        for ref in list(self._running):
            ray.cancel(ref, force=True)
        self._running.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def ray_options(resources: dict[str, float]) -> dict[str, Any]:
    """A step's resource requests as ``.options()`` arguments (custom ones under resources)."""
    options: dict[str, Any] = {}
    custom: dict[str, float] = {}
    for key, value in resources.items():
        if key in ("num_cpus", "num_gpus"):
            options[key] = value
        elif key == "memory":
            options["memory"] = int(value)
        else:
            custom[key] = value
    if custom:
        options["resources"] = custom
    return options


def check_reachable(address: str) -> None:
    """Refuse an address nothing listens on, naming it, within a few seconds."""
    if address in ("auto", "local"):
        return
    target = address.removeprefix("ray://").removeprefix("http://").rstrip("/")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidParameter(f"Ray address {address!r} is not host:port or ray://host:port")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
            pass
    except OSError as error:
        raise InvalidParameter(
            f"cannot reach the Ray cluster at {address!r}: {error.strerror or error}"
        ) from None
