"""Every executor computes the same artifacts; Ray runs steps as tasks with their resources."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from loopml.client import Client
from loopml.core.errors import InvalidParameter
from loopml.pipelines import PipelineRun, get_executor, pipeline, step
from loopml.pipelines._ray import ray_options
from pipelines import flows


def _hashes(run: PipelineRun) -> dict[str, list[str]]:
    assert run.status == "FINISHED", {u: r.error for u, r in run.steps.items() if r.error}
    return {unit: [o.sha256 for o in record.outputs] for unit, record in run.steps.items()}


def test_a_training_pipeline_makes_the_same_model_on_inline_and_process(client: Client) -> None:
    inline = flows.training.run(client=client, executor="inline", cache=False)
    process = flows.training.run(client=client, executor="process", cache=False)
    assert _hashes(inline) == _hashes(process)  # the model's bytes too (canonical skops)
    assert set(_hashes(inline)) == {"training_data", "fit_model", "accuracy"}


def test_inline_and_process_make_identical_artifacts(client: Client) -> None:
    inline = flows.frames.run(client=client, executor="inline", cache=False)
    process = flows.frames.run(client=client, executor="process", cache=False)
    assert _hashes(inline) == _hashes(process)
    assert set(_hashes(inline)) == {
        "make_frame", "split", "summarize", "to_array", "to_table", "scaled[0]", "scaled[1]",
    }  # fmt: skip


@step(resources={"num_cpus": 1, "memory": 50 * 1024 * 1024})
def where() -> int:
    return os.getpid()


@pipeline
def located() -> int:
    return where()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_makes_the_same_artifacts_as_the_other_executors(
    client: Client, local_ray: Any
) -> None:
    on_ray = flows.frames.run(client=client, executor="ray", cache=False)
    inline = flows.frames.run(client=client, executor="inline", cache=False)
    assert _hashes(on_ray) == _hashes(inline)
    trained_on_ray = flows.training.run(client=client, executor="ray", cache=False)
    trained_here = flows.training.run(client=client, executor="process", cache=False)
    assert _hashes(trained_on_ray) == _hashes(trained_here)  # the training pipeline's model
    located_run = located.run(client=client, executor="ray", cache=False)
    assert located_run.result() != os.getpid()  # a Ray worker ran it
    assert local_ray.is_initialized()  # a Ray the caller started stays up


@pytest.mark.slow
def test_ray_reports_a_timeout(client: Client, local_ray: Any) -> None:
    run = flows.too_slow.run({"seconds": 60.0}, client=client, executor="ray")
    error = run.steps["sleepy"].error
    assert error is not None
    assert error.short_type == "StepTimeout"


def test_step_resources_become_ray_task_options() -> None:
    assert ray_options({"num_cpus": 2, "num_gpus": 0.5, "memory": 1e9, "tpu": 1}) == {
        "num_cpus": 2,
        "num_gpus": 0.5,
        "memory": 1_000_000_000,
        "resources": {"tpu": 1},
    }


def test_an_unreachable_ray_cluster_is_named(client: Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing listens there
    address = f"127.0.0.1:{port}"
    with pytest.raises(InvalidParameter, match=rf"cannot reach the Ray cluster at '{address}'"):
        located.run(client=client, executor="ray", executor_options={"address": address})
    with pytest.raises(InvalidParameter, match=r"Ray address 'nowhere' is not host:port"):
        located.run(client=client, executor="ray", executor_options={"address": "nowhere"})


def test_process_executor_options_are_checked() -> None:
    with pytest.raises(InvalidParameter, match=r"max_workers must be a whole number >= 1"):
        get_executor("process", max_workers=0)


def test_importing_loopml_pipelines_loads_no_backend() -> None:
    code = (
        "import json, sys, loopml, loopml.pipelines; loopml.step; "
        "print(json.dumps([m for m in ('ray', 'optuna', 'sqlalchemy', 'fsspec', 'pandas', "
        "'loopml.tracking', 'cloudpickle') if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_public_names_are_sorted_and_exported() -> None:
    import loopml.pipelines

    names = loopml.pipelines.__all__
    assert names == sorted(names)
    assert all(getattr(loopml.pipelines, name) is not None for name in names)
