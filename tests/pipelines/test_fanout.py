"""``step.map``: one task per item, in parallel, results collected as a list downstream."""

from __future__ import annotations

import os
from typing import Any

from loopml.client import Client
from loopml.pipelines import pipeline, step
from pipelines import flows


@step
def whoami(x: int) -> list[int]:
    return [x, os.getpid()]


@pipeline
def spread(n: int = 8) -> Any:
    return whoami.map(list(range(n)))


def test_mapped_items_run_in_parallel_processes(client: Client) -> None:
    run = spread.run({"n": 8}, client=client, executor_options={"max_workers": 2}, cache=False)
    results = run.result()
    assert [x for x, _ in results] == list(range(8))
    assert len({pid for _, pid in results}) == 2
    assert os.getpid() not in {pid for _, pid in results}


def test_map_over_an_upstream_list_and_collect_downstream(client: Client) -> None:
    run = flows.fan.run({"n": 5}, client=client)
    assert run.result() == 20
    assert sorted(run.completed) == [
        "double[0]", "double[1]", "double[2]", "double[3]", "double[4]", "numbers", "total",
    ]  # fmt: skip


def test_map_over_a_map_and_over_constants(client: Client) -> None:
    run = flows.fan_constant.run({"items": [1, 2, 3]}, client=client, executor="inline")
    assert run.result() == [[2, 4, 6], 24]
    assert run.steps["double_2[2]"].map_index == 2


def test_an_empty_map_is_an_empty_list(client: Client) -> None:
    run = flows.fan_constant.run({"items": []}, client=client, executor="inline")
    assert run.status == "FINISHED"
    assert run.result() == [[], 0]


def test_a_repeated_item_is_computed_once_per_run_and_cached_after(client: Client) -> None:
    first = flows.fan_constant.run({"items": [5]}, client=client, executor="inline")
    again = flows.fan_constant.run({"items": [5, 5]}, client=client, executor="inline")
    assert first.result() == [[10], 20]
    assert again.result() == [[10, 10], 40]
    assert "double[0]" in again.cached
    assert "double[1]" in again.cached


def test_mapping_over_a_value_that_is_not_a_list_fails_the_node(client: Client) -> None:
    @step
    def count(n: int) -> int:
        return n

    @pipeline
    def not_a_list() -> Any:
        return flows.double.map(count(3))

    run = not_a_list.run(client=client, executor="inline")
    assert run.status == "FAILED"
    error = run.steps["double"].error
    assert error is not None
    assert error.message == "step 'double': .map needs a list of items, but its input is int"
