"""A pipeline whose client talks to a loopml server: step runs and cache through the
tracking API, values through the artifact proxy, nothing else needed."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from e2e.conftest import ServerProcess  # tests/ is on sys.path (rootdir conftest)
from loopml.auth import Role, Scope
from loopml.client import Client
from loopml.pipelines import StepStatus, resume
from loopml.pipelines.history import get_pipeline_run
from pipelines import flows


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("pipelines-remote")).start()
    yield process
    process.stop()


@pytest.fixture
def remote(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    for name in ("LOOPML_TRACKING_URI", "LOOPML_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with Client(server.url) as client:
        yield client


@pytest.mark.slow
def test_runs_records_and_cache_over_http(remote: Client) -> None:
    first = flows.frames.run(client=remote, experiment="remote-frames")
    assert first.status == "FINISHED", {u: r.error for u, r in first.steps.items() if r.error}
    summary, array, table, scaled = first.result()
    assert isinstance(summary, pd.DataFrame)
    assert array.shape == (30, 2)
    assert table.num_rows == 60
    assert scaled == [pytest.approx(30.0), pytest.approx(60.0)]

    again = flows.frames.run(client=remote, experiment="remote-frames")
    assert {r.status for r in again.steps.values()} == {StepStatus.CACHED}
    view = get_pipeline_run(remote, again.run_id)
    assert len(view.steps) == 7
    assert {s.data.tags["loopml.step.cache_hit"] for s in view.steps} == {"true"}


@pytest.mark.slow
def test_resume_over_http(remote: Client, tmp_path: object, log: str) -> None:
    switch = f"{tmp_path}/switch"
    with open(switch, "w") as handle:
        handle.write("fail")
    failed = flows.resumable.run({"log": log, "switch": switch}, client=remote)
    assert failed.failed == ["gate"]
    with open(switch, "w") as handle:
        handle.write("ok")
    resumed = resume(failed.run_id, client=remote, executor="inline")
    assert sorted(resumed.reused) == ["aside", "start"]
    assert resumed.result() == [200, 7]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("pipelines-auth"), auth=True, default_permission="none"
    )
    process.add_account("admin", Role.ADMIN, scope=Scope.ADMIN)
    process.add_account("eddie", Role.EDITOR, scope=Scope.WRITE)
    process.start()
    yield process
    process.stop()


@pytest.mark.slow
def test_an_editor_stores_values_in_their_own_experiment(
    auth_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    monkeypatch.setenv("LOOPML_TRACKING_TOKEN", auth_server.accounts["eddie"].token)
    with Client(auth_server.url) as client:
        run = flows.frames.run(client=client, experiment="eddies-frames")
        assert run.status == "FINISHED", {u: r.error for u, r in run.steps.items() if r.error}
        experiment = client.get_experiment_by_name("eddies-frames")
        assert experiment is not None
        stored = run.steps["make_frame"].outputs[0]
        assert stored.path.startswith(f"{experiment.experiment_id}/pipeline-objects/")
        assert run.result()[2].num_rows == 60
