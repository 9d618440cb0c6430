"""Benchmark `loopml serve` against `mlflow models serve` and MLServer with one model and wrk.

The same scikit-learn model (a StandardScaler + LogisticRegression pipeline on
breast-cancer, 30 float features) is served by each server in turn, one worker
each, on 127.0.0.1, and driven by wrk (a C load generator) with the same request
bodies for a bounded time per cell: V2 (Open Inference Protocol) and MLflow
`/invocations` requests of 1 and 100 rows at several concurrencies. Server CPU
per request is read from /proc for the server's whole process tree.

    .venv/bin/python bench/serving.py                                 # all, 10 s cells
    .venv/bin/python bench/serving.py --quick --servers mlflow,mlserver
    .venv/bin/python bench/serving.py --duration 5 --concurrency 1,8

The first run creates .bench/mlflow-serve and .bench/mlserver. Results are printed
as tables (ratios > 1 mean loopml is better) and written as JSON to
.bench/results/serving-<timestamp>.json. See bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _load import LoadGeneratorMissing, LoadResult, find_wrk, run_wrk, wrk_version
from _servers import (
    BENCH_DIR,
    HEALTH_POLL_S,
    PROJECT_VENV,
    RunningServer,
    ServerSpec,
    ServerStartError,
    ServerUnavailable,
    _health_ok,
    _pip_install,
    dist_version,
    ensure_venv,
    tree_pss_bytes,
    tree_rss_bytes,
)

RESULTS_DIR = BENCH_DIR / "results"
MLFLOW_SERVE_VENV = BENCH_DIR / "mlflow-serve"
MLSERVER_VENV = BENCH_DIR / "mlserver"
MLFLOW_REQUIREMENT = "mlflow==3.17.2"  # the version the project's MLflow compatibility targets
MLSERVER_REQUIREMENTS = ("mlserver-sklearn==1.7.1", "uvloop<0.22")  # newer uvloop kills its worker
MLSERVER_REQUIREMENT = "mlserver==1.7.1"
MODEL_NAME = "bench-model"
ALIAS = "champion"
FEATURES = 30
BATCH_ROWS = 100
# loopml serve's adaptive-batching flags; the batching variant runs only if `--help` lists them.
LOOPML_BATCHING_FLAGS = "--max-batch-size 64 --max-batch-delay-ms 10"
MLSERVER_BATCHING = {"max_batch_size": 64, "max_batch_time": 0.01}
SERVER_ORDER = ("mlflow", "mlserver", "mlserver-batching", "loopml", "loopml-batching")
ROUTES = {"v2": f"/v2/models/{MODEL_NAME}/infer", "invocations": "/invocations"}


def _progress(server: str, message: str) -> None:
    print(f"[{server}] {message}", flush=True)


# --- the model and the request bodies ---------------------------------------------


@dataclass(frozen=True)
class BenchModel:
    """One trained model, its inputs, and what every server must answer for them."""

    joblib_path: Path
    features_path: Path  # the training matrix as .npy, for signatures
    rows: dict[int, list[list[float]]]  # request size -> rows
    expected: dict[int, list[int]]  # request size -> predicted labels
    sklearn_version: str


def train_model(directory: Path) -> BenchModel:
    """Fit the model once; every server loads this very joblib file (same scikit-learn)."""
    import joblib
    import numpy as np
    import sklearn
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(features, labels)
    joblib_path, features_path = directory / "model.joblib", directory / "features.npy"
    joblib.dump(model, joblib_path)
    np.save(features_path, features)
    rows = {n: features[:n].tolist() for n in (1, BATCH_ROWS)}
    expected = {n: [int(label) for label in model.predict(features[:n])] for n in rows}
    return BenchModel(joblib_path, features_path, rows, expected, sklearn.__version__)


def request_body(route: str, rows: list[list[float]]) -> bytes:
    """A V2 FP64 tensor [n, 30] (row-major), or an MLflow `dataframe_split`."""
    if route == "v2":
        flat = [value for row in rows for value in row]
        tensor = {"name": "input-0", "shape": [len(rows), FEATURES], "datatype": "FP64"}
        return json.dumps({"inputs": [{**tensor, "data": flat}]}).encode()
    columns = [str(index) for index in range(FEATURES)]
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}}).encode()


def predictions(route: str, answer: dict[str, Any]) -> list[int]:
    """Labels out of a V2 response (first output) or an MLflow `{"predictions": [...]}`."""
    values = answer["outputs"][0]["data"] if route == "v2" else answer["predictions"]
    return [round(float(value)) for value in values]


# --- the servers -------------------------------------------------------------------


@dataclass(frozen=True)
class ServingSpec:
    """How to install, prepare and launch one server variant."""

    name: str
    executable: Path
    ready_path: str
    routes: tuple[str, ...]
    argv: Callable[[int, Path], list[str]]
    prepare: Callable[[Path, int, BenchModel], None]
    env: Callable[[Path], dict[str, str]] = field(default=lambda _workdir: {})
    version: Callable[[], str] = field(default=lambda: "unknown")


def _ensure_anchor(venv: Path, requirement: str, marker: Path, extra: Sequence[str]) -> None:
    """Install the anchor, then make its scikit-learn the bench's (pickles must match)."""
    ensure_venv(venv, requirement, marker, pip_flags=tuple(extra))
    sklearn_pin = extra[-1]
    if dist_version(venv, "scikit-learn") != sklearn_pin.partition("==")[2]:
        _pip_install(venv, [sklearn_pin], f"{venv.name}-sklearn.log")


