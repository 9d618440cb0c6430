"""The request messages of MLflow's tracking API, field for field.

Each ``TypedDict`` mirrors one protobuf request message of MLflow 3.17
(``mlflow/protos/service.proto``): every field the official clients may send
is declared, so a strict check of unknown fields never refuses them, while a
misspelt field is refused with its name. Fields MLflow requires are
``Required``; the others default the way the proto does.
"""

from __future__ import annotations

from typing import Required

from pydantic import TypeAdapter, with_config
from typing_extensions import TypedDict

from loopml.server.wire import (
    STRICT,
    Bool,
    Double,
    Int64,
    LoggedModelStatusName,
    RunStatusName,
    ViewTypeName,
)

# --- shared parts ------------------------------------------------------------


@with_config(STRICT)
class KeyValue(TypedDict, total=False):
    key: Required[str]
    value: str


@with_config(STRICT)
class MetricItem(TypedDict, total=False):
    key: Required[str]
    value: Required[Double]
    timestamp: Required[Int64]
    step: Int64
    dataset_name: str
    dataset_digest: str
    model_id: str
    run_id: str


@with_config(STRICT)
class DatasetItem(TypedDict, total=False):
    name: Required[str]
    digest: Required[str]
    source_type: Required[str]
    source: Required[str]
    schema: str
    profile: str


@with_config(STRICT)
class DatasetInputItem(TypedDict, total=False):
    tags: list[KeyValue]
    dataset: Required[DatasetItem]


@with_config(STRICT)
class ModelIdItem(TypedDict, total=False):
    model_id: Required[str]


@with_config(STRICT)
class ModelOutputItem(TypedDict, total=False):
    model_id: Required[str]
    step: Int64


# --- experiments -----------------------------------------------------------


@with_config(STRICT)
class CreateExperimentBody(TypedDict, total=False):
    name: Required[str]
    artifact_location: str
    tags: list[KeyValue]


@with_config(STRICT)
class SearchExperimentsBody(TypedDict, total=False):
    max_results: Int64
    page_token: str
    filter: str
    order_by: list[str]
    view_type: ViewTypeName


@with_config(STRICT)
class ExperimentIdBody(TypedDict):
    experiment_id: str


@with_config(STRICT)
class ExperimentNameQuery(TypedDict):
    experiment_name: str


@with_config(STRICT)
class UpdateExperimentBody(TypedDict):
    experiment_id: str
    new_name: str


@with_config(STRICT)
class SetExperimentTagBody(TypedDict, total=False):
    experiment_id: Required[str]
    key: Required[str]
    value: str


@with_config(STRICT)
class DeleteExperimentTagBody(TypedDict):
    experiment_id: str
    key: str


# --- runs --------------------------------------------------------------------


@with_config(STRICT)
class CreateRunBody(TypedDict, total=False):
    experiment_id: Required[str]
    user_id: str
    run_name: str
    start_time: Int64
    tags: list[KeyValue]


@with_config(STRICT)
class RunIdBody(TypedDict, total=False):
    """Messages that name a run by ``run_id`` or by its legacy alias ``run_uuid``."""

    run_id: str
    run_uuid: str


@with_config(STRICT)
class UpdateRunBody(RunIdBody, total=False):
    status: RunStatusName
    end_time: Int64
    run_name: str


@with_config(STRICT)
class LogMetricBody(RunIdBody, total=False):
    key: Required[str]
    value: Required[Double]
    timestamp: Required[Int64]
    step: Int64
    model_id: str
    dataset_name: str
    dataset_digest: str


@with_config(STRICT)
class LogParamBody(RunIdBody, total=False):
    key: Required[str]
    value: str


@with_config(STRICT)
class DeleteTagBody(RunIdBody, total=False):
    key: Required[str]


@with_config(STRICT)
class SearchRunsBody(TypedDict, total=False):
    experiment_ids: list[str]
    filter: str
    run_view_type: ViewTypeName
    max_results: Int64
    order_by: list[str]
    page_token: str


@with_config(STRICT)
class ListArtifactsQuery(RunIdBody, total=False):
    path: str
    page_token: str


@with_config(STRICT)
class MetricHistoryQuery(RunIdBody, total=False):
    metric_key: Required[str]
    page_token: str
    max_results: Int64


@with_config(STRICT)
class LogBatchBody(TypedDict, total=False):
    run_id: Required[str]
    metrics: list[MetricItem]
    params: list[KeyValue]
    tags: list[KeyValue]


