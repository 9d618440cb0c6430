"""Benchmark dataset versioning and validation: loopml against `dvc add` and Great Expectations.

One seeded Parquet table (5,000,000 rows x 20 columns by default) is versioned by
`dvc add` and by loopml's `open_data(settings).add(...)`, then validated with the
same 15 expectations by Great Expectations (pandas engine) and by
`loopml.data.validation.validate`. Every measurement is a fresh process; its wall
time and the peak RSS of its process tree are reported.

    .venv/bin/python bench/data.py                 # 5M rows, installs the anchors once
    .venv/bin/python bench/data.py --quick         # 500k rows, one repeat
    .venv/bin/python bench/data.py --rows 1000000 --skip-install

The first run creates .bench/dvc-venv and .bench/ge-venv and caches the table under
.bench/data/. Results are printed as a table (ratio = anchor / loopml: > 1 means
loopml is faster) and written as JSON to .bench/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from _servers import (
    BENCH_DIR,
    LOGS_DIR,
    PROJECT_VENV,
    ServerUnavailable,
    dist_version,
    ensure_venv,
    tree_rss_bytes,
    tree_stats,
)

DVC_VENV = BENCH_DIR / "dvc-venv"
GE_VENV = BENCH_DIR / "ge-venv"
DVC_REQUIREMENT = "dvc==3.67.1"
GE_REQUIREMENT = "great_expectations==1.24.1"
GE_PYARROW = "pyarrow==26.0.1"  # pandas.read_parquet needs it; GE does not depend on it
DATA_DIR = BENCH_DIR / "data"
WORK_DIR = BENCH_DIR / "work"
RESULTS_DIR = BENCH_DIR / "results"
FULL_ROWS = 5_000_000
QUICK_ROWS = 500_000
SEED = 20240601
TABLE_VERSION = 1  # bump when the generated table changes, so caches are rebuilt
POLL_S = 0.05
MEASURE_TIMEOUT_S = 1800.0
# No telemetry, no update checks: there is no network here, and senders add noise.
QUIET_ENV = {
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "true",
}
VERSIONING_TARGET = 1.0  # dvc add time / loopml add time
VALIDATION_TARGET = 5.0  # GE (read + validate) time / loopml validate time


# --- the table ----------------------------------------------------------------------

SEGMENTS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
CHUNK_ROWS = 500_000


def table_path(rows: int) -> Path:
    return DATA_DIR / f"table-{rows}rows-seed{SEED}-v{TABLE_VERSION}.parquet"


def ensure_table(rows: int) -> Path:
    """The seeded table as Parquet, generated once per size and cached under .bench/data."""
    import pyarrow.parquet as pq

    path = table_path(rows)
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        _log(f"table {path.relative_to(BENCH_DIR.parent)} ready")
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _log(f"generating {rows:,} rows x 20 columns into {path.name} ...")
    started = time.monotonic()
    partial = path.with_suffix(".partial")
    _write_table(partial, rows)
    partial.replace(path)
    size_mb = path.stat().st_size / 2**20
    _log(f"generated {size_mb:,.0f} MB in {time.monotonic() - started:.0f} s")
    return path


def _write_table(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(SEED)
    with pq.ParquetWriter(path, _chunk(rng, 0, 1).schema) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            writer.write_table(_chunk(rng, start, min(CHUNK_ROWS, rows - start)))


def _chunk(rng: Any, start: int, rows: int) -> Any:
    """Rows [start, start + rows): ints, floats, strings, a timestamp, a category, nulls."""
    import numpy as np
    import pyarrow as pa

    cities = np.array([f"city_{i:04d}" for i in range(1000)])
    stores = np.array([f"store-{i}" for i in range(1000)])
    codes = np.array([f"AB-{i:04d}" for i in range(10_000)])
    ids = np.arange(start, start + rows, dtype=np.int64)

    def mask(fraction: float) -> Any:
        return rng.random(rows) < fraction

    def pick(values: Any) -> Any:
        return values[rng.integers(0, len(values), rows)]

    first_ts = np.datetime64("2024-01-01T00:00:00", "us")
    columns = {
        "id": pa.array(ids),
        "user_id": pa.array(rng.integers(0, 1_000_000, rows, dtype=np.int64)),
        "quantity": pa.array(rng.integers(0, 100, rows, dtype=np.int32)),
        "score": pa.array(rng.integers(-1000, 1000, rows, dtype=np.int64), mask=mask(0.05)),
        "level": pa.array(rng.integers(0, 5, rows, dtype=np.int16)),
        "day": pa.array((ids // 10_000).astype(np.int32)),
        "price": pa.array(rng.lognormal(3, 1, rows)),
        "normal": pa.array(rng.standard_normal(rows)),
        "uniform": pa.array(rng.random(rows)),
        "ratio": pa.array(rng.random(rows).astype(np.float32)),
        "discount": pa.array(rng.random(rows) * 0.5, mask=mask(0.1)),
        "weight": pa.array(rng.normal(70, 10, rows)),
        "city": pa.array(pick(cities)),
        "store": pa.array(pick(stores)),
        "code": pa.array(pick(codes)),
        "note": pa.array(pick(cities), mask=mask(0.2)),
        "created_at": pa.array(first_ts + (ids * 7_000_000).astype("timedelta64[us]")),
        "segment": pa.DictionaryArray.from_arrays(
            pa.array(rng.integers(0, len(SEGMENTS), rows, dtype=np.int8)), pa.array(SEGMENTS)
        ),
        "active": pa.array(rng.random(rows) < 0.7),
        "balance": pa.array(rng.normal(0, 1000, rows)),
    }
    return pa.table(columns)


def expectation_specs(rows: int) -> list[dict[str, Any]]:
    """The 15 expectations both tools check; `kind` names loopml's `expect` builder.

    One is meant to fail (quantity runs to 99), so agreement covers both verdicts.
    """
    return [
        {"kind": "column_exists", "column": "id"},
        {"kind": "column_type", "column": "id", "type": "int64"},
        {"kind": "not_null", "column": "id", "max_fraction": 0.0},
        {"kind": "unique", "column": "id"},
        {"kind": "not_null", "column": "note", "max_fraction": 0.25},
        {"kind": "in_set", "column": "segment", "values": SEGMENTS},
        {"kind": "between", "column": "uniform", "min": 0.0, "max": 1.0},
        {"kind": "between", "column": "quantity", "min": 0, "max": 50},
        {"kind": "matches", "column": "code", "pattern": r"^AB-\d{4}$"},
        {"kind": "length_between", "column": "city", "min": 9, "max": 9},
        {"kind": "mean_between", "column": "normal", "min": -0.01, "max": 0.01},
        {"kind": "std_between", "column": "normal", "min": 0.99, "max": 1.01},
        {"kind": "quantile_between", "column": "price", "q": 0.5, "min": 15, "max": 25},
        {"kind": "row_count_between", "min": rows, "max": rows},
        {"kind": "unique_together", "columns": ["id", "city"]},
    ]


# --- what each measured process runs -----------------------------------------------------

# Each prints one line "RESULT <json>" with its in-process timings and verdicts.
LOOPML_ADD = """
import json, sys, time
started = time.perf_counter()
from loopml.core.config import Settings
from loopml.data import open_data
imported = time.perf_counter()
client = open_data(Settings.from_env())
opened = time.perf_counter()
added = client.add("bench", sys.argv[1])
done = time.perf_counter()
print("RESULT " + json.dumps({
    "import_s": imported - started, "open_s": opened - imported, "add_s": done - opened,
    "created": added.created, "content_hash": added.version.content_hash,
    "rows": added.version.row_count,
}))
"""

LOOPML_VALIDATE = """
import json, sys, time
started = time.perf_counter()
from loopml.data.validation import Suite, expect, validate
imported = time.perf_counter()
specs = json.loads(sys.argv[2])
suite = Suite("bench", [getattr(expect, s.pop("kind"))(**s) for s in specs])
begun = time.perf_counter()
report = validate(sys.argv[1], suite)
done = time.perf_counter()
print("RESULT " + json.dumps({
    "import_s": imported - started, "validate_s": done - begun,
    "success": [bool(result.success) for result in report.results],
}))
"""

PANDAS_READ = """
import json, sys, time
started = time.perf_counter()
import pandas as pd
imported = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
done = time.perf_counter()
print("RESULT " + json.dumps({
    "import_s": imported - started, "read_s": done - imported, "rows": len(frame),
    "pandas": pd.__version__,
}))
"""

GE_VALIDATE = """
import json, sys, time
started = time.perf_counter()
import pandas as pd
import great_expectations as gx
import great_expectations.expectations as gxe
imported = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
read = time.perf_counter()