def install(names: Sequence[str], sklearn_version: str) -> None:
    pin = f"scikit-learn=={sklearn_version}"
    if "mlflow" in names:
        _ensure_anchor(
            MLFLOW_SERVE_VENV, MLFLOW_REQUIREMENT, _bin(MLFLOW_SERVE_VENV, "mlflow"), [pin]
        )
    if any(name.startswith("mlserver") for name in names):
        marker = _bin(MLSERVER_VENV, "mlserver")
        _ensure_anchor(MLSERVER_VENV, MLSERVER_REQUIREMENT, marker, [*MLSERVER_REQUIREMENTS, pin])


def _bin(venv: Path, name: str) -> Path:
    return venv / "bin" / name


SAVE_MLFLOW_MODEL = """
import sys, joblib, numpy, mlflow.sklearn
from mlflow.models import infer_signature
model, features = joblib.load(sys.argv[1]), numpy.load(sys.argv[2])
mlflow.sklearn.save_model(model, sys.argv[3], signature=infer_signature(features),
                          pip_requirements=[sys.argv[4]])
"""


def _prepare_mlflow(workdir: Path, port: int, model: BenchModel) -> None:
    """mlflow.sklearn.save_model in the anchor's own venv, as an MLflow user would."""
    argv = [str(_bin(MLFLOW_SERVE_VENV, "python")), "-c", SAVE_MLFLOW_MODEL]
    argv += [str(model.joblib_path), str(model.features_path), str(workdir / "model")]
    argv.append(f"scikit-learn=={model.sklearn_version}")
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
    if done.returncode != 0:
        raise ServerStartError(f"mlflow.sklearn.save_model failed: {done.stderr[-500:]}")


