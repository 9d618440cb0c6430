"""Cron strings, as users know them, for every scheduler (monitors, pipelines, policies).

Five fields (minute hour day month weekday), or six with seconds last
(croniter's form, handy for tests and short demos). A scheduler asks for the
latest tick in ``(since, now]``: missed ticks are not replayed one by one, the
newest one runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

from loopml.core.errors import InvalidParameter


def check_cron(expression: str | None, field: str = "schedule") -> str | None:
    """``expression`` if it is a cron string (None passes); else an error naming ``field``."""
    if expression is None:
        return None
    from croniter import croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise InvalidParameter(f"{field} {expression!r} is not a cron expression like '0 * * * *'")
    return expression


def latest_tick(expression: str, since_ms: int, now_ms: int) -> int | None:
    """The latest time the cron fires in ``(since_ms, now_ms]`` (epoch ms), or None."""
    from croniter import croniter

    ticks = croniter(expression, datetime.fromtimestamp(since_ms / 1000, UTC))
    latest = None
    while True:
        tick = int(ticks.get_next(float) * 1000)
        if tick > now_ms:
            return latest
        latest = tick