def to_ge(s):
    kind, column = s["kind"], s.get("column")
    if kind == "column_exists":
        return gxe.ExpectColumnToExist(column=column)
    if kind == "column_type":
        return gxe.ExpectColumnValuesToBeOfType(column=column, type_=s["type"])
    if kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - s["max_fraction"])
    if kind == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=column)
    if kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=s["values"])
    if kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=s["min"], max_value=s["max"])
    if kind == "matches":
        return gxe.ExpectColumnValuesToMatchRegex(column=column, regex=s["pattern"])
    if kind == "length_between":
        return gxe.ExpectColumnValueLengthsToBeBetween(
            column=column, min_value=s["min"], max_value=s["max"])
    if kind == "mean_between":
        return gxe.ExpectColumnMeanToBeBetween(
            column=column, min_value=s["min"], max_value=s["max"])
    if kind == "std_between":
        return gxe.ExpectColumnStdevToBeBetween(
            column=column, min_value=s["min"], max_value=s["max"])
    if kind == "quantile_between":
        return gxe.ExpectColumnQuantileValuesToBeBetween(column=column, quantile_ranges={
            "quantiles": [s["q"]], "value_ranges": [[s["min"], s["max"]]]})
    if kind == "row_count_between":
        return gxe.ExpectTableRowCountToBeBetween(min_value=s["min"], max_value=s["max"])
    if kind == "unique_together":
        return gxe.ExpectCompoundColumnsToBeUnique(column_list=s["columns"])
    raise ValueError(kind)

