"""Benchmark pipelines: loopml against Prefect and Kedro on trivial steps, from cold processes.

Two workloads whose steps do almost nothing, so what is measured is each tool's
own cost per step: a chain of 50 steps (each adds one to the last result) and
a fan-out of one step over 200 items (each doubles its item). Each runs in a
fresh interpreter, imports included:

- loopml with the ``process`` executor (local worker pool) and the ``ray``
  executor (a local Ray started in the process; its start-up is shown apart),
  cache off, every step recorded as a child run in an embedded store, as in
  production;
- Prefect 3 with its own server (``prefect server start`` in the background,
  ``PREFECT_API_URL`` pointed at it; its ephemeral server timed out here), every
  flow and task run recorded by that server; its CPU is counted too;
- Kedro with its default ``SequentialRunner`` and in-memory datasets (it
  records nothing).

Printed per run: wall time of the cold process, time of the run itself, CPU
time of the whole process tree (workers, Ray's daemons and, for Prefect, the
server's share), per-step overhead (run time / steps), and each figure's ratio
to loopml's process executor on the same workload.

    .venv/bin/python bench/pipelines.py                    # everything, 3 repeats
    .venv/bin/python bench/pipelines.py --quick            # 1 repeat, no Ray
    .venv/bin/python bench/pipelines.py --tools loopml,kedro --skip-install

The anchors install into git-ignored venvs on the first run: .bench/prefect
(prefect==3.9.1) and .bench/kedro (kedro==1.7.0). Results also go to
.bench/results/pipelines-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _servers import (
    BENCH_DIR,
    LOGS_DIR,
    PROJECT_VENV,
    QUIET_ENV,
    RunningServer,
    ServerSpec,
    ServerStartError,
    ServerUnavailable,
    dist_version,
    ensure_venv,
)

PREFECT_VENV = BENCH_DIR / "prefect"
PREFECT_REQUIREMENT = "prefect==3.9.1"
KEDRO_VENV = BENCH_DIR / "kedro"
KEDRO_REQUIREMENT = "kedro==1.7.0"
RESULTS_DIR = BENCH_DIR / "results"
CHAIN_STEPS = 50
FAN_ITEMS = 200
RUN_TIMEOUT_S = 600.0
WORKLOADS = ("chain", "fan")
PER_STEP_TARGET_MS = 14.0  # a tenth of Prefect's ~140 ms, and under Kedro's ~30 ms
COLD_CHAIN_TARGET_S = 3.0

# --- the workloads, as each tool's users would write them ---------------------------------

LOOPML_FLOWS = f"""
from loopml import pipeline, step


@step
def inc(x: int) -> int:
    return x + 1


@step
def double(x: int) -> int:
    return 2 * x


@pipeline
def chain(n: int = {CHAIN_STEPS}) -> int:
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


@pipeline
def fan(n: int = {FAN_ITEMS}) -> list[int]:
    return double.map(list(range(n)))


@pipeline
def single() -> int:
    return inc(0)
"""

PREFECT_FLOWS = f"""
from prefect import flow, task


@task
def inc(x: int) -> int:
    return x + 1


@task
def double(x: int) -> int:
    return 2 * x


@flow
def chain(n: int = {CHAIN_STEPS}) -> int:
    x = 0
    for _ in range(n):
        x = inc(x)
    return x


@flow
def fan(n: int = {FAN_ITEMS}) -> list[int]:
    return double.map(range(n)).result()


@flow
def single() -> int:
    return inc(0)
"""

KEDRO_FLOWS = f"""
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner


def inc(x):
    return x + 1


def double(x):
    return 2 * x


def chain(n={CHAIN_STEPS}):
    nodes = [node(inc, f"x{{i}}", f"x{{i + 1}}", name=f"inc{{i}}") for i in range(n)]
    catalog = DataCatalog({{"x0": MemoryDataset(0)}})
    outputs = SequentialRunner().run(Pipeline(nodes), catalog)
    return _value(outputs[f"x{{n}}"])


