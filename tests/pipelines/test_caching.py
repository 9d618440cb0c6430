"""The step cache: unchanged steps are skipped; a changed parameter or edited code re-runs
exactly that step and what depends on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from loopml.client import Client
from loopml.pipelines import StepStatus
from pipelines import flows

CHAIN = '''
from loopml.pipelines import pipeline, step
from {helper} import scale


@step
def load(n: int) -> list[int]:
    return list(range(n))


@step
def transform(values: list[int]) -> list[int]:
    """Changing this docstring or a comment is not a change of behaviour."""
    return [v + {offset} for v in values]


@step
def report(values: list[int]) -> int:
    return scale(sum(values))


@step
def side(n: int) -> int:
    return n * 2


@pipeline
def chain(n: int = 4) -> list[int]:
    return [report(transform(load(n))), side(n)]
'''

HELPER = "def scale(x):\n    return x * {factor}\n"


def _chain(
    write: Callable[[str, str], ModuleType], name: str, offset: str, factor: str
) -> ModuleType:
    helper = f"{name}_helper"
    write(helper, HELPER.format(factor=factor))
    return write(name, CHAIN.format(helper=helper, offset=offset))


def test_a_second_run_of_an_unchanged_pipeline_is_all_cache_hits(client: Client, log: str) -> None:
    first = flows.diamond.run({"log": log}, client=client, executor="inline")
    assert first.status == "FINISHED"
    assert sorted(first.completed) == ["combine", "first", "second"]
    again = flows.diamond.run({"log": log}, client=client, executor="inline")
    assert sorted(again.cached) == ["combine", "first", "second"]
    assert again.completed == []
    assert flows.executed(log) == ["first", "second", "combine"]  # nothing ran twice
    assert again.result() == first.result() == 22
    producer = again.steps["combine"].source_run_id
    assert producer == first.steps["combine"].run_id


def test_a_changed_parameter_reruns_that_step_and_its_dependents(client: Client, log: str) -> None:
    flows.diamond.run({"log": log}, client=client, executor="inline")
    changed = flows.diamond.run({"log": log, "b": 3}, client=client, executor="inline")
    assert sorted(changed.completed) == ["combine", "second"]
    assert changed.cached == ["first"]
    assert changed.result() == 32


def test_edited_code_reruns_that_step_and_its_dependents(
    client: Client, write_module: Callable[[str, str], ModuleType]
) -> None:
    module = _chain(write_module, "edited_chain", "1", "2")
    first = module.chain.run(client=client)
    assert first.status == "FINISHED", first.steps
    assert first.result() == [20, 8]

    module = _chain(write_module, "edited_chain", "1000", "2")
    edited = module.chain.run(client=client)
    assert sorted(edited.completed) == ["report", "transform"]
    assert sorted(edited.cached) == ["load", "side"]
    assert edited.result() == [8012, 8]

    module = _chain(write_module, "edited_chain", "1000", "10")  # the helper report calls
    helper_edit = module.chain.run(client=client)
    assert helper_edit.completed == ["report"]
    assert helper_edit.result() == [40060, 8]


def test_docstrings_comments_and_step_options_are_not_code_changes(
    client: Client, write_module: Callable[[str, str], ModuleType]
) -> None:
    module = _chain(write_module, "doc_chain", "1", "2")
    module.chain.run(client=client, executor="inline")
    source = CHAIN.format(helper="doc_chain_helper", offset="1")
    reworded = source.replace("is not a change of behaviour", "says nothing new").replace(
        "@step\ndef transform", "@step(retries=2)  # a comment\ndef transform"
    )
    module = write_module("doc_chain", reworded)
    again = module.chain.run(client=client, executor="inline")
    assert sorted(again.cached) == ["load", "report", "side", "transform"]


def test_no_cache_runs_everything_and_refreshes_the_cache(client: Client, log: str) -> None:
    flows.diamond.run({"log": log}, client=client, executor="inline")
    fresh = flows.diamond.run({"log": log}, client=client, executor="inline", cache=False)
    assert sorted(fresh.completed) == ["combine", "first", "second"]
    cached = flows.diamond.run({"log": log}, client=client, executor="inline")
    assert cached.steps["combine"].source_run_id == fresh.steps["combine"].run_id


def test_a_step_that_opts_out_of_the_cache_always_runs(
    client: Client, write_module: Callable[[str, str], ModuleType]
) -> None:
    source = CHAIN.format(helper="opt_helper", offset="1").replace(
        "@step\ndef side", "@step(cache=False)\ndef side"
    )
    write_module("opt_helper", HELPER.format(factor="2"))
    module = write_module("opt_chain", source)
    module.chain.run(client=client, executor="inline")
    again = module.chain.run(client=client, executor="inline")
    assert again.completed == ["side"]
    assert sorted(again.cached) == ["load", "report", "transform"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_client(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Client]:
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    if request.param == "sqlite":
        opened = Client(tmp_path / "home")
    else:
        monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
        monkeypatch.setenv(
            "LOOPML_DATABASE_URL", request.getfixturevalue("postgres_databases").create()
        )
        opened = Client()
    yield opened
    opened.close()


def test_the_cache_and_records_on_each_database(any_client: Client, log: str) -> None:
    first = flows.fan.run({"n": 3}, client=any_client)
    assert first.status == "FINISHED"
    assert sorted(first.completed) == ["double[0]", "double[1]", "double[2]", "numbers", "total"]
    again = flows.fan.run({"n": 3}, client=any_client)
    assert len(again.cached) == 5
    assert again.result() == 6
    assert {r.status for r in again.steps.values()} == {StepStatus.CACHED}
