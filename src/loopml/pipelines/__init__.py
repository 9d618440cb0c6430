"""Pipelines: plain functions as cached, retried, parallel and recorded steps.

::

    from loopml import pipeline, step

    @step
    def load(n: int) -> list[int]:
        return list(range(n))

    @step(retries=2, timeout_s=60)
    def square(x: int) -> int:
        return x * x

    @step
    def total(values: list[int]) -> int:
        return sum(values)

    @pipeline
    def squares(n: int = 10) -> int:
        return total(square.map(load(n)))

    run = squares.run({"n": 100})           # process pool; executor="ray" or "inline"
    run.result()                            # 328350; a second run is all cache hits
    resume(run.run_id)                      # after a failure: re-run what failed, reuse the rest

or from a shell: ``loopml pipelines run module:squares -p n=100``, then
``loopml pipelines list|show|resume``.

Importing this package loads no executor backend (Ray), no tracking store and
no data library; those load when a pipeline runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.pipelines.entities import OutputRef, PipelineRun, StepRecord, StepStatus
from loopml.pipelines.errors import PipelineFailed, StepTimeout, WorkerLost
from loopml.pipelines.executors import Executor, get_executor, known_executors
from loopml.pipelines.graph import Graph, Node
from loopml.pipelines.materializers import Materializer, register_materializer
from loopml.pipelines.pipeline import Pipeline, pipeline
from loopml.pipelines.steps import Step, StepOptions, step

if TYPE_CHECKING:
    from loopml.pipelines.history import PipelineRunView, get_pipeline_run, list_pipeline_runs
    from loopml.pipelines.resumption import resume

# Names whose modules import the tracking client: loaded on first use, not with @step.
_LAZY = {
    "PipelineRunView": "loopml.pipelines.history",
    "get_pipeline_run": "loopml.pipelines.history",
    "list_pipeline_runs": "loopml.pipelines.history",
    "resume": "loopml.pipelines.resumption",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'loopml.pipelines' has no attribute {name!r}")


__all__ = [
    "Executor",
    "Graph",
    "Materializer",
    "Node",
    "OutputRef",
    "Pipeline",
    "PipelineFailed",
    "PipelineRun",
    "PipelineRunView",
    "Step",
    "StepOptions",
    "StepRecord",
    "StepStatus",
    "StepTimeout",
    "WorkerLost",
    "get_executor",
    "get_pipeline_run",
    "known_executors",
    "list_pipeline_runs",
    "pipeline",
    "register_materializer",
    "resume",
    "step",
]