context = gx.get_context(mode="ephemeral")
batch = (
    context.data_sources.add_pandas("bench")
    .add_dataframe_asset("table")
    .add_batch_definition_whole_dataframe("all")
    .get_batch(batch_parameters={"dataframe": frame})
)
suite = context.suites.add(gx.ExpectationSuite(name="bench"))
for index, spec in enumerate(json.loads(sys.argv[2])):
    expectation = to_ge(spec)
    expectation.meta = {"bench_index": index}
    suite.add_expectation(expectation)
begun = time.perf_counter()
outcome = batch.validate(suite)
done = time.perf_counter()
verdicts = sorted(
    (r.expectation_config.meta["bench_index"], bool(r.success)) for r in outcome.results
)
print("RESULT " + json.dumps({
    "import_s": imported - started, "read_s": read - imported, "setup_s": begun - read,
    "validate_s": done - begun, "success": [success for _, success in verdicts],
}))
"""


# --- measuring one process ------------------------------------------------------------------


@dataclass
class Measured:
    """One process: wall time from spawn to exit, peak RSS of its tree, what it printed."""

    label: str
    wall_s: float = 0.0
    peak_mb: float = 0.0
    cpu_s: float = 0.0
    result: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    log: str = ""


# A small launcher runs each measured command: the bench process is large (pyarrow,
# the table it generated), and a child's ru_maxrss counts the pages it shared
# with its parent before exec. The launcher is small, so its children's maxrss is
# the command's own. It times the command and writes wall, CPU and maxrss to argv[1].
LAUNCHER = """
import json, os, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as out:
    json.dump({"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
               "maxrss_kb": usage.ru_maxrss, "code": code}, out)
