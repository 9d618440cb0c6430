"""``RegistryClient``: registered models, versions, tags, aliases and stages.

The operations MLflow's registry has, with its errors, plus what loopml adds
on top (``governance.py``): alias policies, approvals, evaluations, gates and
promotion. The client acts as one :class:`~loopml.auth.Actor` (the server
builds one per request after its guard checked the route; embedded use acts
as the local user) and every change commits with its audit event.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from loopml.auth import Actor, ReadScope
from loopml.auth.access import is_admin
from loopml.core.errors import InvalidParameter, PermissionDenied, ResourceNotFound
from loopml.models import LoadedModel, Manifest
from loopml.registry import governance
from loopml.registry._sql import SqlRegistryStore
from loopml.registry.entities import (
    AliasPolicy,
    Approval,
    GateCheck,
    ModelVersion,
    RegisteredModel,
    Stage,
    StoredEvaluation,
    check_model_name,
    check_tag,
    parse_version,
)
from loopml.registry.governance import Promotion
from loopml.registry.loading import load_version, resolve_version
from loopml.registry.sources import locate, take_manifest
from loopml.tracking.client import TrackingClient
from loopml.tracking.entities import Page
from loopml.tracking.search import (
    decode_page_token,
    encode_page_token,
    parse_model_version_filter,
    parse_order_by,
    parse_registered_model_filter,
)

MAX_RESULTS_LIMIT = 10_000


def _page_bounds(max_results: int, page_token: str | None) -> tuple[int, int]:
    if isinstance(max_results, bool) or not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise InvalidParameter(
            f"max_results must be between 1 and {MAX_RESULTS_LIMIT}, got {max_results!r}"
        )
    return decode_page_token(page_token), max_results


def _page(items: list[Any], offset: int, limit: int) -> Page[Any]:
    more = len(items) > limit
    token = encode_page_token(offset + limit) if more else None
    return Page(items[:limit], token)


def _check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    for key, value in tags.items():
        check_tag(key, value)
    return dict(tags)


class RegistryClient:
    """The registry over one metadata store and tracking client, acting as ``actor``."""

    def __init__(
        self,
        store: SqlRegistryStore,
        tracking: TrackingClient,
        actor: Actor,
        *,
        request_id: str = "",
    ) -> None:
        self.store = store
        self.tracking = tracking
        self.actor = actor
        self.request_id = request_id

    # --- registered models ---------------------------------------------------------

    def create_registered_model(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        check_model_name(name)
        return self.store.create_model(
            name, description or "", _check_tags(tags or {}), self.actor, self.request_id
        )

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.store.get_model(check_model_name(name))

    def search_registered_models(
        self,
        filter_string: str | None = None,
        *,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        readable: ReadScope | None = None,
    ) -> Page[RegisteredModel]:
        filters = parse_registered_model_filter(filter_string)
        order = parse_order_by(order_by, "registered_model")
        offset, limit = _page_bounds(max_results, page_token)
        found = self.store.search_models(filters, order, offset, limit + 1, readable)
        return _page(found, offset, limit)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        check_model_name(name)
        check_model_name(new_name, "new_name")
        if new_name != name:
            self.store.rename_model(name, new_name, self.actor, self.request_id)
        return self.store.get_model(new_name)

    def update_registered_model(self, name: str, description: str) -> RegisteredModel:
        self.store.update_model(check_model_name(name), description, self.actor, self.request_id)
        return self.store.get_model(name)

    def delete_registered_model(self, name: str) -> None:
        self.store.delete_model(check_model_name(name), self.actor, self.request_id)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        check_tag(key, value)
        self.store.set_model_tag(check_model_name(name), key, value, self.actor, self.request_id)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.store.set_model_tag(check_model_name(name), key, None, self.actor, self.request_id)

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
        """Register the model files at ``source`` as the next version of ``name``.

        The sha256 of every file is taken now and kept with the version; every
        later load through the registry verifies the files against it.
        """
        check_model_name(name)
        self.store.get_model(name)  # 404 before any look at the source
        if not isinstance(source, str) or not source:
            raise InvalidParameter("source must be a non-empty string")
        found = locate(source, self.tracking, self.download_uri_of, run_id, model_id)
        if found.run_id:
            self.tracking.get_run(found.run_id)  # a run that does not exist is a 404
        manifest = take_manifest(self.tracking.artifacts, found.storage_location)
        values = {
            "source": source,
            "storage_location": found.storage_location,
            "run_id": found.run_id,
            "run_link": run_link or "",
            "model_id": found.model_id,
            "description": description or "",
            "status": "READY",
            "status_message": "",
            "manifest": json.dumps(manifest.to_dict(), sort_keys=True),
            "manifest_digest": manifest.digest,
        }
        return self.store.create_version(
            name, values, _check_tags(tags or {}), self.actor, self.request_id
        )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        return self.store.get_version(check_model_name(name), parse_version(version))

    def search_model_versions(
        self,
        filter_string: str | None = None,
        *,
        max_results: int = 10_000,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
        readable: ReadScope | None = None,
    ) -> Page[ModelVersion]:
        filters = parse_model_version_filter(filter_string)
        order = parse_order_by(order_by, "model_version")
        offset, limit = _page_bounds(max_results, page_token)
        found = self.store.search_versions(filters, order, offset, limit + 1, readable)
        return _page(found, offset, limit)

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        """The newest version in each stage (all stages when ``stages`` is empty)."""
        latest = self.get_registered_model(name).latest_versions
        if not stages:
            return latest
        wanted = {Stage.parse(s).value for s in stages}
        return [v for v in latest if v.current_stage in wanted]

    def update_model_version(self, name: str, version: int | str, description: str) -> ModelVersion:
        number = parse_version(version)
        return self.store.update_version(
            check_model_name(name),
            number,
            {"description": description},
            "model_version.update",
            self.actor,
            self.request_id,
        )

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, *, archive_existing_versions: bool = False
    ) -> ModelVersion:
        """MLflow's stages, for older clients; ``archive_existing`` archives the others."""
        target = Stage.parse(stage)
        archive = archive_existing_versions and target in (Stage.STAGING, Stage.PRODUCTION)
        return self.store.set_stage(
            check_model_name(name),
            parse_version(version),
            target.value,
            archive,
            self.actor,
            self.request_id,
        )

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version; its aliases go with it (audited), its number is never reused."""
        self.store.delete_version(
            check_model_name(name), parse_version(version), self.actor, self.request_id
        )

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        check_tag(key, value)
        self.store.set_version_tag(
            check_model_name(name), parse_version(version), key, value, self.actor, self.request_id
        )

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        self.store.set_version_tag(
            check_model_name(name), parse_version(version), key, None, self.actor, self.request_id
        )

    def set_trusted(self, name: str, version: int | str, trusted: bool = True) -> ModelVersion:
        """Let (or stop letting) a version's code-executing formats load. Admins only."""
        if not is_admin(self.actor):
            raise PermissionDenied(
                f"only admins may mark model versions trusted; {self.actor.name!r} is not one"
            )
        return self.store.update_version(
            check_model_name(name),
            parse_version(version),
            {"trusted": bool(trusted)},
            "model_version.trust" if trusted else "model_version.distrust",
            self.actor,
            self.request_id,
        )

    # --- aliases and URIs ------------------------------------------------------------

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        check_model_name(name)
        number = self.store.alias_version(name, alias)
        if number is None:
            self.store.get_model(name)
            raise ResourceNotFound(f"Registered model alias {alias} not found.")
        return self.store.get_version(name, number)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        check_model_name(name)
        with self.store.change() as conn:
            old = self.store.write_alias(conn, name, alias, None, self.actor)
            if old is None:
                self.store.get_model(name)
                raise ResourceNotFound(f"Registered model alias {alias} not found.")
            self.store.audit(
                conn, self.actor, "registered_model.delete_alias", name, self.request_id,
                before={"alias": alias, "version": old},
            )  # fmt: skip

    def resolve(self, uri: str) -> ModelVersion:
        """The version ``models:/NAME/3`` (``@champion``, ``/latest``, ``/Production``) names."""
        return resolve_version(self, uri)

    def download_uri_of(self, uri: str) -> str:
        return self.resolve(uri).storage_location

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        return self.get_model_version(name, version).storage_location

    # --- governance (see governance.py) ----------------------------------------------

    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersion:
        """Point ``alias`` at ``version`` under the alias's policy (MLflow's set-alias)."""
        return self.promote(name, version, alias).version

    def promote(
        self, name: str, version: int | str, alias: str, *, override_reason: str | None = None
    ) -> Promotion:
        """Move ``alias`` to ``version`` if its gates pass and its approval is there."""
        return governance.promote(self, name, version, alias, override_reason=override_reason)

    def set_alias_policy(
        self,
        name: str,
        alias: str,
        *,
        require_approval: bool = False,
        four_eyes: bool = False,
        gates: Sequence[str] = (),
    ) -> AliasPolicy:
        return governance.set_policy(
            self, name, alias, require_approval=require_approval, four_eyes=four_eyes, gates=gates
        )

    def delete_alias_policy(self, name: str, alias: str) -> None:
        governance.delete_policy(self, name, alias)

    def alias_policies(self, name: str) -> list[AliasPolicy]:
        return governance.policies(self, name)

    def request_approval(
        self, name: str, version: int | str, alias: str, comment: str = ""
    ) -> Approval:
        return governance.request_approval(self, name, version, alias, comment)

    def approve(self, approval_id: str, reason: str = "") -> Approval:
        return governance.decide(self, approval_id, True, reason)

    def reject(self, approval_id: str, reason: str) -> Approval:
        return governance.decide(self, approval_id, False, reason)

    def approvals(self, name: str, version: int | str | None = None) -> list[Approval]:
        return governance.approvals(self, name, version)

    def record_evaluation(
        self,
        name: str,
        version: int | str,
        result: Mapping[str, Any],
        *,
        run_id: str | None = None,
        dataset: str = "",
    ) -> StoredEvaluation:
        return governance.record_evaluation(
            self, name, version, result, run_id=run_id, dataset=dataset
        )

    def evaluations(self, name: str, version: int | str) -> list[StoredEvaluation]:
        return governance.evaluations(self, name, version)

    def gate_checks(self, name: str, version: int | str) -> list[GateCheck]:
        return governance.gate_checks(self, name, version)

    def version_manifest(self, name: str, version: int | str) -> Manifest:
        """The sha256 of every file, taken at registration: what every load checks."""
        found = self.store.version_manifest(check_model_name(name), parse_version(version))
        if found is None:
            raise ResourceNotFound(f"model {name!r} version {version} has no manifest")
        return Manifest.from_dict(found)

    def load_model(
        self, uri: str, *, trust: bool = False, public_key: str | os.PathLike[str] | None = None
    ) -> LoadedModel:
        """Load ``models:/NAME/VERSION`` (or ``@alias``) after verifying every file.

        The files are checked against the manifest kept in the registry's
        database (not one shipped with them) before ``loopml.models`` loads
        them: formats that run code need ``trust=True`` or a version an admin
        marked trusted; ``public_key`` also verifies a signature.
        """
        return load_version(self, self.tracking.artifacts, uri, trust=trust, public_key=public_key)
