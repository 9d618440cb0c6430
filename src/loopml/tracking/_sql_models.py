"""MLflow 3 logged models on SQL: the model half of :class:`SqlTrackingStore`."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, select, update

from loopml.core.clock import now_ms
from loopml.core.errors import ResourceNotFound
from loopml.core.ids import new_id
from loopml.store import tables as t
from loopml.store.database import Database
from loopml.store.upsert import insert_on_conflict
from loopml.tracking._sql_rows import metric_value, stored_value
from loopml.tracking._sql_search import logged_model_filter_clause, logged_model_order_clauses
from loopml.tracking.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelStatus,
    Page,
)
from loopml.tracking.search import (
    decode_page_token,
    encode_page_token,
    parse_logged_model_filter,
    parse_logged_model_order_by,
)


class SqlLoggedModels:
    db: Database

    def create_logged_model(
        self,
        experiment_id: str,
        name: str,
        source_run_id: str | None,
        model_type: str | None,
        tags: dict[str, str],
        params: dict[str, str],
    ) -> LoggedModel:
        model_id = f"m-{new_id()}"
        now = now_ms()
        with self.db.write() as conn:
            location = conn.execute(
                select(t.experiments.c.artifact_location).where(
                    t.experiments.c.experiment_id == int(experiment_id)
                )
            ).scalar_one()
            conn.execute(
                t.logged_models.insert().values(
                    model_id=model_id,
                    experiment_id=int(experiment_id),
                    name=name,
                    artifact_location=f"{location.rstrip('/')}/models/{model_id}/artifacts",
                    creation_timestamp_ms=now,
                    last_updated_timestamp_ms=now,
                    status=LoggedModelStatus.PENDING,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    model_type=model_type,
                    source_run_id=source_run_id,
                )
            )
            _put_key_values(conn, t.logged_model_tags, model_id, tags)
            _put_key_values(conn, t.logged_model_params, model_id, params)
            return _load_models(conn, [model_id])[0]

    def get_logged_model(self, model_id: str) -> LoggedModel:
        with self.db.read() as conn:
            found = _load_models(conn, [model_id])
        if not found or found[0].lifecycle_stage != LifecycleStage.ACTIVE:
            raise ResourceNotFound(f"logged model {model_id!r} does not exist")
        return found[0]

    def update_logged_model_status(self, model_id: str, status: str) -> LoggedModel:
        with self.db.write() as conn:
            _touch(conn, model_id, status=status)
            return _load_models(conn, [model_id])[0]

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        with self.db.write() as conn:
            _touch(conn, model_id)
            _put_key_values(conn, t.logged_model_tags, model_id, tags)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        lmt = t.logged_model_tags
        with self.db.write() as conn:
            _touch(conn, model_id)
            result = conn.execute(delete(lmt).where(lmt.c.model_id == model_id, lmt.c.key == key))
        if result.rowcount == 0:
            raise ResourceNotFound(f"logged model {model_id!r} has no tag {key!r}")

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        with self.db.write() as conn:
            _touch(conn, model_id)
            _put_key_values(conn, t.logged_model_params, model_id, params)

    def log_logged_model_metrics(self, model_id: str, metrics: Sequence[LoggedModelMetric]) -> None:
        if not metrics:
            return
        with self.db.write() as conn:
            _touch(conn, model_id)
            conn.execute(
                t.logged_model_metrics.insert(),
                [
                    {
                        "model_id": model_id,
                        "key": m.key,
                        "value": stored_value(m.value)[0],
                        "is_nan": stored_value(m.value)[1],
                        "timestamp": m.timestamp,
                        "step": m.step,
                        "run_id": m.run_id,
                        "dataset_name": m.dataset_name,
                        "dataset_digest": m.dataset_digest,
                    }
                    for m in metrics
                ],
            )

    def delete_logged_model(self, model_id: str) -> None:
        with self.db.write() as conn:
            _touch(conn, model_id, lifecycle_stage=LifecycleStage.DELETED)

    def search_logged_models(
        self,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[Mapping[str, object]],
        page_token: str | None,
        datasets: Sequence[Mapping[str, str | None]] = (),
    ) -> Page[LoggedModel]:
        offset = decode_page_token(page_token)
        lm = t.logged_models
        query = (
            select(lm.c.model_id)
            .where(lm.c.experiment_id.in_([int(e) for e in experiment_ids]))
            .where(lm.c.lifecycle_stage == LifecycleStage.ACTIVE)
            .where(logged_model_filter_clause(parse_logged_model_filter(filter_string), datasets))
            .order_by(*logged_model_order_clauses(parse_logged_model_order_by(order_by)))
            .offset(offset)
            .limit(max_results + 1)
        )
        with self.db.read() as conn:
            ids = list(conn.execute(query).scalars())
            models = _load_models(conn, ids[:max_results])
        more = len(ids) > max_results
        return Page(models, encode_page_token(offset + max_results) if more else None)


def _touch(conn: Connection, model_id: str, **values: Any) -> None:
    lm = t.logged_models
    result = conn.execute(
        update(lm)
        .where(lm.c.model_id == model_id, lm.c.lifecycle_stage == LifecycleStage.ACTIVE)
        .values(last_updated_timestamp_ms=now_ms(), **values)
    )
    if result.rowcount == 0:
        raise ResourceNotFound(f"logged model {model_id!r} does not exist")


def _put_key_values(conn: Connection, table: Any, model_id: str, values: dict[str, str]) -> None:
    if not values:
        return
    stmt = insert_on_conflict(conn, table)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["model_id", "key"], set_={"value": stmt.excluded.value}
        ),
        [{"model_id": model_id, "key": k, "value": v} for k, v in values.items()],
    )


def _key_values(conn: Connection, table: Any, ids: Sequence[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    query = select(table.c.model_id, table.c.key, table.c.value).where(table.c.model_id.in_(ids))
    for model_id, key, value in conn.execute(query):
        out[model_id][key] = value
    return out


def _load_models(conn: Connection, ids: Sequence[str]) -> list[LoggedModel]:
    """Models in the order of ``ids``, with their tags, params and metrics."""
    if not ids:
        return []
    lm, lmm = t.logged_models, t.logged_model_metrics
    found = {r.model_id: r for r in conn.execute(select(lm).where(lm.c.model_id.in_(ids)))}
    tags = _key_values(conn, t.logged_model_tags, ids)
    params = _key_values(conn, t.logged_model_params, ids)
    metrics: dict[str, list[LoggedModelMetric]] = defaultdict(list)
    for r in conn.execute(select(lmm).where(lmm.c.model_id.in_(ids)).order_by(lmm.c.id)):
        metrics[r.model_id].append(
            LoggedModelMetric(
                r.key,
                metric_value(r.value, r.is_nan),
                r.timestamp,
                r.step,
                r.run_id,
                r.dataset_name,
                r.dataset_digest,
            )
        )
    return [
        LoggedModel(
            model_id=r.model_id,
            experiment_id=str(r.experiment_id),
            name=r.name,
            artifact_location=r.artifact_location,
            creation_timestamp_ms=r.creation_timestamp_ms,
            last_updated_timestamp_ms=r.last_updated_timestamp_ms,
            status=r.status,
            lifecycle_stage=r.lifecycle_stage,
            model_type=r.model_type,
            source_run_id=r.source_run_id,
            status_message=r.status_message,
            tags=tags.get(r.model_id, {}),
            params=params.get(r.model_id, {}),
            metrics=metrics.get(r.model_id, []),
        )
        for r in (found[i] for i in ids if i in found)
    ]