sys.exit(code)
"""


def measure(
    label: str, argv: Sequence[str], run_stamp: str, cwd: Path, env: dict[str, str] | None = None
) -> Measured:
    """Run `argv` via the launcher in its own session; poll its tree's RSS; kill it on any way out.

    Peak memory is the larger of the polled RSS sum over the command's process
    tree and the kernel's ru_maxrss of its largest process (which catches a
    spike between two polls).
    """
    LOGS_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOGS_DIR / f"{run_stamp}-data-{label}.log"
    usage_path = LOGS_DIR / f"{run_stamp}-data-{label}.usage.json"
    measured = Measured(label, log=str(log_path))
    os.sync()  # earlier writes must not be flushed on this measurement's time
    launcher = [sys.executable, "-I", "-c", LAUNCHER, str(usage_path), *argv]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            launcher,
            cwd=cwd,
            env={**os.environ, **QUIET_ENV, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        peak = _wait_polling(process)
    finally:
        _kill_group(process.pid)
    try:
        usage = json.loads(usage_path.read_text())
    except (OSError, ValueError):
        usage = {"wall_s": 0.0, "cpu_s": 0.0, "maxrss_kb": 0, "code": process.returncode}
    measured.wall_s, measured.cpu_s = usage["wall_s"], usage["cpu_s"]
    measured.peak_mb = max(peak, usage["maxrss_kb"] * 1024) / 2**20
    _read_result(measured, log_path, usage["code"] if process.returncode == 0 else -1)
    return measured


def _wait_polling(process: subprocess.Popen[bytes]) -> int:
    """Sample the RSS of the launcher's descendants until it exits; return the peak."""
    started, peak = time.monotonic(), 0
    while process.poll() is None:
        if time.monotonic() - started > MEASURE_TIMEOUT_S:
            _kill_group(process.pid)
        members = [stat for stat in tree_stats(process.pid) if stat.pid != process.pid]
        peak = max(peak, tree_rss_bytes(members))
        time.sleep(POLL_S)
    return peak


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _read_result(measured: Measured, log_path: Path, code: int) -> None:
    text = log_path.read_text(errors="replace")
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    if lines:
        measured.result = json.loads(lines[-1].removeprefix("RESULT "))
    if code != 0:
        tail = " | ".join(line.strip() for line in text.splitlines()[-4:])
        measured.error = f"exit {code}: {tail}"[:600]


def _log(message: str) -> None:
    print(f"[data] {message}", flush=True)


def _median(runs: list[Measured], key: str) -> float:
    values = [run.result[key] if key in run.result else getattr(run, key) for run in runs]
    return statistics.median(values)


# --- versioning ----------------------------------------------------------------------------


def bench_dvc(table: Path, repeats: int, run_stamp: str) -> dict[str, list[Measured]]:
    """`dvc add` in a fresh git + dvc repo per repeat; the copy in is not timed."""
    dvc = DVC_VENV / "bin" / "dvc"
    runs: dict[str, list[Measured]] = {"add": [], "readd": []}
    for index in range(repeats):
        repo = Path(tempfile.mkdtemp(prefix="dvc-", dir=WORK_DIR))
        try:
            subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
            subprocess.run([str(dvc), "init", "-q"], cwd=repo, check=True, env=_env())
            subprocess.run([str(dvc), "config", "core.analytics", "false"], cwd=repo, check=True)
            shutil.copyfile(table, repo / "data.parquet")
            argv = [str(dvc), "add", "-q", "data.parquet"]
            add = measure(f"dvc-add-{index}", argv, run_stamp, repo)
            readd = measure(f"dvc-readd-{index}", argv, run_stamp, repo)
        finally:
            shutil.rmtree(repo, ignore_errors=True)
        _progress("dvc add", add)
        _progress("dvc add again", readd)
        runs["add"].append(add)
        runs["readd"].append(readd)
    return runs


def bench_loopml_add(table: Path, repeats: int, run_stamp: str) -> dict[str, list[Measured]]:
    """`open_data(settings).add("bench", path)` in a fresh LOOPML_HOME, then again (dedupe)."""
    python = PROJECT_VENV / "bin" / "python"
    runs: dict[str, list[Measured]] = {"add": [], "readd": []}
    for index in range(repeats):
        home = Path(tempfile.mkdtemp(prefix="loopml-", dir=WORK_DIR))
        env = {"LOOPML_HOME": str(home)}
        argv = [str(python), "-c", LOOPML_ADD, str(table)]
        try:
            add = measure(f"loopml-add-{index}", argv, run_stamp, home, env)
            readd = measure(f"loopml-readd-{index}", argv, run_stamp, home, env)
        finally:
            shutil.rmtree(home, ignore_errors=True)
        _check_add(add, created=True)
        _check_add(readd, created=False)
        _progress("loopml add", add)
        _progress("loopml add again", readd)
        runs["add"].append(add)
        runs["readd"].append(readd)
    return runs


