"""The registry over HTTP: MLflow's registry API plus loopml's ``/api/loopml/v1/models``.

The same methods as :class:`~loopml.registry.RegistryClient`, so the SDK and
the CLI work against a server as they do embedded. The server checks
permissions, enforces alias policies and audits; a load downloads the files
through the artifact proxy and verifies them against the manifest the server
took at registration before anything is deserialized.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from loopml.artifacts.http import HttpArtifactStore
from loopml.core.errors import LoopmlError
from loopml.core.http import ServerConnection, raise_for_error
from loopml.models import LoadedModel, Manifest
from loopml.registry.entities import (
    AliasPolicy,
    Approval,
    ApprovalState,
    GateCheck,
    ModelVersion,
    RegisteredModel,
    StoredEvaluation,
    parse_version,
)
from loopml.registry.governance import Promotion
from loopml.registry.loading import load_version, resolve_version
from loopml.tracking.entities import Page

MLFLOW = "/api/2.0/mlflow"
NATIVE = "/api/loopml/v1/models"


def _segment(value: str | int) -> str:
    return quote(str(value), safe="")


def _tags(items: Sequence[Mapping[str, str]]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items}


def version_from_json(body: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(
        name=body["name"],
        version=int(body["version"]),
        created_ms=int(body.get("creation_timestamp", 0)),
        updated_ms=int(body.get("last_updated_timestamp", 0)),
        created_by=body.get("user_id", ""),
        description=body.get("description", ""),
        current_stage=body.get("current_stage", "None"),
        source=body.get("source", ""),
        storage_location=body.get("storage_location", ""),
        run_id=body.get("run_id"),
        run_link=body.get("run_link", ""),
        model_id=body.get("model_id"),
        status=body.get("status", "READY"),
        status_message=body.get("status_message", ""),
        manifest_digest=body.get("manifest_digest"),
        trusted=bool(body.get("trusted", False)),
        tags=_tags(body.get("tags", [])),
        aliases=list(body.get("aliases", [])),
    )


def model_from_json(body: Mapping[str, Any]) -> RegisteredModel:
    return RegisteredModel(
        name=body["name"],
        created_ms=int(body.get("creation_timestamp", 0)),
        updated_ms=int(body.get("last_updated_timestamp", 0)),
        created_by=body.get("user_id", ""),
        description=body.get("description", ""),
        tags=_tags(body.get("tags", [])),
        aliases={a["alias"]: int(a["version"]) for a in body.get("aliases", [])},
        latest_versions=[version_from_json(v) for v in body.get("latest_versions", [])],
    )


def _approval(body: Mapping[str, Any]) -> Approval:
    return Approval(**{**body, "state": ApprovalState(body["state"])})


def _gate_check(body: Mapping[str, Any]) -> GateCheck:
    return GateCheck(**body)


class RestRegistry(ServerConnection):
    """Registered models on the server at ``base_url``, as the caller's credentials allow."""

    def __init__(self, base_url: str, timeout_s: float = 120.0) -> None:
        super().__init__(base_url, timeout_s)
        self.artifacts = HttpArtifactStore(base_url)

    def _call(self, method: str, path: str, body: Any = None, params: Any = None) -> Any:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        content = orjson.dumps(body) if body is not None else None
        try:
            response = self.http.request(
                method, path, content=content, params=params, headers=headers
            )
        except httpx.TransportError as error:
            raise LoopmlError(f"cannot reach {self.base_url}: {error}") from error
        raise_for_error(response)
        return response.json()

    def close(self) -> None:
        super().close()
        self.artifacts.close()

    # --- registered models ---------------------------------------------------------

    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        body = {
            "name": name,
            "description": description,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        }
        found = self._call("POST", f"{MLFLOW}/registered-models/create", body)
        return model_from_json(found["registered_model"])

    def get_registered_model(self, name: str) -> RegisteredModel:
        found = self._call("GET", f"{MLFLOW}/registered-models/get", params={"name": name})
        return model_from_json(found["registered_model"])

    def search_registered_models(
        self,
        filter_string: str | None = None,
        *,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Page[RegisteredModel]:
        params = _search_params(filter_string, max_results, order_by, page_token)
        found = self._call("GET", f"{MLFLOW}/registered-models/search", params=params)
        items = [model_from_json(m) for m in found.get("registered_models", [])]
        return Page(items, found.get("next_page_token"))

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        body = {"name": name, "new_name": new_name}
        found = self._call("POST", f"{MLFLOW}/registered-models/rename", body)
        return model_from_json(found["registered_model"])

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        body = {"name": name, "description": description}
        found = self._call("PATCH", f"{MLFLOW}/registered-models/update", body)
        return model_from_json(found["registered_model"])

    def delete_registered_model(self, name: str) -> None:
        self._call("DELETE", f"{MLFLOW}/registered-models/delete", {"name": name})

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        body = {"name": name, "key": key, "value": value}
        self._call("POST", f"{MLFLOW}/registered-models/set-tag", body)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self._call("DELETE", f"{MLFLOW}/registered-models/delete-tag", {"name": name, "key": key})

    # --- versions ------------------------------------------------------------------

    def create_model_version(
        self,
        name: str,
        source: str,
        *,
        run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_link: str = "",
        description: str = "",
        model_id: str | None = None,
    ) -> ModelVersion:
        body: dict[str, Any] = {
            "name": name,
            "source": source,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            "run_link": run_link,
            "description": description,
        }
        if run_id:
            body["run_id"] = run_id
        if model_id:
            body["model_id"] = model_id
        found = self._call("POST", f"{MLFLOW}/model-versions/create", body)
        return version_from_json(found["model_version"])

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        params = {"name": name, "version": str(parse_version(version))}
        found = self._call("GET", f"{MLFLOW}/model-versions/get", params=params)
        return version_from_json(found["model_version"])

    def search_model_versions(
        self,
        filter_string: str | None = None,
        *,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> Page[ModelVersion]:
        params = _search_params(filter_string, max_results, order_by, page_token)
        found = self._call("GET", f"{MLFLOW}/model-versions/search", params=params)
        items = [version_from_json(v) for v in found.get("model_versions", [])]
        return Page(items, found.get("next_page_token"))

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        body = {"name": name, "stages": list(stages or [])}
        found = self._call("POST", f"{MLFLOW}/registered-models/get-latest-versions", body)
        return [version_from_json(v) for v in found.get("model_versions", [])]

    def update_model_version(self, name: str, version: int | str, description: str) -> ModelVersion:
        body = {"name": name, "version": str(version), "description": description}
        found = self._call("PATCH", f"{MLFLOW}/model-versions/update", body)
        return version_from_json(found["model_version"])

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, *, archive_existing_versions: bool = False
    ) -> ModelVersion:
        body = {
            "name": name,
            "version": str(version),
            "stage": stage,
            "archive_existing_versions": archive_existing_versions,
        }
        found = self._call("POST", f"{MLFLOW}/model-versions/transition-stage", body)
        return version_from_json(found["model_version"])

    def delete_model_version(self, name: str, version: int | str) -> None:
        body = {"name": name, "version": str(version)}
        self._call("DELETE", f"{MLFLOW}/model-versions/delete", body)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        body = {"name": name, "version": str(version), "key": key, "value": value}
        self._call("POST", f"{MLFLOW}/model-versions/set-tag", body)

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        body = {"name": name, "version": str(version), "key": key}
        self._call("DELETE", f"{MLFLOW}/model-versions/delete-tag", body)

    def set_trusted(self, name: str, version: int | str, trusted: bool = True) -> ModelVersion:
        found = self._call("PUT", f"{self._version(name, version)}/trust", {"trusted": trusted})
        return version_from_json(found["model_version"])

    # --- aliases and URIs ------------------------------------------------------------

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        params = {"name": name, "alias": alias}
        found = self._call("GET", f"{MLFLOW}/registered-models/alias", params=params)
        return version_from_json(found["model_version"])

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("DELETE", f"{MLFLOW}/registered-models/alias", {"name": name, "alias": alias})

    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        return self.promote(name, version, alias).version

    def resolve(self, uri: str) -> ModelVersion:
        return resolve_version(self, uri)

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        params = {"name": name, "version": str(version)}
        found = self._call("GET", f"{MLFLOW}/model-versions/get-download-uri", params=params)
        return str(found["artifact_uri"])

    def version_manifest(self, name: str, version: int | str) -> Manifest:
        found = self._call("GET", f"{self._version(name, version)}/manifest")
        return Manifest.from_dict(found["manifest"])

    def load_model(
        self, uri: str, *, trust: bool = False, public_key: str | os.PathLike[str] | None = None
    ) -> LoadedModel:
        """Download through the artifact proxy, verify against the server's manifest, load."""
        return load_version(self, self.artifacts, uri, trust=trust, public_key=public_key)

    # --- governance ------------------------------------------------------------------

    def promote(
        self, name: str, version: int | str, alias: str, *, override_reason: str | None = None
    ) -> Promotion:
        body: dict[str, Any] = {"alias": alias}
        if override_reason is not None:
            body["override_reason"] = override_reason
        found = self._call("POST", f"{self._version(name, version)}/promote", body)
        check, approval = found.get("gate_check"), found.get("approval")
        return Promotion(
            version_from_json(found["model_version"]),
            found["alias"],
            found.get("previous_version"),
            _gate_check(check) if check else None,
            _approval(approval) if approval else None,
        )

    def set_alias_policy(
        self,
        name: str,
        alias: str,
        *,
        require_approval: bool = False,
        four_eyes: bool = False,
        gates: Sequence[str] = (),
    ) -> AliasPolicy:
        body = {"require_approval": require_approval, "four_eyes": four_eyes, "gates": list(gates)}
        path = f"{NATIVE}/{_segment(name)}/policies/{_segment(alias)}"
        return AliasPolicy(**self._call("PUT", path, body)["policy"])

    def delete_alias_policy(self, name: str, alias: str) -> None:
        self._call("DELETE", f"{NATIVE}/{_segment(name)}/policies/{_segment(alias)}")

    def alias_policies(self, name: str) -> list[AliasPolicy]:
        found = self._call("GET", f"{NATIVE}/{_segment(name)}/policies")
        return [AliasPolicy(**p) for p in found["policies"]]

    def request_approval(
        self, name: str, version: int | str, alias: str, comment: str = ""
    ) -> Approval:
        body = {"alias": alias, "comment": comment}
        found = self._call("POST", f"{self._version(name, version)}/approvals", body)
        return _approval(found["approval"])

    def approve(self, approval_id: str, reason: str = "", *, name: str | None = None) -> Approval:
        return self._decide(approval_id, "approve", reason, name)

    def reject(self, approval_id: str, reason: str, *, name: str | None = None) -> Approval:
        return self._decide(approval_id, "reject", reason, name)

    def _decide(self, approval_id: str, verb: str, reason: str, name: str | None) -> Approval:
        model = name or self._approval_model(approval_id)
        path = f"{NATIVE}/{_segment(model)}/approvals/{_segment(approval_id)}/{verb}"
        return _approval(self._call("POST", path, {"reason": reason})["approval"])

    def _approval_model(self, approval_id: str) -> str:
        """The model an approval belongs to, among the models the caller can see."""
        page: Page[RegisteredModel] = self.search_registered_models(max_results=1000)
        while True:
            for model in page.items:
                if any(a.approval_id == approval_id for a in self.approvals(model.name)):
                    return model.name
            if not page.next_page_token:
                break
            page = self.search_registered_models(max_results=1000, page_token=page.next_page_token)
        from loopml.core.errors import ResourceNotFound

        raise ResourceNotFound(f"no approval request {approval_id!r} on a model you can read")

    def approvals(self, name: str, version: int | str | None = None) -> list[Approval]:
        params = {"version": str(version)} if version is not None else None
        found = self._call("GET", f"{NATIVE}/{_segment(name)}/approvals", params=params)
        return [_approval(a) for a in found["approvals"]]

    def record_evaluation(
        self,
        name: str,
        version: int | str,
        result: Mapping[str, Any],
        *,
        run_id: str | None = None,
        dataset: str = "",
    ) -> StoredEvaluation:
        body: dict[str, Any] = {"result": dict(result), "dataset": dataset}
        if run_id:
            body["run_id"] = run_id
        found = self._call("POST", f"{self._version(name, version)}/evaluations", body)
        return StoredEvaluation(**found["evaluation"])

    def evaluations(self, name: str, version: int | str) -> list[StoredEvaluation]:
        found = self._call("GET", f"{self._version(name, version)}/evaluations")
        return [StoredEvaluation(**e) for e in found["evaluations"]]

    def gate_checks(self, name: str, version: int | str) -> list[GateCheck]:
        found = self._call("GET", f"{self._version(name, version)}/gate-checks")
        return [_gate_check(c) for c in found["gate_checks"]]

    def _version(self, name: str, version: int | str) -> str:
        return f"{NATIVE}/{_segment(name)}/versions/{_segment(parse_version(version))}"


def _search_params(
    filter_string: str | None,
    max_results: int,
    order_by: Sequence[str] | None,
    page_token: str | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"max_results": max_results}
    if filter_string:
        params["filter"] = filter_string
    if order_by:
        params["order_by"] = list(order_by)
    if page_token:
        params["page_token"] = page_token
    return params