def fan(n={FAN_ITEMS}):
    nodes = [node(double, f"in{{i}}", f"out{{i}}", name=f"double{{i}}") for i in range(n)]
    catalog = DataCatalog({{f"in{{i}}": MemoryDataset(i) for i in range(n)}})
    outputs = SequentialRunner().run(Pipeline(nodes), catalog)
    return [_value(outputs[f"out{{i}}"]) for i in range(n)]


def single():
    return chain(1)


def _value(found):
    return found.load() if hasattr(found, "load") else found
"""

# Each driver: argv[1] the folder holding the flows, argv[2] the workload, argv[3] the
# mode, then the tool's options. The tool's part defines execute(name) -> result.
# "cold" runs the workload once (a fresh interpreter: imports, first connection, worker
# start-up all count); "warm" runs the one-step pipeline and the workload three times
# each after a warm-up and reports medians, which is where the cost of one more step
# shows without the fixed costs of a run. Each prints one RESULT line.
STEPS = {"single": 1, "chain": CHAIN_STEPS, "fan": FAN_ITEMS}
EXPECTED = {"single": 1, "chain": CHAIN_STEPS, "fan": sum(2 * i for i in range(FAN_ITEMS))}
PRELUDE = (
    f"STEPS, EXPECTED = {STEPS!r}, {EXPECTED!r}\n"
    + """
import json, statistics, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
workload, mode = sys.argv[2], sys.argv[3]
extra = {}
"""
)

MAIN = """
def timed(name):
    begun = time.perf_counter()
    value = execute(name)
    elapsed = time.perf_counter() - begun
    total = value if isinstance(value, int) else sum(value)
    assert total == EXPECTED[name], (name, value)
    return elapsed

if mode == "cold":
    extra["run_s"] = timed(workload)
else:
    timed("single")
    singles, runs = [], []
    for _ in range(3):
        singles.append(timed("single"))
        runs.append(timed(workload))
    extra["single_s"], extra["run_s"] = statistics.median(singles), statistics.median(runs)
print("RESULT " + json.dumps({"import_s": imported - started, "steps": STEPS[workload], **extra}))
"""

LOOPML_DRIVER = (
    PRELUDE
    + """
import os
import loopml, loopml.client  # the SDK: what Prefect's and Kedro's imports also bring in
import flows_loopml as flows
imported = time.perf_counter()
executor = sys.argv[5]
if executor == "ray":
    import ray
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": sys.argv[1]}})
    extra["ray_init_s"] = time.perf_counter() - imported
client = loopml.Client(sys.argv[4])

def execute(name):
    run = getattr(flows, name).run(client=client, executor=executor, cache=False)
    assert run.status == "FINISHED", run.steps
    return run.result()
"""
    + MAIN
    + """
if executor == "ray":
    ray.shutdown()
"""
)

PREFECT_DRIVER = (
    PRELUDE
    + """
import flows_prefect as flows
imported = time.perf_counter()

def execute(name):
    return getattr(flows, name)()
"""
    + MAIN
)

KEDRO_DRIVER = PREFECT_DRIVER.replace("flows_prefect", "flows_kedro")

# The launcher runs a driver as a child subreaper: processes the driver leaves
# behind (a fork server, Ray's daemons) are re-parented to it and reaped before it
# reports, so RUSAGE_CHILDREN is the CPU of the whole tree, not only the driver's.
LAUNCHER = """
import ctypes, json, os, resource, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - started
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        pid, _ = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if pid == 0:
        time.sleep(0.05)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "code": code}, out)