def _check_add(run: Measured, created: bool) -> None:
    if not run.error and run.result.get("created") is not created:
        run.error = f"expected created={created}, got {run.result.get('created')}"


def _progress(what: str, run: Measured) -> None:
    if run.error:
        _log(f"{what}: FAILED {run.error}")
        return
    detail = ", ".join(
        f"{key} {value:.2f}" for key, value in run.result.items() if key[-2:] == "_s"
    )
    _log(f"{what}: {run.wall_s:.2f} s, {run.peak_mb:,.0f} MB" + (f" ({detail})" if detail else ""))


# --- validation ----------------------------------------------------------------------------


def bench_validation(
    table: Path, specs: list[dict[str, Any]], repeats: int, run_stamp: str
) -> dict[str, list[Measured]]:
    """pandas read alone, GE read + validate, loopml validate: each in fresh processes."""
    ge_python, loopml_python = GE_VENV / "bin" / "python", PROJECT_VENV / "bin" / "python"
    suite_json = json.dumps(specs)
    runs: dict[str, list[Measured]] = {"read": [], "ge": [], "loopml": []}
    for index in range(repeats):
        if ge_python.exists():
            read = measure(
                f"pandas-read-{index}",
                [str(ge_python), "-c", PANDAS_READ, str(table)],
                run_stamp,
                WORK_DIR,
            )
            _progress("pandas.read_parquet", read)
            ge_argv = [str(ge_python), "-c", GE_VALIDATE, str(table), suite_json]
            ge = measure(f"ge-validate-{index}", ge_argv, run_stamp, WORK_DIR)
            _progress("great_expectations", ge)
            runs["read"].append(read)
            runs["ge"].append(ge)
        argv = [str(loopml_python), "-c", LOOPML_VALIDATE, str(table), suite_json]
        loopml = measure(f"loopml-validate-{index}", argv, run_stamp, WORK_DIR)
        _progress("loopml validate", loopml)
        runs["loopml"].append(loopml)
    return runs


def agreement(specs: list[dict[str, Any]], runs: dict[str, list[Measured]]) -> list[str]:
    """Expectations on which GE and loopml disagree (pass vs fail), as lines to print."""
    ge = next((run.result.get("success") for run in runs.get("ge", []) if not run.error), None)
    loopml = next((run.result.get("success") for run in runs["loopml"] if not run.error), None)
    if ge is None or loopml is None:
        return []
    if len(ge) != len(specs) or len(loopml) != len(specs):
        return [
            f"result counts differ: {len(specs)} expectations, GE {len(ge)}, loopml {len(loopml)}"
        ]
    return [
        f"{spec}: great_expectations {'pass' if a else 'FAIL'}, loopml {'pass' if b else 'FAIL'}"
        for spec, a, b in zip(specs, ge, loopml, strict=True)
        if a != b
    ]


# --- reporting ------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: seconds and peak MB, and the ratios against an anchor row."""

    tool: str
    operation: str
    seconds: float | None
    peak_mb: float | None
    ratio: float | None = None
    memory_ratio: float | None = None
    target: float | None = None
    error: str = ""


def _row(tool: str, operation: str, runs: list[Measured], key: str = "wall_s") -> Row:
    if not runs:
        return Row(tool, operation, None, None, error="not available")
    failed = next((run.error for run in runs if run.error), "")
    if failed:
        return Row(tool, operation, None, None, error=failed)
    return Row(tool, operation, _median(runs, key), max(run.peak_mb for run in runs))


def _compare(row: Row, anchor: Row, target: float | None = None, memory: bool = True) -> Row:
    if row.seconds and anchor.seconds:
        row.ratio = anchor.seconds / row.seconds
    if memory and row.peak_mb and anchor.peak_mb:
        row.memory_ratio = anchor.peak_mb / row.peak_mb
    row.target = target
    return row


def _sum_row(tool: str, operation: str, runs: list[Measured], keys: Sequence[str]) -> Row:
    row = _row(tool, operation, runs)
    if row.seconds is not None:
        row.seconds = statistics.median(sum(run.result[key] for key in keys) for run in runs)
    return row


