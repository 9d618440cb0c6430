"""The tracking store over HTTP: MLflow's REST API, spoken to loopml or MLflow servers.

Every POST carries an ``Idempotency-Key``, so the transport's retries (on
connection errors and 5xx/429) can never create a run or experiment twice on a
loopml server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from loopml.auth.access import EVERYTHING, ReadScope
from loopml.core.errors import LoopmlError, NotSupported, ResourceNotFound
from loopml.core.http import ServerConnection, raise_for_error
from loopml.tracking import _wire as wire
from loopml.tracking.entities import (
    DatasetInput,
    Experiment,
    LoggedModel,
    LoggedModelMetric,
    Metric,
    ModelOutput,
    Page,
    Param,
    Run,
    RunInfo,
    RunTag,
    ViewType,
)

API = "/api/2.0/mlflow"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RestTrackingStore(ServerConnection):
    """A :class:`~loopml.tracking.store.TrackingStore` that calls a tracking server."""

    def __init__(self, base_url: str, retries: int = 3, timeout_s: float = 60.0) -> None:
        super().__init__(base_url, timeout_s)
        self.retries = retries

    def _call(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if method == "POST":
            headers["Idempotency-Key"] = uuid.uuid4().hex
        content = None if body is None else orjson.dumps(body)
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(
                    method, API + path, content=content, params=params, headers=headers
                )
            except httpx.TransportError as error:
                if attempt == self.retries:
                    raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
            else:
                if response.status_code not in RETRY_STATUSES or attempt == self.retries:
                    raise_for_error(response)
                    return response.json() if response.content else {}
            time.sleep(min(2.0, 0.1 * 2**attempt))
        raise AssertionError("unreachable")

    # experiments

    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str:
        body: dict[str, Any] = {"name": name, "tags": wire.as_key_values(tags)}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._call("POST", "/experiments/create", body)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        found = self._call("GET", "/experiments/get", params={"experiment_id": experiment_id})
        return wire.experiment_from(found["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        try:
            found = self._call("GET", "/experiments/get-by-name", params={"experiment_name": name})
        except ResourceNotFound:
            return None
        return wire.experiment_from(found["experiment"])

    def search_experiments(
        self,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
        readable: ReadScope = EVERYTHING,
    ) -> Page[Experiment]:
        body = {
            "view_type": view_type.value,
            "max_results": max_results,
            "filter": filter_string or "",
            "order_by": list(order_by),
        }
        if page_token:
            body["page_token"] = page_token
        found = self._call("POST", "/experiments/search", body)
        items = [wire.experiment_from(e) for e in found.get("experiments", [])]
        return Page(items, found.get("next_page_token") or None)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        body = {"experiment_id": experiment_id, "new_name": new_name}
        self._call("POST", "/experiments/update", body)

    def set_experiment_lifecycle(self, experiment_id: str, stage: str) -> None:
        verb = "delete" if stage == "deleted" else "restore"
        self._call("POST", f"/experiments/{verb}", {"experiment_id": experiment_id})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        body = {"experiment_id": experiment_id, "key": key, "value": value}
        self._call("POST", "/experiments/set-experiment-tag", body)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        body = {"experiment_id": experiment_id, "key": key}
        self._call("POST", "/experiments/delete-experiment-tag", body)

    # runs

    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str,
        tags: Sequence[RunTag],
    ) -> Run:
        body = {
            "experiment_id": experiment_id,
            "user_id": user_id,
            "start_time": start_time,
            "run_name": run_name,
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        return wire.run_from(self._call("POST", "/runs/create", body)["run"])

    def get_run(self, run_id: str) -> Run:
        return wire.run_from(self._call("GET", "/runs/get", params={"run_id": run_id})["run"])

    def get_run_info(self, run_id: str) -> RunInfo:
        return self.get_run(run_id).info

    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> Run:
        body: dict[str, Any] = {"run_id": run_id}
        for key, value in (("status", status), ("end_time", end_time), ("run_name", run_name)):
            if value is not None:
                body[key] = value
        self._call("POST", "/runs/update", body)
        return self.get_run(run_id)

    def set_run_lifecycle(self, run_id: str, stage: str) -> None:
        verb = "delete" if stage == "deleted" else "restore"
        self._call("POST", f"/runs/{verb}", {"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None:
        body = {
            "run_id": run_id,
            "metrics": [wire.metric_to(m) for m in metrics],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        }
        self._call("POST", "/runs/log-batch", body)

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", "/runs/delete-tag", {"run_id": run_id, "key": key})

    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> Page[Metric]:
        params: dict[str, Any] = {"run_id": run_id, "metric_key": key}
        if max_results is not None:
            params["max_results"] = max_results
        if page_token:
            params["page_token"] = page_token
        found = self._call("GET", "/metrics/get-history", params=params)
        items = [wire.metric_from(m) for m in found.get("metrics", [])]
        return Page(items, found.get("next_page_token") or None)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Run]:
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string or "",
            "run_view_type": view_type.value,
            "max_results": max_results,
            "order_by": list(order_by),
        }
        if page_token:
            body["page_token"] = page_token
        found = self._call("POST", "/runs/search", body)
        return Page(
            [wire.run_from(r) for r in found.get("runs", [])], found.get("next_page_token") or None
        )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        body = {"run_id": run_id, "datasets": [wire.dataset_input_to(d) for d in datasets]}
        self._call("POST", "/runs/log-inputs", body)

    def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None:
        body = {
            "run_id": run_id,
            "models": [{"model_id": m.model_id, "step": m.step} for m in models],
        }
        self._call("POST", "/runs/outputs", body)

    # logged models

    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        model_type: str | None,
        tags: dict[str, str],
        params: dict[str, str],
    ) -> LoggedModel:
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "name": name,
            "tags": wire.as_key_values(tags),
            "params": wire.as_key_values(params),
        }
        if source_run_id:
            body["source_run_id"] = source_run_id
        if model_type:
            body["model_type"] = model_type
        return wire.logged_model_from(self._call("POST", "/logged-models", body)["model"])

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return wire.logged_model_from(self._call("GET", f"/logged-models/{model_id}")["model"])

    def update_logged_model_status(self, model_id: str, status: str) -> LoggedModel:
        found = self._call(
            "PATCH", f"/logged-models/{model_id}", {"model_id": model_id, "status": status}
        )
        return wire.logged_model_from(found["model"])

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        body = {"model_id": model_id, "tags": wire.as_key_values(tags)}
        self._call("PATCH", f"/logged-models/{model_id}/tags", body)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._call("DELETE", f"/logged-models/{model_id}/tags/{key}")

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        body = {"model_id": model_id, "params": wire.as_key_values(params)}
        self._call("POST", f"/logged-models/{model_id}/params", body)

    def log_logged_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        """MLflow's API logs model metrics through a run's log-batch, tagged with the model."""
        if any(m.run_id is None for m in metrics):
            raise NotSupported.for_backend(
                "RestTrackingStore", "logging a model metric without a run_id"
            )
        for m in metrics:
            point = {
                **wire.metric_to(Metric(m.key, m.value, m.timestamp, m.step)),
                "model_id": model_id,
            }
            if m.dataset_name:
                point.update(dataset_name=m.dataset_name, dataset_digest=m.dataset_digest)
            self._call("POST", "/runs/log-batch", {"run_id": m.run_id, "metrics": [point]})

    def delete_logged_model(self, model_id: str) -> None:
        self._call("DELETE", f"/logged-models/{model_id}")

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[Mapping[str, object]],
        page_token: str | None,
        datasets: Sequence[Mapping[str, str | None]] = (),
    ) -> Page[LoggedModel]:
        body: dict[str, Any] = {
            "experiment_ids": list(experiment_ids),
            "filter": filter_string or "",
            "max_results": max_results,
            "order_by": [dict(o) for o in order_by],
            "datasets": [dict(d) for d in datasets],
        }
        if page_token:
            body["page_token"] = page_token
        found = self._call("POST", "/logged-models/search", body)
        models = [wire.logged_model_from(m) for m in found.get("models", [])]
        return Page(models, found.get("next_page_token") or None)
