"""Steps and pipelines as plain functions, the traced DAG, and errors before anything runs."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from loopml.client import Client
from loopml.core.errors import InvalidParameter
from loopml.pipelines import Graph, Node, get_executor, pipeline, step
from loopml.pipelines.graph import Ref, Refs
from pipelines import flows


def test_steps_and_pipelines_stay_plain_functions() -> None:
    assert flows.double(4) == 8
    assert flows.double.map([1, 2, 3]) == [2, 4, 6]
    assert flows.fan(4) == 12  # no tracking, no workers: a unit test of the logic


def test_the_dag_comes_from_passing_outputs() -> None:
    graph = flows.diamond.graph({"log": "x"})
    assert graph.order()[-1] == "combine"
    assert graph.nodes["combine"].upstream() == {"first", "second"}
    assert graph.nodes["first"].args["a"].value == 1  # type: ignore[union-attr]
    assert graph.params == {"log": "x", "a": 1, "b": 2}


def test_repeated_calls_get_numbered_nodes_and_tuples_split_outputs() -> None:
    graph = flows.frames.graph()
    assert set(graph.nodes) == {
        "make_frame",
        "split",
        "summarize",
        "to_array",
        "to_table",
        "scaled",
    }
    assert graph.nodes["split"].outputs == 2
    assert graph.nodes["to_array"].args["frame"] == Refs((Ref("split", 1),))
    assert graph.nodes["scaled"].is_map

    @step
    def add(x: int, y: int) -> int:
        return x + y

    @pipeline
    def twice() -> int:
        return add(add(1, 2), 3)

    assert list(twice.graph().nodes) == ["add", "add_2"]


def test_a_cycle_is_refused_naming_it() -> None:
    one = Node("one", flows.double, {"x": Refs((Ref("two"),))})
    two = Node("two", flows.double, {"x": Refs((Ref("one"),))})
    with pytest.raises(InvalidParameter, match=r"cycle: .*one -> two|cycle: .*two -> one"):
        Graph("loop", {"one": one, "two": two}).validate()


def test_an_input_from_no_step_or_a_missing_output_is_refused() -> None:
    orphan = Node("orphan", flows.double, {"x": Refs((Ref("ghost"),))})
    with pytest.raises(InvalidParameter, match=r"step 'orphan' needs the output of 'ghost'"):
        Graph("g", {"orphan": orphan}).validate()
    source = Node("source", flows.numbers, {})
    reader = Node("reader", flows.double, {"x": Refs((Ref("source", 1),))})
    with pytest.raises(InvalidParameter, match=r"output 1 of step 'source', which has 1"):
        Graph("g", {"source": source, "reader": reader}).validate()


def test_a_missing_argument_is_refused_before_anything_runs(client: Client) -> None:
    @pipeline
    def incomplete() -> Any:
        return flows.combine("log", 1)  # y is missing

    with pytest.raises(InvalidParameter, match=r"step 'combine': missing a required argument: 'y'"):
        incomplete.run(client=client)
    assert client.get_experiment_by_name("pipelines") is None  # nothing was recorded


def test_a_missing_pipeline_parameter_is_refused(client: Client) -> None:
    with pytest.raises(InvalidParameter, match=r"pipeline 'diamond': missing a required argument"):
        flows.diamond.run(client=client)


def test_parameters_of_the_wrong_type_are_refused(client: Client) -> None:
    with pytest.raises(
        InvalidParameter, match=r"pipeline 'fan' parameter 'n' expects int, got str"
    ):
        flows.fan.run({"n": "five"}, client=client)
    with pytest.raises(InvalidParameter, match=r"parameter 'n' expects int, got bool"):
        flows.fan.run({"n": True}, client=client)

    @step
    def pick(mode: Literal["fast", "slow"], weights: dict[str, float] | None = None) -> str:
        return mode

    @pipeline
    def picky(mode: str) -> Any:
        return pick(mode, {"a": 1})

    with pytest.raises(InvalidParameter, match=r"step 'pick' parameter 'mode' expects Literal"):
        picky.graph({"mode": "medium"})
    assert picky.graph({"mode": "fast"}).nodes["pick"].args["weights"].value == {"a": 1}  # type: ignore[union-attr]


def test_map_items_are_checked_against_the_mapped_parameter() -> None:
    @pipeline
    def bad() -> Any:
        return flows.double.map([1, "two"])

    with pytest.raises(InvalidParameter, match=r"mapped parameter 'x' item 1 expects int"):
        bad.graph()


def test_using_a_placeholder_as_a_value_explains_why() -> None:
    @pipeline
    def peeks() -> Any:
        values = flows.numbers(3)
        if values:
            return values
        return None

    with pytest.raises(InvalidParameter, match=r"placeholder while the pipeline is traced"):
        peeks.graph()


def test_an_unknown_executor_lists_the_known_ones(client: Client) -> None:
    with pytest.raises(
        InvalidParameter, match=r"unknown executor 'dask'; known executors: .*inline"
    ):
        flows.fan.run({"n": 2}, client=client, executor="dask")
    with pytest.raises(InvalidParameter, match=r"executor 'process': .*unexpected keyword"):
        get_executor("process", workers=3)


def test_step_options_are_checked_when_declared() -> None:
    with pytest.raises(InvalidParameter, match=r"retries must be a whole number"):
        step(retries=-1)
    with pytest.raises(InvalidParameter, match=r"retry_on must be exception types"):
        step(retry_on=(str,))  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"timeout_s must be a number > 0"):
        step(timeout_s=0)
    with pytest.raises(InvalidParameter, match=r"resources\['num_gpus'\] must be a number"):
        step(resources={"num_gpus": -1})

    @pipeline
    def mapped_split() -> Any:
        return flows.split.map([1])

    with pytest.raises(InvalidParameter, match=r"has 2 outputs; .map needs a step with one"):
        mapped_split.graph()
