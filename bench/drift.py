"""Benchmark drift detection: `loopml.monitoring.compare` against Evidently's data-drift preset.

Seeded reference and current frames (15 numeric, 5 categorical columns; six with
injected drift of four kinds, four with deliberately negligible changes, ten
unchanged: see bench/_drift_data.py) are compared at each size by Evidently 0.7
(`Report([DataDriftPreset()]).run(current, reference)`) and by loopml, two ways:
`compare(reference_df, current_df)` cold, and `profile(reference_df)` once, saved,
then `compare(profile, current_df)` in a fresh process. Every measurement is its
own process; it reports the wall and CPU time of the comparison itself, its peak
RSS, and which columns it flagged, scored against the ground truth.

    .venv/bin/python bench/drift.py                    # 10k, 100k and 1M rows
    .venv/bin/python bench/drift.py --quick            # 10k and 100k rows
    .venv/bin/python bench/drift.py --sizes 10000 --skip-install

The first run creates .bench/evidently and caches the frames under .bench/data.
Results are printed per size with ratios (Evidently / loopml time, loopml / Evidently
peak memory) and the issue's targets, and written as JSON to .bench/results/.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import _drift_data as truth
from _servers import BENCH_DIR, PROJECT_VENV, ServerUnavailable, dist_version, ensure_venv

from data import RESULTS_DIR, WORK_DIR, Measured, _host, measure

BENCH_SRC = Path(__file__).resolve().parent
EVIDENTLY_VENV = BENCH_DIR / "evidently"
EVIDENTLY_REQUIREMENT = "evidently==0.7.23"
# evidently 0.7.23 imports pandas.core.dtypes.common.infer_dtype_from_object, which
# pandas 3 removed: its venv keeps the last pandas 2.
EVIDENTLY_PANDAS = "pandas==2.3.3"
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
SPEED_TARGET = 15.0  # Evidently wall / loopml wall, at TARGET_ROWS
SPEED_TARGET_ROWS = 1_000_000
MEMORY_TARGET = 1 / 3  # loopml peak / Evidently peak

# --- what each measured process runs ------------------------------------------------------

# Shared head of every measured script: argv[1] is this folder (for _drift_data),
# argv[2] the .npz. cpu() counts the process and its reaped children; RESULT is
# the one line the bench reads back.
PRELUDE = """
import json, resource, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import _drift_data as data

def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

def report(begun, begun_cpu, loaded, finished, finished_cpu, **extra):
    print("RESULT " + json.dumps({
        "import_s": imported - started, "load_s": loaded - imported,
        "compare_s": finished - begun, "compare_cpu_s": finished_cpu - begun_cpu,
        "loaded_mb": loaded_mb,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **extra}))
"""

EVIDENTLY_RUN = (
    PRELUDE
    + """
import evidently
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
imported = time.perf_counter()
reference, current = data.load_frames(sys.argv[2])
loaded, loaded_mb = time.perf_counter(), rss_mb()
begun, begun_cpu = time.perf_counter(), cpu()
definition = DataDefinition(numerical_columns=data.NUMERIC, categorical_columns=data.CATEGORICAL)
snapshot = Report([DataDriftPreset()], include_tests=True).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
result = snapshot.dict()
columns = {}
for metric in result["metrics"]:
    config = metric["config"]
    if config["type"].endswith(":ValueDrift"):
        columns[config["column"]] = {
            "score": metric["value"], "detector": config.get("method"),
            "threshold": config.get("threshold"), "drifted": None}
for test in result["tests"]:
    column = test["metric_config"]["params"].get("column")
    if column in columns:
        columns[column]["drifted"] = test["status"] != "SUCCESS"
finished, finished_cpu = time.perf_counter(), cpu()
version = evidently.__version__
report(begun, begun_cpu, loaded, finished, finished_cpu, columns=columns, version=version)
"""
)

LOOPML_COLUMNS = """
def verdicts(result):
    return {name: {key: column.get(key) for key in ("score", "drifted", "detector", "threshold")}
            for name, column in result.values()["columns"].items()}
"""

LOOPML_COLD = (
    PRELUDE
    + LOOPML_COLUMNS
    + """
from loopml.monitoring import compare
imported = time.perf_counter()
reference, current = data.load_frames(sys.argv[2])
loaded, loaded_mb = time.perf_counter(), rss_mb()
begun, begun_cpu = time.perf_counter(), cpu()
columns = verdicts(compare(reference, current))
finished, finished_cpu = time.perf_counter(), cpu()
compare(reference, current)  # again, imports done: what a long-lived process pays
again_s = time.perf_counter() - finished
report(begun, begun_cpu, loaded, finished, finished_cpu, columns=columns, compare_again_s=again_s)
"""
)

# argv[3]: where the serialized profile goes.
LOOPML_PROFILE = (
    PRELUDE
    + """
