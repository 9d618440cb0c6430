"""Real ``loopml`` servers on 127.0.0.1, started the way users start them.

``ServerProcess`` runs :func:`loopml.server.run.serve` in a subprocess (its own
session, so worker processes are cleaned up with it) on a free port and waits
for ``/health``. ``tracking_server`` is one such server per backend for the
whole session: SQLite in a temp dir, and PostgreSQL in a fresh database (from
the shared ``postgres_databases`` fixture, which skips without a server and
fails under ``CI=true``).

``auth_server`` is a SQLite server with auth on (default permission ``none``)
and three accounts made before it starts: an admin and two editors, one using
a write token and one a password. ``mlflow_env`` points the official mlflow
client at each backend without credentials and at ``auth_server`` as each
editor, so the compatibility suite also proves that a non-admin works through
the owner grants and filtered searches, with a token and with basic auth.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from loopml.auth import AuthService, Permission, PrincipalKind, Role, Scope, local_actor
from loopml.store.database import Database

START_TIMEOUT_S = 90.0
PASSWORD = "e2e-password-not-secret"
# The mlflow client failing fast and quietly.
MLFLOW_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}
CREDENTIAL_VARIABLES = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Account:
    """An account on a test server: its name, password (users only) and one token."""

    name: str
    password: str | None
    token: str

    def token_env(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_TOKEN": self.token}

    def password_env(self) -> dict[str, str]:
        assert self.password is not None, f"{self.name} is a service account"
        return {"MLFLOW_TRACKING_USERNAME": self.name, "MLFLOW_TRACKING_PASSWORD": self.password}


class ServerProcess:
    """One ``serve()`` call in a subprocess; ``url`` is where it answers.

    ``auth=True`` starts it with ``LOOPML_AUTH=true``; it then refuses to start
    until :meth:`add_account` has made an admin.
    """

    def __init__(
        self,
        home: Path,
        *,
        workers: int = 1,
        database_url: str | None = None,
        auth: bool = False,
        default_permission: str = "read",
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{home / 'loopml.db'}"
        self.env = {
            **os.environ,
            "LOOPML_HOME": str(home),
            "LOOPML_ARTIFACT_ROOT": str(home / "artifacts"),
            "LOOPML_DATABASE_URL": self.database_url,
            "LOOPML_AUTH": "true" if auth else "false",
            "LOOPML_AUTH_DEFAULT_PERMISSION": default_permission,
            **(env or {}),
        }
        self.accounts: dict[str, Account] = {}
        self.workers = workers
        self.log = home / f"server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @contextmanager
    def auth_service(self) -> Iterator[AuthService]:
        """The server's accounts, tokens and grants, changed as the local (admin) user."""
        self.home.mkdir(parents=True, exist_ok=True)
        database = Database(self.database_url)
        try:
            database.initialize()
            yield AuthService(database)
        finally:
            database.dispose()

    def add_account(
        self, name: str, role: Role, *, scope: Scope = Scope.WRITE, password: bool = True
    ) -> Account:
        """A user (with a password) or a service account, with one ``scope`` token."""
        kind = PrincipalKind.USER if password else PrincipalKind.SERVICE
        with self.auth_service() as service:
            service.create_account(
                local_actor(), name, kind=kind, role=role, password=PASSWORD if password else None
            )
            token = service.create_token(local_actor(), "e2e", scope=scope, owner=name)
        account = Account(name, PASSWORD if password else None, token.secret)
        self.accounts[name] = account
        return account

    def grant(self, name: str, experiment_id: str, permission: Permission) -> None:
        with self.auth_service() as service:
            service.grant(local_actor(), name, "experiment", experiment_id, permission)

    # What runs, and the route and answer that say it is up.
    health = ("/health", b"OK")

    def command(self) -> list[str]:
        code = (
            "from loopml.server.run import serve; "
            f"serve('127.0.0.1', {self.port}, workers={self.workers})"
        )
        return [sys.executable, "-c", code]

    def start(self) -> ServerProcess:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
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
                path, expected = self.health
                with urllib.request.urlopen(f"{self.url}{path}", timeout=2) as response:
                    if response.read() == expected:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer {self.health[0]} in {START_TIMEOUT_S} s")

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


class InferenceServer(ServerProcess):
    """``loopml serve MODEL_URI`` over the registry in ``home``, as a user starts it."""

    health = ("/v2/health/ready", b'{"ready":true}')

    def __init__(self, home: Path, model_uri: str, *options: str, **settings: Any) -> None:
        super().__init__(home, **settings)
        self.model_uri = model_uri
        self.options = options

    def command(self) -> list[str]:
        loopml = str(Path(sys.executable).with_name("loopml"))
        return [loopml, "serve", self.model_uri, "--port", str(self.port), *self.options]


@pytest.fixture
def start_inference() -> Iterator[Callable[..., InferenceServer]]:
    """``start_inference(home, model_uri, *cli_options)``: a running ``loopml serve``."""
    started: list[InferenceServer] = []

    def start(home: Path, model_uri: str, *options: str, **settings: Any) -> InferenceServer:
        server = InferenceServer(home, model_uri, *options, **settings)
        started.append(server)
        return server.start()  # type: ignore[return-value]

    yield start
    for server in started:
        server.stop()


