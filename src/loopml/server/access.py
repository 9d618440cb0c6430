"""The app's :class:`~loopml.server.guard.AccessControl`: the auth service and resolvers.

Grants live on experiments, datasets and registered models; a run, a logged
model or an artifact is checked through the experiment it belongs to, found
with one indexed query. An artifact path's first segment is its experiment
(``mlflow-artifacts:/<id>/...`` is the only location this server proxies);
anything else is admins' only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select

from loopml.auth import AuthService, Permission
from loopml.core.config import Settings
from loopml.core.errors import PermissionDenied
from loopml.server.guard import AccessControl, Resolver
from loopml.store.database import Database
from loopml.store.tables import (
    data_assets,
    logged_models,
    monitors,
    pipeline_schedules,
    policies,
    registered_models,
    runs,
)


def build_access(settings: Settings, db: Database) -> AccessControl:
    service = AuthService(db, Permission(settings.auth_default_permission))
    resolvers = {
        **tracking_resolvers(db),
        **data_resolvers(db),
        **registry_resolvers(db),
        **named_resolver(db, "monitor", monitors.c.name),
        **named_resolver(db, "pipeline", pipeline_schedules.c.name),
        **named_resolver(db, "policy", policies.c.name),
    }
    return AccessControl(service, settings.auth, resolvers=resolvers)


# Built once: one of these runs on nearly every authorized request.
_RUN_EXPERIMENT = select(runs.c.experiment_id).where(runs.c.run_uuid == bindparam("id"))
_MODEL_EXPERIMENT = select(logged_models.c.experiment_id).where(
    logged_models.c.model_id == bindparam("id")
)


_DATASET = select(data_assets.c.name).where(data_assets.c.name == bindparam("id"))


def data_resolvers(db: Database) -> dict[str, Resolver]:
    """Grants live on the dataset itself; one that does not exist yet may be created."""

    def dataset(name: str) -> tuple[str, str] | None:
        with db.read() as conn:
            found = conn.execute(_DATASET, {"id": name}).scalar_one_or_none()
        return ("dataset", name) if found is not None else None

    return {"dataset": dataset}


_REGISTERED_MODEL = select(registered_models.c.name).where(
    registered_models.c.name == bindparam("id")
)


def registry_resolvers(db: Database) -> dict[str, Resolver]:
    """Grants live on the registered model; one that does not exist yet may be created."""

    def registered_model(name: str) -> tuple[str, str] | None:
        with db.read() as conn:
            found = conn.execute(_REGISTERED_MODEL, {"id": name}).scalar_one_or_none()
        return ("registered_model", name) if found is not None else None

    return {"registered_model": registered_model}


def named_resolver(db: Database, kind: str, name_column: Any) -> dict[str, Resolver]:
    """Grants live on the object itself (a monitor, a pipeline schedule), found by name;
    one that does not exist yet may be created."""
    query = select(name_column).where(name_column == bindparam("id"))

    def resolve(name: str) -> tuple[str, str] | None:
        with db.read() as conn:
            found = conn.execute(query, {"id": name}).scalar_one_or_none()
        return (kind, name) if found is not None else None

    return {kind: resolve}


def tracking_resolvers(db: Database) -> dict[str, Resolver]:
    def experiment_of(query: Select[Any], object_id: str) -> tuple[str, str] | None:
        with db.read() as conn:
            found = conn.execute(query, {"id": object_id}).scalar_one_or_none()
        return ("experiment", str(found)) if found is not None else None

    def experiment(experiment_id: str) -> tuple[str, str] | None:
        return ("experiment", experiment_id)

    def run(run_id: str) -> tuple[str, str] | None:
        return experiment_of(_RUN_EXPERIMENT, run_id)

    def logged_model(model_id: str) -> tuple[str, str] | None:
        return experiment_of(_MODEL_EXPERIMENT, model_id)

    def artifact(path: str) -> tuple[str, str] | None:
        first = path.split("/", 1)[0]
        if not first.isdigit():
            raise PermissionDenied(
                f"artifact path {path!r} is not inside an experiment; only admins may use it"
            )
        return ("experiment", first)

    return {
        "experiment": experiment,
        "run": run,
        "logged_model": logged_model,
        "artifact": artifact,
    }
