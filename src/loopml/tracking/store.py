"""The tracking store interface: the primitives every backend implements.

Validation, defaults and limits live in :mod:`loopml.tracking.client`; a store
trusts its input and only persists or fetches. Two implementations ship:
``SqlTrackingStore`` (SQLite/PostgreSQL, embedded or inside the server) and
``RestTrackingStore`` (a loopml or MLflow server over HTTP).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from loopml.auth.access import EVERYTHING, ReadScope
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


class TrackingStore(Protocol):
    # experiments
    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str]
    ) -> str: ...
    def get_experiment(self, experiment_id: str) -> Experiment: ...
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...
    def search_experiments(
        self,
        view_type: ViewType,
        max_results: int,
        filter_string: str | None,
        order_by: Sequence[str],
        page_token: str | None,
        readable: ReadScope = EVERYTHING,
    ) -> Page[Experiment]: ...
    def rename_experiment(self, experiment_id: str, new_name: str) -> None: ...
    def set_experiment_lifecycle(self, experiment_id: str, stage: str) -> None: ...
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None: ...

    # runs
    def create_run(
        self,
        experiment_id: str,
        user_id: str,
        start_time: int,
        run_name: str,
        tags: Sequence[RunTag],
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def get_run_info(self, run_id: str) -> RunInfo: ...
    def update_run_info(
        self, run_id: str, status: str | None, end_time: int | None, run_name: str | None
    ) -> Run: ...
    def set_run_lifecycle(self, run_id: str, stage: str) -> None: ...
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: Sequence[Param],
        tags: Sequence[RunTag],
    ) -> None: ...
    def delete_tag(self, run_id: str, key: str) -> None: ...
    def get_metric_history(
        self, run_id: str, key: str, max_results: int | None, page_token: str | None
    ) -> Page[Metric]: ...
    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        view_type: ViewType,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[Run]: ...
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None: ...
    def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None: ...

    # logged models (MLflow 3)
    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        model_type: str | None,
        tags: dict[str, str],
        params: dict[str, str],
    ) -> LoggedModel: ...
    def get_logged_model(self, model_id: str) -> LoggedModel: ...
    def update_logged_model_status(self, model_id: str, status: str) -> LoggedModel: ...
    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None: ...
    def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...
    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None: ...
    def log_logged_model_metrics(
        self, model_id: str, metrics: Sequence[LoggedModelMetric]
    ) -> None: ...
    def delete_logged_model(self, model_id: str) -> None: ...
    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[Mapping[str, object]],
        page_token: str | None,
        datasets: Sequence[Mapping[str, str | None]] = (),
    ) -> Page[LoggedModel]: ...
