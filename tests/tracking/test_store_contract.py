"""The tracking store contract (``loopml.testing``) on SQLite and on PostgreSQL.

Every check is its own test; all checks of a backend share one database, as
each check works in experiments of its own. ``KNOWN_GAPS`` lists the checks a
backend fails today, with the reason; they run as strict xfails, so a fix
shows up as a failure until its entry is removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import loopml.testing
from loopml.artifacts import ArtifactStore
from loopml.store.database import Database
from loopml.testing import check_tracking_store, tracking_store_checks
from loopml.testing.tracking import Check
from loopml.tracking import Experiment, TrackingClient
from loopml.tracking._sql import SqlTrackingStore

# Checks a backend is known to fail, with the reason; they run as strict xfails.
KNOWN_GAPS: dict[str, dict[str, str]] = {"sqlite": {}, "postgresql": {}}


def _client(url: str, home: Path) -> tuple[TrackingClient, Database]:
    db = Database(url)
    db.initialize()
    return TrackingClient(SqlTrackingStore(db), ArtifactStore(str(home / "artifacts"))), db


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, TrackingClient]]:
    home = tmp_path_factory.mktemp(f"contract-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'loopml.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    tracking, db = _client(url, home)
    yield request.param, tracking
    db.dispose()


@pytest.mark.parametrize("check", tracking_store_checks(), ids=lambda check: check.__name__)
def test_tracking_store(
    check: Check, backend: tuple[str, TrackingClient], request: pytest.FixtureRequest
) -> None:
    name, client = backend
    gap = KNOWN_GAPS[name].get(check.__name__)
    if gap is not None:
        request.applymarker(pytest.mark.xfail(reason=gap, strict=True))
    check(client)


def test_checks_have_unique_descriptive_names() -> None:
    names = [check.__name__ for check in tracking_store_checks()]
    assert len(names) == len(set(names))
    assert all(name.startswith("check_") for name in names)
    assert loopml.testing.__all__ == sorted(loopml.testing.__all__)
    for gaps in KNOWN_GAPS.values():
        assert set(gaps) <= set(names)


class _ForgetfulClient(TrackingClient):
    """A backend with one more gap: it cannot find experiments by name."""

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        return None


def test_check_tracking_store_reports_failures_and_closed_gaps(tmp_path: Path) -> None:
    good, db = _client(f"sqlite:///{tmp_path / 'loopml.db'}", tmp_path)
    try:
        check_tracking_store(good, expected_failures=KNOWN_GAPS["sqlite"])
        broken = _ForgetfulClient(good.store, good.artifacts)
        closed = {**KNOWN_GAPS["sqlite"], "check_log_batch_is_atomic": "pretend it was broken"}
        with pytest.raises(AssertionError, match="check_create_and_get_experiment") as failed:
            check_tracking_store(broken, expected_failures=closed)
    finally:
        db.dispose()
    report = str(failed.value)
    assert "check_rename_experiment: AssertionError" in report
    assert "check_log_batch_is_atomic: passed, but was expected to fail" in report
    assert "check_update_run" not in report
    with pytest.raises(ValueError, match="check_nonexistent"):
        check_tracking_store(good, expected_failures={"check_nonexistent": "typo"})
