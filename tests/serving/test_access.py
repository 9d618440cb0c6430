"""Every inference-server route answers each caller as its declared access says.

The table of routes (``loopml.serving.app.ROUTES``) is what the server
dispatches from; each route needs a sample request below, so a new route
cannot escape this test. Auth on, default permission none: ``reader`` holds
read on the model, ``labeller`` edit, ``stranger`` nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loopml.auth import AuthService, Permission, Role, Scope, local_actor
from loopml.serving import ServeOptions, create_serving_app
from loopml.serving.app import CALLER, EDIT, PUBLIC, READ, ROUTES
from loopml.store.database import Database

ROW = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
SAMPLES: dict[tuple[str, str], list[tuple[str, str, Any]]] = {
    ("GET", "live_check"): [("GET", "/v2/health/live", None)],
    ("GET", "ready_check"): [("GET", p, None) for p in ("/v2/health/ready", "/ping", "/health")],
    ("GET", "server_metadata"): [("GET", "/v2", None), ("GET", "/version", None)],
    ("GET", "metrics_page"): [("GET", "/metrics", None)],
    ("POST", "invocations"): [
        ("POST", "/invocations", {"dataframe_split": {"data": [[1.0, 2.0, 3.0, 4.0]]}})
    ],
    ("POST", "feedback_labels"): [
        ("POST", "/v2/feedback", {"labels": [{"request_id": "r1", "value": 1}]})
    ],
    ("POST", "infer"): [
        ("POST", "/v2/models/iris/infer", ROW),
        ("POST", "/v2/models/iris/versions/1/infer", ROW),
    ],
    ("GET", "model_page"): [
        ("GET", p, None)
        for p in ("/v2/models/iris", "/v2/models/iris/ready", "/v2/models/iris/versions/1/ready")
    ],
}
# Who gets through each kind of access (anonymous: no credentials at all).
ALLOWED = {
    PUBLIC: {"anonymous", "stranger", "reader", "labeller"},
    CALLER: {"stranger", "reader", "labeller"},
    READ: {"reader", "labeller"},
    EDIT: {"labeller"},
}


@pytest.fixture
def tokens(home: Path) -> dict[str, str]:
    database = Database(f"sqlite:///{home / 'loopml.db'}")
    service = AuthService(database)
    local = local_actor()
    made = {}
    for name, permission in (("stranger", None), ("reader", "read"), ("labeller", "edit")):
        service.create_account(local, name, role=Role.EDITOR, password="a-long-password-1")
        if permission:
            service.grant(local, name, "registered_model", "iris", Permission(permission))
        made[name] = service.create_token(local, f"{name}-t", scope=Scope.WRITE, owner=name).secret
    database.dispose()
    return made


def test_every_route_has_a_sample_request() -> None:
    assert {(r.method, r.handler) for r in ROUTES} == set(SAMPLES)


def test_every_caller_on_every_route_gets_what_its_access_says(
    home: Path,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., Any],
) -> None:
    monkeypatch.setenv("LOOPML_AUTH_DEFAULT_PERMISSION", "none")
    app = create_serving_app(
        ServeOptions("models:/iris@champion", registry_uri=str(home), auth=True, poll_s=0)
    )
    problems = []
    with make_client(app) as client:
        for route in ROUTES:
            for method, path, body in SAMPLES[(route.method, route.handler)]:
                for who in ("anonymous", "stranger", "reader", "labeller"):
                    headers = (
                        {} if who == "anonymous" else {"Authorization": f"Bearer {tokens[who]}"}
                    )
                    answer = client.request(method, path, json=body, headers=headers)
                    wanted = (
                        "2xx"
                        if who in ALLOWED[route.access]
                        else ("401" if who == "anonymous" else "403")
                    )
                    got = "2xx" if 200 <= answer.status_code < 300 else str(answer.status_code)
                    if got != wanted:
                        problems.append(f"{who} {method} {path}: {got} ({answer.text[:120]})")
    assert problems == []