def build_rows(
    versions: dict[str, str],
    dvc: dict[str, list[Measured]],
    loopml: dict[str, list[Measured]],
    validation: dict[str, list[Measured]],
) -> list[Row]:
    rows: list[Row] = []
    if dvc or loopml:
        dvc_add = _row(f"dvc {versions['dvc']}", "dvc add (process)", dvc.get("add", []))
        dvc_readd = _row(
            f"dvc {versions['dvc']}", "dvc add again, unchanged (process)", dvc.get("readd", [])
        )
        add = _row("loopml", "add (process)", loopml.get("add", []))
        rows += [dvc_add, _compare(add, dvc_add, VERSIONING_TARGET)]
        rows.append(_row("loopml", "  of which add() in-process", loopml.get("add", []), "add_s"))
        rows.append(_row("loopml", "  of which import", loopml.get("add", []), "import_s"))
        rows.append(dvc_readd)
        readd = _row("loopml", "add again, dedupe (process)", loopml.get("readd", []))
        rows.append(_compare(readd, dvc_readd))
    if validation:
        ge_name = f"great_expectations {versions['great_expectations']}"
        read = _row(
            f"pandas {versions['pandas']}", "read_parquet only", validation["read"], "read_s"
        )
        ge_validate = _row(
            ge_name, "validate 15 (in-process, excl. read)", validation["ge"], "validate_s"
        )
        ge_total = _sum_row(
            ge_name, "read + validate 15 (in-process)", validation["ge"], ("read_s", "validate_s")
        )
        loopml_validate = _row(
            "loopml", "validate 15 (in-process, incl. read)", validation["loopml"], "validate_s"
        )
        ge_validate.peak_mb = None  # one process does both: its peak is on the total row
        rows += [
            read,
            ge_validate,
            ge_total,
            _compare(loopml_validate, ge_total, VALIDATION_TARGET),
        ]
        rows.append(
            _compare(
                _row("loopml", "  same, whole process", validation["loopml"]),
                _row(ge_name, "", validation["ge"]),
                memory=False,
            )
        )
    return rows


TITLE = "Dataset versioning and validation (ratio = anchor / loopml: > 1 means loopml is better)"
HEADERS = ["tool", "operation", "seconds", "peak MB", "time ratio", "memory ratio", "target"]


def _cells(row: Row) -> list[str]:
    if row.error:
        return [row.tool, row.operation, "error", "-", "", "", ""]
    seconds = "-" if row.seconds is None else f"{row.seconds:,.2f}"
    peak = "-" if row.peak_mb is None else f"{row.peak_mb:,.0f}"
    ratio = "" if row.ratio is None else f"{row.ratio:.2f}x"
    memory = "" if row.memory_ratio is None else f"{row.memory_ratio:.2f}x"
    target = ""
    if row.target is not None and row.ratio is not None:
        target = f">= {row.target:.1f}x " + ("ok" if row.ratio >= row.target else "MISS")
    return [row.tool, row.operation, seconds, peak, ratio, memory, target]


def print_table(rows: list[Row], caption: str) -> None:
    lines = [_cells(row) for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(line[col]) for line in [HEADERS, *lines]) for col in range(len(HEADERS))]
        print(f"\n{TITLE}\n{caption}\n")
        for line in [HEADERS, ["-" * width for width in widths], *lines]:
            cells = [cell.ljust(width) for cell, width in zip(line[:2], widths[:2], strict=True)]
            cells += [cell.rjust(width) for cell, width in zip(line[2:], widths[2:], strict=True)]
            print("  ".join(cells))
        return
    table = Table()
    for index, header in enumerate(HEADERS):
        table.add_column(header, justify="left" if index < 2 else "right", no_wrap=True)
    for line in lines:
        table.add_row(*line)
    console = Console()
    console.width = max(console.width, 160)
    console.print(f"\n[bold]{TITLE}[/bold]\n{caption}")
    console.print(table)


