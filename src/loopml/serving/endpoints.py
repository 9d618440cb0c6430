"""``EndpointsClient``: create, change, show and roll back endpoint configurations.

Each change is a new version of the endpoint's configuration, written with
its audit event in one transaction; ``rollback`` makes the version before the
current one current again (as a new version, so the history reads in order).
The models a configuration names must exist in the registry when it is saved
(a typo fails here, not in a running server). Running servers poll the
current version and pick changes up without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select, update

from loopml.auth import Actor, AuthService
from loopml.core.clock import now_ms
from loopml.core.errors import (
    InvalidParameter,
    InvalidState,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from loopml.serving.entities import EndpointConfig, EndpointVersion, check_endpoint
from loopml.store.database import Database
from loopml.store.tables import endpoint_versions, endpoints

KIND = "endpoint"


def _version(row: Mapping[Any, Any]) -> EndpointVersion:
    return EndpointVersion(
        name=row["name"],
        version=int(row["version"]),
        config=EndpointConfig.from_dict(json.loads(row["config"])),
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
        comment=row["comment"],
    )


class EndpointsClient:
    """Endpoint configurations over one metadata store, acting as ``actor``."""

    def __init__(
        self, db: Database, actor: Actor, *, registry: Any = None, request_id: str = ""
    ) -> None:
        self.db = db
        self.actor = actor
        self.registry = registry
        self.request_id = request_id
        self.auth = AuthService(db)

    def create(self, name: str, config: EndpointConfig, *, comment: str = "") -> EndpointVersion:
        check_endpoint(name)
        self._check_models(config)
        at = now_ms()
        with self.db.write() as conn:
            if conn.execute(select(endpoints.c.name).where(endpoints.c.name == name)).first():
                raise ResourceAlreadyExists(f"endpoint {name!r} already exists")
            conn.execute(
                insert(endpoints).values(
                    name=name, version=1, created_ms=at, created_by=self.actor.name, updated_ms=at
                )
            )
            made = self._add_version(conn, name, 1, config, comment, at)
            self.auth.grant_owner(self.actor, KIND, name, conn=conn)
            self._audit(conn, "endpoint.create", name, after=made.to_dict())
        return made

    def update(self, name: str, config: EndpointConfig, *, comment: str = "") -> EndpointVersion:
        self._check_models(config)
        return self._change(name, config, comment, "endpoint.update")

    def rollback(self, name: str) -> EndpointVersion:
        """Make the configuration before the current one current again."""
        history = self.history(name)
        current = self.get(name)
        earlier = [v for v in history if v.version < current.version]
        if not earlier:
            raise InvalidState(f"endpoint {name!r} has no earlier configuration to roll back to")
        target = earlier[-1]
        return self._change(
            name, target.config, f"rollback to version {target.version}", "endpoint.rollback"
        )

    def get(self, name: str) -> EndpointVersion:
        check_endpoint(name)
        with self.db.read() as conn:
            row = (
                conn.execute(
                    select(endpoint_versions)
                    .join(endpoints, endpoints.c.name == endpoint_versions.c.name)
                    .where(
                        endpoints.c.name == name,
                        endpoint_versions.c.version == endpoints.c.version,
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise ResourceNotFound(f"no endpoint named {name!r}")
        return _version(row)

    def current_version(self, name: str) -> int:
        """The version in force (one indexed read: what servers poll)."""
        with self.db.read() as conn:
            found = conn.execute(
                select(endpoints.c.version).where(endpoints.c.name == name)
            ).scalar_one_or_none()
        if found is None:
            raise ResourceNotFound(f"no endpoint named {name!r}")
        return int(found)

    def history(self, name: str) -> list[EndpointVersion]:
        check_endpoint(name)
        with self.db.read() as conn:
            rows = list(
                conn.execute(
                    select(endpoint_versions)
                    .where(endpoint_versions.c.name == name)
                    .order_by(endpoint_versions.c.version)
                ).mappings()
            )
        if not rows:
            raise ResourceNotFound(f"no endpoint named {name!r}")
        return [_version(r) for r in rows]

    def list(self) -> list[EndpointVersion]:
        with self.db.read() as conn:
            names = list(
                conn.execute(select(endpoints.c.name).order_by(endpoints.c.name)).scalars()
            )
        return [self.get(n) for n in names]

    def _change(
        self, name: str, config: EndpointConfig, comment: str, action: str
    ) -> EndpointVersion:
        check_endpoint(name)
        at = now_ms()
        with self.db.write() as conn:
            locked = conn.execute(
                select(endpoints.c.version).where(endpoints.c.name == name).with_for_update()
            ).scalar_one_or_none()
            if locked is None:
                raise ResourceNotFound(f"no endpoint named {name!r}")
            newest = conn.execute(
                select(func.max(endpoint_versions.c.version)).where(
                    endpoint_versions.c.name == name
                )
            ).scalar_one()
            made = self._add_version(conn, name, int(newest) + 1, config, comment, at)
            conn.execute(
                update(endpoints)
                .where(endpoints.c.name == name)
                .values(version=made.version, updated_ms=at)
            )
            self._audit(conn, action, name, before={"version": int(locked)}, after=made.to_dict())
        return made

    def _add_version(
        self, conn: Any, name: str, version: int, config: EndpointConfig, comment: str, at: int
    ) -> EndpointVersion:
        made = EndpointVersion(name, version, config, at, self.actor.name, comment)
        conn.execute(
            insert(endpoint_versions).values(
                name=name,
                version=version,
                config=json.dumps(config.to_dict(), sort_keys=True),
                comment=comment,
                created_ms=at,
                created_by=self.actor.name,
            )
        )
        return made

    def _check_models(self, config: EndpointConfig) -> None:
        """Every model must be in the registry: a typo fails here, naming its route."""
        if self.registry is None:
            return
        for route in [*config.routes, *config.shadows]:
            try:
                self.registry.resolve(route.model)
            except ResourceNotFound as error:
                raise InvalidParameter(f"route {route.name!r}: {error.message}") from None

    def _audit(self, conn: Any, action: str, name: str, **change: Any) -> None:
        self.auth.audit.append(
            self.actor, action, KIND, name, request_id=self.request_id, conn=conn, **change
        )