def _mlflow_argv(port: int, workdir: Path) -> list[str]:
    model_dir = str(workdir / "model")
    argv = [str(_bin(MLFLOW_SERVE_VENV, "mlflow")), "models", "serve", "-m", model_dir]
    return [*argv, "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]


def _mlflow_env(workdir: Path) -> dict[str, str]:
    # `--env-manager local` runs `bash -c "exec uvicorn ..."`: the venv's bin must be on
    # PATH, as it is for a user who activated the venv.
    return {"PATH": f"{_bin(MLFLOW_SERVE_VENV, '')}{os.pathsep}{os.environ.get('PATH', '')}"}


def _prepare_mlserver(batching: bool) -> Callable[[Path, int, BenchModel], None]:
    def prepare(workdir: Path, port: int, model: BenchModel) -> None:
        from _servers import free_port

        model_dir = workdir / "models" / MODEL_NAME
        model_dir.mkdir(parents=True)
        shutil.copyfile(model.joblib_path, model_dir / "model.joblib")
        settings = {
            "name": MODEL_NAME,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
            **(MLSERVER_BATCHING if batching else {}),
        }
        (model_dir / "model-settings.json").write_text(json.dumps(settings))
        # parallel_workers 0: inference in the server process itself (one worker);
        # debug off so the per-request debug logging is not what we measure.
        server_settings = {
            "host": "127.0.0.1",
            "http_port": port,
            "grpc_port": free_port(),
            "metrics_port": free_port(),
            "parallel_workers": 0,
            "debug": False,
        }
        (workdir / "models" / "settings.json").write_text(json.dumps(server_settings))

    return prepare


def _mlserver_argv(port: int, workdir: Path) -> list[str]:
    return [str(_bin(MLSERVER_VENV, "mlserver")), "start", str(workdir / "models")]


def _register_loopml(workdir: Path, port: int, model: BenchModel) -> None:
    """Save with loopml.models, log to a run, register, alias @champion, in a fresh home."""
    import joblib
    import numpy as np

    from loopml.client import Client
    from loopml.models import infer_signature, save_model

    client = Client(str(workdir / "home"))
    experiment_id = client.create_experiment("bench-serving")
    run_id = client.create_run(experiment_id, run_name=MODEL_NAME).info.run_id
    path = workdir / "model"
    save_model(
        joblib.load(model.joblib_path),
        path,
        signature=infer_signature(np.load(model.features_path)),
    )
    client.log_artifact(run_id, path, "model")
    client.update_run(run_id, status="FINISHED")
    registry = client.registry
    registry.create_registered_model(MODEL_NAME)
    version = registry.create_model_version(MODEL_NAME, f"runs:/{run_id}/model", run_id=run_id)
    registry.set_alias(MODEL_NAME, ALIAS, version.version)


def _loopml_argv(extra: Sequence[str]) -> Callable[[int, Path], list[str]]:
    def argv(port: int, workdir: Path) -> list[str]:
        uri = f"models:/{MODEL_NAME}@{ALIAS}"
        base = [str(_bin(PROJECT_VENV, "loopml")), "serve", uri, "--host", "127.0.0.1"]
        return [*base, "--port", str(port), "--workers", "1", *extra]

    return argv


def _loopml_version() -> str:
    return dist_version(PROJECT_VENV, "loopml")


def build_specs(loopml_batching_flags: Sequence[str]) -> dict[str, ServingSpec]:
    both = ("v2", "invocations")
    mlserver_version = lambda: dist_version(MLSERVER_VENV, "mlserver")  # noqa: E731
    loopml_env = lambda workdir: {"LOOPML_HOME": str(workdir / "home")}  # noqa: E731
    return {
        # MLflow's scoring server has no V2 route (`--enable-mlserver` would be MLServer).
        "mlflow": ServingSpec(
            "mlflow",
            _bin(MLFLOW_SERVE_VENV, "mlflow"),
            "/ping",
            ("invocations",),
            _mlflow_argv,
            _prepare_mlflow,
            _mlflow_env,
            version=lambda: dist_version(MLFLOW_SERVE_VENV, "mlflow"),
        ),
        # MLServer has no /invocations.
        "mlserver": ServingSpec(
            "mlserver",
            _bin(MLSERVER_VENV, "mlserver"),
            "/v2/health/ready",
            ("v2",),
            _mlserver_argv,
            _prepare_mlserver(batching=False),
            version=mlserver_version,
        ),
        "mlserver-batching": ServingSpec(
            "mlserver-batching",
            _bin(MLSERVER_VENV, "mlserver"),
            "/v2/health/ready",
            ("v2",),
            _mlserver_argv,
            _prepare_mlserver(batching=True),
            version=mlserver_version,
        ),
        "loopml": ServingSpec(
            "loopml",
            _bin(PROJECT_VENV, "loopml"),
            "/v2/health/ready",
            both,
            _loopml_argv(()),
            _register_loopml,
            loopml_env,
            _loopml_version,
        ),
        "loopml-batching": ServingSpec(
            "loopml-batching",
            _bin(PROJECT_VENV, "loopml"),
            "/v2/health/ready",
            both,
            _loopml_argv(loopml_batching_flags),
            _register_loopml,
            loopml_env,
            _loopml_version,
        ),
    }


def loopml_serve_missing(batching_flags: Sequence[str]) -> dict[str, str]:
    """Why each loopml variant cannot run yet ({} when both can): `loopml serve --help`."""
    executable = _bin(PROJECT_VENV, "loopml")
    if not executable.exists():
        reason = f"{executable} missing: make install"
        return {"loopml": reason, "loopml-batching": reason}
    done = subprocess.run(
        [str(executable), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "300", "TERMINAL_WIDTH": "300"},  # no wrapped flag names
    )
    if done.returncode != 0:
        reason = "`loopml serve` does not exist yet in this checkout"
        return {"loopml": reason, "loopml-batching": reason}
    text = done.stdout + done.stderr
    unknown = [flag for flag in batching_flags if flag.startswith("--") and flag not in text]
    if unknown:
        return {"loopml-batching": f"`loopml serve --help` lists no {', '.join(unknown)}"}
    return {}


class ServingServer(RunningServer):
    """A RunningServer whose readiness route is the server's own (not /health)."""

    def __init__(self, spec: ServingSpec, workdir: Path) -> None:
        launcher = ServerSpec(
            spec.name, spec.executable, lambda _exe, port, wd: spec.argv(port, wd), spec.env
        )
        super().__init__(launcher, workdir)
        self.ready_path = spec.ready_path

    def _wait_healthy(self, started: float, timeout_s: float) -> float:
        assert self.process is not None
        while time.monotonic() - started < timeout_s:
            if _health_ok(f"{self.url}{self.ready_path}"):
                return time.monotonic() - started
            if self.process.poll() is not None:
                raise ServerStartError(f"exited with {self.process.returncode}: {self.log_tail()}")
            time.sleep(HEALTH_POLL_S)
        raise ServerStartError(f"not ready after {timeout_s:.0f} s: {self.log_tail()}")


# --- measuring one server -------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    route: str
    rows: int
    concurrency: int

    @property
    def key(self) -> str:
        return f"{self.route}-{self.rows}-c{self.concurrency}"


@dataclass
class CellResult:
    """One wrk run against one server; latencies in ms, CPU summed over the server tree."""

    server: str
    route: str
    rows: int
    concurrency: int
    requests: int
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms_per_request: float
    non_2xx: int
    socket_errors: int


@dataclass
class ServerResult:
    name: str
    version: str = "unknown"
    status: str = "ok"  # "ok", "not available", "failed to start"
    reason: str = ""
    ready_s: float | None = None
    idle_rss_mb: float | None = None
    idle_pss_mb: float | None = None
    idle_processes: int | None = None
    route_errors: dict[str, str] = field(default_factory=dict)
    cells: list[CellResult] = field(default_factory=list)
    log: str = ""

    def cell(self, route: str, rows: int, concurrency: int) -> CellResult | None:
        wanted = (route, rows, concurrency)
        return next((c for c in self.cells if (c.route, c.rows, c.concurrency) == wanted), None)


def check_route(server: RunningServer, route: str, model: BenchModel) -> None:
    """One request per size with urllib: a fast wrong answer is no answer."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for rows, expected in model.expected.items():
        request = urllib.request.Request(
            server.url + ROUTES[route],
            data=request_body(route, model.rows[rows]),
            headers={"Content-Type": "application/json"},
        )
        try:
            with opener.open(request, timeout=30) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code}: {exc.read()[:300]!r}") from None
        got = predictions(route, answer)
        if got != expected:
            raise AssertionError(f"{rows} rows: predicted {got[:5]}..., expected {expected[:5]}...")


def measure_cell(
    server: RunningServer, wrk: str, cell: Cell, body: bytes, duration_s: int
) -> CellResult:
    cpu_before = server.cpu_s()
    load: LoadResult = run_wrk(
        wrk, server.url + ROUTES[cell.route], body, cell.concurrency, duration_s
    )
    cpu_s = server.cpu_s() - cpu_before
    return CellResult(
        server=server.spec.name,
        route=cell.route,
        rows=cell.rows,
        concurrency=cell.concurrency,
        requests=load.requests,
        requests_per_s=load.requests_per_s,
        p50_ms=load.p50_ms,
        p90_ms=load.p90_ms,
        p99_ms=load.p99_ms,
        max_ms=load.max_ms,
        cpu_ms_per_request=cpu_s * 1000 / load.requests if load.requests else float("nan"),
        non_2xx=load.non_2xx,
        socket_errors=load.socket_errors,
    )


def _warm_up(server: RunningServer, wrk: str, routes: Sequence[str], model: BenchModel) -> None:
    """A second of load per route, so lazy imports and caches are not in the first cell."""
    for route in routes:
        for rows in model.rows:
            run_wrk(wrk, server.url + ROUTES[route], request_body(route, model.rows[rows]), 4, 1)


def _memory(server: RunningServer, result: ServerResult) -> None:
    server.wait_settled(max_s=15.0, interval_s=0.5)
    stats = server.stats()
    result.idle_rss_mb = tree_rss_bytes(stats) / 2**20
    result.idle_pss_mb = tree_pss_bytes(stats) / 2**20
    result.idle_processes = len(stats)


def _describe_cell(cell: CellResult) -> str:
    errors = cell.non_2xx + cell.socket_errors
    return (
        f"{cell.route} rows={cell.rows} c={cell.concurrency}: {cell.requests_per_s:,.0f} req/s, "
        f"p50 {cell.p50_ms:.2f} ms, p99 {cell.p99_ms:.2f} ms, "
        f"CPU {cell.cpu_ms_per_request:.2f} ms/req, errors {errors}"
    )


def bench_server(
    spec: ServingSpec,
    model: BenchModel,
    wrk: str,
    cells: Sequence[Cell],
    duration_s: int,
    stamp: str,
) -> ServerResult:
    """Prepare, start, check, warm up, measure every cell; always kill the process tree."""
    result = ServerResult(spec.name, spec.version())
    workdir = Path(tempfile.mkdtemp(prefix=f"loopml-bench-{spec.name}-"))
    server = ServingServer(spec, workdir)
    try:
        spec.prepare(workdir, server.port, model)
        _progress(spec.name, f"starting {result.version} on {server.url}")
        result.ready_s = server.start()
        _progress(spec.name, f"ready after {result.ready_s:.2f} s ({spec.ready_path})")
        routes = []
        for route in spec.routes:
            try:
                check_route(server, route, model)
                routes.append(route)
            except Exception as exc:  # a broken route is a finding; its cells are skipped
                result.route_errors[route] = f"{type(exc).__name__}: {exc}"[:400]
                _progress(
                    spec.name,
                    f"{route} FAILED its check, cells skipped: {result.route_errors[route]}",
                )
        _warm_up(server, wrk, routes, model)
        _memory(server, result)
        _progress(
            spec.name,
            f"idle after warm-up: {result.idle_rss_mb:.0f} MB RSS ({result.idle_processes} procs)",
        )
        for cell in (c for c in cells if c.route in routes):
            body = request_body(cell.route, model.rows[cell.rows])
            measured = measure_cell(server, wrk, cell, body, duration_s)
            result.cells.append(measured)
            _progress(spec.name, _describe_cell(measured))
    except ServerStartError as exc:
        result.status, result.reason = "failed to start", str(exc)
        _progress(spec.name, f"failed to start: {exc}")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:  # wrk or /proc
        result.status, result.reason = "failed", f"{type(exc).__name__}: {exc}"
        _progress(spec.name, f"FAILED: {result.reason}")
    finally:
        server.stop()
        result.log = str(server.save_log(stamp))
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# --- reporting ---------------------------------------------------------------------

PAIRS = (("loopml", "mlflow"), ("loopml", "mlserver"), ("loopml-batching", "mlserver-batching"))


def result_rows(results: dict[str, ServerResult]) -> list[list[str]]:
    rows = []
    for result in results.values():
        for cell in result.cells:
            rows.append(
                [
                    f"{result.name} {result.version}",
                    cell.route,
                    str(cell.rows),
                    str(cell.concurrency),
                    f"{cell.requests_per_s:,.0f}",
                    f"{cell.p50_ms:.2f}",
                    f"{cell.p99_ms:.2f}",
                    f"{cell.cpu_ms_per_request:.2f}",
                    f"{cell.non_2xx + cell.socket_errors:,}",
                ]
            )
    return rows


RESULT_HEADERS = [
    "server",
    "route",
    "rows",
    "c",
    "req/s",
    "p50 ms",
    "p99 ms",
    "CPU ms/req",
    "errors",
]


def ratios(results: dict[str, ServerResult], cells: Sequence[Cell]) -> dict[str, dict[str, Any]]:
    """Per cell and pair: throughput loopml/other, CPU and p99 other/loopml (> 1: loopml better)."""
    found: dict[str, dict[str, Any]] = {}
    for ours, other in PAIRS:
        if ours not in results or other not in results:
            continue
        for cell in cells:
            mine = results[ours].cell(cell.route, cell.rows, cell.concurrency)
            theirs = results[other].cell(cell.route, cell.rows, cell.concurrency)
            if mine is None or theirs is None or not mine.requests or not theirs.requests:
                continue
            found.setdefault(cell.key, {})[f"{ours}/{other}"] = {
                "requests_per_s": mine.requests_per_s / theirs.requests_per_s,
                "cpu_per_request": _divide(theirs.cpu_ms_per_request, mine.cpu_ms_per_request),
                "p99": _divide(theirs.p99_ms, mine.p99_ms),
            }
    return found


def _divide(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def ratio_table(
    found: dict[str, dict[str, Any]], cells: Sequence[Cell]
) -> tuple[list[str], list[list[str]]]:
    pairs = [
        f"{a}/{b}" for a, b in PAIRS if any(f"{a}/{b}" in by_pair for by_pair in found.values())
    ]
    headers = ["route", "rows", "c"]
    for pair in pairs:
        headers += [f"{pair} req/s", "CPU", "p99"]
    rows = []
    for cell in (c for c in cells if c.key in found):
        row = [cell.route, str(cell.rows), str(cell.concurrency)]
        for pair in pairs:
            figures = found[cell.key].get(pair)
            keys = ("requests_per_s", "cpu_per_request", "p99")
            row += [f"{figures[k]:.2f}x" for k in keys] if figures else ["", "", ""]
        rows.append(row)
    return headers, rows


@dataclass(frozen=True)
class Target:
    label: str
    met: bool | None  # None: not measured
    detail: str


def _cell_of(
    results: dict[str, ServerResult], name: str, route: str, rows: int, c: int
) -> CellResult | None:
    result = results.get(name)
    return result.cell(route, rows, c) if result is not None and result.status == "ok" else None


def _anchor_p99(results: dict[str, ServerResult]) -> str:
    """MLServer's own figure for the p99 target, for context."""
    on64 = _cell_of(results, "mlserver-batching", "v2", 1, 64)
    return f" [mlserver with batching: p99 {on64.p99_ms:.1f} ms]" if on64 else ""


def _anchor_lone_wait(results: dict[str, ServerResult]) -> str:
    """MLServer's own figures for the lone-request target, for context."""
    on1, off1 = (_cell_of(results, n, "v2", 1, 1) for n in ("mlserver-batching", "mlserver"))
    if on1 is None or off1 is None:
        return ""
    return f" [mlserver: p50 {on1.p50_ms:.2f} ms on vs {off1.p50_ms:.2f} ms off]"


def targets(results: dict[str, ServerResult]) -> list[Target]:
    """The issue's targets for loopml, each met, not met, or not measured (None)."""
    found: list[Target] = []
    single8 = _cell_of(results, "loopml", "v2", 1, 8)
    label = "V2 single row c=8: >= 1,000 req/s and <= 1.0 ms CPU/req"
    if single8 is None:
        found.append(Target(label, None, "loopml V2 single row at c=8 not measured"))
    else:
        met = single8.requests_per_s >= 1000 and single8.cpu_ms_per_request <= 1.0
        detail = f"{single8.requests_per_s:,.0f} req/s, {single8.cpu_ms_per_request:.2f} ms CPU/req"
        found.append(Target(label, met, detail))
    found.append(_invocations_target(results))
    found.extend(_batching_targets(results))
    loopml = results.get("loopml")
    ok = loopml is not None and loopml.status == "ok"
    ready, rss = (loopml.ready_s, loopml.idle_rss_mb) if ok and loopml else (None, None)
    found.append(_threshold("ready <= 2 s (spawn to /v2/health/ready)", ready, 2.0, "{:.2f} s"))
    found.append(
        _threshold("idle memory <= 200 MB (RSS, tree, after warm-up)", rss, 200.0, "{:.0f} MB")
    )
    return found


def _threshold(label: str, value: float | None, limit: float, shown: str) -> Target:
    if value is None:
        return Target(label, None, "loopml not measured")
    return Target(label, value <= limit, shown.format(value))


def _invocations_target(results: dict[str, ServerResult]) -> Target:
    label = "/invocations >= 3x MLflow req/s in every cell"
    mine, theirs = results.get("loopml"), results.get("mlflow")
    if mine is None or theirs is None:
        return Target(label, None, "needs both loopml and mlflow")
    pairs = [
        (c, theirs.cell(c.route, c.rows, c.concurrency))
        for c in mine.cells
        if c.route == "invocations"
    ]
    ratios_seen = [
        (c, m.requests_per_s and c.requests_per_s / m.requests_per_s) for c, m in pairs if m
    ]
    if not ratios_seen:
        return Target(label, None, "no /invocations cell measured on both")
    worst_cell, worst = min(ratios_seen, key=lambda item: item[1])
    where = f"rows={worst_cell.rows} c={worst_cell.concurrency}"
    detail = f"lowest {worst:.2f}x ({where}) over {len(ratios_seen)} cells"
    return Target(label, worst >= 3.0, detail)


def _batching_targets(results: dict[str, ServerResult]) -> list[Target]:
    context = _anchor_p99(results)
    on64 = _cell_of(results, "loopml-batching", "v2", 1, 64)
    label = "with batching: V2 single row p99 < 100 ms at c=64"
    first = (
        Target(label, on64.p99_ms < 100.0, f"p99 {on64.p99_ms:.1f} ms{context}")
        if on64
        else Target(label, None, f"loopml-batching not measured at c=64{context}")
    )
    on1, off1 = (
        _cell_of(results, "loopml-batching", "v2", 1, 1),
        _cell_of(results, "loopml", "v2", 1, 1),
    )
    label = "with batching: no added wait at c=1 (V2 single row p50, on - off <= 1 ms)"
    context = _anchor_lone_wait(results)
    if on1 is None or off1 is None:
        return [first, Target(label, None, f"needs loopml and loopml-batching at c=1{context}")]
    added = on1.p50_ms - off1.p50_ms
    detail = f"p50 {on1.p50_ms:.2f} ms on vs {off1.p50_ms:.2f} ms off (+{added:.2f} ms){context}"
    return [first, Target(label, added <= 1.0, detail)]


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    """A Rich table when Rich is importable (the project venv), plain text otherwise."""
    widths = [max(len(line[col]) for line in [headers, *rows]) for col in range(len(headers))]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(f"\n{title}")
        for line in [headers, ["-" * w for w in widths], *rows]:
            print(
                "  ".join(
                    [line[0].ljust(widths[0])]
                    + [c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)]
                )
            )
        return
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.width = max(console.width, sum(widths) + 3 * len(headers) + 1)  # piped: no 80 columns
    console.print(table)


