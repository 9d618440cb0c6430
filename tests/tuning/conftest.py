"""A fresh embedded store per test, and a reader of the trial runs a tuning run recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loopml.client import Client
from loopml.tracking.entities import Run

TrialRuns = Callable[[str], dict[int, Run]]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with Client(tmp_path / "home") as opened:
        yield opened


@pytest.fixture
def trial_runs(client: Client) -> TrialRuns:
    """``trial_runs(parent_run_id)``: the child runs of a tuning run, by trial number."""

    def read(parent_run_id: str) -> dict[int, Run]:
        experiment_id = client.get_run(parent_run_id).info.experiment_id
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'"
        ).items
        return {int(run.data.tags["loopml.tuning.trial"]): run for run in found}

    return read
