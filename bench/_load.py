"""Drive an HTTP server with wrk for a bounded time: POST one fixed JSON body, C connections.

wrk is a C program (Debian's `wrk` package), so the load generator costs a small,
constant share of the CPU the server would otherwise have, which a Python client
could not promise. A Lua script sets the method, headers and body, and its `done`
hook prints the exact figures (request count, latency percentiles in microseconds,
error counts) as one JSON line, so nothing depends on wrk's rounded text output.

Only the standard library is used here.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

RESULT_PREFIX = "BENCH_RESULT "
# A slow server (MLflow with 100 rows at c=64) must show up as latency, not as
# wrk's default 2 s socket timeout.
REQUEST_TIMEOUT_S = 10

_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local file = assert(io.open(%(body_path)s, "rb"))
wrk.body = file:read("*a")
file:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(prefix)s{"requests":%%d,"duration_us":%%d,"status_errors":%%d,"connect_errors":%%d,'
    .. '"read_errors":%%d,"write_errors":%%d,"timeouts":%%d,'
    .. '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


class LoadGeneratorMissing(Exception):
    """wrk is not installed: the message says how to get it."""


@dataclass(frozen=True)
class LoadResult:
    """What one wrk run measured; latencies in milliseconds."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int  # wrk counts responses with status > 399
    socket_errors: int  # connect, read, write errors and timeouts

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def find_wrk() -> str:
    """The wrk executable, or LoadGeneratorMissing saying how to install it."""
    found = shutil.which("wrk")
    if found is None:
        raise LoadGeneratorMissing("wrk not found: apt-get install wrk (Debian/Ubuntu)")
    return found


def wrk_version(wrk: str) -> str:
    """The first line of `wrk -v`, e.g. "wrk debian/4.1.0-3+b2 [epoll] ..."."""
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "unknown"


def _threads(concurrency: int) -> int:
    # Two threads are plenty for a C client on a small machine; wrk needs threads <= connections.
    return max(1, min(2, concurrency))


def run_wrk(wrk: str, url: str, body: bytes, concurrency: int, duration_s: int) -> LoadResult:
    """POST `body` to `url` over `concurrency` keep-alive connections for `duration_s` seconds.

    Raises:
        RuntimeError: wrk failed or printed no result line (its stderr is in the message).
    """
    with tempfile.TemporaryDirectory(prefix="loopml-bench-wrk-") as tmp:
        body_path = Path(tmp) / "body.json"
        body_path.write_bytes(body)
        script_path = Path(tmp) / "post.lua"
        script = _SCRIPT % {"body_path": json.dumps(str(body_path)), "prefix": RESULT_PREFIX}
        script_path.write_text(script)
        argv = [
            wrk,
            f"-t{_threads(concurrency)}",
            f"-c{concurrency}",
            f"-d{duration_s}s",
            f"--timeout={REQUEST_TIMEOUT_S}s",
            "--latency",
            "-s",
            str(script_path),
            url,
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    return parse_wrk_output(done.stdout, done.returncode, done.stderr)


def parse_wrk_output(stdout: str, returncode: int = 0, stderr: str = "") -> LoadResult:
    """Read the JSON line the Lua `done` hook printed."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if returncode != 0 or line is None:
        message = " | ".join((stderr or stdout).strip().splitlines()[-3:])
        raise RuntimeError(f"wrk exited {returncode} without a result: {message}")
    raw = json.loads(line[len(RESULT_PREFIX) :])
    socket_errors = sum(raw[key] for key in ("connect_errors", "read_errors", "write_errors"))
    return LoadResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        non_2xx=raw["status_errors"],
        socket_errors=socket_errors + raw["timeouts"],
    )
