"""The request messages of MLflow's model-registry API, field for field.

Each ``TypedDict`` mirrors a request message of MLflow 3.17's
``model_registry.proto``; unknown fields are refused by name, as for tracking.
"""

from __future__ import annotations

from typing import Required

from pydantic import TypeAdapter, with_config
from typing_extensions import TypedDict

from loopml.server.mlflow_schemas import KeyValue
from loopml.server.wire import STRICT, Bool, Int64


@with_config(STRICT)
class CreateRegisteredModelBody(TypedDict, total=False):
    name: Required[str]
    tags: list[KeyValue]
    description: str
    deployment_job_id: str


@with_config(STRICT)
class NameBody(TypedDict):
    name: str


@with_config(STRICT)
class RenameRegisteredModelBody(TypedDict, total=False):
    name: Required[str]
    new_name: str


@with_config(STRICT)
class UpdateRegisteredModelBody(TypedDict, total=False):
    name: Required[str]
    description: str
    deployment_job_id: str


@with_config(STRICT)
class SearchBody(TypedDict, total=False):
    filter: str
    max_results: Int64
    order_by: list[str]
    page_token: str


@with_config(STRICT)
class GetLatestVersionsBody(TypedDict, total=False):
    name: Required[str]
    stages: list[str]


@with_config(STRICT)
class CreateModelVersionBody(TypedDict, total=False):
    name: Required[str]
    source: Required[str]
    run_id: str
    tags: list[KeyValue]
    run_link: str
    description: str
    model_id: str


@with_config(STRICT)
class VersionBody(TypedDict):
    name: str
    version: str


@with_config(STRICT)
class UpdateModelVersionBody(TypedDict, total=False):
    name: Required[str]
    version: Required[str]
    description: str


@with_config(STRICT)
class TransitionStageBody(TypedDict, total=False):
    name: Required[str]
    version: Required[str]
    stage: Required[str]
    archive_existing_versions: Bool


@with_config(STRICT)
class SetRegisteredModelTagBody(TypedDict, total=False):
    name: Required[str]
    key: Required[str]
    value: str


@with_config(STRICT)
class DeleteRegisteredModelTagBody(TypedDict):
    name: str
    key: str


@with_config(STRICT)
class SetModelVersionTagBody(TypedDict, total=False):
    name: Required[str]
    version: Required[str]
    key: Required[str]
    value: str


@with_config(STRICT)
class DeleteModelVersionTagBody(TypedDict):
    name: str
    version: str
    key: str


@with_config(STRICT)
class SetAliasBody(TypedDict):
    name: str
    alias: str
    version: str


@with_config(STRICT)
class AliasBody(TypedDict):
    name: str
    alias: str


CREATE_REGISTERED_MODEL = TypeAdapter(CreateRegisteredModelBody)
NAME = TypeAdapter(NameBody)
RENAME_REGISTERED_MODEL = TypeAdapter(RenameRegisteredModelBody)
UPDATE_REGISTERED_MODEL = TypeAdapter(UpdateRegisteredModelBody)
SEARCH = TypeAdapter(SearchBody)
GET_LATEST_VERSIONS = TypeAdapter(GetLatestVersionsBody)
CREATE_MODEL_VERSION = TypeAdapter(CreateModelVersionBody)
VERSION = TypeAdapter(VersionBody)
UPDATE_MODEL_VERSION = TypeAdapter(UpdateModelVersionBody)
TRANSITION_STAGE = TypeAdapter(TransitionStageBody)
SET_REGISTERED_MODEL_TAG = TypeAdapter(SetRegisteredModelTagBody)
DELETE_REGISTERED_MODEL_TAG = TypeAdapter(DeleteRegisteredModelTagBody)
SET_MODEL_VERSION_TAG = TypeAdapter(SetModelVersionTagBody)
DELETE_MODEL_VERSION_TAG = TypeAdapter(DeleteModelVersionTagBody)
SET_ALIAS = TypeAdapter(SetAliasBody)
ALIAS = TypeAdapter(AliasBody)