from loopml.monitoring import profile
imported = time.perf_counter()
(reference,) = data.load_frames(sys.argv[2], ("reference",))
loaded, loaded_mb = time.perf_counter(), rss_mb()
begun, begun_cpu = time.perf_counter(), cpu()
raw = profile(reference).to_bytes()
with open(sys.argv[3], "wb") as out:
    out.write(raw)
finished, finished_cpu = time.perf_counter(), cpu()
report(begun, begun_cpu, loaded, finished, finished_cpu, profile_bytes=len(raw))
"""
)

# argv[3]: the profile LOOPML_PROFILE wrote; reading it back is part of the comparison.
LOOPML_FROM_PROFILE = (
    PRELUDE
    + LOOPML_COLUMNS
    + """
from loopml.monitoring import compare
from loopml.monitoring.profile import Profile
imported = time.perf_counter()
(current,) = data.load_frames(sys.argv[2], ("current",))
loaded, loaded_mb = time.perf_counter(), rss_mb()
begun, begun_cpu = time.perf_counter(), cpu()
with open(sys.argv[3], "rb") as stored:
    reference = Profile.from_bytes(stored.read())
columns = verdicts(compare(reference, current))
finished, finished_cpu = time.perf_counter(), cpu()
report(begun, begun_cpu, loaded, finished, finished_cpu, columns=columns)
"""
)

LOOPML_PROBE = "from loopml.monitoring import compare, profile"


# --- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One measured process: which tool, what it does, and the script it runs."""

    key: str
    tool: str
    operation: str
    python: Path
    script: str


EVIDENTLY = Step(
    "evidently",
    "evidently",
    "Report([DataDriftPreset()]).run",
    EVIDENTLY_VENV / "bin" / "python",
    EVIDENTLY_RUN,
)
LOOPML_STEPS = (
    Step(
        "cold",
        "loopml",
        "compare(reference_df, current_df)",
        PROJECT_VENV / "bin" / "python",
        LOOPML_COLD,
    ),
    Step(
        "profile",
        "loopml",
        "  profile(reference_df), once",
        PROJECT_VENV / "bin" / "python",
        LOOPML_PROFILE,
    ),
    Step(
        "reuse",
        "loopml",
        "  compare(profile, current_df)",
        PROJECT_VENV / "bin" / "python",
        LOOPML_FROM_PROFILE,
    ),
)


def run_size(rows: int, steps: list[Step], run_stamp: str) -> dict[str, Measured]:
    """Every step on the frames of `rows` rows, one fresh process each, one after the other."""
    path = _ensure_data(rows)
    profile_path = WORK_DIR / f"drift-profile-{rows}rows-{run_stamp}.json"
    runs: dict[str, Measured] = {}
    for step in steps:
        if step.key == "reuse" and runs.get("profile", Measured("")).error:
            continue
        argv = [str(step.python), "-c", step.script, str(BENCH_SRC), str(path), str(profile_path)]
        run = measure(f"drift-{step.key}-{rows}", argv, run_stamp, WORK_DIR)
        runs[step.key] = run
        _progress(f"{rows:,} rows, {step.tool} {step.operation.strip()}", run)
    profile_path.unlink(missing_ok=True)
    return runs


def _ensure_data(rows: int) -> Path:
    if truth.data_path(rows).exists():
        return truth.data_path(rows)
    _log(f"generating {rows:,} rows of reference and current data ...")
    started = time.monotonic()
    path = truth.ensure_data(rows)
    _log(f"generated {path.stat().st_size / 2**20:,.0f} MB in {time.monotonic() - started:.1f} s")
    return path


def _progress(what: str, run: Measured) -> None:
    if run.error:
        _log(f"{what}: FAILED {run.error}")
        return
    result = run.result
    _log(
        f"{what}: {result.get('compare_s', 0):.2f} s, {result.get('compare_cpu_s', 0):.2f} s CPU, "
        f"peak {run.peak_mb:,.0f} MB (process {run.wall_s:.1f} s)"
    )


def _log(message: str) -> None:
    print(f"[drift] {message}", flush=True)


# --- scoring against the ground truth -------------------------------------------------------


@dataclass
class Score:
    """Which columns one run flagged, by ground-truth group."""

    found: list[str]
    missed: list[str]
    negligible_flagged: list[str]
    unchanged_flagged: list[str]
    undecided: list[str]  # drifted is None: the tool gave no verdict

    @property
    def clean(self) -> bool:
        """Every injected drift found and no negligible change flagged."""
        return not self.missed and not self.negligible_flagged


