"""``Idempotency-Key``: a retried POST is answered from the stored response, never redone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from loopml.server import idempotency
from loopml.store import tables as t

Call = Callable[..., Any]
Expect = Callable[[Any, int, str], str]


def _key(value: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Idempotency-Key": value}}


def _runs_in(post: Call, experiment_id: str) -> int:
    return len(post("runs/search", {"experiment_ids": [experiment_id]}).json()["runs"])


def test_a_retry_gets_the_stored_response_and_changes_nothing(
    post: Call, make_experiment: Call
) -> None:
    experiment_id = make_experiment()
    first = post("runs/create", {"experiment_id": experiment_id}, **_key("create-1"))
    again = post("runs/create", {"experiment_id": experiment_id}, **_key("create-1"))
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _runs_in(post, experiment_id) == 1


def test_the_same_key_for_another_request_is_refused(
    post: Call, make_experiment: Call, expect_error: Expect
) -> None:
    experiment_id = make_experiment()
    post("runs/create", {"experiment_id": experiment_id}, **_key("k"))
    response = post(
        "runs/create", {"experiment_id": experiment_id, "run_name": "other"}, **_key("k")
    )
    assert "different request" in expect_error(response, 422, "INVALID_PARAMETER_VALUE")
    assert _runs_in(post, experiment_id) == 1


def test_client_errors_are_replayed_too(post: Call, expect_error: Expect) -> None:
    body = {"run_id": "f" * 32, "key": "k", "value": "v"}
    expect_error(post("runs/set-tag", body, **_key("e")), 404, "RESOURCE_DOES_NOT_EXIST")
    replay = post("runs/set-tag", body, **_key("e"))
    expect_error(replay, 404, "RESOURCE_DOES_NOT_EXIST")
    assert replay.headers["idempotent-replayed"] == "true"


def test_server_errors_are_not_kept_so_a_retry_does_the_work(
    app: FastAPI,
    make_client: Callable[..., Any],
    make_experiment: Call,
    post: Call,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    experiment_id = make_experiment()
    tracking = app.state.tracking
    real_create_run = tracking.create_run
    failures = iter([RuntimeError("database went away")])

    def flaky(*args: Any, **kwargs: Any) -> Any:
        for error in failures:
            raise error
        return real_create_run(*args, **kwargs)

    monkeypatch.setattr(tracking, "create_run", flaky)
    client = make_client(app, raise_server_exceptions=False)
    url = "/api/2.0/mlflow/runs/create"
    failed = client.post(url, json={"experiment_id": experiment_id}, **_key("flaky"))
    assert failed.status_code == 500
    retried = client.post(url, json={"experiment_id": experiment_id}, **_key("flaky"))
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers
    assert _runs_in(post, experiment_id) == 1


def test_a_retry_during_the_first_attempt_is_409(
    app: FastAPI, client: Any, expect_error: Expect, make_experiment: Call
) -> None:
    raw = b'{"experiment_id": "' + make_experiment().encode() + b'"}'
    digest = idempotency.request_hash("POST", "/api/2.0/mlflow/runs/create", "", raw)
    busy = f"{idempotency.credential_scope('')}/busy"
    assert app.state.idempotency.begin(busy, digest) is None  # still running
    headers = {"Idempotency-Key": "busy", "content-type": "application/json"}
    response = client.post("/api/2.0/mlflow/runs/create", content=raw, headers=headers)
    assert "still being processed" in expect_error(response, 409, "RESOURCE_CONFLICT")


def test_keys_expire_after_a_day(app: FastAPI, post: Call, make_experiment: Call) -> None:
    experiment_id = make_experiment()
    post("runs/create", {"experiment_id": experiment_id}, **_key("old"))
    db = app.state.idempotency.db
    long_ago = idempotency.now_ms() - idempotency.TTL_MS - 1
    with db.write() as conn:
        conn.execute(update(t.idempotency_keys).values(created_ms=long_ago))
    again = post("runs/create", {"experiment_id": experiment_id}, **_key("old"))
    assert "idempotent-replayed" not in again.headers
    assert _runs_in(post, experiment_id) == 2
    with db.write() as conn:
        conn.execute(update(t.idempotency_keys).values(created_ms=long_ago))
    assert app.state.idempotency.sweep() == 1
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.idempotency_keys)).scalar() == 0


def test_keys_belong_to_their_credentials(post: Call, make_experiment: Call) -> None:
    experiment_id = make_experiment()
    post("runs/create", {"experiment_id": experiment_id}, **_key("shared"))
    other_caller = {"Idempotency-Key": "shared", "Authorization": "Bearer someone-else"}
    other = post("runs/create", {"experiment_id": experiment_id}, headers=other_caller)
    assert "idempotent-replayed" not in other.headers
    assert _runs_in(post, experiment_id) == 2


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "ünïcode"])
def test_malformed_keys_are_refused(
    post: Call, make_experiment: Call, expect_error: Expect, key: str
) -> None:
    response = post(
        "runs/create",
        {"experiment_id": make_experiment()},
        headers={"Idempotency-Key": key.encode("utf-8")},
    )
    assert "Idempotency-Key" in expect_error(response, 400, "INVALID_PARAMETER_VALUE")


def test_create_experiment_retry_window_is_five_minutes(
    post: Call, monkeypatch: pytest.MonkeyPatch, expect_error: Expect
) -> None:
    body = {"name": "retried", "artifact_location": "mlflow-artifacts:/custom"}
    experiment_id = post("experiments/create", body).json()["experiment_id"]
    assert post("experiments/create", body).json()["experiment_id"] == experiment_id
    later = idempotency.now_ms() + idempotency.CREATE_RETRY_WINDOW_MS + 1
    monkeypatch.setattr(idempotency, "now_ms", lambda: later)
    expect_error(post("experiments/create", body), 400, "RESOURCE_ALREADY_EXISTS")


def test_with_a_key_a_second_create_of_the_same_experiment_is_a_conflict(
    post: Call, expect_error: Expect
) -> None:
    body = {"name": "keyed"}
    post("experiments/create", body, **_key("first"))
    response = post("experiments/create", body, **_key("second"))
    expect_error(response, 400, "RESOURCE_ALREADY_EXISTS")
