"""``/mlflow/experiments/*``: each endpoint's happy path and MLflow's error codes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Call = Callable[..., Any]
Expect = Callable[[Any, int, str], str]


def test_create_then_get_and_get_by_name(post: Call, get: Call) -> None:
    created = post(
        "experiments/create", {"name": "exp", "tags": [{"key": "team", "value": "ml"}]}
    ).json()
    experiment_id = created["experiment_id"]
    by_id = get("experiments/get", experiment_id=experiment_id).json()["experiment"]
    by_name = get("experiments/get-by-name", experiment_name="exp").json()["experiment"]
    assert by_id == by_name
    assert by_id["name"] == "exp"
    assert by_id["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    assert by_id["lifecycle_stage"] == "active"
    assert by_id["tags"] == [{"key": "team", "value": "ml"}]
    assert isinstance(by_id["creation_time"], int)


def test_default_experiment_exists(get: Call) -> None:
    assert get("experiments/get", experiment_id="0").json()["experiment"]["name"] == "Default"


def test_missing_experiments_are_404(get: Call, expect_error: Expect) -> None:
    expect_error(get("experiments/get", experiment_id="999"), 404, "RESOURCE_DOES_NOT_EXIST")
    message = expect_error(
        get("experiments/get-by-name", experiment_name="nope"), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert "nope" in message


def test_get_requires_its_query_parameter(get: Call, expect_error: Expect) -> None:
    message = expect_error(get("experiments/get"), 400, "INVALID_PARAMETER_VALUE")
    assert "experiment_id" in message
    message = expect_error(
        get("experiments/get", experiment_id="1", extra="x"), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "'extra'" in message


def test_create_validates_its_input(post: Call, expect_error: Expect) -> None:
    expect_error(post("experiments/create", {}), 400, "INVALID_PARAMETER_VALUE")
    message = expect_error(
        post("experiments/create", {"name": "x", "colour": "red"}), 400, "INVALID_PARAMETER_VALUE"
    )
    assert "'colour'" in message
    expect_error(post("experiments/create", {"name": "   "}), 400, "INVALID_PARAMETER_VALUE")


def test_duplicate_name_is_already_exists_unless_it_is_a_retry(
    post: Call, expect_error: Expect
) -> None:
    body = {"name": "dup", "tags": [{"key": "a", "value": "1"}]}
    first = post("experiments/create", body).json()["experiment_id"]
    # The same request again (a client retry after a lost response) gets the same id.
    assert post("experiments/create", body).json()["experiment_id"] == first
    different = {"name": "dup", "tags": [{"key": "a", "value": "2"}]}
    message = expect_error(post("experiments/create", different), 400, "RESOURCE_ALREADY_EXISTS")
    assert "dup" in message


def test_search_experiments_by_post_and_get(post: Call, get: Call, make_experiment: Call) -> None:
    for name in ("alpha-1", "alpha-2", "beta"):
        make_experiment(name)
    found = post(
        "experiments/search", {"filter": "name LIKE 'alpha%'", "order_by": ["name DESC"]}
    ).json()
    assert [e["name"] for e in found["experiments"]] == ["alpha-2", "alpha-1"]
    paged = get("experiments/search", max_results="1", filter="name LIKE 'alpha%'").json()
    assert len(paged["experiments"]) == 1
    rest = get(
        "experiments/search",
        max_results="5",
        filter="name LIKE 'alpha%'",
        page_token=paged["next_page_token"],
    ).json()
    assert len(rest["experiments"]) == 1
    assert "next_page_token" not in rest


def test_search_refuses_a_bad_filter(post: Call, expect_error: Expect) -> None:
    expect_error(
        post("experiments/search", {"filter": "name ===== 'x'"}), 400, "INVALID_PARAMETER_VALUE"
    )


def test_rename_delete_restore(post: Call, get: Call, make_experiment: Call) -> None:
    experiment_id = make_experiment("old")
    assert (
        post("experiments/update", {"experiment_id": experiment_id, "new_name": "new"}).json() == {}
    )
    assert get("experiments/get", experiment_id=experiment_id).json()["experiment"]["name"] == "new"
    post("experiments/delete", {"experiment_id": experiment_id})
    deleted = get("experiments/get", experiment_id=experiment_id).json()["experiment"]
    assert deleted["lifecycle_stage"] == "deleted"
    listed = post("experiments/search", {"view_type": "DELETED_ONLY"}).json()["experiments"]
    assert [e["experiment_id"] for e in listed] == [experiment_id]
    post("experiments/restore", {"experiment_id": experiment_id})
    restored = get("experiments/get", experiment_id=experiment_id).json()["experiment"]
    assert restored["lifecycle_stage"] == "active"


def test_experiment_tags(
    post: Call, get: Call, make_experiment: Call, expect_error: Expect
) -> None:
    experiment_id = make_experiment()
    post(
        "experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "v"}
    )
    tags = get("experiments/get", experiment_id=experiment_id).json()["experiment"]["tags"]
    assert tags == [{"key": "k", "value": "v"}]
    post("experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": "k"})
    assert get("experiments/get", experiment_id=experiment_id).json()["experiment"]["tags"] == []
    response = post(
        "experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": "k"}
    )
    expect_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize("experiment_id", ["abc", "1; DROP TABLE experiments"])
def test_non_numeric_ids_are_invalid(get: Call, expect_error: Expect, experiment_id: str) -> None:
    expect_error(
        get("experiments/get", experiment_id=experiment_id), 400, "INVALID_PARAMETER_VALUE"
    )


def test_default_experiment_cannot_be_deleted(post: Call, expect_error: Expect) -> None:
    expect_error(post("experiments/delete", {"experiment_id": "0"}), 400, "INVALID_PARAMETER_VALUE")