def score(columns: dict[str, dict[str, Any]]) -> Score:
    def flagged(name: str) -> bool | None:
        return columns.get(name, {}).get("drifted")

    groups = {
        kind: [s.name for s in truth.COLUMNS if s.truth == kind] for kind in truth.TRUTH.values()
    }
    return Score(
        found=[name for name in groups[truth.DRIFT] if flagged(name)],
        missed=[name for name in groups[truth.DRIFT] if not flagged(name)],
        negligible_flagged=[name for name in groups[truth.NEGLIGIBLE] if flagged(name)],
        unchanged_flagged=[name for name in groups[truth.UNCHANGED] if flagged(name)],
        undecided=[name for name in truth.TRUTH if flagged(name) is None],
    )


def _count(names: list[str], kind: str) -> str:
    total = sum(1 for value in truth.TRUTH.values() if value == kind)
    return f"{len(names)}/{total}"


# --- reporting ------------------------------------------------------------------------------

HEADERS = [
    "tool",
    "operation",
    "wall s",
    "CPU s",
    "peak MB",
    "loaded MB",
    "process s",
    "drifts found",
    "negligible flagged",
    "unchanged flagged",
]


def _cells(step: Step, run: Measured | None, versions: dict[str, str]) -> list[str]:
    tool = f"{step.tool} {versions.get(step.tool, '')}".strip()
    if run is None or run.error:
        return [tool, step.operation, "error" if run else "-", *["-"] * 7]
    result = run.result
    cells = [
        tool,
        step.operation,
        f"{result['compare_s']:,.2f}",
        f"{result['compare_cpu_s']:,.2f}",
        f"{run.peak_mb:,.0f}",
        f"{result['loaded_mb']:,.0f}",
        f"{run.wall_s:,.1f}",
    ]
    if "columns" not in result:
        return [*cells, "", "", ""]
    found = score(result["columns"])
    return [
        *cells,
        _count(found.found, truth.DRIFT),
        _count(found.negligible_flagged, truth.NEGLIGIBLE),
        _count(found.unchanged_flagged, truth.UNCHANGED),
    ]


def print_size(rows: int, runs: dict[str, Measured], versions: dict[str, str]) -> None:
    steps = [EVIDENTLY, *LOOPML_STEPS]
    lines = [_cells(step, runs.get(step.key), versions) for step in steps if step.key in runs]
    title = f"Drift detection, {rows:,} reference + {rows:,} current rows, 20 columns"
    caption = (
        "wall/CPU s = the comparison in-process (library imported, data loaded); "
        "peak MB = max RSS of the process;\n"
        "loaded MB = its RSS once imported and loaded; process s = spawn to exit"
    )
    _print_table(title, caption, lines)
    for step in steps:
        run = runs.get(step.key)
        if run is not None and run.error:
            print(f"{step.tool} {step.operation.strip()}: {run.error}")
        elif run is not None and "columns" in run.result:
            _print_misses(step, score(run.result["columns"]))
    for line in ratio_lines(runs):
        print(line)
    cold = runs.get("cold")
    if cold is not None and "compare_again_s" in cold.result:
        print(
            f"loopml compare(reference_df, current_df) again in the same process: "
            f"{cold.result['compare_again_s']:.2f} s (the first call pays loopml's lazy imports)"
        )


def _print_misses(step: Step, found: Score) -> None:
    describe = {spec.name: spec.change for spec in truth.COLUMNS}
    parts = [
        (label, names)
        for label, names in (
            ("missed", found.missed),
            ("flagged negligible", found.negligible_flagged),
            ("flagged unchanged", found.unchanged_flagged),
            ("no verdict", found.undecided),
        )
        if names
    ]
    for label, names in parts:
        listed = ", ".join(f"{name} ({describe[name]})" for name in names)
        print(f"  {step.tool} {step.operation.strip()} {label}: {listed}")


def ratios(runs: dict[str, Measured]) -> dict[str, float | None]:
    """Evidently wall / loopml wall and loopml peak / Evidently peak, per loopml way."""
    anchor = runs.get("evidently")
    out: dict[str, float | None] = {}
    for key in ("cold", "reuse"):
        run = runs.get(key)
        usable = anchor and run and not anchor.error and not run.error
        out[f"speed_{key}"] = (
            anchor.result["compare_s"] / run.result["compare_s"] if usable else None  # type: ignore[union-attr]
        )
        out[f"memory_{key}"] = run.peak_mb / anchor.peak_mb if usable else None  # type: ignore[union-attr]
    return out


