"""Benchmark loopml's tracking server against MLflow and FastTrackML, through the mlflow client.

Each server is started on this machine in a fresh temp dir, one after the other so
they never compete for CPU, and driven with the same workload by the official
`mlflow` client (`MlflowClient(tracking_uri=...)`): the claim is "a drop-in MLflow
server, faster", so the client users already have is the one that measures it.

    .venv/bin/python bench/tracking.py                      # all three, full sizes
    .venv/bin/python bench/tracking.py --quick --servers mlflow,fasttrackml
    .venv/bin/python bench/tracking.py --skip-install       # reuse the .bench venvs

The first run creates .bench/mlflow-venv and .bench/fasttrackml-venv. Results are
printed as a table (ratios > 1 mean loopml is better) and written as JSON to
.bench/results/. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _servers import (
    BENCH_DIR,
    MLFLOW_VENV,
    QUIET_ENV,
    SPECS,
    RunningServer,
    ServerSpec,
    ServerStartError,
    ServerUnavailable,
    install_mlflow,
    tree_pss_bytes,
    tree_rss_bytes,
)

if TYPE_CHECKING:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

SERVER_ORDER = ("mlflow", "fasttrackml", "loopml")
RESULTS_DIR = BENCH_DIR / "results"
# Fail fast instead of MLflow's default 7 retries with exponential back-off,
# which would turn one broken endpoint into minutes of silence.
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    **QUIET_ENV,
}
SEARCH_FILTER = "metrics.m1 > 0.5 and params.p1 = 'a'"
SEARCH_ORDER = ["metrics.m2 DESC"]
SEARCH_PAGE = 1000


@dataclass(frozen=True)
class Sizes:
    """How much work each phase does; --quick shrinks it for iterating on the harness."""

    log_metric_calls: int = 500
    batches: int = 50
    batch_size: int = 1000
    search_runs: int = 10_000
    search_repeats: int = 5
    history_points: int = 100_000
    history_repeats: int = 3
    setup_threads: int = 8


FULL = Sizes()
QUICK = Sizes(log_metric_calls=100, batches=10, search_runs=1_000, history_points=20_000)


@dataclass(frozen=True)
class Figure:
    """One row of the table, made by `phase`; `better` is "higher", "lower" or "" (no ratio)."""

    key: str
    phase: str
    label: str
    better: str
    target: float | None = None
    decimals: int = 1


FIGURES = (
    Figure("cold_start_s", "start", "cold start: spawn to /health 200 (s)", "lower", 2.0, 2),
    Figure("settle_s", "start", "busy after /health until at rest (s)", ""),
    Figure("idle_rss_mb", "start", "memory at rest (MB RSS, tree)", "lower", 150.0),
    Figure("idle_pss_mb", "start", "memory at rest (MB PSS, tree)", "lower"),
    Figure("idle_processes", "start", "processes at rest", "", decimals=0),
    Figure("log_metric_per_s", "log_metric", "log_metric calls/s (sequential)", "higher", 200.0),
    Figure("log_metric_cpu_ms", "log_metric", "  server CPU ms per call", "lower", None, 2),
    Figure("log_metric_client_cpu_ms", "log_metric", "  client CPU ms per call", "", None, 2),
    Figure("log_batch_points_per_s", "log_batch", "log_batch points/s", "higher", 100_000.0, 0),
    Figure("log_batch_cpu_ms", "log_batch", "  server CPU ms per 1000 points", "lower"),
    Figure("log_batch_client_cpu_ms", "log_batch", "  client CPU ms per 1000 points", ""),
    Figure("search_setup_s", "search setup", "create runs for search (s, setup)", "lower"),
    Figure("search_runs_ms", "search_runs", "search_runs median (ms)", "lower", 150.0),
    Figure("search_server_cpu_ms", "search_runs", "  server CPU ms per call", "lower"),
    Figure("search_client_cpu_ms", "search_runs", "  client CPU ms per call", ""),
    Figure("history_s", "history", "get_metric_history median (s)", "lower", 0.5, 3),
    Figure("history_server_cpu_s", "history", "  server CPU s per call", "lower", None, 3),
    Figure("history_client_cpu_s", "history", "  client CPU s per call", "", None, 3),
    Figure("loaded_rss_mb", "end", "memory after load (MB RSS, tree)", "lower"),
)


@dataclass
class ServerResult:
    """What one server produced: figures, or why a figure (or the server) is missing."""

    name: str
    version: str = "unknown"
    status: str = "ok"  # "ok", "not available", "failed to start"
    reason: str = ""
    figures: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # by phase
    log: str = ""


# --- the workload ------------------------------------------------------------------


def _progress(server: str, message: str) -> None:
    print(f"[{server}] {message}", flush=True)


@dataclass(frozen=True)
class Timing:
    """Median wall time of repeated calls, CPU per call on each side, the last answer."""

    median_s: float
    server_cpu_s: float
    client_cpu_s: float
    answer: Any


def _time_calls(server: RunningServer, call: Callable[[], Any], repeats: int) -> Timing:
    """Time `call`; the CPU split shows whether the server or the mlflow client is slow."""
    server_before, client_before = server.cpu_s(), time.process_time()
    timings, answer = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        answer = call()
        timings.append(time.perf_counter() - started)
    return Timing(
        statistics.median(timings),
        (server.cpu_s() - server_before) / repeats,
        (time.process_time() - client_before) / repeats,
        answer,
    )


class Workload:
    """The same calls, in the same order, against every server; each phase returns figures."""

    def __init__(self, server: RunningServer, sizes: Sizes) -> None:
        from mlflow.tracking import MlflowClient

        self.server = server
        self.sizes = sizes
        self.client: MlflowClient = MlflowClient(tracking_uri=server.url)
        self.experiment_id = ""
        self.search_experiment_id = ""
        self.search_expected = 0

    def _new_run(self, name: str) -> str:
        if not self.experiment_id:
            self.experiment_id = self.client.create_experiment("bench")
        return str(self.client.create_run(self.experiment_id, run_name=name).info.run_id)

    def _metric_batch(self, key: str, first_step: int) -> list[Metric]:
        """One log_batch worth of points; built before timing so only the server is timed."""
        from mlflow.entities import Metric

        now_ms = int(time.time() * 1000)
        steps = range(first_step, first_step + self.sizes.batch_size)
        return [Metric(key, math.sin(step / 100), now_ms + step, step) for step in steps]

    def log_metric(self) -> dict[str, float]:
        """Sequential single-metric calls: the latency a training loop pays per step."""
        run_id, calls = self._new_run("log-metric"), self.sizes.log_metric_calls

        def log_all() -> None:
            for step in range(calls):
                self.client.log_metric(run_id, "m", step / calls, step=step)

        timing = _time_calls(self.server, log_all, repeats=1)
        return {
            "log_metric_per_s": calls / timing.median_s,
            "log_metric_cpu_ms": timing.server_cpu_s * 1000 / calls,
            "log_metric_client_cpu_ms": timing.client_cpu_s * 1000 / calls,
        }

    def log_batch(self) -> dict[str, float]:
        """Batches of 1000 points: the throughput ceiling for bulk logging."""
        run_id, size = self._new_run("log-batch"), self.sizes.batch_size
        batches = [self._metric_batch("b", i * size) for i in range(self.sizes.batches)]

        def log_all() -> None:
            for batch in batches:
                self.client.log_batch(run_id, metrics=batch)

        timing = _time_calls(self.server, log_all, repeats=1)
        thousands = size * len(batches) / 1000
        return {
            "log_batch_points_per_s": thousands * 1000 / timing.median_s,
            "log_batch_cpu_ms": timing.server_cpu_s * 1000 / thousands,
            "log_batch_client_cpu_ms": timing.client_cpu_s * 1000 / thousands,
        }

    def search_setup(self) -> dict[str, float]:
        """Create the runs search_runs filters; 8 client threads so setup stays short."""
        rng = random.Random(20240601)  # same data for every server
        rows = [_search_row(rng, index) for index in range(self.sizes.search_runs)]
        self.search_expected = sum(1 for params, metrics in rows if _row_matches(params, metrics))
        self.search_experiment_id = self.client.create_experiment("bench-search")
        started = time.perf_counter()
        _run_in_threads(self._create_search_run, list(enumerate(rows)), self.sizes.setup_threads)
        return {"search_setup_s": time.perf_counter() - started}

    def _create_search_run(self, item: tuple[int, tuple[list[Param], list[Metric]]]) -> None:
        index, (params, metrics) = item
        run = self.client.create_run(self.search_experiment_id, run_name=f"run-{index}")
        self.client.log_batch(run.info.run_id, metrics=metrics, params=params)

    def search(self) -> dict[str, float]:
        """Filter on a metric and a param, order by another metric: a typical UI query."""
        if not self.search_experiment_id:
            raise RuntimeError("search setup failed, nothing to search")
        timing = _time_calls(
            self.server,
            lambda: self.client.search_runs(
                [self.search_experiment_id],
                filter_string=SEARCH_FILTER,
                order_by=SEARCH_ORDER,
                max_results=SEARCH_PAGE,
            ),
            self.sizes.search_repeats,
        )
        _check_search(list(timing.answer), min(SEARCH_PAGE, self.search_expected))
        return {
            "search_runs_ms": timing.median_s * 1000,
            "search_server_cpu_ms": timing.server_cpu_s * 1000,
            "search_client_cpu_ms": timing.client_cpu_s * 1000,
        }

    def history(self) -> dict[str, float]:
        """Read back a long metric: what a chart of a long training run asks for."""
        run_id, points = self._new_run("history"), self.sizes.history_points
        for first_step in range(0, points, self.sizes.batch_size):
            self.client.log_batch(run_id, metrics=self._metric_batch("hist", first_step))
        timing = _time_calls(
            self.server,
            lambda: self.client.get_metric_history(run_id, "hist"),
            self.sizes.history_repeats,
        )
        if len(timing.answer) != points:
            raise AssertionError(f"get_metric_history returned {len(timing.answer)} of {points}")
        return {
            "history_s": timing.median_s,
            "history_server_cpu_s": timing.server_cpu_s,
            "history_client_cpu_s": timing.client_cpu_s,
        }


def _search_row(rng: random.Random, index: int) -> tuple[list[Param], list[Metric]]:
    """Params p1..p5 and metrics m1..m5 of one run; 3 runs in 4 have p1 = 'a'."""
    from mlflow.entities import Metric, Param

    p1 = "b" if index % 4 == 3 else "a"
    params = [Param("p1", p1)] + [Param(f"p{k}", f"v{index % (k * 3)}") for k in range(2, 6)]
    metrics = [Metric(f"m{k}", rng.random(), 1_700_000_000_000, 0) for k in range(1, 6)]
    return params, metrics


def _row_matches(params: list[Param], metrics: list[Metric]) -> bool:
    """SEARCH_FILTER evaluated locally, to know how many runs the server must return."""
    return params[0].value == "a" and metrics[0].value > 0.5


def _run_in_threads(work: Callable[[Any], None], items: list[Any], threads: int) -> None:
    """Map `work` over `items`; on Ctrl-C or an error, drop the queued items at once."""
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        for _ in pool.map(work, items):
            pass
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _check_search(runs: Sequence[Any], expected: int) -> None:
    """A fast wrong answer is no answer: check count, filter and order."""
    if len(runs) != expected:
        raise AssertionError(f"search_runs returned {len(runs)} runs, expected {expected}")
    for run in runs:
        if run.data.params.get("p1") != "a" or not run.data.metrics.get("m1", 0) > 0.5:
            raise AssertionError(f"search_runs returned non-matching run {run.info.run_id}")
    m2 = [run.data.metrics.get("m2", math.nan) for run in runs]
    if any(a < b for a, b in itertools.pairwise(m2)):
        raise AssertionError("search_runs results are not ordered by metrics.m2 DESC")


# --- running one server ---------------------------------------------------------------


PHASES: tuple[tuple[str, Callable[[Workload], dict[str, float]]], ...] = (
    ("log_metric", Workload.log_metric),
    ("log_batch", Workload.log_batch),
    ("search setup", Workload.search_setup),
    ("search_runs", Workload.search),
    ("history", Workload.history),
)


def run_workload(workload: Workload, result: ServerResult) -> None:
    """Run every phase; a failing phase records its error and the next one still runs."""
    for name, phase in PHASES:
        _progress(result.name, f"{name} ...")
        started = time.monotonic()
        try:
            figures = phase(workload)
        except Exception as exc:  # any client or server failure is a finding, not a crash
            result.errors[name] = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:400]
            _progress(result.name, f"{name} FAILED: {result.errors[name]}")
            continue
        result.figures.update(figures)
        shown = ", ".join(f"{key}={value:,.3g}" for key, value in figures.items())
        _progress(result.name, f"{name}: {shown} ({time.monotonic() - started:.1f} s)")


def _memory_figures(server: RunningServer, prefix: str) -> dict[str, float]:
    stats = server.stats()
    return {
        f"{prefix}_rss_mb": tree_rss_bytes(stats) / 2**20,
        f"{prefix}_pss_mb": tree_pss_bytes(stats) / 2**20,
        f"{prefix}_processes": len(stats),
    }


def bench_server(spec: ServerSpec, sizes: Sizes, run_stamp: str) -> ServerResult:
    """Start one server in a fresh temp dir, run the workload, and always kill its tree."""
    result = ServerResult(name=spec.name, version=spec.version())
    workdir = Path(tempfile.mkdtemp(prefix=f"loopml-bench-{spec.name}-"))
    server = RunningServer(spec, workdir)
    _progress(spec.name, f"starting {spec.version()} on {server.url}")
    try:
        result.figures["cold_start_s"] = server.start()
        _progress(spec.name, f"healthy after {result.figures['cold_start_s']:.2f} s")
        result.figures["settle_s"] = server.wait_settled()
        idle = _memory_figures(server, "idle")
        result.figures.update(idle)
        _progress(
            spec.name,
            f"at rest: {idle['idle_rss_mb']:.0f} MB in {idle['idle_processes']:.0f} processes",
        )
        run_workload(Workload(server, sizes), result)
        result.figures.update(_memory_figures(server, "loaded"))
    except ServerStartError as exc:
        result.status, result.reason = "failed to start", str(exc)
        _progress(spec.name, f"failed to start: {exc}")
    finally:
        server.stop()
        result.log = str(server.save_log(run_stamp))
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# --- setting up --------------------------------------------------------------------


def prepare_servers(names: Sequence[str], skip_install: bool) -> dict[str, ServerResult]:
    """Install what is missing; a server that cannot be had is reported, never fatal."""
    unavailable = {}
    for name in names:
        spec = SPECS[name]
        if spec.install is None:
            continue  # loopml comes with the project venv
        try:
            if not skip_install:
                spec.install()
            elif not spec.executable.exists():
                raise ServerUnavailable(
                    f"{spec.executable} missing; run once without --skip-install"
                )
        except (ServerUnavailable, OSError) as exc:
            unavailable[name] = ServerResult(name, status="not available", reason=str(exc))
            print(f"{name}: not available ({exc})", flush=True)
    return unavailable


def ensure_client(argv: list[str], skip_install: bool) -> str:
    """Import mlflow here, or re-run this script under .bench/mlflow-venv, which has it."""
    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)  # read by mlflow when it is imported
    for key in ("NO_PROXY", "no_proxy"):  # the servers are on loopback, never via a proxy
        os.environ[key] = ",".join(filter(None, [os.environ.get(key), "127.0.0.1", "localhost"]))
    try:
        import mlflow
    except ImportError:
        python = MLFLOW_VENV / "bin" / "python"
        if not skip_install:
            install_mlflow()
        if os.environ.get("LOOPML_BENCH_REEXEC") or not python.exists():
            message = "no mlflow client: install loopml[dev] or run without --skip-install"
            raise SystemExit(message) from None
        print("[setup] no mlflow in this interpreter; re-running under .bench/mlflow-venv")
        os.environ["LOOPML_BENCH_REEXEC"] = "1"
        script = str(Path(__file__).resolve())
        os.execv(python, [str(python), script, *argv, "--skip-install"])
    return str(mlflow.__version__)


# --- reporting ---------------------------------------------------------------------


def _ratio(figure: Figure, loopml: float | None, other: float | None) -> float | None:
    """> 1 always means loopml is better, whichever way the figure points."""
    if not figure.better or loopml is None or other is None or not loopml or not other:
        return None
    return loopml / other if figure.better == "higher" else other / loopml


def _meets(figure: Figure, value: float | None) -> bool | None:
    if figure.target is None or value is None:
        return None
    return value >= figure.target if figure.better == "higher" else value < figure.target


def _cell(result: ServerResult, figure: Figure) -> str:
    if result.status != "ok":
        return "-"
    if figure.phase in result.errors:
        return "error"
    value = result.figures.get(figure.key)
    return "-" if value is None else f"{value:,.{figure.decimals}f}"


def _target_text(figure: Figure) -> str:
    if figure.target is None:
        return ""
    sign = ">=" if figure.better == "higher" else "<"
    return f"{sign} {figure.target:,.{figure.decimals}f}"


def table_rows(results: dict[str, ServerResult]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one column per server, loopml's target, then the ratios."""
    names = [name for name in SERVER_ORDER if name in results]
    others = [name for name in ("mlflow", "fasttrackml") if name in results and "loopml" in results]
    headers = ["figure", *(f"{name} {results[name].version}" for name in names)]
    headers += ["loopml target"] if "loopml" in results else []
    headers += [f"loopml/{name}" for name in others]
    rows = []
    for figure in FIGURES:
        row = [figure.label]
        for name in names:
            mark = {True: " ok", False: " MISS", None: ""}[
                _meets(figure, results[name].figures.get(figure.key))
            ]
            row.append(_cell(results[name], figure) + (mark if name == "loopml" else ""))
        if "loopml" in results:
            row.append(_target_text(figure))
        for name in others:
            ratio = _ratio(figure, _value(results["loopml"], figure), _value(results[name], figure))
            row.append("" if ratio is None else f"{ratio:.2f}x")
        rows.append(row)
    return headers, rows


