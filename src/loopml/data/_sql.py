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

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from loopml.core.clock import now_ms
from loopml.core.errors import Conflict, ResourceNotFound
from loopml.data.entities import LATEST, DataRef, Dataset, DatasetVersion
from loopml.store.database import Database
from loopml.store.tables import data_assets, data_tags, data_versions


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
    )


class SqlDataStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add_version(self, values: dict[str, Any], actor: str) -> tuple[DatasetVersion, bool]:
        """Record a snapshot; ``(existing version, False)`` when the content is already there."""
        name = values["name"]
        at = now_ms()
        try:
            with self.db.write() as conn:
                self._lock_asset(conn, name, actor, at)
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
                    "created_by": actor,
                }
                conn.execute(insert(data_versions).values(**row))
                conn.execute(
                    update(data_assets).where(data_assets.c.name == name).values(updated_ms=at)
                )
                return version_from_row(row), True
        except IntegrityError:  # a concurrent add of the same content won
            return self.find_by_hash(name, values["content_hash"]), False

    def _lock_asset(self, conn: Connection, name: str, actor: str, at: int) -> None:
        locked = conn.execute(
            select(data_assets.c.name).where(data_assets.c.name == name).with_for_update()
        ).first()
        if locked is None:
            conn.execute(
                insert(data_assets).values(
                    name=name, description="", created_ms=at, created_by=actor, updated_ms=at
                )
            )

    def find_by_hash(self, name: str, content_hash: str) -> DatasetVersion:
        with self.db.read() as conn:
            row = conn.execute(
                select(data_versions).where(
                    data_versions.c.name == name, data_versions.c.content_hash == content_hash
                )
            ).one()
        return version_from_row(row._mapping)

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

    def list_datasets(self) -> list[Dataset]:
        with self.db.read() as conn:
            assets = conn.execute(select(data_assets).order_by(data_assets.c.name)).all()
            newest = dict(
                conn.execute(
                    select(data_versions.c.name, func.max(data_versions.c.version)).group_by(
                        data_versions.c.name
                    )
                ).all()
            )
            tags: dict[str, dict[str, int]] = {}
            for tag in conn.execute(select(data_tags)).all():
                tags.setdefault(tag.name, {})[tag.tag] = int(tag.version)
        return [
            Dataset(
                name=a.name,
                description=a.description,
                created_ms=int(a.created_ms),
                created_by=a.created_by,
                updated_ms=int(a.updated_ms),
                latest_version=newest.get(a.name),
                tags=tags.get(a.name, {}),
            )
            for a in assets
        ]

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
        self, name: str, tag: str, version: int, expected: int | None, actor: str
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
                            updated_by=actor,
                        )
                    )
                except IntegrityError:
                    raise Conflict(
                        f"tag {tag!r} of {name!r} was just created by someone else"
                    ) from None
                return None, 1
            moved = conn.execute(
                update(data_tags)
                .where(
                    data_tags.c.name == name,
                    data_tags.c.tag == tag,
                    data_tags.c.revision == current.revision,
                )
                .values(
                    version=version, revision=current.revision + 1, updated_ms=at, updated_by=actor
                )
            )
            if moved.rowcount != 1:
                raise Conflict(f"tag {tag!r} of {name!r} moved while this change was made; retry")
            return now_at, int(current.revision) + 1

    def resolve_in(self, conn: Connection, name: str, version: int) -> None:
        found = conn.execute(
            select(data_versions.c.version).where(
                data_versions.c.name == name, data_versions.c.version == version
            )
        ).first()
        if found is None:
            raise ResourceNotFound(f"dataset {name!r} has no version {version}")
