"""Batch-scoring outputs: where ``loopml predict`` runs left their predictions.

Batch scoring records each call as a run in the ``batch-predictions``
experiment with the model's name and the output's path as parameters; a
monitor of a model's batch outputs reads the outputs of the runs that
finished inside its window. The tracking client is passed in (this package
sits below tracking).
"""

from __future__ import annotations

from typing import Any

BATCH_EXPERIMENT = "batch-predictions"


def batch_outputs(client: Any, model_name: str, start_ms: int, end_ms: int) -> list[str]:
    """Output paths of ``model_name``'s finished batch scorings that ended in [start, end)."""
    experiment = client.get_experiment_by_name(BATCH_EXPERIMENT)
    if experiment is None:
        return []
    found: list[tuple[int, str]] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id], "attributes.status = 'FINISHED'", page_token=token
        )
        for run in page.items:
            ended, params = run.info.end_time or 0, run.data.params
            if params.get("model_name") == model_name and start_ms <= ended < end_ms:
                found.append((ended, params["destination"]))
        token = page.next_page_token
        if not token:
            return [path for _, path in sorted(found)]