def _value(result: ServerResult, figure: Figure) -> float | None:
    if result.status != "ok" or figure.phase in result.errors:
        return None
    return result.figures.get(figure.key)


TITLE = "Tracking servers through the mlflow client (ratio > 1 means loopml is better)"
CAPTION = "ratio = loopml/other for higher-is-better figures, other/loopml for times and memory"


def _column_widths(headers: list[str], rows: list[list[str]]) -> list[int]:
    return [max(len(line[col]) for line in [headers, *rows]) for col in range(len(headers))]


def _print_plain(headers: list[str], rows: list[list[str]]) -> None:
    widths = _column_widths(headers, rows)
    print(f"\n{TITLE}\n{CAPTION}\n")
    for line in [headers, ["-" * width for width in widths], *rows]:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        print("  ".join(cells))


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A Rich table when Rich is importable (the project venv), plain text otherwise."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        _print_plain(headers, rows)
        return
    table = Table()
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*row)
    # Rich assumes 80 columns when piped (make bench | tee): size to the content instead.
    console = Console()
    console.width = max(console.width, sum(_column_widths(headers, rows)) + 3 * len(headers) + 1)
    console.print(f"\n[bold]{TITLE}[/bold]\n{CAPTION}")
    console.print(table)


def print_notes(results: dict[str, ServerResult]) -> None:
    """Why a column or a cell is empty: unavailable servers and failed phases."""
    for result in results.values():
        if result.status != "ok":
            print(f"{result.name}: {result.status} ({result.reason})")
        for phase, message in result.errors.items():
            print(f"{result.name}: {phase} failed: {message}")


