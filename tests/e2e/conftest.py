"""Real ``loopml`` servers on 127.0.0.1, started the way users start them.

``ServerProcess`` runs :func:`loopml.server.run.serve` in a subprocess (its own
session, so worker processes are cleaned up with it) on a free port and waits
for ``/health``. ``tracking_server`` is one such server per backend for the
whole session: SQLite in a temp dir, and PostgreSQL in a fresh database (from
the shared ``postgres_databases`` fixture, which skips without a server and
fails under ``CI=true``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One ``serve()`` call in a subprocess; ``url`` is where it answers."""

    def __init__(self, home: Path, *, workers: int = 1, database_url: str | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "LOOPML_HOME": str(home),
            "LOOPML_ARTIFACT_ROOT": str(home / "artifacts"),
            "LOOPML_DATABASE_URL": database_url or f"sqlite:///{home / 'loopml.db'}",
        }
        self.workers = workers
        self.log = home / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        code = (
            "from loopml.server.run import serve; "
            f"serve('127.0.0.1', {self.port}, workers={self.workers})"
        )
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.read() == b"OK":
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer /health in {START_TIMEOUT_S} s")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown handlers, no cleanup."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def tracking_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the whole session."""
    home = tmp_path_factory.mktemp(f"server-{request.param}")
    database_url = None
    if request.param == "postgresql":
        database_url = request.getfixturevalue("postgres_databases").create()
    server = ServerProcess(home, database_url=database_url).start()
    yield server
    server.stop()


@pytest.fixture
def mlflow_env(monkeypatch: pytest.MonkeyPatch, tracking_server: ServerProcess) -> Iterator[Any]:
    """The official mlflow client pointed at ``tracking_server``, failing fast."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    import mlflow

    mlflow.set_tracking_uri(tracking_server.url)
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers of a test's own (stopped at the end): ``start_server(workers=2)``."""
    started: list[ServerProcess] = []

    def start(home: Path | None = None, **options: Any) -> ServerProcess:
        server = ServerProcess(home or tmp_path / f"home-{len(started)}", **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