def ratio_lines(runs: dict[str, Measured]) -> list[str]:
    found = ratios(runs)
    if found["speed_cold"] is None and found["speed_reuse"] is None:
        return ["ratios: not measured (Evidently or loopml did not run)"]

    def show(value: float | None, unit: str) -> str:
        return "-" if value is None else f"{value:.2f}{unit}"

    return [
        f"Evidently/loopml wall: cold {show(found['speed_cold'], 'x')}, "
        f"from profile {show(found['speed_reuse'], 'x')}",
        f"loopml/Evidently peak: cold {show(found['memory_cold'], '')}, "
        f"from profile {show(found['memory_reuse'], '')}",
    ]


def _print_table(title: str, caption: str, lines: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(f"\n{title}\n{caption}")
        for line in [HEADERS, *lines]:
            print("  ".join(cell.rjust(12) for cell in line))
        return
    table = Table()
    for index, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if index < 2 else "right", no_wrap=True)
    for line in lines:
        table.add_row(*line)
    console = Console()
    console.width = max(console.width, 170)
    console.print(f"\n[bold]{title}[/bold]\n{caption}")
    console.print(table)


# --- the targets ---------------------------------------------------------------------------


def target_lines(results: dict[int, dict[str, Measured]]) -> list[tuple[str, str]]:
    """(target, verdict) for each of the issue's four targets, over every size run."""
    return [
        ("speed", _speed_target(results)),
        ("memory", _memory_target(results)),
        ("accuracy", _accuracy_target(results)),
        ("reuse", _reuse_target(results)),
    ]


def _speed_target(results: dict[int, dict[str, Measured]]) -> str:
    label = f">= {SPEED_TARGET:.0f}x faster than Evidently at {SPEED_TARGET_ROWS:,} rows"
    if SPEED_TARGET_ROWS not in results:
        return f"{label}: not measured ({SPEED_TARGET_ROWS:,} rows not run)"
    found = ratios(results[SPEED_TARGET_ROWS])
    if found["speed_cold"] is None:
        return f"{label}: not measured"
    verdict = "ok" if found["speed_cold"] >= SPEED_TARGET else "MISS"
    reuse = "-" if found["speed_reuse"] is None else f"{found['speed_reuse']:.1f}x"
    return f"{label}: cold {found['speed_cold']:.1f}x {verdict} (from profile {reuse})"


def _memory_target(results: dict[int, dict[str, Measured]]) -> str:
    label = "peak memory under a third of Evidently's"
    largest = max(results)
    found = ratios(results[largest])
    if found["memory_cold"] is None:
        return f"{label}: not measured"
    verdict = "ok" if found["memory_cold"] < MEMORY_TARGET else "MISS"
    per_size = ", ".join(
        f"{rows:,}: {value:.2f}"
        for rows in results
        if (value := ratios(results[rows])["memory_cold"]) is not None
    )
    value = found["memory_cold"]
    return f"{label}: {value:.2f} at {largest:,} rows {verdict} (cold, by size: {per_size})"


def _accuracy_target(results: dict[int, dict[str, Measured]]) -> str:
    label = "every injected drift found, no negligible change flagged, at every size"
    parts, states = [], []
    for rows, runs in results.items():
        for key in ("cold", "reuse"):
            run = runs.get(key)
            if run is None or run.error or "columns" not in run.result:
                parts.append(f"{rows:,} {key}: not measured")
                states.append(None)
                continue
            found = score(run.result["columns"])
            states.append(found.clean)
            unchanged = len(found.unchanged_flagged)
            extra = f" ({unchanged} unchanged flagged)" if unchanged else ""
            parts.append(f"{rows:,} {key}: {'ok' if found.clean else 'MISS'}{extra}")
    if all(state is None for state in states):
        return f"{label}: not measured"
    overall = "ok" if all(states) else "MISS"
    return f"{label}: {overall} ({'; '.join(parts)})"


def _reuse_target(results: dict[int, dict[str, Measured]]) -> str:
    label = "reference profile computed once and reused"
    parts, same = [], True
    for rows, runs in results.items():
        made, reused, cold = runs.get("profile"), runs.get("reuse"), runs.get("cold")
        if not made or not reused or made.error or reused.error:
            return f"{label}: not measured"
        agree = bool(cold and not cold.error) and _flags(cold) == _flags(reused)
        same = same and agree
        parts.append(
            f"{rows:,}: profile {made.result['compare_s']:.2f} s, "
            f"{made.result['profile_bytes'] / 1024:,.0f} KB, verdicts {'=' if agree else '!='} cold"
        )
    verdict = "ok" if same else "ok, but verdicts differ from cold"
    return f"{label}: {verdict} ({'; '.join(parts)})"