"""


@dataclass
class Measured:
    tool: str
    executor: str
    workload: str
    mode: str = "cold"
    wall_s: float = 0.0
    cpu_s: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass
class Scenario:
    tool: str
    executor: str
    python: Path
    driver: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    server: RunningServer | None = None


def _log(message: str) -> None:
    print(f"[pipelines] {message}", flush=True)


def measure(scenario: Scenario, workload: str, mode: str, work: Path, stamp: str) -> Measured:
    """One process: wall and tree CPU from the launcher, the RESULT line from the driver."""
    label = f"{scenario.tool}-{scenario.executor}-{workload}-{mode}"
    usage_path = work / f"{label}.usage.json"
    log_path = LOGS_DIR / f"{stamp}-pipelines-{label}.log"
    argv = [str(scenario.python), "-c", scenario.driver, str(work), workload, mode, *scenario.args]
    launcher = [sys.executable, "-I", "-c", LAUNCHER, str(usage_path), *argv]
    server_cpu = scenario.server.cpu_s() if scenario.server else 0.0
    measured = Measured(scenario.tool, scenario.executor, workload, mode)
    with log_path.open("wb") as log:
        done = subprocess.run(
            launcher,
            cwd=work,
            env={**os.environ, **QUIET_ENV, **scenario.env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    if scenario.server is not None:
        time.sleep(1.0)  # let the server finish the writes the run sent it
        measured.cpu_s += scenario.server.cpu_s() - server_cpu
    text = log_path.read_text(errors="replace")
    results = [line for line in text.splitlines() if line.startswith("RESULT ")]
    try:
        usage = json.loads(usage_path.read_text())
        measured.wall_s, measured.cpu_s = usage["wall_s"], measured.cpu_s + usage["cpu_s"]
    except (OSError, ValueError):
        measured.error = f"launcher exited {done.returncode}"
    if results:
        measured.result = json.loads(results[-1].removeprefix("RESULT "))
    else:
        measured.error = " | ".join(line.strip() for line in text.splitlines()[-3:])[:400]
    return measured


# --- the tools ------------------------------------------------------------------------


def loopml_scenarios(work: Path, executors: list[str]) -> list[Scenario]:
    scenarios = []
    for executor in executors:
        home = work / f"loopml-{executor}"
        init = f"import loopml; loopml.Client({str(home)!r}).get_experiment_by_name('pipelines')"
        subprocess.run([str(PROJECT_VENV / "bin" / "python"), "-c", init], check=True)
        scenarios.append(
            Scenario(
                "loopml",
                executor,
                PROJECT_VENV / "bin" / "python",
                LOOPML_DRIVER,
                [str(home), executor],
            )
        )
    return scenarios


class PrefectServer(RunningServer):
    """Prefect answers health checks under /api."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"


def _prefect_argv(executable: Path, port: int, _workdir: Path) -> list[str]:
    return [str(executable), "server", "start", "--host", "127.0.0.1", "--port", str(port)]


def start_prefect(work: Path) -> PrefectServer:
    home = work / "prefect-server"
    spec = ServerSpec(
        name="prefect",
        executable=PREFECT_VENV / "bin" / "prefect",
        argv=_prefect_argv,
        env=lambda _dir: {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
        },
    )
    server = PrefectServer(spec, work)
    took = server.start(timeout_s=240)
    _log(f"prefect server up on port {server.port} after {took:.1f} s")
    return server


