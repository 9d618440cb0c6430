"""``@pipeline``: a plain function whose step calls are the DAG.

Calling a pipeline function runs it as plain Python (every step a plain call:
what a unit test wants). ``.run()`` traces it, checks the DAG and the
parameters, and runs it for real: cached, retried, in parallel, recorded.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from loopml.core.errors import InvalidParameter
from loopml.pipelines.entities import DEFAULT_EXPERIMENT
from loopml.pipelines.graph import Graph
from loopml.pipelines.targets import target_of
from loopml.pipelines.tracing import trace

if TYPE_CHECKING:
    from loopml.pipelines.entities import PipelineRun
    from loopml.pipelines.executors import Executor
    from loopml.pipelines.runner import Reusable, StepEvent
    from loopml.tracking.client import TrackingClient

P = ParamSpec("P")
R = TypeVar("R")


class Pipeline(Generic[P, R]):
    """A function made a pipeline by :func:`pipeline`."""

    def __init__(self, fn: Callable[P, R], *, name: str | None, experiment: str | None) -> None:
        if not callable(fn) or isinstance(fn, type):
            raise InvalidParameter(f"@pipeline needs a function, got {fn!r}")
        self.fn = fn
        self.name = str(name or getattr(fn, "__name__", "pipeline"))
        self.experiment = experiment or DEFAULT_EXPERIMENT
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def graph(self, params: Mapping[str, Any] | None = None) -> Graph:
        """The DAG for ``params``, checked (cycles, missing inputs, parameter types)."""
        return trace(self.name, self.fn, dict(params or {}))

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        executor: str | Executor = "process",
        executor_options: Mapping[str, Any] | None = None,
        cache: bool = True,
        experiment: str | None = None,
        client: TrackingClient | None = None,
        target: str | None = None,
        tags: Mapping[str, str] | None = None,
        on_event: Callable[[StepEvent], None] | None = None,
        reuse: Mapping[str, Reusable] | None = None,
        resumed_from: str | None = None,
    ) -> PipelineRun:
        """Run the pipeline: the DAG is checked before any step starts.

        Args:
            params: the pipeline function's parameters (checked against its annotations).
            executor: ``process`` (default), ``inline``, ``ray``, another registered
                name, or an Executor instance.
            executor_options: passed to the executor (``max_workers``, ``address``...).
            cache: False to run every step, even those with a cached result.
            experiment: the tracking experiment (default: the pipeline's, ``pipelines``).
            client: where to record and store (default: ``loopml.get_client()``).
            target: how to import this pipeline again, for resume (default: found).
            tags: extra tags on the pipeline run (what triggered it, a ticket).
            on_event: called with each step's progress (live displays).
            reuse, resumed_from: set by :func:`loopml.pipelines.resume`.

        Returns:
            The finished run (its status may be FAILED: see ``raise_for_status()``).

        Raises:
            InvalidParameter: a cycle, a missing input, a parameter of the wrong
                type, an unknown executor; nothing has run.
        """
        from loopml.pipelines.executors import Executor, get_executor

        graph = self.graph(params)
        chosen = get_executor(executor, **dict(executor_options or {}))
        chosen.start(graph.width())  # workers boot while the driver opens the store
        try:
            from loopml.pipelines.runner import Runner, RunSettings

            settings = RunSettings(
                client=client if client is not None else default_client(),
                executor=chosen,
                executor_name=executor if not isinstance(executor, Executor) else chosen.name,
                cache=cache,
                experiment=experiment or self.experiment,
                target=target if target is not None else target_of(self),
                reuse=dict(reuse or {}),
                resumed_from=resumed_from,
                on_event=on_event,
                tags=dict(tags or {}),
            )
            runner = Runner(graph, settings)
        except BaseException:
            chosen.close()
            raise
        return runner.run()


def default_client() -> TrackingClient:
    """``loopml.get_client()``: the client ``loopml.set_tracking_uri`` chose, else the default.

    Looked up on the package at run time rather than imported: ``loopml`` itself
    sits above every layer (it re-exports evaluation and tuning).
    """
    from loopml.tracking.client import TrackingClient

    client = sys.modules["loopml"].get_client()
    assert isinstance(client, TrackingClient)
    return client


@overload
def pipeline(fn: Callable[P, R], /) -> Pipeline[P, R]: ...
@overload
def pipeline(
    *, name: str | None = None, experiment: str | None = None
) -> Callable[[Callable[P, R]], Pipeline[P, R]]: ...
def pipeline(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    experiment: str | None = None,
) -> Pipeline[P, R] | Callable[[Callable[P, R]], Pipeline[P, R]]:
    """Make a function a pipeline; use bare (``@pipeline``) or with options.

    Args:
        name: the pipeline's name in records (default: the function's name).
        experiment: the tracking experiment its runs go to (default ``pipelines``).
    """

    def wrap(function: Callable[P, R]) -> Pipeline[P, R]:
        return Pipeline(function, name=name, experiment=experiment)

    return wrap(fn) if fn is not None else wrap