def _host() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")), 0)
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write_json(
    results: dict[str, ServerResult], sizes: Sizes, client_version: str, run_stamp: str
) -> Path:
    """Everything the table shows, plus sizes and host, for comparing runs later."""
    ratios = {
        f"loopml/{name}": {
            figure.key: _ratio(figure, _value(results["loopml"], figure), _value(other, figure))
            for figure in FIGURES
            if figure.better
        }
        for name, other in results.items()
        if name != "loopml" and "loopml" in results
    }
    targets = {
        figure.key: {
            "target": figure.target,
            "better": figure.better,
            "met": _meets(figure, _value(results["loopml"], figure))
            if "loopml" in results
            else None,
        }
        for figure in FIGURES
        if figure.target is not None
    }
    payload = {
        "benchmark": "tracking",
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "sizes": asdict(sizes),
        "host": _host(),
        "client": {"mlflow": client_version, "python": sys.executable},
        "servers": {name: asdict(result) for name, result in results.items()},
        "ratios": ratios,
        "targets": targets,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"tracking-{run_stamp}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


# --- entry point -------------------------------------------------------------------


def _server_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVER_ORDER))
    if unknown or not names:
        known = ", ".join(SERVER_ORDER)
        raise argparse.ArgumentTypeError(f"unknown server {', '.join(unknown)}; known: {known}")
    return [name for name in SERVER_ORDER if name in names]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers",
        type=_server_list,
        default=list(SERVER_ORDER),
        help="comma-separated subset of mlflow,fasttrackml,loopml (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a fast check")
    parser.add_argument(
        "--skip-install", action="store_true", help="reuse the .bench venvs as they are"
    )
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM takes the Ctrl-C path, so every `finally` kills its server."""
    raise KeyboardInterrupt


def _describe(sizes: Sizes) -> str:
    return (
        f"workload: {sizes.log_metric_calls} log_metric calls; "
        f"{sizes.batches} x {sizes.batch_size}-point log_batch; "
        f"search_runs over {sizes.search_runs:,} runs (median of {sizes.search_repeats}); "
        f"get_metric_history of {sizes.history_points:,} points (median of {sizes.history_repeats})"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    run_stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    BENCH_DIR.mkdir(exist_ok=True)
    (BENCH_DIR / ".gitignore").write_text("*\n")  # never commit venvs or results
    results = prepare_servers(args.servers, args.skip_install)
    client_version = ensure_client(argv, args.skip_install)
    sizes = QUICK if args.quick else FULL
    print(f"client: mlflow {client_version} ({sys.executable})\n{_describe(sizes)}", flush=True)
    try:
        for name in args.servers:
            if name not in results:
                results[name] = bench_server(SPECS[name], sizes, run_stamp)
    except KeyboardInterrupt:
        print("\ninterrupted; every server started was stopped", file=sys.stderr)
        return 130
    ordered = {name: results[name] for name in args.servers}
    print_table(*table_rows(ordered))
    print_notes(ordered)
    print(f"results: {write_json(ordered, sizes, client_version, run_stamp)}")
    return 0 if any(result.status == "ok" for result in ordered.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