def print_report(
    results: dict[str, ServerResult], cells: Sequence[Cell], found: dict[str, dict[str, Any]]
) -> list[Target]:
    print_table(
        "Serving: one model, wrk, one worker per server", RESULT_HEADERS, result_rows(results)
    )
    if found:
        title = "Ratios (> 1 means loopml is better: req/s ours/theirs, CPU and p99 theirs/ours)"
        print_table(title, *ratio_table(found, cells))
    else:
        print("\nno ratios: loopml was not measured")
    for result in results.values():
        if result.status != "ok":
            print(f"{result.name}: {result.status} ({result.reason})")
        elif result.ready_s is not None:
            print(
                f"{result.name}: ready {result.ready_s:.2f} s, idle {result.idle_rss_mb or 0:.0f} "
                f"MB RSS ({result.idle_pss_mb or 0:.0f} MB PSS, {result.idle_processes} processes)"
            )
        for route, message in result.route_errors.items():
            print(f"{result.name}: {route} failed its check: {message}")
    print("\nTargets (loopml):")
    checks = targets(results)
    for target in checks:
        verdict = {True: "met", False: "NOT MET", None: "not measured"}[target.met]
        print(f"  {verdict:>12}  {target.label}: {target.detail}")
    return checks


def write_json(payload: dict[str, Any], stamp: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"serving-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def _host() -> dict[str, Any]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


# --- entry point -------------------------------------------------------------------


def _server_list(text: str) -> list[str]:
    """`mlserver` and `loopml` bring their batching variants; the variants can be named alone."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - set(SERVER_ORDER))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown server {', '.join(unknown)}; known: {', '.join(SERVER_ORDER)}"
        )
    names |= {f"{name}-batching" for name in names & {"mlserver", "loopml"}}
    return [name for name in SERVER_ORDER if name in names]


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("concurrency values must be >= 1")
    return values


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers",
        type=_server_list,
        default=list(SERVER_ORDER),
        help="comma-separated subset of mlflow,mlserver,loopml (each of the last two "
        "with its -batching variant; name a variant alone to run just it)",
    )
    parser.add_argument("--no-batching", action="store_true", help="skip the -batching variants")
    parser.add_argument("--concurrency", type=_int_list, default=[1, 8, 64], help="default 1,8,64")
    parser.add_argument("--duration", type=int, default=None, help="seconds per cell (default 10)")
    parser.add_argument("--quick", action="store_true", help="3 s per cell unless --duration")
    parser.add_argument(
        "--skip-install", action="store_true", help="use the .bench venvs as they are"
    )
    parser.add_argument(
        "--loopml-batching-flags",
        default=LOOPML_BATCHING_FLAGS,
        help=f"loopml serve flags for the batching variant (default: {LOOPML_BATCHING_FLAGS!r})",
    )
    args = parser.parse_args(argv)
    if args.no_batching:
        args.servers = [name for name in args.servers if not name.endswith("-batching")]
    args.duration = args.duration or (3 if args.quick else 10)
    return args


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM takes the Ctrl-C path, so every `finally` kills its server."""
    raise KeyboardInterrupt


def unavailable_servers(args: argparse.Namespace, sklearn_version: str) -> dict[str, ServerResult]:
    """Install the anchors (unless --skip-install); say why any server cannot run."""
    missing: dict[str, str] = {}
    specs = build_specs(shlex.split(args.loopml_batching_flags))
    try:
        if not args.skip_install:
            install(args.servers, sklearn_version)
    except (ServerUnavailable, OSError) as exc:
        for name in args.servers:
            if not name.startswith("loopml") and not specs[name].executable.exists():
                missing[name] = str(exc)
    for name in args.servers:
        if not name.startswith("loopml") and not specs[name].executable.exists():
            missing.setdefault(
                name, f"{specs[name].executable} missing; run without --skip-install"
            )
    if any(name.startswith("loopml") for name in args.servers):
        for name, reason in loopml_serve_missing(shlex.split(args.loopml_batching_flags)).items():
            if name in args.servers:
                missing[name] = reason
    for name, reason in missing.items():
        print(f"{name}: not available, skipped ({reason})", flush=True)
    return {
        name: ServerResult(name, status="not available", reason=reason)
        for name, reason in missing.items()
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        wrk = find_wrk()
    except LoadGeneratorMissing as exc:
        raise SystemExit(str(exc)) from None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    BENCH_DIR.mkdir(exist_ok=True)
    (BENCH_DIR / ".gitignore").write_text("*\n")  # never commit venvs or results
    cells = [
        Cell(route, rows, c)
        for route in ROUTES
        for rows in (1, BATCH_ROWS)
        for c in args.concurrency
    ]
    specs = build_specs(shlex.split(args.loopml_batching_flags))
    model_dir = Path(tempfile.mkdtemp(prefix="loopml-bench-model-"))
    try:
        model = train_model(model_dir)
        results = unavailable_servers(args, model.sklearn_version)
        print(
            f"load: {wrk_version(wrk)}, {args.duration} s per cell, concurrency {args.concurrency}",
            flush=True,
        )
        for name in args.servers:
            if name not in results:
                results[name] = bench_server(specs[name], model, wrk, cells, args.duration, stamp)
    except KeyboardInterrupt:
        print("\ninterrupted; every server started was stopped", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    ordered = {name: results[name] for name in args.servers}
    found = ratios(ordered, cells)
    checks = print_report(ordered, cells, found)
    payload = {
        "benchmark": "serving",
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "settings": {
            "duration_s": args.duration,
            "concurrency": args.concurrency,
            "batch_rows": BATCH_ROWS,
            "load_generator": wrk_version(wrk),
            "sklearn": model.sklearn_version,
        },
        "host": _host(),
        "servers": {name: asdict(result) for name, result in ordered.items()},
        "ratios": found,
        "targets": [asdict(target) for target in checks],
    }
    print(f"results: {write_json(payload, stamp)}")
    return 0 if any(result.status == "ok" for result in ordered.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