def _host() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem_kb = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")), 0)
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def write_json(payload: dict[str, Any], run_stamp: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"data-{run_stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


# --- setting up ------------------------------------------------------------------------------


def prepare_anchors(skip_install: bool) -> dict[str, str]:
    """Install the pinned anchors unless told not to; an anchor that cannot be had is skipped."""
    problems = {}
    anchors = (
        ("dvc", DVC_VENV, DVC_REQUIREMENT, DVC_VENV / "bin" / "dvc", ()),
        ("great_expectations", GE_VENV, GE_REQUIREMENT, GE_VENV / "bin" / "python", (GE_PYARROW,)),
    )
    for name, venv, requirement, marker, extra in anchors:
        try:
            if not skip_install:
                ensure_venv(venv, requirement, marker, pip_flags=extra)
            elif dist_version(venv, name) == "unknown":
                raise ServerUnavailable(f"{venv} has no {name}; run once without --skip-install")
        except (ServerUnavailable, OSError) as exc:
            problems[name] = str(exc)
            _log(f"{name}: not available ({exc})")
    if shutil.which("git") is None:
        problems["dvc"] = "git not found (dvc add needs a git repository)"
    return problems


def _env() -> dict[str, str]:
    return {**os.environ, **QUIET_ENV}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, help=f"table rows (default {FULL_ROWS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, one repeat")
    parser.add_argument("--repeats", type=int, help="measurements per figure, median (default 3)")
    parser.add_argument(
        "--only", choices=("versioning", "validation"), help="run one half of the bench"
    )
    parser.add_argument(
        "--skip-install", action="store_true", help="reuse the .bench venvs as they are"
    )
    args = parser.parse_args(argv)
    args.rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    args.repeats = args.repeats or (1 if args.quick else 3)
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be positive")
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
    problems = prepare_anchors(args.skip_install)
    versions = {
        "dvc": dist_version(DVC_VENV, "dvc"),
        "great_expectations": dist_version(GE_VENV, "great_expectations"),
        "pandas": dist_version(GE_VENV, "pandas"),
        "pyarrow (ge-venv)": dist_version(GE_VENV, "pyarrow"),
        "loopml": dist_version(PROJECT_VENV, "loopml"),
    }
    table = ensure_table(args.rows)
    specs = expectation_specs(args.rows)
    dvc: dict[str, list[Measured]] = {}
    loopml: dict[str, list[Measured]] = {}
    validation: dict[str, list[Measured]] = {}
    try:
        if args.only != "validation":
            if "dvc" not in problems:
                dvc = bench_dvc(table, args.repeats, run_stamp)
            loopml = bench_loopml_add(table, args.repeats, run_stamp)
        if args.only != "versioning":
            validation = bench_validation(table, specs, args.repeats, run_stamp)
    except KeyboardInterrupt:
        print("\ninterrupted; every process started was killed", file=sys.stderr)
        return 130
    rows = build_rows(versions, dvc, loopml, validation)
    size_mb = table.stat().st_size / 2**20
    caption = (
        f"{args.rows:,} rows x 20 columns, {size_mb:,.0f} MB Parquet; median of {args.repeats}; "
        "peak MB = max RSS of the process tree; time ratio = anchor s / loopml s"
    )
    print_table(rows, caption)
    mismatches = agreement(specs, validation) if validation else []
    for line in mismatches:
        print(f"!!! MISMATCH: {line}")
    if validation and not mismatches:
        print("great_expectations and loopml agree on all 15 expectations (14 pass, 1 fails)")
    for row in rows:
        if row.error:
            print(f"{row.tool} {row.operation}: {row.error}")
    for name, problem in problems.items():
        print(f"{name}: not available ({problem})")
    payload = {
        "benchmark": "data",
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "rows": args.rows,
        "repeats": args.repeats,
        "table": {"path": str(table), "size_bytes": table.stat().st_size},
        "host": _host(),
        "versions": versions,
        "expectations": specs,
        "table_rows": [asdict(row) for row in rows],
        "runs": {
            "dvc": {key: [asdict(run) for run in runs] for key, runs in dvc.items()},
            "loopml": {key: [asdict(run) for run in runs] for key, runs in loopml.items()},
            "validation": {key: [asdict(run) for run in runs] for key, runs in validation.items()},
        },
        "mismatches": mismatches,
    }
    print(f"results: {write_json(payload, run_stamp)}")
    return 1 if mismatches or any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
