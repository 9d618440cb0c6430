"""Dataset versions and tags in the metadata database.

A version number is the asset's highest plus one, taken under a lock on the
asset's row (``FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), and
``(name, content_hash)`` is unique, so identical content is one version even
when two writers add it at once. A tag moves by compare-and-swap on its
revision: of two writers racing on one tag, one wins and one gets a conflict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopml.auth import Actor, AuthService, ReadScope
from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, InvalidParameter, ResourceNotFound
from loopml.core.ids import new_id
from loopml.data.entities import LATEST, DataRef, Dataset, DatasetVersion, StoredValidation
from loopml.store.database import Database
from loopml.store.tables import (
    data_assets,
    data_column_tags,
    data_tags,
    data_validations,
    data_versions,
)


def version_from_row(row: Mapping[Any, Any]) -> DatasetVersion:
    return DatasetVersion(
        name=row["name"],
        version=int(row["version"]),
        content_hash=row["content_hash"],
        artifact_path=row["artifact_path"],
        schema=json.loads(row["schema"]),
        row_count=int(row["row_count"]),
        size_bytes=int(row["size_bytes"]),
        source_uri=row["source_uri"],
        parents=json.loads(row["parents"]),
        run_id=row["run_id"],
        description=row["description"],
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
        validation_status=row.get("validation_status"),
    )


class SqlDataStore:
    """Every change here commits together with its audit event (and the creator's grant)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.auth = AuthService(db)

    def add_version(
        self,
        values: dict[str, Any],
        actor: Actor,
        request_id: str = "",
        validation: StoredValidation | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Record a snapshot; ``(existing version, False)`` when the content is already there.

        ``validation``, the attached suite's report on the snapshot, is stored with
        the new version and sets its status.
        """
        name = values["name"]
        at = now_ms()
        try:
            with self.db.write() as conn:
                self._lock_asset(conn, name, actor, at, request_id)
                found = conn.execute(
                    select(data_versions).where(
                        data_versions.c.name == name,
                        data_versions.c.content_hash == values["content_hash"],
                    )
                ).first()
                if found is not None:
                    return version_from_row(found._mapping), False
                newest = conn.execute(
                    select(func.max(data_versions.c.version)).where(data_versions.c.name == name)
                ).scalar()
                row = {
                    **values,
                    "version": int(newest or 0) + 1,
                    "schema": json.dumps(values["schema"]),
                    "parents": json.dumps(values["parents"]),
                    "created_ms": at,
                    "created_by": actor.name,
                    "validation_status": validation.status if validation else None,
                }
                conn.execute(insert(data_versions).values(**row))
                conn.execute(
                    update(data_assets).where(data_assets.c.name == name).values(updated_ms=at)
                )
                version = version_from_row(row)
                if validation is not None:
                    self._insert_validation(conn, version, validation, actor, at)
                self.auth.audit.append(
                    actor,
                    "dataset.add_version",
                    "dataset",
                    name,
                    after=_audited(version),
                    request_id=request_id,
                    conn=conn,
                )
                return version, True
        except IntegrityError:  # a concurrent add of the same content won
            won = self.find_by_hash(name, values["content_hash"])
            if won is None:
                raise
            return won, False

    def _lock_asset(
        self, conn: Connection, name: str, actor: Actor, at: int, request_id: str
    ) -> None:
        locked = conn.execute(
            select(data_assets.c.name).where(data_assets.c.name == name).with_for_update()
        ).first()
        if locked is None:
            conn.execute(
                insert(data_assets).values(
                    name=name, description="", created_ms=at, created_by=actor.name, updated_ms=at
                )
            )
            self.auth.grant_owner(actor, "dataset", name, conn=conn)
            self.auth.audit.append(
                actor, "dataset.create", "dataset", name, request_id=request_id, conn=conn
            )

    def find_by_hash(self, name: str, content_hash: str) -> DatasetVersion | None:
        with self.db.read() as conn:
            row = conn.execute(
                select(data_versions).where(
                    data_versions.c.name == name, data_versions.c.content_hash == content_hash
                )
            ).first()
        return None if row is None else version_from_row(row._mapping)

    def resolve(self, ref: DataRef) -> DatasetVersion:
        """The version a reference names; 404 naming what is missing."""
        with self.db.read() as conn:
            if not conn.execute(
                select(data_assets.c.name).where(data_assets.c.name == ref.name)
            ).first():
                raise ResourceNotFound(f"no dataset named {ref.name!r}")
            query = select(data_versions).where(data_versions.c.name == ref.name)
            if ref.selector == LATEST:
                query = query.order_by(data_versions.c.version.desc()).limit(1)
            elif ref.selector.isdigit():
                query = query.where(data_versions.c.version == int(ref.selector))
            else:
                tagged = conn.execute(
                    select(data_tags.c.version).where(
                        data_tags.c.name == ref.name, data_tags.c.tag == ref.selector
                    )
                ).scalar_one_or_none()
                if tagged is None:
                    raise ResourceNotFound(f"dataset {ref.name!r} has no tag {ref.selector!r}")
                query = query.where(data_versions.c.version == tagged)
            row = conn.execute(query).first()
        if row is None:
            raise ResourceNotFound(f"dataset {ref.name!r} has no version {ref.selector}")
        return version_from_row(row._mapping)

    def list_datasets(self, scope: ReadScope | None = None) -> list[Dataset]:
        """Datasets ``scope`` may read (all without one), by name."""
        query = select(data_assets).order_by(data_assets.c.name)
        readable = scope.where("dataset", data_assets.c.name) if scope else None
        if readable is not None:
            query = query.where(readable)
        with self.db.read() as conn:
            return [self._dataset(conn, row._mapping) for row in conn.execute(query).all()]

    def dataset(self, name: str) -> Dataset:
        with self.db.read() as conn:
            row = conn.execute(select(data_assets).where(data_assets.c.name == name)).first()
            if row is None:
                raise ResourceNotFound(f"no dataset named {name!r}")
            return self._dataset(conn, row._mapping)

    def _dataset(self, conn: Connection, row: Mapping[Any, Any]) -> Dataset:
        name = row["name"]
        newest = conn.execute(
            select(func.max(data_versions.c.version)).where(data_versions.c.name == name)
        ).scalar()
        tags = conn.execute(
            select(data_tags.c.tag, data_tags.c.version).where(data_tags.c.name == name)
        ).all()
        return Dataset(
            name=name,
            description=row["description"],
            created_ms=int(row["created_ms"]),
            created_by=row["created_by"],
            updated_ms=int(row["updated_ms"]),
            latest_version=None if newest is None else int(newest),
            tags={t.tag: int(t.version) for t in tags},
            column_tags=_column_tags(conn, name),
            suite=json.loads(row["suite"]) if row["suite"] else None,
        )

    def list_versions(self, name: str) -> list[DatasetVersion]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(data_versions)
                .where(data_versions.c.name == name)
                .order_by(data_versions.c.version.desc())
            ).all()
            if (
                not rows
                and not conn.execute(
                    select(data_assets.c.name).where(data_assets.c.name == name)
                ).first()
            ):
                raise ResourceNotFound(f"no dataset named {name!r}")
        return [version_from_row(r._mapping) for r in rows]

    def set_tag(
        self,
        name: str,
        tag: str,
        version: int,
        expected: int | None,
        actor: Actor,
        request_id: str = "",
    ) -> tuple[int | None, int]:
        """Point ``tag`` at ``version`` if it still points at ``expected`` (None: unset).

        Returns (previous version, new revision); raises ``Conflict`` when another
        writer moved the tag first.
        """
        at = now_ms()
        with self.db.write() as conn:
            self.resolve_in(conn, name, version)
            current = conn.execute(
                select(data_tags.c.version, data_tags.c.revision).where(
                    data_tags.c.name == name, data_tags.c.tag == tag
                )
            ).first()
            now_at = None if current is None else int(current.version)
            if now_at != expected:
                raise Conflict(
                    f"tag {tag!r} of {name!r} points at "
                    f"{'nothing' if now_at is None else f'version {now_at}'}, not "
                    f"{'nothing' if expected is None else f'version {expected}'}: "
                    "someone moved it; re-read and retry"
                )
            if current is None:
                try:
                    conn.execute(
                        insert(data_tags).values(
                            name=name,
                            tag=tag,
                            version=version,
                            revision=1,
                            updated_ms=at,
                            updated_by=actor.name,
                        )
                    )
                except IntegrityError:
                    raise Conflict(
                        f"tag {tag!r} of {name!r} was just created by someone else"
                    ) from None
                self._audit_tag(conn, actor, request_id, name, tag, None, version)
                return None, 1
            moved = conn.execute(
                update(data_tags)
                .where(
                    data_tags.c.name == name,
                    data_tags.c.tag == tag,
                    data_tags.c.revision == current.revision,
                )
                .values(
                    version=version,
                    revision=current.revision + 1,
                    updated_ms=at,
                    updated_by=actor.name,
                )
            )
            if moved.rowcount != 1:
                raise Conflict(f"tag {tag!r} of {name!r} moved while this change was made; retry")
            self._audit_tag(conn, actor, request_id, name, tag, now_at, version)
            return now_at, int(current.revision) + 1

    def _audit_tag(
        self,
        conn: Connection,
        actor: Actor,
        request_id: str,
        name: str,
        tag: str,
        before: int | None,
        after: int,
    ) -> None:
        self.auth.audit.append(
            actor,
            "dataset.tag",
            "dataset",
            name,
            before={"tag": tag, "version": before},
            after={"tag": tag, "version": after},
            request_id=request_id,
            conn=conn,
        )

    def resolve_in(self, conn: Connection, name: str, version: int) -> None:
        found = conn.execute(
            select(data_versions.c.version).where(
                data_versions.c.name == name, data_versions.c.version == version
            )
        ).first()
        if found is None:
            raise ResourceNotFound(f"dataset {name!r} has no version {version}")

    # --- column tags, suites, validations, reads ------------------------------------

    def set_column_tags(
        self, name: str, column: str, tags: list[str], actor: Actor, request_id: str = ""
    ) -> list[str]:
        """Replace ``column``'s tags; returns the tags it had."""
        at = now_ms()
        with self.db.write() as conn:
            self._require_column(conn, name, column)
            before = _column_tags(conn, name).get(column, [])
            conn.execute(
                delete(data_column_tags).where(
                    data_column_tags.c.name == name, data_column_tags.c.column_name == column
                )
            )
            for tag in sorted(set(tags)):
                conn.execute(
                    insert(data_column_tags).values(
                        name=name, column_name=column, tag=tag, updated_ms=at, updated_by=actor.name
                    )
                )
            self.auth.audit.append(
                actor,
                "dataset.tag_column",
                "dataset",
                name,
                before={"column": column, "tags": before},
                after={"column": column, "tags": sorted(set(tags))},
                request_id=request_id,
                conn=conn,
            )
        return before

    def _require_column(self, conn: Connection, name: str, column: str) -> None:
        newest = conn.execute(
            select(data_versions.c.schema)
            .where(data_versions.c.name == name)
            .order_by(data_versions.c.version.desc())
            .limit(1)
        ).scalar()
        if newest is None:
            raise ResourceNotFound(f"no dataset named {name!r} (or it has no versions)")
        columns = [field["name"] for field in json.loads(newest)]
        if column not in columns:
            raise InvalidParameter(
                f"dataset {name!r} has no column {column!r} in its latest version; "
                f"its columns: {', '.join(columns)}"
            )

    def attach_suite(
        self, name: str, suite: dict[str, Any] | None, actor: Actor, request_id: str = ""
    ) -> None:
        """Attach ``suite`` (None: detach): every later version is validated against it."""
        with self.db.write() as conn:
            row = conn.execute(
                select(data_assets.c.suite).where(data_assets.c.name == name).with_for_update()
            ).first()
            if row is None:
                raise ResourceNotFound(f"no dataset named {name!r}")
            conn.execute(
                update(data_assets)
                .where(data_assets.c.name == name)
                .values(suite=None if suite is None else json.dumps(suite), updated_ms=now_ms())
            )
            self.auth.audit.append(
                actor,
                "dataset.attach_suite" if suite is not None else "dataset.detach_suite",
                "dataset",
                name,
                before={"suite": json.loads(row.suite)["name"] if row.suite else None},
                after={"suite": suite["name"] if suite else None},
                request_id=request_id,
                conn=conn,
            )

    def save_validation(
        self,
        version: DatasetVersion,
        validation: StoredValidation,
        actor: Actor,
        request_id: str = "",
        *,
        mark: bool,
    ) -> None:
        """Store a report; ``mark`` (the attached suite's verdict) sets the version's status."""
        at = now_ms()
        with self.db.write() as conn:
            self._insert_validation(conn, version, validation, actor, at)
            if mark:
                conn.execute(
                    update(data_versions)
                    .where(
                        data_versions.c.name == version.name,
                        data_versions.c.version == version.version,
                    )
                    .values(validation_status=validation.status)
                )
            self.auth.audit.append(
                actor,
                "dataset.validate",
                "dataset",
                version.name,
                after={
                    "version": version.version,
                    "suite": validation.suite_name,
                    "status": validation.status,
                    "marked": mark,
                },
                request_id=request_id,
                conn=conn,
            )

    def _insert_validation(
        self,
        conn: Connection,
        version: DatasetVersion,
        validation: StoredValidation,
        actor: Actor,
        at: int,
    ) -> None:
        conn.execute(
            insert(data_validations).values(
                validation_id=new_id(),
                name=version.name,
                version=version.version,
                suite_name=validation.suite_name,
                success=validation.success,
                report=json.dumps(validation.report),
                created_ms=at,
                created_by=actor.name,
            )
        )

    def validations(self, name: str, version: int) -> list[StoredValidation]:
        """Reports stored for a version, newest first."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(data_validations)
                .where(data_validations.c.name == name, data_validations.c.version == version)
                .order_by(data_validations.c.created_ms.desc(), data_validations.c.validation_id)
            ).all()
        return [
            StoredValidation(
                suite_name=r.suite_name,
                success=bool(r.success),
                report=json.loads(r.report),
                created_ms=int(r.created_ms),
                created_by=r.created_by,
            )
            for r in rows
        ]

    def record_read(
        self, version: DatasetVersion, actor: Actor, masked: list[str], request_id: str = ""
    ) -> None:
        """Audit that ``actor`` read a version's rows (and which columns it saw masked)."""
        self.auth.audit.append(
            actor,
            "dataset.read",
            "dataset",
            version.name,
            after={"version": version.version, "masked_columns": masked},
            request_id=request_id,
        )

    def has_explicit_grant(self, actor: Actor, name: str) -> bool:
        """Whether ``actor`` holds a grant on the dataset itself (not just the default)."""
        return self.auth.has_grant(actor, "dataset", name)


def _column_tags(conn: Connection, name: str) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for row in conn.execute(
        select(data_column_tags.c.column_name, data_column_tags.c.tag)
        .where(data_column_tags.c.name == name)
        .order_by(data_column_tags.c.column_name, data_column_tags.c.tag)
    ):
        tags.setdefault(row.column_name, []).append(row.tag)
    return tags


def _audited(version: DatasetVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "content_hash": version.content_hash,
        "row_count": version.row_count,
        "source_uri": version.source_uri,
        "parents": version.parents,
        "run_id": version.run_id,
        "validation_status": version.validation_status,
    }