def _flags(run: Measured) -> dict[str, bool | None]:
    return {name: column.get("drifted") for name, column in run.result["columns"].items()}


# --- setting up ------------------------------------------------------------------------------


def prepare_evidently(skip_install: bool) -> str | None:
    """Install Evidently and its pandas 2 unless told not to; return why it cannot run, or None."""
    marker = EVIDENTLY_VENV / "bin" / "python"
    try:
        if not skip_install:
            ensure_venv(EVIDENTLY_VENV, EVIDENTLY_REQUIREMENT, marker, (EVIDENTLY_PANDAS,))
            ensure_venv(EVIDENTLY_VENV, EVIDENTLY_PANDAS, marker)
        elif dist_version(EVIDENTLY_VENV, "evidently") == "unknown":
            raise ServerUnavailable(
                f"{EVIDENTLY_VENV} has no evidently; run once without --skip-install"
            )
    except (ServerUnavailable, OSError) as exc:
        return str(exc)
    return None


def probe_loopml() -> str | None:
    """Why `from loopml.monitoring import compare, profile` fails in .venv, or None."""
    python = PROJECT_VENV / "bin" / "python"
    try:
        done = subprocess.run(
            [str(python), "-c", LOOPML_PROBE], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", help="rows per frame, comma-separated (default 10000,100000,1000000)"
    )
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 rows")
    parser.add_argument(
        "--skip-install", action="store_true", help="reuse .bench/evidently as it is"
    )
    args = parser.parse_args(argv)
    if args.sizes:
        try:
            args.sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size]
        except ValueError:
            parser.error(f"--sizes: comma-separated integers, got {args.sizes!r}")
    else:
        args.sizes = list(QUICK_SIZES if args.quick else FULL_SIZES)
    if not args.sizes or min(args.sizes) < 100:
        parser.error("--sizes: each at least 100 rows")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _interrupt)
    run_stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    BENCH_DIR.mkdir(exist_ok=True)
    (BENCH_DIR / ".gitignore").write_text("*\n")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    problems = {"evidently": prepare_evidently(args.skip_install), "loopml": probe_loopml()}
    for name, problem in problems.items():
        if problem:
            _log(f"{name}: not available ({problem})")
    steps = ([EVIDENTLY] if not problems["evidently"] else []) + (
        list(LOOPML_STEPS) if not problems["loopml"] else []
    )
    versions = {
        "evidently": dist_version(EVIDENTLY_VENV, "evidently"),
        "pandas (evidently venv)": dist_version(EVIDENTLY_VENV, "pandas"),
        "loopml": dist_version(PROJECT_VENV, "loopml"),
        "pandas (.venv)": dist_version(PROJECT_VENV, "pandas"),
    }
    results: dict[int, dict[str, Measured]] = {}
    try:
        for rows in args.sizes:
            results[rows] = run_size(rows, steps, run_stamp)
            print_size(rows, results[rows], versions)
    except KeyboardInterrupt:
        print("\ninterrupted; every process started was killed", file=sys.stderr)
        return 130
    targets = target_lines(results)
    print("\nTargets (issue 7):")
    for _, line in targets:
        print(f"  {line}")
    for name, problem in problems.items():
        if problem:
            print(f"{name}: not available ({problem})")
    path = write_json(args.sizes, results, versions, problems, targets, run_stamp)
    print(f"results: {path}")
    failed = any(run.error for runs in results.values() for run in runs.values())
    return 1 if failed else 0


def write_json(
    sizes: list[int],
    results: dict[int, dict[str, Measured]],
    versions: dict[str, str],
    problems: dict[str, str | None],
    targets: list[tuple[str, str]],
    run_stamp: str,
) -> Path:
    payload = {
        "benchmark": "drift",
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "sizes": sizes,
        "seed": truth.SEED,
        "host": _host(),
        "versions": versions,
        "not_available": {name: problem for name, problem in problems.items() if problem},
        "ground_truth": [asdict(spec) for spec in truth.COLUMNS],
        "sizes_results": {
            str(rows): {
                "runs": {key: asdict(run) for key, run in runs.items()},
                "scores": {
                    key: asdict(score(run.result["columns"]))
                    for key, run in runs.items()
                    if not run.error and "columns" in run.result
                },
                "ratios": ratios(runs),
            }
            for rows, runs in results.items()
        },
        "targets": dict(targets),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"drift-{run_stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
