"""Registered models, versions, tags and aliases in the metadata database.

Every change commits in one transaction with its audit event (and, for a new
model, its creator's MANAGE grant). A version number is the model's highest
plus one, taken under a lock on the model's row, and numbers are never
reused: a deleted version keeps its row, marked ``deleted_ms``, and loses its
aliases in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopml.auth import Actor, AuthService, ReadScope
from loopml.core.clock import now_ms
from loopml.core.errors import ResourceAlreadyExists, ResourceNotFound
from loopml.registry._sql_search import model_order, model_where, version_order, version_where
from loopml.registry.entities import ModelVersion, RegisteredModel, Stage
from loopml.store.database import Database
from loopml.store.tables import (
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
    resource_permissions,
)
from loopml.tracking.search import Comparison, OrderClause

KIND = "registered_model"


def _version(row: Mapping[Any, Any], tags: dict[str, str], aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        name=row["name"],
        version=int(row["version"]),
        created_ms=int(row["created_ms"]),
        updated_ms=int(row["updated_ms"]),
        created_by=row["created_by"],
        description=row["description"],
        current_stage=row["current_stage"],
        source=row["source"],
        storage_location=row["storage_location"],
        run_id=row["run_id"],
        run_link=row["run_link"],
        model_id=row["model_id"],
        status=row["status"],
        status_message=row["status_message"],
        manifest_digest=row["manifest_digest"],
        trusted=bool(row["trusted"]),
        tags=tags,
        aliases=aliases,
    )


def version_state(version: ModelVersion) -> dict[str, Any]:
    """What the audit log keeps of a version."""
    return {
        "version": version.version,
        "source": version.source,
        "run_id": version.run_id,
        "model_id": version.model_id,
        "stage": version.current_stage,
        "manifest_digest": version.manifest_digest,
        "trusted": version.trusted,
    }


class SqlRegistryStore:
    """The registry's tables; each write takes the acting account and audits itself."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.auth = AuthService(db)

    # --- transactions -----------------------------------------------------------

    @contextmanager
    def change(self) -> Iterator[Connection]:
        with self.db.write() as conn:
            yield conn

    def audit(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        resource_id: str,
        request_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        self.auth.audit.append(
            actor,
            action,
            KIND,
            resource_id,
            before=before,
            after=after,
            request_id=request_id,
            conn=conn,
        )

    # --- registered models ---------------------------------------------------------

    def create_model(
        self,
        name: str,
        description: str,
        tags: Mapping[str, str],
        actor: Actor,
        request_id: str,
    ) -> RegisteredModel:
        at = now_ms()
        try:
            with self.change() as conn:
                conn.execute(
                    insert(registered_models).values(
                        name=name,
                        description=description,
                        created_ms=at,
                        updated_ms=at,
                        created_by=actor.name,
                    )
                )
                for key, value in tags.items():
                    conn.execute(
                        insert(registered_model_tags).values(name=name, key=key, value=value)
                    )
                self.auth.grant_owner(actor, KIND, name, conn=conn)
                self.audit(
                    conn, actor, "registered_model.create", name, request_id,
                    after={"description": description, "tags": dict(tags)},
                )  # fmt: skip
        except IntegrityError:
            raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.") from None
        return self.get_model(name)

    def get_model(self, name: str, conn: Connection | None = None) -> RegisteredModel:
        with self._reading(conn) as c:
            row = c.execute(select(registered_models).where(registered_models.c.name == name))
            found = row.mappings().first()
            if found is None:
                raise ResourceNotFound(f"Registered Model with name={name} not found")
            return self._model(c, found)

    def _model(self, conn: Connection, row: Mapping[Any, Any]) -> RegisteredModel:
        name = row["name"]
        tags = dict(
            conn.execute(
                select(registered_model_tags.c.key, registered_model_tags.c.value).where(
                    registered_model_tags.c.name == name
                )
            ).all()
        )
        aliases = dict(
            conn.execute(
                select(registered_model_aliases.c.alias, registered_model_aliases.c.version)
                .where(registered_model_aliases.c.name == name)
                .order_by(registered_model_aliases.c.alias)
            ).all()
        )
        return RegisteredModel(
            name=name,
            created_ms=int(row["created_ms"]),
            updated_ms=int(row["updated_ms"]),
            created_by=row["created_by"],
            description=row["description"],
            tags=tags,
            aliases={k: int(v) for k, v in aliases.items()},
            latest_versions=self._latest_per_stage(conn, name),
        )

    def _latest_per_stage(self, conn: Connection, name: str) -> list[ModelVersion]:
        newest = (
            select(model_versions.c.current_stage, func.max(model_versions.c.version).label("v"))
            .where(model_versions.c.name == name, model_versions.c.deleted_ms.is_(None))
            .group_by(model_versions.c.current_stage)
            .subquery()
        )
        rows = conn.execute(
            select(model_versions)
            .join(
                newest,
                (model_versions.c.current_stage == newest.c.current_stage)
                & (model_versions.c.version == newest.c.v),
            )
            .where(model_versions.c.name == name)
            .order_by(model_versions.c.version)
        ).mappings()
        return self._versions(conn, list(rows))

    def search_models(
        self,
        filters: Sequence[Comparison],
        order: Sequence[OrderClause],
        offset: int,
        limit: int,
        scope: ReadScope | None = None,
    ) -> list[RegisteredModel]:
        query = select(registered_models).where(model_where(filters))
        if (
            scope is not None
            and (visible := scope.where(KIND, registered_models.c.name)) is not None
        ):
            query = query.where(visible)
        query = query.order_by(*model_order(order)).offset(offset).limit(limit)
        with self.db.read() as conn:
            return [self._model(conn, row) for row in conn.execute(query).mappings()]

    def rename_model(self, name: str, new_name: str, actor: Actor, request_id: str) -> None:
        try:
            with self.change() as conn:
                self.lock_model(conn, name)
                conn.execute(
                    update(registered_models)
                    .where(registered_models.c.name == name)
                    .values(name=new_name, updated_ms=now_ms())
                )
                # Grants follow the model: they are keyed by its name.
                conn.execute(
                    update(resource_permissions)
                    .where(
                        resource_permissions.c.resource_kind == KIND,
                        resource_permissions.c.resource_id == name,
                    )
                    .values(resource_id=new_name)
                )
                self.audit(
                    conn, actor, "registered_model.rename", new_name, request_id,
                    before={"name": name}, after={"name": new_name},
                )  # fmt: skip
        except IntegrityError:
            raise ResourceAlreadyExists(
                f"Registered Model (name={new_name}) already exists."
            ) from None

    def update_model(self, name: str, description: str, actor: Actor, request_id: str) -> None:
        with self.change() as conn:
            before = self.lock_model(conn, name)
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(description=description, updated_ms=now_ms())
            )
            self.audit(
                conn, actor, "registered_model.update", name, request_id,
                before={"description": before["description"]}, after={"description": description},
            )  # fmt: skip

    def delete_model(self, name: str, actor: Actor, request_id: str) -> None:
        """Delete a model, its versions, tags, aliases, policies and grants."""
        with self.change() as conn:
            self.lock_model(conn, name)
            versions = conn.execute(
                select(func.count()).where(model_versions.c.name == name)
            ).scalar_one()
            conn.execute(delete(registered_models).where(registered_models.c.name == name))
            conn.execute(
                delete(resource_permissions).where(
                    resource_permissions.c.resource_kind == KIND,
                    resource_permissions.c.resource_id == name,
                )
            )
            self.audit(
                conn, actor, "registered_model.delete", name, request_id,
                before={"versions": int(versions)},
            )  # fmt: skip

    def set_model_tag(
        self, name: str, key: str, value: str | None, actor: Actor, request_id: str
    ) -> None:
        """Set a tag, or delete it when ``value`` is None (a missing one is a 404)."""
        with self.change() as conn:
            self.lock_model(conn, name)
            table = registered_model_tags
            where = (table.c.name == name) & (table.c.key == key)
            old = conn.execute(select(table.c.value).where(where)).scalar_one_or_none()
            if value is None and old is None:
                raise ResourceNotFound(f"No tag with key {key!r} on registered model {name!r}")
            conn.execute(delete(table).where(where))
            if value is not None:
                conn.execute(insert(table).values(name=name, key=key, value=value))
            action = (
                "registered_model.set_tag" if value is not None else "registered_model.delete_tag"
            )
            self.audit(
                conn, actor, action, name, request_id,
                before={key: old} if old is not None else None,
                after={key: value} if value is not None else None,
            )  # fmt: skip

    def lock_model(self, conn: Connection, name: str) -> Mapping[Any, Any]:
        found = (
            conn.execute(
                select(registered_models).where(registered_models.c.name == name).with_for_update()
            )
            .mappings()
            .first()
        )
        if found is None:
            raise ResourceNotFound(f"Registered Model with name={name} not found")
        return found

    # --- versions ------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        values: dict[str, Any],
        tags: Mapping[str, str],
        actor: Actor,
        request_id: str,
    ) -> ModelVersion:
        at = now_ms()
        with self.change() as conn:
            self.lock_model(conn, name)
            newest = conn.execute(
                select(func.max(model_versions.c.version)).where(model_versions.c.name == name)
            ).scalar()
            number = int(newest or 0) + 1
            row = {
                **values,
                "name": name,
                "version": number,
                "created_ms": at,
                "updated_ms": at,
                "created_by": actor.name,
                "current_stage": Stage.NONE.value,
                "trusted": False,
            }
            conn.execute(insert(model_versions).values(**row))
            for key, value in tags.items():
                conn.execute(
                    insert(model_version_tags).values(
                        name=name, version=number, key=key, value=value
                    )
                )
            conn.execute(
                update(registered_models)
                .where(registered_models.c.name == name)
                .values(updated_ms=at)
            )
            version = self.get_version(name, number, conn=conn)
            self.audit(
                conn, actor, "model_version.create", name, request_id, after=version_state(version)
            )
            return version

    def get_version(
        self, name: str, version: int, *, conn: Connection | None = None
    ) -> ModelVersion:
        with self._reading(conn) as c:
            row = (
                c.execute(
                    select(model_versions).where(
                        model_versions.c.name == name,
                        model_versions.c.version == version,
                        model_versions.c.deleted_ms.is_(None),
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise ResourceNotFound(f"Model Version (name={name}, version={version}) not found")
            return self._versions(c, [row])[0]

    def version_manifest(self, name: str, version: int) -> dict[str, Any] | None:
        """The manifest taken at registration: what a load verifies the files against."""
        self.get_version(name, version)
        with self.db.read() as conn:
            text = conn.execute(
                select(model_versions.c.manifest).where(
                    model_versions.c.name == name, model_versions.c.version == version
                )
            ).scalar_one_or_none()
        return json.loads(text) if text else None

    def search_versions(
        self,
        filters: Sequence[Comparison],
        order: Sequence[OrderClause],
        offset: int,
        limit: int,
        scope: ReadScope | None = None,
    ) -> list[ModelVersion]:
        query = select(model_versions).where(
            model_versions.c.deleted_ms.is_(None), version_where(filters)
        )
        if scope is not None and (visible := scope.where(KIND, model_versions.c.name)) is not None:
            query = query.where(visible)
        query = query.order_by(*version_order(order)).offset(offset).limit(limit)
        with self.db.read() as conn:
            return self._versions(conn, list(conn.execute(query).mappings()))

    def _versions(self, conn: Connection, rows: list[Mapping[Any, Any]]) -> list[ModelVersion]:
        if not rows:
            return []
        names = sorted({r["name"] for r in rows})
        tags: dict[tuple[str, int], dict[str, str]] = {}
        for name, number, key, value in conn.execute(
            select(
                model_version_tags.c.name,
                model_version_tags.c.version,
                model_version_tags.c.key,
                model_version_tags.c.value,
            ).where(model_version_tags.c.name.in_(names))
        ):
            tags.setdefault((name, int(number)), {})[key] = value
        aliases: dict[tuple[str, int], list[str]] = {}
        for name, alias, number in conn.execute(
            select(
                registered_model_aliases.c.name,
                registered_model_aliases.c.alias,
                registered_model_aliases.c.version,
            )
            .where(registered_model_aliases.c.name.in_(names))
            .order_by(registered_model_aliases.c.alias)
        ):
            aliases.setdefault((name, int(number)), []).append(alias)
        return [
            _version(
                row,
                tags.get((row["name"], int(row["version"])), {}),
                aliases.get((row["name"], int(row["version"])), []),
            )
            for row in rows
        ]

    def update_version(
        self,
        name: str,
        version: int,
        values: dict[str, Any],
        action: str,
        actor: Actor,
        request_id: str,
    ) -> ModelVersion:
        """Change a version's columns (description, stage, trusted) with one audit event."""
        with self.change() as conn:
            self.lock_model(conn, name)
            before = self.get_version(name, version, conn=conn)
            conn.execute(
                update(model_versions)
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(**values, updated_ms=now_ms())
            )
            old = {k: getattr(before, k) for k in values if hasattr(before, k)}
            self.audit(
                conn, actor, action, name, request_id,
                before={"version": version, **old}, after={"version": version, **values},
            )  # fmt: skip
            return self.get_version(name, version, conn=conn)

    def set_stage(
        self,
        name: str,
        version: int,
        stage: str,
        archive_others: bool,
        actor: Actor,
        request_id: str,
    ) -> ModelVersion:
        """Move a version to ``stage``; ``archive_others`` archives the stage's other versions."""
        with self.change() as conn:
            self.lock_model(conn, name)
            before = self.get_version(name, version, conn=conn)
            archived: list[int] = []
            if archive_others:
                where = (
                    (model_versions.c.name == name)
                    & (model_versions.c.current_stage == stage)
                    & (model_versions.c.version != version)
                    & model_versions.c.deleted_ms.is_(None)
                )
                archived = [
                    int(v)
                    for v in conn.execute(select(model_versions.c.version).where(where)).scalars()
                ]
                conn.execute(
                    update(model_versions)
                    .where(where)
                    .values(current_stage=Stage.ARCHIVED.value, updated_ms=now_ms())
                )
            conn.execute(
                update(model_versions)
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(current_stage=stage, updated_ms=now_ms())
            )
            self.audit(
                conn, actor, "model_version.transition_stage", name, request_id,
                before={"version": version, "stage": before.current_stage},
                after={"version": version, "stage": stage, "archived": archived},
            )  # fmt: skip
            return self.get_version(name, version, conn=conn)

    def delete_version(self, name: str, version: int, actor: Actor, request_id: str) -> None:
        with self.change() as conn:
            self.lock_model(conn, name)
            gone = self.get_version(name, version, conn=conn)
            conn.execute(
                delete(registered_model_aliases).where(
                    registered_model_aliases.c.name == name,
                    registered_model_aliases.c.version == version,
                )
            )
            conn.execute(
                update(model_versions)
                .where(model_versions.c.name == name, model_versions.c.version == version)
                .values(deleted_ms=now_ms(), current_stage="Deleted")
            )
            self.audit(
                conn, actor, "model_version.delete", name, request_id,
                before={**version_state(gone), "aliases": gone.aliases},
            )  # fmt: skip

    def set_version_tag(
        self, name: str, version: int, key: str, value: str | None, actor: Actor, request_id: str
    ) -> None:
        with self.change() as conn:
            self.lock_model(conn, name)
            self.get_version(name, version, conn=conn)
            table = model_version_tags
            where = (table.c.name == name) & (table.c.version == version) & (table.c.key == key)
            old = conn.execute(select(table.c.value).where(where)).scalar_one_or_none()
            if value is None and old is None:
                raise ResourceNotFound(f"No tag with key {key!r} on {name!r} version {version}")
            conn.execute(delete(table).where(where))
            if value is not None:
                conn.execute(insert(table).values(name=name, version=version, key=key, value=value))
            action = "model_version.set_tag" if value is not None else "model_version.delete_tag"
            self.audit(
                conn, actor, action, name, request_id,
                before={"version": version, key: old} if old is not None else None,
                after={"version": version, key: value} if value is not None else None,
            )  # fmt: skip

    # --- aliases -------------------------------------------------------------------

    def alias_version(self, name: str, alias: str) -> int | None:
        with self.db.read() as conn:
            found = conn.execute(
                select(registered_model_aliases.c.version).where(
                    registered_model_aliases.c.name == name,
                    registered_model_aliases.c.alias == alias,
                )
            ).scalar_one_or_none()
        return int(found) if found is not None else None

    def write_alias(
        self, conn: Connection, name: str, alias: str, version: int | None, actor: Actor
    ) -> int | None:
        """Point ``alias`` at ``version`` (None: remove it) inside ``conn``; returns the old one."""
        table = registered_model_aliases
        where = (table.c.name == name) & (table.c.alias == alias)
        old = conn.execute(select(table.c.version).where(where)).scalar_one_or_none()
        conn.execute(delete(table).where(where))
        if version is not None:
            conn.execute(
                insert(table).values(
                    name=name,
                    alias=alias,
                    version=version,
                    updated_ms=now_ms(),
                    updated_by=actor.name,
                )
            )
        return int(old) if old is not None else None

    @contextmanager
    def _reading(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.db.read() as c:
            yield c
