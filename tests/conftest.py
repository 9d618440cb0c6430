"""Fixtures shared by every test package: a throwaway PostgreSQL database per session.

PostgreSQL tests run against ``LOOPML_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each session creates its
own databases there and drops them at the end, so runs never see each other's
rows. Without a reachable server the tests are skipped with a note on how to
enable them; in CI (``CI=true``) they fail instead, so a broken service is not
mistaken for a green build.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

# pytest-xdist workers inherit COLUMNS=80, which Rich would freeze into the CLI's
# console at import; without it Rich reads COLUMNS live, as CLI tests set it.
os.environ.pop("COLUMNS", None)

POSTGRES_URL = os.environ.get(
    "LOOPML_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class PostgresDatabases:
    """Creates fresh databases on one PostgreSQL server and drops them all on ``close``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.created: list[str] = []

    def create(self) -> str:
        """A URL for a new, empty database (``loopml_contract_<hex>``)."""
        name = f"loopml_contract_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        while self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{self.created.pop()}" WITH (FORCE)')

    def _admin(self, statement: str) -> None:
        engine = create_engine(self.base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text(statement))
        finally:
            engine.dispose()


@functools.cache
def _postgres_problem(url: str) -> str | None:
    """Why PostgreSQL at ``url`` cannot be used, asked once (an absent server costs one timeout)."""
    probe = create_engine(url, connect_args={"connect_timeout": 3}, poolclass=NullPool)
    try:
        with probe.connect():
            return None
    except OperationalError as error:
        return str(error.orig).strip()
    finally:
        probe.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """A factory of throwaway PostgreSQL databases; skips (fails in CI) without a server."""
    problem = _postgres_problem(POSTGRES_URL)
    if problem is not None:
        shown = make_url(POSTGRES_URL).render_as_string(hide_password=True)
        reason = f"PostgreSQL is not reachable at {shown} ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires PostgreSQL")
        pytest.skip(
            f"{reason}; start PostgreSQL or set LOOPML_TEST_POSTGRES_URL to run the postgres tests"
        )
    databases = PostgresDatabases(POSTGRES_URL)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """The URL of one fresh PostgreSQL database shared by the whole session."""
    return postgres_databases.create()


IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture
def iris_home(tmp_path: Path) -> Path:
    """A home where ``iris`` v1 was trained in a run that read ``data:iris-train@1``; @champion."""
    import numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from loopml.client import Client
    from loopml.models import infer_signature, save_model

    frame = load_iris(as_frame=True).frame
    frame.columns = [*IRIS_FEATURES, "target"]
    rng = np.random.default_rng(0)
    big = frame.sample(3000, replace=True, random_state=0).reset_index(drop=True)
    big[IRIS_FEATURES] += rng.normal(0, 0.05, size=(len(big), 4))
    with Client(tmp_path / "home") as client:
        ref = client.data.add("iris-train", big).version.ref
        experiment_id = client.create_experiment("train")
        run_id = client.create_run(experiment_id).info.run_id
        train = client.read_dataset(ref, run_id=run_id)
        model = LogisticRegression(max_iter=500).fit(train[IRIS_FEATURES], train["target"])
        save_model(model, tmp_path / "m", signature=infer_signature(train[IRIS_FEATURES]))
        client.log_artifact(run_id, tmp_path / "m", "model")
        client.registry.create_registered_model("iris")
        client.registry.create_model_version("iris", f"runs:/{run_id}/model", run_id=run_id)
        client.registry.set_alias("iris", "champion", 1)
    return tmp_path / "home"
