"""``loopml.evaluate``: evaluate a registered model on a dataset version and record it.

The engine (:func:`~loopml.evaluation.engine.evaluate_model`) scores any
predictor on a frame; this is the platform around it. A ``models:/`` URI is
loaded through the registry (hash-verified, trust rules applied), a
``data:NAME@VERSION`` reference is read as the run's input (lineage), the
result is logged to a run (metrics plus JSON and HTML reports), and for a
registered version the result is recorded on it, which is what the release
gates of its aliases are checked against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter
from loopml.evaluation.engine import evaluate_model
from loopml.evaluation.entities import EvaluationResult
from loopml.evaluation.recording import log_evaluation
from loopml.registry import ModelVersion, StoredEvaluation

DEFAULT_EXPERIMENT = "evaluations"


@dataclass(frozen=True)
class Evaluation:
    """What :func:`evaluate` did: the result, the run it was logged to, what it recorded."""

    result: EvaluationResult
    run_id: str
    model_version: ModelVersion | None
    recorded: StoredEvaluation | None

    def values(self) -> dict[str, Any]:
        return self.result.values()


def _predictor(client: Any, model: Any, trust: bool) -> tuple[Any, ModelVersion | None]:
    if isinstance(model, str):
        if not model.startswith("models:/"):
            raise InvalidParameter(
                f"model {model!r} must be a models:/NAME/VERSION (or @alias) URI or a predictor"
            )
        return client.registry.load_model(model, trust=trust), client.registry.resolve(model)
    return model, None


def _frame(client: Any, data: Any, run_id: str) -> tuple[Any, str]:
    if isinstance(data, str):
        if not data.startswith("data:"):
            raise InvalidParameter(
                f"data {data!r} must be a data:NAME@VERSION reference or a frame"
            )
        version = client.data.get(data)
        return client.read_dataset(version.ref, run_id=run_id, context="evaluation"), version.ref
    return data, ""


def _run(client: Any, run_id: str | None, experiment: str | None, name: str) -> tuple[str, bool]:
    """The run to log to: the given one, the active one, or a new one (ended afterwards)."""
    if run_id is not None:
        return run_id, False
    from loopml.tracking.fluent import active_run

    active = active_run()
    if active is not None and experiment is None:
        return active.info.run_id, False
    found = client.get_experiment_by_name(experiment or DEFAULT_EXPERIMENT)
    experiment_id = (
        found.experiment_id
        if found is not None
        else client.create_experiment(experiment or DEFAULT_EXPERIMENT)
    )
    return client.create_run(experiment_id, run_name=name).info.run_id, True


def evaluate(
    client: Any,
    model: Any,
    data: Any,
    *,
    target: str,
    task: str,
    segments: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    baseline: Any | None = None,
    run_id: str | None = None,
    experiment: str | None = None,
    trust: bool = False,
    **options: Any,
) -> Evaluation:
    """Evaluate ``model`` on ``data``, log it to a run and record it on the model version.

    Args:
        client: a :class:`loopml.Client` (embedded or remote).
        model: ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``, or any predictor.
        data: ``data:NAME@VERSION``, or a pandas DataFrame / Arrow table.
        target, task, segments, sensitive: as :func:`evaluate_model`.
        baseline: another ``models:/`` URI (``models:/NAME@champion``) or predictor.
        run_id: log to this run; default the active run, else a new run in
            ``experiment`` (default ``evaluations``) that is ended afterwards.
        trust: let formats that run code on load (pickle) load.
        options: passed on to :func:`evaluate_model`.
    """
    predictor, version = _predictor(client, model, trust)
    reference, _ = _predictor(client, baseline, trust) if baseline is not None else (None, None)
    label = f"evaluate-{version.name}-v{version.version}" if version else "evaluate"
    run, owned = _run(client, run_id, experiment, label)
    try:
        frame, dataset = _frame(client, data, run)
        result = evaluate_model(
            predictor,
            frame,
            target=target,
            task=task,  # type: ignore[arg-type]  # evaluate_model checks it
            segments=segments,
            sensitive=sensitive,
            baseline=reference,
            **options,
        )
        log_evaluation(client, run, result)
        recorded = None
        if version is not None:
            recorded = client.registry.record_evaluation(
                version.name, version.version, result.values(), run_id=run, dataset=dataset
            )
    except BaseException:
        if owned:
            client.update_run(run, status="FAILED", end_time=now_ms())
        raise
    if owned:
        client.update_run(run, status="FINISHED", end_time=now_ms())
    return Evaluation(result, run, version, recorded)
