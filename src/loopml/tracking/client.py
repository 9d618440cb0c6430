"""The tracking operations users call, on top of a :class:`TrackingStore`.

This is where input is validated, defaults are filled in and MLflow's rules
are enforced (a param never changes once logged, only active runs take data),
so every backend behaves the same. The server's REST handlers and the Python
SDK both go through this class.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.artifacts import FileInfo
from loopml.auth.access import EVERYTHING, ReadScope
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, NotSupported, ResourceNotFound
from loopml.core.paths import safe_relpath
from loopml.tracking import validation as check
from loopml.tracking.batching import MetricBatcher
from loopml.tracking.entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelStatus,
    Metric,
    ModelOutput,
    Page,
    Param,
    Run,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from loopml.tracking.names import random_run_name

if TYPE_CHECKING:
    from loopml.artifacts import Payload
    from loopml.artifacts.repository import ArtifactRepository
    from loopml.tracking.store import TrackingStore

RUN_NAME_TAG = "mlflow.runName"
PROXY_SCHEME = "mlflow-artifacts:"


def artifact_key(artifact_uri: str, path: str | None = None) -> str:
    """The artifact-store path behind an ``mlflow-artifacts:`` URI plus a relative path."""
    if not artifact_uri.startswith(PROXY_SCHEME):
        raise NotSupported(
            f"artifact location {artifact_uri!r} is not served by loopml's artifact store; "
            "only mlflow-artifacts: locations are"
        )
    root = safe_relpath(artifact_uri[len(PROXY_SCHEME) :].lstrip("/"), field="artifact_uri")
    rel = safe_relpath(path or "", field="path")
    return f"{root}/{rel}" if rel else root


class TrackingClient:
    """Experiments, runs, metrics, params, tags, inputs and logged models."""

    def __init__(self, store: TrackingStore, artifacts: ArtifactRepository) -> None:
        self.store = store
        self.artifacts = artifacts
        self._batcher: MetricBatcher | None = None

    @property
    def metric_batcher(self) -> MetricBatcher:
        """The background writer the fluent API queues metric points on."""
        if self._batcher is None:
            self._batcher = MetricBatcher(lambda run_id, batch: self.log_batch(run_id, batch))
        return self._batcher

    # experiments ---------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        artifact_location: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        check.check_experiment_name(name)
        for key, value in (tags or {}).items():
            check.check_key(key, "tags.key")
            check.check_value(value, f"tags[{key!r}]", check.MAX_TAG_VALUE_LENGTH)
        if artifact_location is not None and artifact_location.startswith(PROXY_SCHEME):
            safe_relpath(
                artifact_location[len(PROXY_SCHEME) :].lstrip("/"), field="artifact_location"
            )
        return self.store.create_experiment(name, artifact_location, dict(tags or {}))

    def get_experiment(self, experiment_id: str) -> Experiment:
        return self.store.get_experiment(_experiment_id(experiment_id))

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return self.store.get_experiment_by_name(name)

    def search_experiments(
        self,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        filter_string: str | None = None,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
        readable: ReadScope = EVERYTHING,
    ) -> Page[Experiment]:
        """Experiments matching ``filter_string``, limited to what ``readable`` lets a caller see.

        Over REST the server applies the scope of the client's own credentials.
        """
        check.check_max_results(max_results, check.MAX_RESULTS_EXPERIMENTS)
        return self.store.search_experiments(
            view_type, max_results, filter_string, order_by, page_token, readable
        )

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        check.check_experiment_name(new_name)
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameter(f"experiment {experiment_id} is deleted; restore it first")
        self.store.rename_experiment(experiment.experiment_id, new_name)

    def delete_experiment(self, experiment_id: str) -> None:
        experiment = self.get_experiment(experiment_id)
        if experiment.experiment_id == "0":
            raise InvalidParameter("the Default experiment (id 0) cannot be deleted")
        self.store.set_experiment_lifecycle(experiment.experiment_id, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        experiment = self.get_experiment(experiment_id)
        self.store.set_experiment_lifecycle(experiment.experiment_id, LifecycleStage.ACTIVE)

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        check.check_key(key, "key")
        check.check_value(value, "value", check.MAX_TAG_VALUE_LENGTH)
        self._active_experiment(experiment_id)
        self.store.set_experiment_tag(_experiment_id(experiment_id), key, value)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._active_experiment(experiment_id)
        self.store.delete_experiment_tag(_experiment_id(experiment_id), key)

    # runs ----------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        user_id: str = "",
        start_time: int | None = None,
        tags: Sequence[RunTag] | dict[str, str] = (),
        run_name: str | None = None,
    ) -> Run:
        self._active_experiment(experiment_id)
        tag_list = _as_tags(tags)
        check.check_batch((), (), tag_list)
        tagged_name = next((t.value for t in tag_list if t.key == RUN_NAME_TAG), None)
        if run_name and tagged_name and run_name != tagged_name:
            raise InvalidParameter(
                f"run_name {run_name!r} and the {RUN_NAME_TAG} tag {tagged_name!r} disagree"
            )
        name = run_name or tagged_name or random_run_name()
        check.check_value(name, "run_name", check.MAX_RUN_NAME_LENGTH)
        check.check_value(user_id or "", "user_id", check.MAX_USER_ID_LENGTH)
        tag_list = [t for t in tag_list if t.key != RUN_NAME_TAG] + [RunTag(RUN_NAME_TAG, name)]
        started = now_ms() if start_time is None else _non_negative(start_time, "start_time")
        return self.store.create_run(
            _experiment_id(experiment_id), user_id or "", started, name, tag_list
        )

    def get_run(self, run_id: str) -> Run:
        return self.store.get_run(_run_id(run_id))

    def update_run(
        self,
        run_id: str,
        status: str | None = None,
        end_time: int | None = None,
        run_name: str | None = None,
    ) -> RunInfo:
        self._active_run(run_id)
        if status is not None:
            try:
                status = RunStatus(status).value
            except ValueError:
                known = ", ".join(s.value for s in RunStatus)
                raise InvalidParameter(f"status {status!r} is not one of {known}") from None
        if end_time is not None:
            _non_negative(end_time, "end_time")
        if run_name:
            check.check_value(run_name, "run_name", check.MAX_RUN_NAME_LENGTH)
        return self.store.update_run_info(_run_id(run_id), status, end_time, run_name or None).info

    def delete_run(self, run_id: str) -> None:
        self.get_run(run_id)
        self.store.set_run_lifecycle(_run_id(run_id), LifecycleStage.DELETED)

    def restore_run(self, run_id: str) -> None:
        self.get_run(run_id)
        self.store.set_run_lifecycle(_run_id(run_id), LifecycleStage.ACTIVE)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> None:
        """Log metrics, params and tags as one atomic write, or nothing at all."""
        check.check_batch(metrics, params, tags)
        self._active_run(run_id)
        self.store.log_batch(_run_id(run_id), metrics, params, tags)

    def log_metric(
        self, run_id: str, key: str, value: float, timestamp: int | None = None, step: int = 0
    ) -> None:
        stamp = now_ms() if timestamp is None else timestamp
        self.log_batch(run_id, metrics=[Metric(key, value, stamp, step)])

    def log_param(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, params=[Param(key, value)])

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.log_batch(run_id, tags=[RunTag(key, value)])

    def delete_tag(self, run_id: str, key: str) -> None:
        self._active_run(run_id)
        self.store.delete_tag(_run_id(run_id), key)

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> Page[Metric]:
        check.check_key(key, "metric_key")
        if max_results is not None:
            check.check_max_results(max_results, 1_000_000_000)
        self.get_run(run_id)
        return self.store.get_metric_history(_run_id(run_id), key, max_results, page_token)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        view_type: ViewType = ViewType.ACTIVE_ONLY,
        max_results: int = 1000,
        order_by: Sequence[str] = (),
        page_token: str | None = None,
    ) -> Page[Run]:
        check.check_max_results(max_results, check.MAX_RESULTS_RUNS)
        ids = [_experiment_id(e) for e in experiment_ids]
        return self.store.search_runs(
            ids, filter_string, view_type, max_results, order_by, page_token
        )

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput]) -> None:
        if len(datasets) > check.MAX_ENTITIES_PER_BATCH:
            raise InvalidParameter(
                f"at most {check.MAX_ENTITIES_PER_BATCH} datasets per call, got {len(datasets)}"
            )
        for i, item in enumerate(datasets):
            ds = item.dataset
            if not ds.name or not ds.digest:
                raise InvalidParameter(f"datasets[{i}] needs a name and a digest")
            check.check_value(ds.name, f"datasets[{i}].name", 500)
            check.check_value(ds.digest, f"datasets[{i}].digest", 36)
            check.check_value(ds.source, f"datasets[{i}].source", 65_535)
            check.check_value(
                ds.source_type, f"datasets[{i}].source_type", check.MAX_DATASET_SOURCE_TYPE_LENGTH
            )
            for field, text in (("schema", ds.schema), ("profile", ds.profile)):
                if text is not None:
                    check.check_value(text, f"datasets[{i}].{field}", 16_777_215)
            for key, value in item.tags.items():
                check.check_value(key, f"datasets[{i}].tags.key", check.MAX_INPUT_TAG_KEY_LENGTH)
                check.check_value(value, f"datasets[{i}].tags[{key!r}]", check.MAX_TAG_VALUE_LENGTH)
        self._active_run(run_id)
        self.store.log_inputs(_run_id(run_id), datasets)

    def log_outputs(self, run_id: str, models: Sequence[ModelOutput]) -> None:
        self._active_run(run_id)
        for model in models:
            self.store.get_logged_model(model.model_id)
        self.store.log_outputs(_run_id(run_id), models)

    # artifacts -------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> None:
        """Upload a file, or a directory's files, under the run's artifact root."""
        source = Path(local_path)
        if not source.exists():
            raise InvalidParameter(f"local_path {str(source)!r} does not exist")
        files = (
            [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        )
        base = source.parent if source.is_file() else source
        for file in files:
            relative = file.relative_to(base).as_posix()
            target = f"{artifact_path.strip('/')}/{relative}" if artifact_path else relative
            with file.open("rb") as stream:
                self.log_artifact_bytes(run_id, stream, target)

    def log_artifact_bytes(self, run_id: str, data: Payload, artifact_file: str) -> None:
        info = self._active_run(run_id)
        self.artifacts.put(artifact_key(info.artifact_uri, artifact_file), data)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        """One directory level, paths relative to the run's artifact root (as MLflow)."""
        artifact_uri = self.get_run(run_id).info.artifact_uri
        root = artifact_key(artifact_uri)
        found = self.artifacts.list(artifact_key(artifact_uri, path))
        return [FileInfo(f.path[len(root) + 1 :], f.is_dir, f.file_size) for f in found]

    def download_artifact(self, run_id: str, path: str) -> bytes:
        return self.artifacts.get_bytes(artifact_key(self.get_run(run_id).info.artifact_uri, path))

    # logged models ---------------------------------------------------------

    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        model_type: str | None = None,
        tags: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> LoggedModel:
        self._active_experiment(experiment_id)
        if source_run_id:
            self.get_run(source_run_id)
        model_name = name or random_run_name()
        check.check_value(model_name, "name", check.MAX_EXPERIMENT_NAME_LENGTH)
        if model_type is not None:
            check.check_value(model_type, "model_type", check.MAX_MODEL_TYPE_LENGTH)
        for key, value in (params or {}).items():
            check.check_key(key, "params.key")
            check.check_value(value, f"params[{key!r}]", check.MAX_PARAM_VALUE_LENGTH)
        for key, value in (tags or {}).items():
            check.check_key(key, "tags.key")
            check.check_value(value, f"tags[{key!r}]", check.MAX_TAG_VALUE_LENGTH)
        return self.store.create_logged_model(
            _experiment_id(experiment_id),
            model_name,
            source_run_id or None,
            model_type,
            dict(tags or {}),
            dict(params or {}),
        )

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return self.store.get_logged_model(model_id)

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        try:
            final = LoggedModelStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in LoggedModelStatus)
            raise InvalidParameter(f"status {status!r} is not one of {known}") from None
        return self.store.update_logged_model_status(model_id, final.value)

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            check.check_key(key, "tags.key")
            check.check_value(value, f"tags[{key!r}]", check.MAX_TAG_VALUE_LENGTH)
        self.store.set_logged_model_tags(model_id, tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self.store.delete_logged_model_tag(model_id, key)

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        for key, value in params.items():
            check.check_key(key, "params.key")
            check.check_value(value, f"params[{key!r}]", check.MAX_PARAM_VALUE_LENGTH)
        self.store.log_logged_model_params(model_id, params)

    def log_logged_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        if len(metrics) > check.MAX_METRICS_PER_BATCH:
            raise InvalidParameter(f"at most {check.MAX_METRICS_PER_BATCH} metrics per call")
        check.check_metrics([Metric(m.key, m.value, m.timestamp, m.step) for m in metrics])
        self.store.log_logged_model_metrics(model_id, metrics)

    def delete_logged_model(self, model_id: str) -> None:
        self.store.delete_logged_model(model_id)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[Mapping[str, object]] = (),
        page_token: str | None = None,
        datasets: Sequence[Mapping[str, str | None]] = (),
    ) -> Page[LoggedModel]:
        check.check_max_results(max_results, check.MAX_RESULTS_RUNS)
        ids = [_experiment_id(e) for e in experiment_ids]
        return self.store.search_logged_models(
            ids, filter_string, max_results, order_by, page_token, datasets
        )

    # helpers ---------------------------------------------------------------

    def _active_experiment(self, experiment_id: str) -> Experiment:
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameter(
                f"experiment {experiment_id} is deleted; the experiment must be in the "
                "'active' state"
            )
        return experiment

    def _active_run(self, run_id: str) -> RunInfo:
        info = self.store.get_run_info(_run_id(run_id))
        if info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise InvalidParameter(
                f"run {run_id} is deleted; the run must be in the 'active' state"
            )
        return info


def _experiment_id(experiment_id: object) -> str:
    text = str(experiment_id)
    if not text.isascii() or not text.isdigit():
        raise InvalidParameter(f"experiment_id must be an integer string, got {experiment_id!r}")
    if int(text) > check.INT64_MAX:
        raise ResourceNotFound(f"experiment {text} does not exist")
    return str(int(text))


def _run_id(run_id: object) -> str:
    if not isinstance(run_id, str) or not run_id or len(run_id) > 32 or not run_id.isalnum():
        raise ResourceNotFound(f"run {run_id!r} does not exist")
    return run_id


def _non_negative(value: int, field: str) -> int:
    return check.check_int64(value, field, minimum=0)


def _as_tags(tags: Sequence[RunTag] | dict[str, str]) -> list[RunTag]:
    if isinstance(tags, dict):
        return [RunTag(k, v) for k, v in tags.items()]
    return list(tags)