class BackendServers:
    """One server per backend, started on first use and shared by the whole session."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.started: dict[str, ServerProcess] = {}

    def get(self, backend: str, request: pytest.FixtureRequest) -> ServerProcess:
        if backend not in self.started:
            database_url = None
            if backend == "postgresql":
                database_url = request.getfixturevalue("postgres_databases").create()
            home = self.tmp_path_factory.mktemp(f"server-{backend}")
            self.started[backend] = ServerProcess(home, database_url=database_url).start()
        return self.started[backend]

    def stop(self) -> None:
        for server in self.started.values():
            server.stop()


@pytest.fixture(scope="session")
def backend_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServers]:
    servers = BackendServers(tmp_path_factory)
    yield servers
    servers.stop()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session", params=BACKENDS)
def tracking_server(
    request: pytest.FixtureRequest, backend_servers: BackendServers
) -> ServerProcess:
    """One server per backend for the whole session."""
    return backend_servers.get(request.param, request)


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """SQLite with auth on and default permission none: an admin and two editors.

    ``compat-token`` signs in with a write token, ``compat-basic`` with a
    password; neither may touch what it did not create or was not granted.
    """
    server = ServerProcess(
        tmp_path_factory.mktemp("server-auth"), auth=True, default_permission="none"
    )
    server.add_account("admin", Role.ADMIN, scope=Scope.ADMIN)
    server.add_account("compat-token", Role.EDITOR, password=False)
    server.add_account("compat-basic", Role.EDITOR)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def data_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """SQLite with auth on and default permission read: an admin, and two editors.

    ``reader`` may read what ``owner`` makes (the default) but holds no grant on it.
    """
    server = ServerProcess(tmp_path_factory.mktemp("server-data"), auth=True)
    server.add_account("admin", Role.ADMIN, scope=Scope.ADMIN)
    server.add_account("owner", Role.EDITOR)
    server.add_account("reader", Role.EDITOR)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client_as(
    data_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], Any]]:
    """``client_as(name)``: a ``loopml.Client`` on ``data_server`` with that account's token."""
    from loopml.client import Client

    opened: list[Client] = []

    def make(name: str) -> Client:
        use_credentials(monkeypatch, {})
        monkeypatch.setenv("LOOPML_TRACKING_TOKEN", data_server.accounts[name].token)
        client = Client(data_server.url)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@dataclass(frozen=True)
class MlflowTarget:
    """A server for the mlflow client, and the ``MLFLOW_TRACKING_*`` credentials to use."""

    server: ServerProcess
    credentials: dict[str, str]


@pytest.fixture(
    scope="session",
    params=[*BACKENDS, "auth-token", "auth-basic"],
)
def mlflow_target(request: pytest.FixtureRequest, backend_servers: BackendServers) -> MlflowTarget:
    """Each backend without auth, and the auth server as an editor with a token or a password."""
    if request.param == "auth-token":
        server = request.getfixturevalue("auth_server")
        return MlflowTarget(server, server.accounts["compat-token"].token_env())
    if request.param == "auth-basic":
        server = request.getfixturevalue("auth_server")
        return MlflowTarget(server, server.accounts["compat-basic"].password_env())
    return MlflowTarget(backend_servers.get(request.param, request), {})


def use_credentials(monkeypatch: pytest.MonkeyPatch, credentials: dict[str, str]) -> None:
    """Exactly these ``MLFLOW_TRACKING_*`` credentials (none: unset them all)."""
    for name in CREDENTIAL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)


@contextmanager
def mlflow_at(
    monkeypatch: pytest.MonkeyPatch, url: str, credentials: dict[str, str]
) -> Iterator[Any]:
    """The mlflow module pointed at ``url`` with ``credentials``, failing fast."""
    use_credentials(monkeypatch, credentials)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    for name, value in MLFLOW_SETTINGS.items():
        monkeypatch.setenv(name, value)
    import mlflow

    mlflow.set_tracking_uri(url)
    yield mlflow
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture
def mlflow_env(monkeypatch: pytest.MonkeyPatch, mlflow_target: MlflowTarget) -> Iterator[Any]:
    """The official mlflow client pointed at ``mlflow_target``, failing fast."""
    with mlflow_at(monkeypatch, mlflow_target.server.url, mlflow_target.credentials) as mlflow:
        yield mlflow


@pytest.fixture
def mlflow_as(
    monkeypatch: pytest.MonkeyPatch, auth_server: ServerProcess
) -> Iterator[Callable[[dict[str, str]], Any]]:
    """``mlflow_as(credentials)``: mlflow for ``auth_server``, now sending exactly ``credentials``.

    The client reads ``MLFLOW_TRACKING_*`` on every request, so a test can
    switch identities between calls.
    """
    with mlflow_at(monkeypatch, auth_server.url, {}) as mlflow:

        def use(credentials: dict[str, str]) -> Any:
            use_credentials(monkeypatch, credentials)
            return mlflow

        yield use


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
