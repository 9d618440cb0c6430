"""Alert state in the metadata database, so alerts survive restarts and CLI runs.

The same primitives as ``MemoryAlertStore`` (``alerts.AlertStore``): a track
per (rule, monitor, subject) and every alert by id, each kept as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from sqlalchemy import delete, insert, select

from loopml.core.clock import now_ms
from loopml.monitoring.alerts import Alert, AlertKey, AlertState, AlertTrack
from loopml.store.database import Database
from loopml.store.tables import alert_tracks, alerts


class SqlAlertStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_track(self, key: AlertKey) -> AlertTrack | None:
        with self.db.read() as conn:
            found = conn.execute(
                select(alert_tracks.c.track).where(
                    alert_tracks.c.rule == key.rule,
                    alert_tracks.c.monitor == key.monitor,
                    alert_tracks.c.subject == key.subject,
                )
            ).scalar_one_or_none()
        if found is None:
            return None
        data = json.loads(found)
        return AlertTrack(**{**data, "key": AlertKey(*data["key"])})

    def put_track(self, track: AlertTrack) -> None:
        key = track.key
        where = (
            (alert_tracks.c.rule == key.rule)
            & (alert_tracks.c.monitor == key.monitor)
            & (alert_tracks.c.subject == key.subject)
        )
        with self.db.write() as conn:
            conn.execute(delete(alert_tracks).where(where))
            conn.execute(
                insert(alert_tracks).values(
                    rule=key.rule,
                    monitor=key.monitor,
                    subject=key.subject,
                    track=json.dumps({**asdict(track), "key": list(key)}),
                )
            )

    def get_alert(self, alert_id: str) -> Alert | None:
        with self.db.read() as conn:
            found = conn.execute(
                select(alerts.c.alert).where(alerts.c.alert_id == alert_id)
            ).scalar_one_or_none()
        return Alert(**json.loads(found)) if found is not None else None

    def put_alert(self, alert: Alert) -> None:
        with self.db.write() as conn:
            conn.execute(delete(alerts).where(alerts.c.alert_id == alert.alert_id))
            conn.execute(
                insert(alerts).values(
                    alert_id=alert.alert_id,
                    monitor=alert.monitor,
                    state=alert.state,
                    alert=json.dumps(alert.to_dict()),
                    updated_ms=now_ms(),
                )
            )

    def search_alerts(
        self, *, monitor: str | None = None, state: AlertState | None = None
    ) -> list[Alert]:
        query = select(alerts.c.alert).order_by(alerts.c.updated_ms, alerts.c.alert_id)
        if monitor is not None:
            query = query.where(alerts.c.monitor == monitor)
        if state is not None:
            query = query.where(alerts.c.state == state)
        with self.db.read() as conn:
            return [Alert(**json.loads(text)) for text in conn.execute(query).scalars()]