@with_config(STRICT)
class LogModelBody(TypedDict):
    run_id: str
    model_json: str


@with_config(STRICT)
class LogInputsBody(TypedDict, total=False):
    run_id: Required[str]
    datasets: list[DatasetInputItem]
    models: list[ModelIdItem]


@with_config(STRICT)
class LogOutputsBody(TypedDict):
    run_id: str
    models: list[ModelOutputItem]


# --- logged models -----------------------------------------------------------


@with_config(STRICT)
class CreateLoggedModelBody(TypedDict, total=False):
    experiment_id: Required[str]
    name: str
    model_type: str
    source_run_id: str
    params: list[KeyValue]
    tags: list[KeyValue]


@with_config(STRICT)
class FinalizeLoggedModelBody(TypedDict, total=False):
    model_id: str
    status: Required[LoggedModelStatusName]


@with_config(STRICT)
class GetLoggedModelQuery(TypedDict, total=False):
    allow_deleted: Bool


@with_config(STRICT)
class ModelIdBody(TypedDict, total=False):
    model_id: str


@with_config(STRICT)
class LoggedModelTagsBody(ModelIdBody, total=False):
    tags: list[KeyValue]


@with_config(STRICT)
class LoggedModelParamsBody(ModelIdBody, total=False):
    params: list[KeyValue]


@with_config(STRICT)
class DatasetFilterItem(TypedDict, total=False):
    dataset_name: Required[str]
    dataset_digest: str


@with_config(STRICT)
class OrderByItem(TypedDict, total=False):
    field_name: Required[str]
    ascending: Bool
    dataset_name: str
    dataset_digest: str


@with_config(STRICT)
class SearchLoggedModelsBody(TypedDict, total=False):
    experiment_ids: Required[list[str]]
    filter: str
    datasets: list[DatasetFilterItem]
    max_results: Int64
    order_by: list[OrderByItem]
    page_token: str


@with_config(STRICT)
class ListModelArtifactsQuery(TypedDict, total=False):
    artifact_directory_path: str
    page_token: str


@with_config(STRICT)
class ArtifactPathQuery(TypedDict, total=False):
    path: str


CREATE_EXPERIMENT = TypeAdapter(CreateExperimentBody)
SEARCH_EXPERIMENTS = TypeAdapter(SearchExperimentsBody)
EXPERIMENT_ID = TypeAdapter(ExperimentIdBody)
EXPERIMENT_NAME = TypeAdapter(ExperimentNameQuery)
UPDATE_EXPERIMENT = TypeAdapter(UpdateExperimentBody)
SET_EXPERIMENT_TAG = TypeAdapter(SetExperimentTagBody)
DELETE_EXPERIMENT_TAG = TypeAdapter(DeleteExperimentTagBody)
CREATE_RUN = TypeAdapter(CreateRunBody)
RUN_ID = TypeAdapter(RunIdBody)
UPDATE_RUN = TypeAdapter(UpdateRunBody)
LOG_METRIC = TypeAdapter(LogMetricBody)
LOG_PARAM = TypeAdapter(LogParamBody)
SET_TAG = LOG_PARAM  # the same fields: run, key, value
DELETE_TAG = TypeAdapter(DeleteTagBody)
SEARCH_RUNS = TypeAdapter(SearchRunsBody)
LIST_ARTIFACTS = TypeAdapter(ListArtifactsQuery)
METRIC_HISTORY = TypeAdapter(MetricHistoryQuery)
LOG_BATCH = TypeAdapter(LogBatchBody)
LOG_MODEL = TypeAdapter(LogModelBody)
LOG_INPUTS = TypeAdapter(LogInputsBody)
LOG_OUTPUTS = TypeAdapter(LogOutputsBody)
CREATE_LOGGED_MODEL = TypeAdapter(CreateLoggedModelBody)
FINALIZE_LOGGED_MODEL = TypeAdapter(FinalizeLoggedModelBody)
GET_LOGGED_MODEL = TypeAdapter(GetLoggedModelQuery)
MODEL_ID = TypeAdapter(ModelIdBody)
LOGGED_MODEL_TAGS = TypeAdapter(LoggedModelTagsBody)
LOGGED_MODEL_PARAMS = TypeAdapter(LoggedModelParamsBody)
SEARCH_LOGGED_MODELS = TypeAdapter(SearchLoggedModelsBody)
LIST_MODEL_ARTIFACTS = TypeAdapter(ListModelArtifactsQuery)
ARTIFACT_PATH = TypeAdapter(ArtifactPathQuery)
