"""Resume a failed pipeline run: re-run what failed and what depends on it, reuse the rest.

The run's tags say which pipeline it was (its importable target) and with
which parameters; its step runs say which steps and mapped items completed and
what they produced. Resuming traces the pipeline again with those parameters
and starts a new run (tagged ``loopml.pipeline.resumed_from``) in which every
completed unit is reused as it was (even if its code changed since: run the
pipeline again to pick that up through the cache), while failed units, their
downstream and anything never reached run now.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter
from loopml.pipelines.entities import StepStatus
from loopml.pipelines.history import get_pipeline_run, step_outputs, step_status
from loopml.pipelines.recording import CACHE_TAG, PARAMS_TAG, SOURCE_TAG, TARGET_TAG
from loopml.pipelines.runner import Reusable
from loopml.pipelines.targets import load_target

if TYPE_CHECKING:
    from collections.abc import Callable

    from loopml.pipelines.entities import PipelineRun
    from loopml.pipelines.executors import Executor
    from loopml.pipelines.pipeline import Pipeline
    from loopml.pipelines.runner import StepEvent
    from loopml.tracking.client import TrackingClient

_DONE = {StepStatus.COMPLETED.value, StepStatus.CACHED.value, StepStatus.REUSED.value}


def resume(
    run_id: str,
    *,
    client: TrackingClient | None = None,
    executor: str | Executor = "process",
    executor_options: dict[str, Any] | None = None,
    cache: bool | None = None,
    pipeline: Pipeline[..., Any] | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
) -> PipelineRun:
    """Resume pipeline run ``run_id`` in a new run; return that run.

    Args:
        run_id: the pipeline run (a failed one, or one whose driver died).
        client: where it was recorded (default: ``loopml.get_client()``).
        executor, executor_options: where the re-run steps run.
        cache: use the cache for the re-run steps (default: as the run did).
        pipeline: the pipeline itself, when the run recorded no importable target
            (a pipeline defined in ``python -c`` or a notebook).

    Raises:
        InvalidParameter: not a pipeline run, or its pipeline cannot be imported.
    """
    if client is None:
        from loopml.pipelines.pipeline import default_client

        client = default_client()
    view = get_pipeline_run(client, run_id)
    tags = view.run.data.tags
    target = tags.get(TARGET_TAG, "")
    if pipeline is None:
        if not target:
            raise InvalidParameter(
                f"run {run_id} recorded no importable pipeline (defined in __main__ without a "
                "file?); pass pipeline= to resume it"
            )
        pipeline = load_target(target)
    experiment = client.get_experiment(view.run.info.experiment_id).name
    return pipeline.run(
        _params(client, run_id, tags),
        executor=executor,
        executor_options=executor_options,
        cache=(tags.get(CACHE_TAG, "true") == "true") if cache is None else cache,
        experiment=experiment,
        client=client,
        target=target or None,
        on_event=on_event,
        reuse=_completed(view.steps),
        resumed_from=run_id,
    )


def _params(client: TrackingClient, run_id: str, tags: dict[str, str]) -> dict[str, Any]:
    text = tags.get(PARAMS_TAG) or ""
    if not text:  # too long for a tag: the DAG document holds them
        text = json.dumps(
            json.loads(client.download_artifact(run_id, "pipeline/graph.json"))["params"]
        )
    params = json.loads(text)
    if not isinstance(params, dict):
        raise InvalidParameter(f"run {run_id} recorded parameters that are not an object")
    return params


def _completed(steps: list[Any]) -> dict[str, Reusable]:
    reuse: dict[str, Reusable] = {}
    for run in steps:
        if step_status(run) not in _DONE or run.info.status != "FINISHED":
            continue
        outputs = step_outputs(run)
        if outputs is None:
            continue
        source = run.data.tags.get(SOURCE_TAG) or run.info.run_id
        reuse[run.info.run_name] = Reusable(outputs, source)
    return reuse