def prefect_scenario(work: Path, server: PrefectServer) -> Scenario:
    env = {
        "PREFECT_API_URL": server.url,
        "PREFECT_HOME": str(work / "prefect-client"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    return Scenario(
        "prefect", "server", PREFECT_VENV / "bin" / "python", PREFECT_DRIVER, [], env, server
    )


def kedro_scenario() -> Scenario:
    return Scenario("kedro", "sequential", KEDRO_VENV / "bin" / "python", KEDRO_DRIVER)


def prepare(tools: list[str], skip_install: bool) -> list[str]:
    """Install the anchors unless told not to; return the tools that can run."""
    ready = []
    anchors = {
        "prefect": (PREFECT_VENV, PREFECT_REQUIREMENT, PREFECT_VENV / "bin" / "prefect"),
        "kedro": (KEDRO_VENV, KEDRO_REQUIREMENT, KEDRO_VENV / "bin" / "kedro"),
    }
    for tool in tools:
        if tool not in anchors:
            ready.append(tool)
            continue
        venv, requirement, marker = anchors[tool]
        try:
            if not skip_install:
                ensure_venv(venv, requirement, marker)
            elif not marker.exists():
                raise ServerUnavailable(f"{venv} is missing; run once without --skip-install")
            ready.append(tool)
        except (ServerUnavailable, OSError) as error:
            _log(f"{tool}: not available ({error})")
    return ready


# --- the table ----------------------------------------------------------------------------


def _shown(measured: Measured) -> str:
    if measured.error:
        return f"error: {measured.error}"
    result = measured.result
    if measured.mode == "warm":
        return f"warm run {result['run_s']:.3f} s, one-step run {result['single_s']:.3f} s"
    return f"wall {measured.wall_s:.2f} s, run {result['run_s']:.2f} s, CPU {measured.cpu_s:.2f} s"


def summarize(runs: list[Measured]) -> dict[str, Any]:
    """Medians of the cold runs, and the warm run's per-step figures."""
    cold = [r for r in runs if r.mode == "cold" and not r.error]
    warm = [r for r in runs if r.mode == "warm" and not r.error]
    if not cold:
        return {"error": next((r.error for r in runs if r.error), "not run")}
    steps = cold[0].result["steps"]
    run_s = statistics.median(r.result["run_s"] for r in cold)
    summary = {
        "wall_s": statistics.median(r.wall_s for r in cold),
        "run_s": run_s,
        "cpu_s": statistics.median(r.cpu_s for r in cold),
        "steps": steps,
        "per_step_ms": run_s / steps * 1000,
        "startup_s": statistics.median(r.result.get("ray_init_s", 0.0) for r in cold),
        "repeats": len(cold),
    }
    if warm:
        result = warm[0].result
        summary["warm_per_step_ms"] = result["run_s"] / steps * 1000
        extra_s = max(0.0, result["run_s"] - result["single_s"])
        summary["marginal_ms"] = extra_s / (steps - 1) * 1000
    return summary


def _ratio(value: float | None, anchor: float | None) -> str:
    return f"{value / anchor:.1f}x" if value is not None and anchor else ""


def print_table(summaries: dict[tuple[str, str, str], dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Pipelines of trivial steps", header_style="bold")
    headers = [
        *("tool", "executor", "workload", "steps", "wall s", "run s", "CPU s", "ms/step"),
        *("warm ms/step", "marginal ms", "wall ratio", "ms/step ratio", "marg. ratio"),
    ]
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index < 3 else "right", no_wrap=True)
    for (tool, executor, workload), summary in summaries.items():
        if "error" in summary:
            table.add_row(tool, executor, workload, "error", summary["error"][:60], *[""] * 8)
            continue
        anchor = summaries.get(("loopml", "process", workload), {})
        startup = f" (+{summary['startup_s']:.1f} start)" if summary["startup_s"] else ""
        marginal = summary.get("marginal_ms")
        warm = summary.get("warm_per_step_ms")
        table.add_row(
            tool, executor, workload, str(summary["steps"]),
            f"{summary['wall_s']:.2f}{startup}", f"{summary['run_s']:.2f}",
            f"{summary['cpu_s']:.2f}", f"{summary['per_step_ms']:.1f}",
            "" if warm is None else f"{warm:.1f}",
            "" if marginal is None else f"{marginal:.1f}",
            _ratio(summary["wall_s"], anchor.get("wall_s")),
            _ratio(summary["per_step_ms"], anchor.get("per_step_ms")),
            _ratio(marginal, anchor.get("marginal_ms")),
        )  # fmt: skip
    console = Console()
    console.width = max(console.width, 160)
    console.print(table)
    console.print(
        "wall, run, CPU and ms/step are of cold runs: a fresh process each (median of the "
        "repeats); wall includes interpreter "
        "start and imports, run is the pipeline run alone, CPU is the whole process tree "
        "(workers, Ray's daemons, Prefect's server). warm: the same run again in a process "
        "that already ran one. ms/step: run / steps; marginal: (warm run - warm one-step run) "
        "/ (steps - 1), the cost of one more step. ratio: the tool's figure / loopml process "
        "executor's, same workload (>1: loopml is faster). Targets: loopml under "
        f"{PER_STEP_TARGET_MS:.0f} ms a step; a cold {CHAIN_STEPS}-step chain under "
        f"{COLD_CHAIN_TARGET_S:.0f} s (process executor). Ray's wall includes starting a local "
        "Ray (shown apart); its runs do not."
    )


def run_scenario(
    scenario: Scenario,
    repeats: int,
    work: Path,
    stamp: str,
    runs: dict[tuple[str, str, str], list[Measured]],
) -> None:
    for workload in WORKLOADS:
        key = (scenario.tool, scenario.executor, workload)
        for mode in ["cold"] * repeats + ["warm"]:
            measured = measure(scenario, workload, mode, work, stamp)
            runs.setdefault(key, []).append(measured)
            _log(f"{'/'.join(key)} {mode}: {_shown(measured)}")


def run_prefect(
    repeats: int, work: Path, stamp: str, runs: dict[tuple[str, str, str], list[Measured]]
) -> None:
    """Prefect's server runs only while Prefect is measured: it must not tax the others."""
    try:
        server = start_prefect(work)
    except ServerStartError as error:
        _log(f"prefect: server failed to start: {error}")
        return
    try:
        server.wait_settled()
        run_scenario(prefect_scenario(work, server), repeats, work, stamp, runs)
    finally:
        server.save_log(stamp)
        server.stop()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", default="loopml,prefect,kedro", help="a subset, comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="cold runs per scenario (median)")
    parser.add_argument("--quick", action="store_true", help="one repeat, no Ray")
    parser.add_argument("--no-ray", action="store_true", help="skip loopml's Ray executor")
    parser.add_argument(
        "--skip-install", action="store_true", help="use the .bench venvs as they are"
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    tools = prepare([t.strip() for t in args.tools.split(",") if t.strip()], args.skip_install)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="loopml-bench-pipelines-"))
    for name, text in (
        ("loopml", LOOPML_FLOWS),
        ("prefect", PREFECT_FLOWS),
        ("kedro", KEDRO_FLOWS),
    ):
        (work / f"flows_{name}.py").write_text(text)
    runs: dict[tuple[str, str, str], list[Measured]] = {}
    try:
        if "loopml" in tools:
            executors = ["process"] if args.quick or args.no_ray else ["process", "ray"]
            for scenario in loopml_scenarios(work, executors):
                run_scenario(scenario, repeats, work, stamp, runs)
        if "kedro" in tools:
            run_scenario(kedro_scenario(), repeats, work, stamp, runs)
        if "prefect" in tools:
            run_prefect(repeats, work, stamp, runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summaries = {key: summarize(measured) for key, measured in runs.items()}
    print_table(summaries)
    versions = {
        "loopml": dist_version(PROJECT_VENV, "loopml"),
        "ray": dist_version(PROJECT_VENV, "ray"),
        "prefect": dist_version(PREFECT_VENV, "prefect"),
        "kedro": dist_version(KEDRO_VENV, "kedro"),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"pipelines-{stamp}.json"
    payload = {
        "versions": versions,
        "cpus": os.cpu_count(),
        "summaries": {"/".join(k): v for k, v in summaries.items()},
        "runs": {"/".join(k): [asdict(m) for m in v] for k, v in runs.items()},
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    _log(f"versions: {versions}; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
