"""Every route is guarded (or deliberately public), and state changes reach the audit sink."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from loopml.auth import AuditLog
from loopml.server.guard import (
    PUBLIC_PATHS,
    RESOURCE_KINDS,
    Action,
    Policy,
    guard,
    route_policies,
)

API = "/api/2.0/mlflow"


def test_every_route_has_exactly_one_policy_or_is_public(app: FastAPI) -> None:
    policies = route_policies(app)
    assert len(policies) > 80  # both prefixes of every endpoint are listed
    unguarded = [
        route
        for route, found in policies.items()
        if route[1] not in PUBLIC_PATHS and len(found) != 1
    ]
    assert unguarded == []
    public_but_guarded = [
        route for route, found in policies.items() if route[1] in PUBLIC_PATHS and found
    ]
    assert public_but_guarded == []


def test_policies_use_known_resources_and_deletes_need_manage(app: FastAPI) -> None:
    for (method, path), found in route_policies(app).items():
        for policy in found:
            assert policy.resource in RESOURCE_KINDS
            if method == "DELETE" and "/tags/" not in path:
                assert policy.action is Action.MANAGE, (method, path)
            if method == "GET":
                assert policy.action is Action.READ, (method, path)


def test_both_prefixes_carry_the_same_policy(app: FastAPI) -> None:
    policies = route_policies(app)
    for (method, path), found in policies.items():
        if path.startswith("/api/2.0/"):
            assert policies[(method, path.replace("/api/", "/ajax-api/", 1))] == found


def test_known_policies(app: FastAPI) -> None:
    policies = route_policies(app)
    assert policies[("POST", f"{API}/runs/log-batch")] == [Policy("run", Action.EDIT)]
    assert policies[("POST", f"{API}/runs/create")] == [Policy("experiment", Action.EDIT)]
    assert policies[("POST", f"{API}/experiments/delete")] == [Policy("experiment", Action.MANAGE)]
    assert policies[("GET", f"{API}/metrics/get-history")] == [Policy("run", Action.READ)]


def test_guard_refuses_unknown_resource_kinds() -> None:
    with pytest.raises(ValueError, match="unknown resource kind 'feature_view'"):
        guard("feature_view", Action.READ)


def test_state_changes_are_recorded_with_actor_and_request_id(
    post: Callable[..., Any], audit: AuditLog, make_run: Callable[..., str]
) -> None:
    run_id = make_run()
    response = post("runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})
    event = audit.list(limit=1)[0]
    assert (event.action, event.resource_kind, event.resource_id) == ("run.set_tag", "run", run_id)
    assert event.actor_name == "anonymous"
    assert event.client_addr == "testclient"
    assert event.request_id == response.headers["x-request-id"]
    assert event.after == {"key": "k"}
    assert audit.verify().ok


def test_reads_are_not_recorded(
    get: Callable[..., Any], audit: AuditLog, make_run: Callable[..., str]
) -> None:
    run_id = make_run()
    before = audit.list(limit=1)[0].seq
    assert get("runs/get", run_id=run_id).status_code == 200
    assert audit.list(limit=1)[0].seq == before


def test_rename_records_before_and_after(post: Callable[..., Any], audit: AuditLog) -> None:
    experiment_id = post("experiments/create", {"name": "old"}).json()["experiment_id"]
    post("experiments/update", {"experiment_id": experiment_id, "new_name": "new"})
    event = audit.list(limit=1)[0]
    assert event.action == "experiment.rename"
    assert (event.before, event.after) == ({"name": "old"}, {"name": "new"})
