"""Install, start, observe and stop the tracking servers that bench/tracking.py compares.

Every server runs as its own process tree in a new session, in a fresh temporary
directory, bound to 127.0.0.1 on a free port. The bench reads the tree's memory and
CPU time straight from /proc (no psutil needed), so the figures count every worker
and helper process a server spawns, not just the one we started.

Only the standard library is used here: this module runs before we know whether
the interpreter has `mlflow` installed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / ".bench"
LOGS_DIR = BENCH_DIR / "logs"
MLFLOW_VENV = BENCH_DIR / "mlflow-venv"
FASTTRACKML_VENV = BENCH_DIR / "fasttrackml-venv"
PROJECT_VENV = REPO_ROOT / ".venv"

MLFLOW_REQUIREMENT = "mlflow==3.17.2"
# The wheel ships the Go binary `fml`; its Python dependencies (the mlflow<3
# client) are not needed to run the server, so they are skipped (--no-deps).
FASTTRACKML_REQUIREMENT = "fasttrackml==0.6.0"

HEALTH_POLL_S = 0.02
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Telemetry off everywhere: there is no network here, and a background sender
# would only add noise to the CPU figures.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}


class ServerUnavailable(Exception):
    """The server cannot be installed or found, so the bench skips it."""


class ServerStartError(Exception):
    """The server process exited or never answered /health."""


@dataclass(frozen=True)
class ServerSpec:
    """How to launch one tracking server; `argv` and `env` take (port, workdir)."""

    name: str
    executable: Path
    argv: Callable[[Path, int, Path], list[str]]
    env: Callable[[Path], dict[str, str]] = field(default=lambda _workdir: {})
    install: Callable[[], None] | None = None
    version: Callable[[], str] = field(default=lambda: "unknown")


# --- installing ---------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[setup] {message}", flush=True)


def _pip_install(venv: Path, args: list[str], log_name: str) -> None:
    """Run pip in `venv`, logging to .bench/logs so a failure can be read later."""
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOGS_DIR / log_name
    with log_path.open("w") as log:
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = "".join(log_path.read_text().splitlines(keepends=True)[-5:])
        raise ServerUnavailable(f"pip install {' '.join(args)} failed (see {log_path}): {tail}")


def ensure_venv(
    venv: Path, requirement: str, marker: Path, pip_flags: tuple[str, ...] = ()
) -> None:
    """Create `venv` and pip-install the pinned `requirement` unless it is already there.

    Idempotent: a second run finds `marker` (the server's executable) and the
    pinned version, and does nothing; a changed pin upgrades in place.
    """
    name, _, version = requirement.partition("==")
    if marker.exists() and dist_version(venv, name) == version:
        _log(f"{venv.relative_to(REPO_ROOT)} ready ({requirement})")
        return
    if not (venv / "bin" / "python").exists():
        _log(f"creating {venv.relative_to(REPO_ROOT)}")
        created = subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False)
        if created.returncode != 0:
            raise ServerUnavailable(f"python -m venv {venv} failed")
    pip_args = [*pip_flags, requirement]
    _log(f"pip install {' '.join(pip_args)} into {venv.relative_to(REPO_ROOT)} (a minute or two)")
    started = time.monotonic()
    _pip_install(venv, pip_args, f"{venv.name}-install.log")
    if not marker.exists():
        raise ServerUnavailable(f"{marker} missing after pip install {requirement}")
    _log(f"installed in {time.monotonic() - started:.0f} s")


def install_mlflow() -> None:
    ensure_venv(MLFLOW_VENV, MLFLOW_REQUIREMENT, MLFLOW_VENV / "bin" / "mlflow")


def _install_fasttrackml() -> None:
    marker = FASTTRACKML_VENV / "bin" / "fml"
    ensure_venv(FASTTRACKML_VENV, FASTTRACKML_REQUIREMENT, marker, pip_flags=("--no-deps",))


def dist_version(venv: Path, dist_name: str) -> str:
    """Read an installed package's version from its .dist-info name, without importing it."""
    pattern = str(venv / "lib" / "python*" / "site-packages" / "*.dist-info")
    wanted = dist_name.lower().replace("-", "_")
    for path in glob.glob(pattern):
        name, _, version = Path(path).name.removesuffix(".dist-info").partition("-")
        if name.lower().replace("-", "_") == wanted:
            return version
    return "unknown"


# --- the three servers ------------------------------------------------------------


def _mlflow_argv(executable: Path, port: int, workdir: Path) -> list[str]:
    # Defaults otherwise (4 uvicorn workers, job runner): what a user gets.
    return [
        str(executable),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{workdir / 'mlflow.db'}",
        "--default-artifact-root",
        str(workdir / "artifacts"),
    ]


def _fasttrackml_argv(executable: Path, port: int, workdir: Path) -> list[str]:
    return [
        str(executable),
        "server",
        "--listen-address",
        f"127.0.0.1:{port}",
        "--database-uri",
        f"sqlite://{workdir / 'fml.db'}",
        "--default-artifact-root",
        str(workdir / "fml-artifacts"),
    ]


def _loopml_argv(executable: Path, port: int, workdir: Path) -> list[str]:
    return [str(executable), "server", "--host", "127.0.0.1", "--port", str(port)]


SPECS: dict[str, ServerSpec] = {
    "mlflow": ServerSpec(
        name="mlflow",
        executable=MLFLOW_VENV / "bin" / "mlflow",
        argv=_mlflow_argv,
        install=install_mlflow,
        version=lambda: dist_version(MLFLOW_VENV, "mlflow"),
    ),
    "fasttrackml": ServerSpec(
        name="fasttrackml",
        executable=FASTTRACKML_VENV / "bin" / "fml",
        argv=_fasttrackml_argv,
        install=_install_fasttrackml,
        version=lambda: dist_version(FASTTRACKML_VENV, "fasttrackml"),
    ),
    "loopml": ServerSpec(
        name="loopml",
        executable=PROJECT_VENV / "bin" / "loopml",
        argv=_loopml_argv,
        env=lambda workdir: {"LOOPML_HOME": str(workdir / "loopml")},
        version=lambda: dist_version(PROJECT_VENV, "loopml"),
    ),
}


# --- reading a process tree from /proc ----------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The few fields of /proc/<pid>/stat the bench needs."""

    pid: int
    ppid: int
    session: int
    cpu_ticks: int  # utime + stime + cutime + cstime: includes reaped children
    start_ticks: int  # with pid, identifies the process even if the pid is reused


def _read_stat(pid: int) -> ProcStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces: split after it.
    fields = raw.rpartition(")")[2].split()
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    cpu_ticks = utime + stime + cutime + cstime
    return ProcStat(pid, int(fields[1]), int(fields[3]), cpu_ticks, int(fields[19]))


def _all_stats() -> list[ProcStat]:
    stats = (_read_stat(int(entry)) for entry in os.listdir("/proc") if entry.isdigit())
    return [stat for stat in stats if stat is not None]


def tree_stats(root_pid: int) -> list[ProcStat]:
    """The root and its descendants (by ppid), plus anything else in its session.

    The session catches helpers re-parented to init; ppid catches children that
    left the session. Together they are the whole server.
    """
    stats = _all_stats()
    members = {root_pid}
    changed = True
    while changed:
        changed = False
        for stat in stats:
            if stat.pid not in members and (stat.ppid in members or stat.session == root_pid):
                members.add(stat.pid)
                changed = True
    return [stat for stat in stats if stat.pid in members]


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # zombies and kernel threads have no VmRSS


def tree_rss_bytes(stats: Iterable[ProcStat]) -> int:
    """Sum of resident memory over the tree (shared pages count once per process)."""
    return sum(_rss_bytes(stat.pid) for stat in stats)


def _pss_bytes(pid: int) -> int:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def tree_pss_bytes(stats: Iterable[ProcStat]) -> int:
    """Proportional set size: shared pages split between the processes sharing them.

    RSS over-counts a multi-process server (every worker maps the same libraries);
    PSS is the fair total, so both are reported.
    """
    return sum(_pss_bytes(stat.pid) for stat in stats)


def tree_cpu_s(stats: Iterable[ProcStat]) -> float:
    return sum(stat.cpu_ticks for stat in stats) / CLOCK_TICKS


# --- one running server ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# No proxies: a developer's http_proxy must not see (or slow down) loopback polls.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _health_ok(url: str) -> bool:
    try:
        with _DIRECT.open(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class RunningServer:
    """A server process tree in its own session and temp dir; stop() kills it all."""

    def __init__(self, spec: ServerSpec, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> float:
        """Spawn the server and return the seconds until /health first answered 200."""
        if not self.spec.executable.exists():
            raise ServerStartError(f"{self.spec.executable} not found")
        env = {**os.environ, **QUIET_ENV, **self.spec.env(self.workdir)}
        argv = self.spec.argv(self.spec.executable, self.port, self.workdir)
        with self.log_path.open("wb") as log:
            started = time.monotonic()
            self.process = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self._wait_healthy(started, timeout_s)

    def _wait_healthy(self, started: float, timeout_s: float) -> float:
        assert self.process is not None
        while time.monotonic() - started < timeout_s:
            if _health_ok(f"{self.url}/health"):
                return time.monotonic() - started
            if self.process.poll() is not None:
                raise ServerStartError(
                    f"exited with code {self.process.returncode}: {self.log_tail()}"
                )
            time.sleep(HEALTH_POLL_S)
        raise ServerStartError(f"no 200 on /health after {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.splitlines()[-lines:])

    def stats(self) -> list[ProcStat]:
        return tree_stats(self.process.pid) if self.process else []

    def rss_bytes(self) -> int:
        return tree_rss_bytes(self.stats())

    def cpu_s(self) -> float:
        return tree_cpu_s(self.stats())

    def process_count(self) -> int:
        return len(self.stats())

    def wait_settled(self, max_s: float = 120.0, interval_s: float = 1.0) -> float:
        """Wait until start-up work is over; return the seconds that took.

        /health can answer while the server is still busy booting: MLflow 3.17
        answers from its first uvicorn worker, then spends ~15 s at full CPU
        starting its job-runner processes. "At rest" means two intervals in a row
        with the same process count and under a quarter of a core of CPU.
        """
        started = time.monotonic()
        previous = (self.process_count(), self.cpu_s())
        quiet = 0
        while quiet < 2 and time.monotonic() - started < max_s:
            time.sleep(interval_s)
            current = (self.process_count(), self.cpu_s())
            idle = current[0] == previous[0] and current[1] - previous[1] < 0.25 * interval_s
            quiet = quiet + 1 if idle else 0
            previous = current
        return time.monotonic() - started - quiet * interval_s

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL whatever of the tree is left."""
        if self.process is None:
            return
        members = self.stats()
        _signal_group(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_S)
        _signal_group(self.process.pid, signal.SIGKILL)
        for member in members:  # any that moved to another process group
            _kill_if_same(member)
        self.process.wait()
        self.process = None

    def save_log(self, run_stamp: str) -> Path:
        """Keep the server's log under .bench/logs: the temp dir is deleted afterwards."""
        LOGS_DIR.mkdir(parents=True, exist_ok=True)
        target = LOGS_DIR / f"{run_stamp}-{self.spec.name}.log"
        if self.log_path.exists():
            shutil.copyfile(self.log_path, target)
        return target


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _kill_if_same(member: ProcStat) -> None:
    """SIGKILL a former tree member, but only if its pid was not reused meanwhile."""
    current = _read_stat(member.pid)
    if current is None or current.start_ticks != member.start_ticks:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(member.pid, signal.SIGKILL)
