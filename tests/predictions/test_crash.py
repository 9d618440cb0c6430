"""A SIGKILLed writer loses at most its last unflushed interval and leaves no torn file."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq

from loopml.artifacts import ArtifactStore
from loopml.predictions import read

_WRITER = textwrap.dedent(
    """
    import sys, time
    from loopml.artifacts import ArtifactStore
    from loopml.predictions import PredictionLog, PredictionRecord

    root, flushed, unflushed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    log = PredictionLog(ArtifactStore(root), flush_interval_s=0.02, max_rows_per_file=250)
    log.start()

    def record(i):
        return PredictionRecord(
            f"req-{i}", 1_709_251_200_000 + i, "churn", "primary", "m", 1,
            '{"x": 1}', '{"y": 2}', 0.5, 200, False,
        )

    for i in range(flushed):
        log.log(record(i))
    while log.written < flushed:
        time.sleep(0.005)
    for i in range(flushed, flushed + unflushed):
        log.log(record(i))
    print("ready", flush=True)
    time.sleep(600)
    """
)


def test_sigkill_loses_at_most_the_unflushed_interval(tmp_path: Path) -> None:
    flushed, unflushed = 2_000, 20_000
    root = tmp_path / "artifacts"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root), str(flushed), str(unflushed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        writer.send_signal(signal.SIGKILL)  # most likely mid-way through writing the second batch
    finally:
        writer.kill()
        writer.wait()
        if writer.stdout is not None:
            writer.stdout.close()
    assert writer.returncode == -signal.SIGKILL

    artifacts = ArtifactStore(str(root))
    for entry in artifacts.list_files("predictions"):
        local = artifacts.local_file(entry.path)
        assert local is not None
        assert pq.read_metadata(local).num_rows > 0  # every visible part is whole
    ids = read(artifacts).column("request_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert flushed <= len(ids) <= flushed + unflushed
    assert {f"req-{i}" for i in range(flushed)} <= set(ids)
