"""What changed between two real versions: params, metrics, data, code, environment, evaluation."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from loopml.client import Client
from loopml.core.errors import ResourceNotFound
from loopml.registry.diff import diff_versions

from .conftest import Register, iris_frame


def test_diff_shows_changed_params_metrics_data_code_and_environment(
    client: Client, registered: Register, add_dataset: Callable[..., str]
) -> None:
    first = add_dataset("iris", iris_frame(150))
    second = add_dataset("iris", iris_frame(100), parents=(first,))
    a = registered(dataset=first, c=1.0, commit="a" * 40)
    b = registered(
        dataset=second,
        c=0.01,
        commit="b" * 40,
        packages={"scikit-learn": "1.6.0", "numpy": "2.1.0"},
    )

    diff = diff_versions(client, "iris", 1, 2)

    assert (diff.a, diff.b, diff.changed) == (1, 2, True)
    c = diff.section("params")["C"]
    assert (c.status, c.before, c.after) == ("changed", "1.0", "0.01")
    assert "max_iter" not in diff.section("params")
    assert diff.same["params"] == 1
    accuracy = diff.section("metrics")["accuracy"]
    before = client.get_run(a.run_id).data.metrics[0].value
    after = client.get_run(b.run_id).data.metrics[0].value
    assert accuracy.delta == pytest.approx(after - before)
    data = diff.section("datasets")["iris"]
    assert data.before.startswith("data:iris@1 (")
    assert data.after.startswith("data:iris@2 (")
    assert diff.section("code")["commit"].after == "b" * 40
    environment = diff.section("environment")
    assert environment["packages.scikit-learn"].before == "1.5.0"
    assert environment["packages.numpy"].status == "added"
    version = diff.section("version")
    assert {"source", "storage_location", "run_id", "manifest_digest"} <= set(version)
    assert "trusted" not in version


def test_diff_compares_latest_evaluations_with_deltas(client: Client, registered: Register) -> None:
    registered()
    registered()
    client.registry.record_evaluation("iris", 1, {"accuracy": 0.5, "segment": {"s": {"a": 1}}})
    client.registry.record_evaluation("iris", 1, {"accuracy": 0.9, "segment": {"s": {"a": 0.7}}})
    client.registry.record_evaluation("iris", 2, {"accuracy": 0.95, "segment": {"s": {"a": 0.7}}})
    diff = diff_versions(client, "iris", "1", "2")
    evaluation = diff.section("evaluation")
    assert list(evaluation) == ["accuracy"]
    assert evaluation["accuracy"].delta == pytest.approx(0.05)
    assert diff.same["evaluation"] == 1
    payload = json.loads(json.dumps(diff.to_dict()))
    assert payload["changes"]["evaluation"][0]["status"] == "changed"


def test_a_version_against_itself_has_no_changes(client: Client, registered: Register) -> None:
    registered()
    diff = diff_versions(client, "iris", 1, 1)
    assert not diff.changed
    assert diff.same["params"] == 2


def test_a_version_without_a_run_is_a_note(client: Client, registered: Register) -> None:
    made = registered()
    client.registry.create_model_version("iris", made.version.storage_location)
    diff = diff_versions(client, "iris", 1, 2)
    assert diff.notes == ["version 2 has no run: params, data and code are unknown"]
    assert diff.section("params")["C"].status == "removed"


def test_an_unknown_version_is_not_found(client: Client, registered: Register) -> None:
    registered()
    with pytest.raises(ResourceNotFound, match="iris"):
        diff_versions(client, "iris", 1, 5)
