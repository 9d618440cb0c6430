"""Callers x roles x endpoints: every guarded route answers every caller as the rule says.

Two experiments: A, created through the API by ``owner`` (an editor, so its
owner grant is real), and B, the admin's. Each has a run with a metric, a param
and tags, a logged model and artifacts. Every guarded ``(method, path)`` of the
app needs a request builder in :data:`ENDPOINTS` aimed at A's or B's objects by
id (a route without one fails the test, so a new endpoint cannot escape the
matrix), and the expected answer comes from :data:`ACCESS` and :data:`REACH`,
tables written by hand from the rule in ``loopml.auth.access``, never computed
by the code under test.

The access-control API (``/api/loopml/v1``: accounts, tokens, grants, the audit
log), whose rules the auth service applies rather than the guard, is asked the
questions in :data:`ASKS` instead, each answered by a hand-written rule in
:data:`WHO_MAY` (admin only, any caller, whoever manages or reads the target
experiment, ...); it runs before the tracking routes, whose matrix deletes A and B.

Refused requests run first: each must be a 401 or 403, leave every table and
the artifact store as they were, and add one ``access.denied`` audit event for
a refused write and none for a refused read or a 401. Allowed requests run
after (reads, then writes, then deletions) and must never be refused.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient  # conftest imported it first, silencing its warning
from sqlalchemy import select, update

from loopml.artifacts import ArtifactStore
from loopml.auth import AuditLog, AuthService, Permission, PrincipalKind, Role, Scope, local_actor
from loopml.core.clock import now_ms
from loopml.core.config import Settings
from loopml.server.app import create_app
from loopml.server.guard import PUBLIC_PATHS, SERVICE_KINDS, route_policies
from loopml.store import tables
from loopml.store.database import Database

M = "/api/2.0/mlflow"
MA = "/api/2.0/mlflow-artifacts"
PASSWORD = "correct horse battery"

# --- the oracle -------------------------------------------------------------------

RANK = {"none": 0, "read": 1, "edit": 2, "manage": 3}

# What each caller may do to A and to B, from the rule: the higher of its grant
# and the default permission, capped by its role (viewer: read) and its token's
# scope (read: read); admins with a password or an admin token may do anything.
ACCESS = {
    "none": {
        "admin": ("manage", "manage"),  # admin, basic auth with a password
        "admin_write": ("none", "manage"),  # the admin's write token: owner grant on B only
        "owner": ("manage", "none"),  # editor who created A, write token
        "reader": ("read", "none"),  # editor granted READ on A, write token
        "viewer": ("read", "none"),  # viewer granted EDIT on A: the role caps it
        "read_token": ("read", "none"),  # the owner's read-scoped token
        "service": ("edit", "none"),  # service account granted EDIT on A, write token
    },
    "read": {
        "admin": ("manage", "manage"),
        "admin_write": ("read", "manage"),
        "owner": ("manage", "read"),
        "reader": ("read", "read"),
        "viewer": ("read", "read"),
        "read_token": ("read", "read"),
        "service": ("edit", "read"),
    },
}
# The most a caller may do to anything (role and scope): what counts for routes
# that aim at no existing object (create an experiment, search all experiments).
REACH = {
    "admin": "manage",
    "admin_write": "manage",
    "owner": "manage",
    "reader": "manage",
    "viewer": "read",
    "read_token": "read",
    "service": "manage",
}
CALLERS = tuple(REACH)
# Credentials that authenticate nobody: every route answers them 401.
REFUSED = (
    "no_credentials",
    "garbage_bearer",
    "garbage_basic",
    "unknown_scheme",
    "forged_token",
    "expired_token",
    "revoked_token",
    "disabled_account",
)


def may(default: str, caller: str, endpoint: Endpoint, target: str | None) -> bool:
    if endpoint.admin_only:
        return caller == "admin"
    if endpoint.creates and RANK[REACH[caller]] < RANK["edit"]:
        return False
    if target is None:
        return RANK[REACH[caller]] >= RANK[endpoint.needs]
    held = ACCESS[default][caller][0 if target == "A" else 1]
    return RANK[held] >= RANK[endpoint.needs]


# The access-control API (accounts, tokens, grants, the audit log): the guard only
# authenticates, and the auth service applies its own rules. What those rules need
# to know about each caller, besides the account it acts as (``World.names``):
#
# who is an admin: role admin with a password (the admin's write token is not one)
ADMINS = frozenset({"admin"})
# who signs in with a password (everyone else uses a token): only they mint tokens
PASSWORD_CALLERS = frozenset({"admin"})
# whose account is a service account: no password to change (400, once allowed)
PASSWORDLESS = frozenset({"reader", "viewer", "service"})
# the scope of each caller's token ("admin" signs in with a password): a read-only
# token may revoke only itself, not its account's other tokens
TOKEN_SCOPES = {
    "admin_write": Scope.WRITE,
    "owner": Scope.WRITE,
    "reader": Scope.WRITE,
    "viewer": Scope.READ,
    "read_token": Scope.READ,
    "service": Scope.WRITE,
}


def _holds(default: str, caller: str, target: str | None, needs: str) -> bool:
    assert target is not None
    return RANK[ACCESS[default][caller][0 if target == "A" else 1]] >= RANK[needs]


# Each question's rule: may ``caller`` do it, with the server's default
# permission ``default``, to experiment ``target`` (where the rule looks at one)?
WHO_MAY: dict[str, Callable[[str, str, str | None], bool]] = {
    "any-authenticated": lambda default, caller, target: True,
    "admin": lambda default, caller, target: caller in ADMINS,
    "signed-in-with-a-password": lambda default, caller, target: caller in PASSWORD_CALLERS,
    "not-read-only": lambda default, caller, target: TOKEN_SCOPES.get(caller) is not Scope.READ,
    "owner-of-target-experiment": lambda d, c, t: _holds(d, c, t, "manage"),
    "reader-of-target-experiment": lambda d, c, t: _holds(d, c, t, "read"),
}


# --- what each route is asked ----------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One experiment's objects, by id."""

    experiment_id: str
    name: str
    run_id: str
    model_id: str
    dataset: str
    registered_model: str = ""
    # Pending approval requests on the registered model, one taken per decision.
    approvals: list[str] = field(default_factory=list)
    monitor: str = ""
    alert_id: str = ""  # a firing alert of the monitor
    schedule: str = ""  # a pipeline schedule
    policy: str = ""  # a continuous-training policy of the registered model

    @property
    def artifacts(self) -> str:
        return f"{self.experiment_id}/{self.run_id}/artifacts"


@dataclass(frozen=True)
class Call:
    path: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None  # other credentials than the caller's usual ones


Build = Callable[[Target, int], Call]


@dataclass(frozen=True)
class Endpoint:
    """How to call a route for a target; ``aimed=False``: it names no existing object."""

    needs: str
    build: Build
    aimed: bool = True
    unimplemented: bool = False  # 501 to whoever passes the guard; nothing is read or written
    destructive: bool = False
    # The answer to an authenticated caller the rule refuses: 403, or a 404 where
    # telling "not yours" from "missing" would let names be probed.
    refused: tuple[int, str] = (403, "PERMISSION_DENIED")
    admin_only: bool = False  # beyond the grant: only an admin acting with full power
    creates: bool = False  # also makes something new: the caller's role must allow edits

    @property
    def order(self) -> int:
        return 4 if self.destructive else RANK[self.needs]


def _run(**extra: Any) -> Build:
    return lambda t, n: Call(json={"run_id": t.run_id, **extra})


def _experiment(**extra: Any) -> Build:
    return lambda t, n: Call(json={"experiment_id": t.experiment_id, **extra})


def _model(**extra: Any) -> Build:
    return lambda t, n: Call(path={"model_id": t.model_id}, json={"model_id": t.model_id, **extra})


def _artifact(name: str, content: bytes | None = None) -> Build:
    return lambda t, n: Call(path={"path": f"{t.artifacts}/{name.format(n=n)}"}, content=content)


def _metric(n: int) -> dict[str, Any]:
    return {"key": "loss", "value": 1.0 / (n + 1), "timestamp": 1_700_000_000_000 + n, "step": n}


def _parquet(n: int) -> bytes:
    """A small table as Parquet bytes, different for each ``n`` (so each upload is new)."""
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": [n, n + 1], "x": [0.5, 1.5]}), sink)
    return sink.getvalue()


def _dataset(**call: Any) -> Build:
    return lambda t, n: Call(path={"name": t.dataset, "selector": "1"}, **call)


def _registered(**extra: Any) -> Build:
    return lambda t, n: Call(json={"name": t.registered_model, **extra})


def _registered_query(**extra: Any) -> Build:
    return lambda t, n: Call(params={"name": t.registered_model, **extra})


def _native(version: bool = False, **call: Any) -> Build:
    path = {"version": "1"} if version else {}
    return lambda t, n: Call(path={"name": t.registered_model, **path}, **call)


def _decision(**call: Any) -> Build:
    return lambda t, n: Call(
        path={"name": t.registered_model, "approval_id": t.approvals.pop()}, **call
    )


def _monitor(**call: Any) -> Build:
    return lambda t, n: Call(path={"name": t.monitor}, **call)


def _schedule(**call: Any) -> Build:
    return lambda t, n: Call(path={"name": t.schedule}, **call)


def _policy(**call: Any) -> Build:
    return lambda t, n: Call(path={"name": t.policy}, **call)


def policy_body(name: str, target: Target) -> dict[str, Any]:
    return {
        "name": name,
        "endpoint": "ep",
        "model": target.registered_model,
        "action": {"pipeline": "json:dumps"},
        "gates": {"data": f"data:{target.dataset}@1", "target": "x"},
    }


SUITE = {"name": "s", "expectations": [{"not_null": {"column": "id"}}]}
DV = "/api/loopml/v1/datasets"
RM = "/api/loopml/v1/models/{name}"
MON = "/api/loopml/v1/monitors"
PS = "/api/loopml/v1/pipelines/schedules"
POL = "/api/loopml/v1/policies"
RV = f"{RM}/versions/{{version}}"

MODEL_JSON = json.dumps(
    {"artifact_path": "m", "flavors": {}, "utc_time_created": "2024-01-01", "run_id": "r"}
)
DATASET = {"name": "d", "digest": "abc", "source_type": "local", "source": "file.csv"}

ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # experiments
    ("POST", f"{M}/experiments/create"): Endpoint(
        "edit", lambda t, n: Call(json={"name": f"created-{n}"}), aimed=False
    ),
    ("GET", f"{M}/experiments/get"): Endpoint(
        "read", lambda t, n: Call(params={"experiment_id": t.experiment_id})
    ),
    ("GET", f"{M}/experiments/get-by-name"): Endpoint(
        "read",
        lambda t, n: Call(params={"experiment_name": t.name}),
        refused=(404, "RESOURCE_DOES_NOT_EXIST"),
    ),
    ("GET", f"{M}/experiments/search"): Endpoint(
        "read", lambda t, n: Call(params={"max_results": 10}), aimed=False
    ),
    ("POST", f"{M}/experiments/search"): Endpoint(
        "read", lambda t, n: Call(json={"max_results": 10}), aimed=False
    ),
    ("POST", f"{M}/experiments/update"): Endpoint(
        "edit",
        lambda t, n: Call(json={"experiment_id": t.experiment_id, "new_name": f"{t.name}-{n}"}),
    ),
    ("POST", f"{M}/experiments/set-experiment-tag"): Endpoint(
        "edit", _experiment(key="k", value="v")
    ),
    ("POST", f"{M}/experiments/delete-experiment-tag"): Endpoint("edit", _experiment(key="t0")),
    ("POST", f"{M}/experiments/restore"): Endpoint("manage", _experiment()),
    ("POST", f"{M}/experiments/delete"): Endpoint("manage", _experiment(), destructive=True),
    # runs
    ("POST", f"{M}/runs/create"): Endpoint("edit", _experiment(run_name="new")),
    ("GET", f"{M}/runs/get"): Endpoint("read", lambda t, n: Call(params={"run_id": t.run_id})),
    ("POST", f"{M}/runs/update"): Endpoint("edit", _run(status="RUNNING")),
    ("POST", f"{M}/runs/restore"): Endpoint("manage", _run()),
    ("POST", f"{M}/runs/delete"): Endpoint("manage", _run(), destructive=True),
    ("POST", f"{M}/runs/search"): Endpoint(
        "read", lambda t, n: Call(json={"experiment_ids": [t.experiment_id]})
    ),
    ("GET", f"{M}/metrics/get-history"): Endpoint(
        "read", lambda t, n: Call(params={"run_id": t.run_id, "metric_key": "loss"})
    ),
    ("GET", f"{M}/artifacts/list"): Endpoint(
        "read", lambda t, n: Call(params={"run_id": t.run_id})
    ),
    # run data
    ("POST", f"{M}/runs/log-metric"): Endpoint(
        "edit", lambda t, n: Call(json={"run_id": t.run_id, **_metric(n)})
    ),
    ("POST", f"{M}/runs/log-batch"): Endpoint(
        "edit", lambda t, n: Call(json={"run_id": t.run_id, "metrics": [_metric(n)]})
    ),
    ("POST", f"{M}/runs/log-parameter"): Endpoint(
        "edit", lambda t, n: Call(json={"run_id": t.run_id, "key": f"p{n}", "value": "1"})
    ),
    ("POST", f"{M}/runs/set-tag"): Endpoint("edit", _run(key="k", value="v")),
    ("POST", f"{M}/runs/delete-tag"): Endpoint("edit", _run(key="t0")),
    ("POST", f"{M}/runs/log-inputs"): Endpoint("edit", _run(datasets=[{"dataset": DATASET}])),
    ("POST", f"{M}/runs/log-model"): Endpoint("edit", _run(model_json=MODEL_JSON)),
    ("POST", f"{M}/runs/outputs"): Endpoint(
        "edit",
        lambda t, n: Call(json={"run_id": t.run_id, "models": [{"model_id": t.model_id}]}),
    ),
    # logged models
    ("POST", f"{M}/logged-models"): Endpoint("edit", _experiment(name="made")),
    ("POST", f"{M}/logged-models/search"): Endpoint(
        "read", lambda t, n: Call(json={"experiment_ids": [t.experiment_id]})
    ),
    ("GET", f"{M}/logged-models/{{model_id}}"): Endpoint(
        "read", lambda t, n: Call(path={"model_id": t.model_id})
    ),
    ("GET", f"{M}/logged-models/{{model_id}}/artifacts/directories"): Endpoint(
        "read", lambda t, n: Call(path={"model_id": t.model_id})
    ),
    ("PATCH", f"{M}/logged-models/{{model_id}}"): Endpoint(
        "edit", _model(status="LOGGED_MODEL_READY")
    ),
    ("PATCH", f"{M}/logged-models/{{model_id}}/tags"): Endpoint(
        "edit", _model(tags=[{"key": "k", "value": "v"}])
    ),
    ("POST", f"{M}/logged-models/{{model_id}}/params"): Endpoint(
        "edit", _model(params=[{"key": "k", "value": "v"}])
    ),
    ("DELETE", f"{M}/logged-models/{{model_id}}/tags/{{tag_key:path}}"): Endpoint(
        "edit", lambda t, n: Call(path={"model_id": t.model_id, "tag_key": "t0"})
    ),
    ("DELETE", f"{M}/logged-models/{{model_id}}"): Endpoint("manage", _model(), destructive=True),
    # the artifact proxy: paths are <experiment>/<run>/artifacts/...
    ("GET", f"{MA}/artifacts"): Endpoint("read", lambda t, n: Call(params={"path": t.artifacts})),
    ("GET", f"{MA}/artifacts/{{path:path}}"): Endpoint("read", _artifact("file.txt")),
    ("PUT", f"{MA}/artifacts/{{path:path}}"): Endpoint("edit", _artifact("up-{n}.txt", b"new")),
    ("DELETE", f"{MA}/artifacts/{{path:path}}"): Endpoint(
        "manage", _artifact("file.txt"), destructive=True
    ),
    # Neither multipart nor presigned transfers are offered: the guard runs, then 501.
    ("POST", f"{MA}/mpu/create/{{path:path}}"): Endpoint(
        "edit", _artifact("big.bin"), aimed=False, unimplemented=True
    ),
    ("POST", f"{MA}/mpu/complete/{{path:path}}"): Endpoint(
        "edit", _artifact("big.bin"), aimed=False, unimplemented=True
    ),
    ("POST", f"{MA}/mpu/abort/{{path:path}}"): Endpoint(
        "edit", _artifact("big.bin"), aimed=False, unimplemented=True
    ),
    ("GET", f"{MA}/presigned/{{path:path}}"): Endpoint(
        "read", _artifact("file.txt"), aimed=False, unimplemented=True
    ),
    # datasets: grants live on each dataset (A's is the owner's, B's the admin's)
    ("GET", DV): Endpoint("read", lambda t, n: Call(), aimed=False),
    ("GET", f"{DV}/{{name}}"): Endpoint("read", _dataset()),
    ("GET", f"{DV}/{{name}}/versions"): Endpoint("read", _dataset()),
    ("POST", f"{DV}/{{name}}/versions"): Endpoint(
        "edit",
        lambda t, n: Call(path={"name": t.dataset}, content=_parquet(100 + n)),
    ),
    ("GET", f"{DV}/{{name}}/versions/{{selector}}"): Endpoint("read", _dataset()),
    ("GET", f"{DV}/{{name}}/versions/{{selector}}/content"): Endpoint("read", _dataset()),
    ("GET", f"{DV}/{{name}}/versions/{{selector}}/profile"): Endpoint("read", _dataset()),
    ("GET", f"{DV}/{{name}}/versions/{{selector}}/suggested-suite"): Endpoint("read", _dataset()),
    ("GET", f"{DV}/{{name}}/versions/{{selector}}/validations"): Endpoint("read", _dataset()),
    ("POST", f"{DV}/{{name}}/versions/{{selector}}/validations"): Endpoint(
        "edit", _dataset(json={"suite": SUITE})
    ),
    ("GET", f"{DV}/{{name}}/diff"): Endpoint(
        "read", _dataset(params={"before": "1", "after": "latest"})
    ),
    ("PUT", f"{DV}/{{name}}/tags/{{tag}}"): Endpoint(
        "edit",
        lambda t, n: Call(path={"name": t.dataset, "tag": f"t{n}"}, json={"version": 1}),
    ),
    ("PUT", f"{DV}/{{name}}/suite"): Endpoint("edit", _dataset(json={"suite": SUITE})),
    ("PUT", f"{DV}/{{name}}/columns/{{column}}/tags"): Endpoint(
        "manage",
        lambda t, n: Call(path={"name": t.dataset, "column": "x"}, json={"tags": ["pii"]}),
    ),
    # the model registry: grants live on each registered model (A's the owner's, B's the
    # admin's); MLflow's API, then loopml's own
    ("POST", f"{M}/registered-models/create"): Endpoint(
        "edit", lambda t, n: Call(json={"name": f"rm-new-{n}"}), aimed=False
    ),
    ("GET", f"{M}/registered-models/get"): Endpoint("read", _registered_query()),
    ("GET", f"{M}/registered-models/search"): Endpoint(
        "read", lambda t, n: Call(params={"max_results": 10}), aimed=False
    ),
    # renamed to its own name, so the model stays where the other routes look for it
    ("POST", f"{M}/registered-models/rename"): Endpoint(
        "manage",
        lambda t, n: Call(json={"name": t.registered_model, "new_name": t.registered_model}),
    ),
    ("PATCH", f"{M}/registered-models/update"): Endpoint(
        "edit", lambda t, n: _registered(description=f"d{n}")(t, n)
    ),
    ("DELETE", f"{M}/registered-models/delete"): Endpoint(
        "manage", _registered(), destructive=True
    ),
    ("POST", f"{M}/registered-models/get-latest-versions"): Endpoint("read", _registered()),
    ("POST", f"{M}/registered-models/set-tag"): Endpoint("edit", _registered(key="k", value="v")),
    ("DELETE", f"{M}/registered-models/delete-tag"): Endpoint("manage", _registered(key="t0")),
    ("POST", f"{M}/registered-models/alias"): Endpoint(
        "edit", lambda t, n: _registered(alias=f"x{n}", version="1")(t, n)
    ),
    ("DELETE", f"{M}/registered-models/alias"): Endpoint("manage", _registered(alias="a0")),
    ("GET", f"{M}/registered-models/alias"): Endpoint("read", _registered_query(alias="a0")),
    ("POST", f"{M}/model-versions/create"): Endpoint(
        "edit", lambda t, n: _registered(source=f"models:/{t.model_id}")(t, n)
    ),
    ("GET", f"{M}/model-versions/get"): Endpoint("read", _registered_query(version="1")),
    ("GET", f"{M}/model-versions/search"): Endpoint(
        "read", lambda t, n: Call(params={"max_results": 10}), aimed=False
    ),
    ("PATCH", f"{M}/model-versions/update"): Endpoint(
        "edit", lambda t, n: _registered(version="1", description=f"d{n}")(t, n)
    ),
    ("POST", f"{M}/model-versions/transition-stage"): Endpoint(
        "edit", _registered(version="1", stage="Staging")
    ),
    ("DELETE", f"{M}/model-versions/delete"): Endpoint(
        "manage", _registered(version="1"), destructive=True
    ),
    ("GET", f"{M}/model-versions/get-download-uri"): Endpoint(
        "read", _registered_query(version="1")
    ),
    ("POST", f"{M}/model-versions/set-tag"): Endpoint(
        "edit", _registered(version="1", key="k", value="v")
    ),
    ("DELETE", f"{M}/model-versions/delete-tag"): Endpoint(
        "manage", _registered(version="1", key="t0")
    ),
    ("GET", f"{RM}/policies"): Endpoint("read", _native()),
    ("PUT", f"{RM}/policies/{{alias}}"): Endpoint(
        "manage",
        lambda t, n: Call(path={"name": t.registered_model, "alias": f"q{n}"}, json={"gates": []}),
    ),
    ("DELETE", f"{RM}/policies/{{alias}}"): Endpoint(
        "manage", lambda t, n: Call(path={"name": t.registered_model, "alias": "q0"})
    ),
    ("POST", f"{RV}/promote"): Endpoint(
        "edit", lambda t, n: _native(version=True, json={"alias": f"p{n}"})(t, n)
    ),
    ("POST", f"{RV}/approvals"): Endpoint("edit", _native(version=True, json={"alias": "c"})),
    ("GET", f"{RM}/approvals"): Endpoint("read", _native()),
    ("POST", f"{RM}/approvals/{{approval_id}}/approve"): Endpoint("manage", _decision(json={})),
    ("POST", f"{RM}/approvals/{{approval_id}}/reject"): Endpoint(
        "manage", _decision(json={"reason": "not yet"})
    ),
    ("POST", f"{RV}/evaluations"): Endpoint(
        "edit", _native(version=True, json={"result": {"accuracy": 0.9}})
    ),
    ("GET", f"{RV}/evaluations"): Endpoint("read", _native(version=True)),
    ("GET", f"{RV}/gate-checks"): Endpoint("read", _native(version=True)),
    ("GET", f"{RV}/manifest"): Endpoint("read", _native(version=True)),
    ("GET", f"{RV}/lineage"): Endpoint("read", _native(version=True)),
    ("GET", f"{RV}/card"): Endpoint("read", _native(version=True, params={"format": "html"})),
    ("GET", f"{RM}/diff"): Endpoint("read", _native(params={"a": "1", "b": "1"})),
    ("PUT", f"{RV}/trust"): Endpoint(
        "manage", _native(version=True, json={"trusted": True}), admin_only=True
    ),
    # monitors: grants live on each monitor; making one needs read on its reference data
    ("GET", MON): Endpoint("read", lambda t, n: Call(), aimed=False),
    ("POST", MON): Endpoint(
        "read",
        lambda t, n: Call(
            json={"name": f"mon-new-{n}", "endpoint": "ep", "reference": f"data:{t.dataset}@1"}
        ),
        creates=True,
    ),
    ("GET", f"{MON}/{{name}}"): Endpoint("read", _monitor()),
    ("GET", f"{MON}/{{name}}/runs"): Endpoint("read", _monitor()),
    ("GET", f"{MON}/{{name}}/alerts"): Endpoint("read", _monitor()),
    ("GET", f"{MON}/{{name}}/report"): Endpoint("read", _monitor()),
    ("POST", f"{MON}/{{name}}/runs"): Endpoint("edit", _monitor()),
    ("POST", f"{MON}/{{name}}/alerts/{{alert_id}}/ack"): Endpoint(
        "edit", lambda t, n: Call(path={"name": t.monitor, "alert_id": t.alert_id})
    ),
    ("DELETE", f"{MON}/{{name}}"): Endpoint("manage", _monitor(), destructive=True),
    # pipeline schedules: grants live on each schedule; making one names code to run
    ("GET", PS): Endpoint("read", lambda t, n: Call(), aimed=False),
    ("POST", PS): Endpoint(
        "edit",
        lambda t, n: Call(
            json={"name": f"ps-new-{n}", "target": "json:dumps", "cron": "0 3 * * *"}
        ),
        aimed=False,
    ),
    ("GET", f"{PS}/{{name}}"): Endpoint("read", _schedule()),
    ("PUT", f"{PS}/{{name}}/enabled"): Endpoint("edit", _schedule(json={"enabled": True})),
    ("DELETE", f"{PS}/{{name}}"): Endpoint("manage", _schedule(), destructive=True),
    # policies: grants live on each policy; making one also needs edit on its model
    ("GET", POL): Endpoint("read", lambda t, n: Call(), aimed=False),
    ("POST", POL): Endpoint(
        "edit", lambda t, n: Call(json=policy_body(f"pol-new-{n}", t)), creates=True
    ),
    ("GET", f"{POL}/{{name}}"): Endpoint("read", _policy()),
    ("GET", f"{POL}/{{name}}/runs"): Endpoint("read", _policy()),
    ("PUT", f"{POL}/{{name}}/enabled"): Endpoint("edit", _policy(json={"enabled": True})),
    ("POST", f"{POL}/{{name}}/runs"): Endpoint("edit", _policy()),
    ("DELETE", f"{POL}/{{name}}"): Endpoint("manage", _policy(), destructive=True),
}


# --- what each access-control route is asked -----------------------------------

V1 = "/api/loopml/v1"
VICTIM = "victim"  # a user (editor, with a password) that no caller acts as

# Builds a caller's request; may first make a throwaway target (an account, a
# token, a grant), so a destructive success costs no caller its credentials and a
# refusal has something real to refuse.
Question = Callable[["World", str, int], Call]


@dataclass(frozen=True)
class Ask:
    """One question to an access-control route, and the rule (:data:`WHO_MAY`) that answers it.

    An allowed caller gets a 2xx and the ``audits`` event (none for a read), or
    the natural status in ``natural`` (a 400 for a service account's password);
    a refused one gets 403, and a write leaves only an ``access.denied`` event.
    """

    what: str
    rule: str
    build: Question
    target: str | None = None  # the experiment the rule looks at
    audits: str | None = None
    natural: Mapping[str, int] = field(default_factory=dict)
    askers: frozenset[str] = frozenset(CALLERS)
    last: bool = False  # allowed only to run after everything else (it could end the world)


def _fixed(**call: Any) -> Question:
    return lambda w, who, n: Call(**call)


def _own(build: Callable[[str, int], Call]) -> Question:
    """A question about the caller's own account."""
    return lambda w, who, n: build(w.account(who), n)


def _throwaway_account(w: World, who: str, n: int) -> Call:
    name = f"throwaway-{n}"
    w.service.create_account(local_actor(), name, kind=PrincipalKind.SERVICE, role=Role.VIEWER)
    return Call(path={"name": name})


def _throwaway_token(owner: str | None) -> Question:
    def build(w: World, who: str, n: int) -> Call:
        made = w.service.create_token(
            local_actor(), f"throwaway-{n}", scope=Scope.READ, owner=owner or w.account(who)
        )
        return Call(path={"token_id": made.token.token_id})

    return build


def _revoke_itself(w: World, who: str, n: int) -> Call:
    """A fresh twin of the caller's token (same account, same scope) revokes itself."""
    made = w.service.create_token(
        local_actor(), f"twin-{n}", scope=TOKEN_SCOPES[who], owner=w.account(who)
    )
    return Call(path={"token_id": made.token.token_id}, headers=_bearer(made.secret))


def _grant(target: str) -> Question:
    def build(w: World, who: str, n: int) -> Call:
        body = {
            "account": VICTIM,
            "resource_kind": "experiment",
            "resource_id": w.targets[target].experiment_id,
            "permission": "read",
        }
        return Call(json=body)

    return build


def _revoke(target: str) -> Question:
    def build(w: World, who: str, n: int) -> Call:
        experiment_id = w.targets[target].experiment_id
        w.service.grant(local_actor(), VICTIM, "experiment", experiment_id, Permission.READ)
        return Call(
            params={"account": VICTIM, "resource_kind": "experiment", "resource_id": experiment_id}
        )

    return build


def _grants_on(target: str) -> Question:
    return lambda w, who, n: Call(
        params={"resource_kind": "experiment", "resource_id": w.targets[target].experiment_id}
    )


def _mint(scope: str, owner: str | None = None) -> Question:
    extra = {"owner": owner} if owner else {}
    return lambda w, who, n: Call(json={"name": f"minted-{n}", "scope": scope, **extra})


ANY, ADMIN, NOT_READ_ONLY = "any-authenticated", "admin", "not-read-only"
PASSWORD_USER = "signed-in-with-a-password"
OWNER_OF, READER_OF = "owner-of-target-experiment", "reader-of-target-experiment"
NO_PASSWORD = dict.fromkeys(PASSWORDLESS, 400)  # "a service account signs in with tokens"

ASKS: dict[tuple[str, str], tuple[Ask, ...]] = {
    ("GET", f"{V1}/auth/whoami"): (Ask("who am I", ANY, _fixed()),),
    # accounts
    ("POST", f"{V1}/accounts"): (
        Ask(
            "create a service account",
            ADMIN,
            lambda w, who, n: Call(json={"name": f"made-{n}", "kind": "service"}),
            audits="account.create",
        ),
    ),
    ("GET", f"{V1}/accounts"): (Ask("list every account", ADMIN, _fixed()),),
    ("GET", f"{V1}/accounts/{{name}}"): (
        Ask("read itself", ANY, _own(lambda account, n: Call(path={"name": account}))),
        Ask("read another", ADMIN, _fixed(path={"name": VICTIM})),
    ),
    ("PATCH", f"{V1}/accounts/{{name}}"): (
        Ask(
            "describe another",
            ADMIN,
            lambda w, who, n: Call(path={"name": VICTIM}, json={"description": f"d{n}"}),
            audits="account.update",
        ),
        # An escalation for everyone else; for the admin, a change that changes nothing.
        Ask(
            "make itself an admin",
            ADMIN,
            _own(lambda account, n: Call(path={"name": account}, json={"role": "admin"})),
        ),
    ),
    ("POST", f"{V1}/accounts/{{name}}/password"): (
        # The same password again, so the admin's basic auth keeps working.
        Ask(
            "change its own password",
            NOT_READ_ONLY,
            _own(
                lambda account, n: Call(
                    path={"name": account},
                    json={"new_password": PASSWORD, "current_password": PASSWORD},
                )
            ),
            audits="account.set_password",
            natural=NO_PASSWORD,
        ),
        Ask(
            "reset another's password",
            ADMIN,
            _fixed(path={"name": VICTIM}, json={"new_password": PASSWORD}),
            audits="account.set_password",
        ),
    ),
    ("DELETE", f"{V1}/accounts/{{name}}"): (
        Ask("delete another", ADMIN, _throwaway_account, audits="account.delete"),
        # The admin is the last admin: a 400, unless that rule broke, which ends the world.
        Ask(
            "delete itself",
            ADMIN,
            _own(lambda account, n: Call(path={"name": account})),
            natural={"admin": 400},
            last=True,
        ),
    ),
    # tokens
    ("POST", f"{V1}/tokens"): (
        # Only a password (or an admin token) mints: a leaked token must not make more.
        Ask("mint a read token for itself", PASSWORD_USER, _mint("read"), audits="token.create"),
        Ask("mint a write token for itself", PASSWORD_USER, _mint("write"), audits="token.create"),
        Ask("mint an admin token for itself", ADMIN, _mint("admin"), audits="token.create"),
        Ask("mint a token for another", ADMIN, _mint("read", VICTIM), audits="token.create"),
    ),
    ("GET", f"{V1}/tokens"): (
        Ask("list its own tokens", ANY, _fixed()),
        Ask("list another's tokens", ADMIN, _fixed(params={"owner": VICTIM})),
        Ask("list everyone's tokens", ADMIN, _fixed(params={"everyone": "true"})),
    ),
    ("DELETE", f"{V1}/tokens/{{token_id}}"): (
        Ask(
            "revoke another token of its account",
            NOT_READ_ONLY,
            _throwaway_token(None),
            audits="token.revoke",
        ),
        Ask(
            "revoke the token it signs in with",
            ANY,
            _revoke_itself,
            audits="token.revoke",
            askers=frozenset(TOKEN_SCOPES),
        ),
        Ask("revoke another's token", ADMIN, _throwaway_token(VICTIM), audits="token.revoke"),
    ),
    # grants
    ("POST", f"{V1}/permissions"): tuple(
        Ask(f"grant on {t}", OWNER_OF, _grant(t), t, "permission.grant") for t in "AB"
    ),
    ("DELETE", f"{V1}/permissions"): tuple(
        Ask(f"revoke on {t}", OWNER_OF, _revoke(t), t, "permission.revoke") for t in "AB"
    ),
    ("GET", f"{V1}/permissions"): (
        *(Ask(f"list grants on {t}", READER_OF, _grants_on(t), t) for t in "AB"),
        Ask("list its own grants", ANY, _own(lambda account, n: Call(params={"account": account}))),
        Ask("list another's grants", ADMIN, _fixed(params={"account": VICTIM})),
        Ask("list every grant", ADMIN, _fixed()),
    ),
    # the audit log
    ("GET", f"{V1}/audit/events"): (Ask("list events", ADMIN, _fixed(params={"limit": 5})),),
    ("GET", f"{V1}/audit/verify"): (Ask("verify the chain", ADMIN, _fixed()),),
}


def builder_key(route: tuple[str, str]) -> tuple[str, str]:
    """Both prefixes of an endpoint share one builder."""
    method, path = route
    return method, re.sub(r"^/ajax-api/", "/api/", path)


def url_of(path_template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path_template)


# --- the world --------------------------------------------------------------------


@dataclass
class World:
    app: FastAPI
    default: str
    targets: dict[str, Target]
    headers: dict[str, dict[str, str]]
    names: dict[str, str]  # caller -> the account name its audit events carry
    client: TestClient
    counter: Iterator[int] = field(default_factory=itertools.count)

    @property
    def service(self) -> AuthService:
        service = self.app.state.access.service
        assert isinstance(service, AuthService)
        return service

    @property
    def audit(self) -> AuditLog:
        return self.service.audit

    @property
    def db(self) -> Database:
        return self.service.db

    @property
    def store(self) -> ArtifactStore:
        store = self.app.state.tracking.artifacts
        assert isinstance(store, ArtifactStore)
        return store

    def account(self, who: str) -> str:
        """The account a caller acts as (the refused credentials name the owner's)."""
        return self.names.get(who, "owner")

    def call(self, who: str, method: str, path: str, call: Call) -> httpx.Response:
        return self.client.request(
            method,
            url_of(path, call.path),
            params=call.params,
            json=call.json,
            content=call.content,
            headers=self.headers[who] if call.headers is None else call.headers,
        )

    def post(self, who: str, endpoint: str, body: Any) -> Any:
        response = self.client.post(f"{M}/{endpoint}", json=body, headers=self.headers[who])
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, who: str, endpoint: str, **params: Any) -> httpx.Response:
        return self.client.get(f"{M}/{endpoint}", params=params, headers=self.headers[who])

    def audit_seq(self) -> int:
        events = self.audit.list(limit=1)
        return events[0].seq if events else 0

    def events_since(self, seq: int) -> list[tuple[str, str]]:
        return [(e.action, e.actor_name) for e in self.audit.list(limit=20) if e.seq > seq]

    def fingerprint(self) -> dict[str, list[str]]:
        """Every row of every watched table, and every artifact."""
        with self.db.read() as conn:
            rows = {
                name: sorted(repr(tuple(row)) for row in conn.execute(select(table)))
                for name, table in tables.metadata.tables.items()
                if name not in UNWATCHED
            }
        rows["artifacts"] = self.artifacts()
        return rows

    def artifacts(self) -> list[str]:
        return sorted(f"{e.path} {e.sha256}" for e in self.store.list_files(""))

    def tokens(self) -> list[str]:
        """Every token as stored, but when it was last used (authenticating writes that)."""
        columns = [c for c in tables.api_tokens.c if c.name != "last_used_ms"]
        with self.db.read() as conn:
            return sorted(repr(tuple(row)) for row in conn.execute(select(*columns)))

    def row_writes(self) -> int:
        """How many rows of watched tables were ever inserted, updated or deleted."""
        with self.db.read() as conn:
            return int(conn.exec_driver_sql("SELECT n FROM test_row_writes").scalar_one())

    def count_row_writes(self) -> None:
        """Test-only SQLite triggers: each row written to a watched table bumps one counter.

        Cheap enough to ask after every refused request, where a full comparison of
        every table is not.
        """
        with self.db.write() as conn:
            conn.exec_driver_sql("CREATE TABLE test_row_writes (n INTEGER NOT NULL)")
            conn.exec_driver_sql("INSERT INTO test_row_writes VALUES (0)")
            for name in tables.metadata.tables:
                if name in UNWATCHED:
                    continue
                for op in ("INSERT", "UPDATE", "DELETE"):
                    conn.exec_driver_sql(
                        f"CREATE TRIGGER test_{name}_{op.lower()} AFTER {op} ON {name} "
                        "BEGIN UPDATE test_row_writes SET n = n + 1; END"
                    )


# Tables a refused request may still write: authenticating touches a token's
# last use, and the audit chain is checked event by event.
UNWATCHED = frozenset({"api_tokens", "audit_events", "audit_head", "idempotency_keys"})


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _basic(name: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def _accounts(service: AuthService) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Create every caller's account and credentials; returns (headers, audit names)."""
    local = local_actor()
    service.create_account(local, "admin", role=Role.ADMIN, password=PASSWORD)
    service.create_account(local, "owner", role=Role.EDITOR, password=PASSWORD)
    for name, role in (("reader", Role.EDITOR), ("viewer", Role.VIEWER)):
        service.create_account(local, name, kind=PrincipalKind.SERVICE, role=role)
    service.create_account(local, "service", kind=PrincipalKind.SERVICE, role=Role.EDITOR)
    service.create_account(local, "gone", kind=PrincipalKind.SERVICE, role=Role.EDITOR)
    service.create_account(local, VICTIM, role=Role.EDITOR, password=PASSWORD)

    def token(owner: str, scope: Scope) -> str:
        return service.create_token(local, "t", scope=scope, owner=owner).secret

    revoked = service.create_token(local, "r", scope=Scope.WRITE, owner="owner")
    service.revoke_token(local, revoked.token.token_id)
    forged = f"lml_{revoked.token.token_id}_{'0' * 64}"
    headers = {
        "admin": _basic("admin", PASSWORD),
        "admin_write": _bearer(token("admin", Scope.WRITE)),
        "owner": _bearer(token("owner", Scope.WRITE)),
        "reader": _bearer(token("reader", Scope.WRITE)),
        "viewer": _bearer(token("viewer", Scope.READ)),
        "read_token": _bearer(token("owner", Scope.READ)),
        "service": _bearer(token("service", Scope.WRITE)),
        "no_credentials": {},
        "garbage_bearer": _bearer("not-a-token"),
        "garbage_basic": {"Authorization": "Basic !!not base64!!"},
        "unknown_scheme": {"Authorization": "Token abc"},
        "forged_token": _bearer(forged),
        "expired_token": _bearer(_expired(service)),
        "revoked_token": _bearer(revoked.secret),
        "disabled_account": _bearer(token("gone", Scope.WRITE)),
    }
    service.update_account(local, "gone", disabled=True)
    names = {c: c for c in CALLERS} | {"admin_write": "admin", "read_token": "owner"}
    return headers, names


def _expired(service: AuthService) -> str:
    """A write token of the owner's that expired a minute ago.

    Minted without an expiry, then moved into the past: the service refuses an
    expiry that is not in the future, and one a few milliseconds ahead races
    whatever runs before it (password hashing, a busy CI machine).
    """
    made = service.create_token(local_actor(), "expired", scope=Scope.WRITE, owner="owner")
    token_id = tables.api_tokens.c.token_id
    with service.db.write() as conn:
        conn.execute(
            update(tables.api_tokens)
            .where(token_id == made.token.token_id)
            .values(expires_ms=now_ms() - 60_000)
        )
    return made.secret


def _populate(world: World, who: str, name: str) -> Target:
    """An experiment with a run (metric, param, tags), a logged model and artifacts."""
    experiment_id = world.post(who, "experiments/create", {"name": name})["experiment_id"]
    world.post(who, "experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "t0"})
    run = world.post(who, "runs/create", {"experiment_id": experiment_id})["run"]["info"]
    batch = {
        "run_id": run["run_id"],
        "metrics": [_metric(0)],
        "params": [{"key": "secret", "value": f"{name}-param"}],
        "tags": [{"key": "t0", "value": "x"}],
    }
    world.post(who, "runs/log-batch", batch)
    model = world.post(
        who,
        "logged-models",
        {"experiment_id": experiment_id, "tags": [{"key": "t0", "value": "x"}]},
    )["model"]["info"]
    dataset = f"ds-{name}"
    uploaded = world.client.post(
        f"{DV}/{dataset}/versions", content=_parquet(0), headers=world.headers[who]
    )
    assert uploaded.status_code == 201, uploaded.text
    target = Target(
        str(experiment_id), name, run["run_id"], model["model_id"], dataset, f"rm-{name}"
    )
    for path in (
        f"{target.artifacts}/file.txt",
        f"{experiment_id}/models/{target.model_id}/artifacts/MLmodel",
    ):
        response = world.client.put(
            f"{MA}/artifacts/{path}", content=f"{name} data".encode(), headers=world.headers[who]
        )
        assert response.status_code == 200, response.text
    _populate_registry(world, who, target)
    target = _populate_schedule(world, who, _populate_monitor(world, who, target))
    return _populate_policy(world, who, target)


def _populate_policy(world: World, who: str, target: Target) -> Target:
    name = f"pol-{target.name}"
    made = world.client.post(POL, json=policy_body(name, target), headers=world.headers[who])
    assert made.status_code == 200, made.text
    return dataclasses.replace(target, policy=name)


def _populate_schedule(world: World, who: str, target: Target) -> Target:
    name = f"ps-{target.name}"
    body = {"name": name, "target": "json:dumps", "cron": "0 3 * * *"}
    made = world.client.post(PS, json=body, headers=world.headers[who])
    assert made.status_code == 200, made.text
    return dataclasses.replace(target, schedule=name)


def _populate_monitor(world: World, who: str, target: Target) -> Target:
    """A monitor of the target's dataset, with one firing alert."""
    from loopml.monitoring._sql_alerts import SqlAlertStore
    from loopml.monitoring.alerts import Alert

    name = f"mon-{target.name}"
    body = {"name": name, "endpoint": "ep", "reference": f"data:{target.dataset}@1"}
    made = world.client.post("/api/loopml/v1/monitors", json=body, headers=world.headers[who])
    assert made.status_code == 200, made.text
    alert_id = f"alert-{target.name}"
    alert = Alert(alert_id, "drift", name, "share_drifted", "warning", "firing", 0.5, 0.3,
                  "drifted", 0, 0)  # fmt: skip
    SqlAlertStore(world.db).put_alert(alert)
    _add_monitor_run(world, name)
    return dataclasses.replace(target, monitor=name, alert_id=alert_id)


def _add_monitor_run(world: World, name: str) -> None:
    """A stored run with an HTML report, as a scheduled run leaves one."""
    from loopml.auth import local_actor
    from loopml.monitoring.monitors import MonitorRun, MonitorStore

    report = f"monitoring/{name}/reports/r-{name}.html"
    world.store.put(report, b"<!DOCTYPE html><title>report</title>")
    run = MonitorRun(f"r-{name}", name, 0, 1, 1, "ok", {"report": report}, 1)
    MonitorStore(world.db).add_run(run, local_actor())


def _populate_registry(world: World, who: str, target: Target) -> None:
    """A registered model with version 1 of the logged model, a tag on each, an alias,
    a policy and pending approval requests."""
    name = target.registered_model
    world.post(who, "registered-models/create", {"name": name})
    world.post(who, "model-versions/create", {"name": name, "source": f"models:/{target.model_id}"})
    world.post(who, "registered-models/set-tag", {"name": name, "key": "t0", "value": "x"})
    world.post(who, "model-versions/set-tag", {"name": name, "version": "1", "key": "t0"})
    world.post(who, "registered-models/alias", {"name": name, "alias": "a0", "version": "1"})
    native = f"/api/loopml/v1/models/{name}"
    headers = world.headers[who]
    made = world.client.put(f"{native}/policies/q0", json={"gates": []}, headers=headers)
    assert made.status_code == 200, made.text
    for _ in range(40):
        asked = world.client.post(
            f"{native}/versions/1/approvals", json={"alias": "c"}, headers=headers
        )
        assert asked.status_code == 200, asked.text
        target.approvals.append(asked.json()["approval"]["approval_id"])


@pytest.fixture(scope="module")
def cheap_argon2() -> Iterator[None]:
    """Argon2 at its lowest cost: hashing only needs to behave like hashing here.

    ``tests/auth`` checks the real parameters; at those, the password changes the
    matrix makes would cost seconds.
    """
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("loopml.auth.passwords._hasher", hasher)
        patch.setattr("loopml.auth.service._DUMMY_HASH", hasher.hash("not-a-real-password"))
        yield


def _world(home: Path, default: str) -> Iterator[World]:
    settings = dataclasses.replace(
        Settings.from_env(home=home), auth=True, auth_default_permission=default
    )
    app = create_app(settings)
    service = app.state.access.service
    headers, names = _accounts(service)
    client = TestClient(app).__enter__()  # one event loop for every request: 5x faster
    world = World(app, default, {}, headers, names, client)
    world.targets["A"] = _populate(world, "owner", "exp-a")
    world.targets["B"] = _populate(world, "admin", "exp-b")
    experiment_a = world.targets["A"].experiment_id
    local = local_actor()
    service.grant(local, "reader", "experiment", experiment_a, Permission.READ)
    service.grant(local, "viewer", "experiment", experiment_a, Permission.EDIT)
    service.grant(local, "service", "experiment", experiment_a, Permission.EDIT)
    dataset_a = world.targets["A"].dataset
    service.grant(local, "reader", "dataset", dataset_a, Permission.READ)
    service.grant(local, "viewer", "dataset", dataset_a, Permission.EDIT)
    service.grant(local, "service", "dataset", dataset_a, Permission.EDIT)
    monitor_a = world.targets["A"].monitor
    service.grant(local, "reader", "monitor", monitor_a, Permission.READ)
    service.grant(local, "viewer", "monitor", monitor_a, Permission.EDIT)
    service.grant(local, "service", "monitor", monitor_a, Permission.EDIT)
    schedule_a = world.targets["A"].schedule
    service.grant(local, "reader", "pipeline", schedule_a, Permission.READ)
    service.grant(local, "viewer", "pipeline", schedule_a, Permission.EDIT)
    service.grant(local, "service", "pipeline", schedule_a, Permission.EDIT)
    policy_a = world.targets["A"].policy
    service.grant(local, "reader", "policy", policy_a, Permission.READ)
    service.grant(local, "viewer", "policy", policy_a, Permission.EDIT)
    service.grant(local, "service", "policy", policy_a, Permission.EDIT)
    model_a = world.targets["A"].registered_model
    service.grant(local, "reader", "registered_model", model_a, Permission.READ)
    service.grant(local, "viewer", "registered_model", model_a, Permission.EDIT)
    service.grant(local, "service", "registered_model", model_a, Permission.EDIT)
    world.count_row_writes()
    yield world
    client.__exit__(None, None, None)
    app.state.tracking.store.db.dispose()


@pytest.fixture(scope="module")
def world_none(tmp_path_factory: pytest.TempPathFactory, cheap_argon2: None) -> Iterator[World]:
    """Auth on, default permission none: callers see only what they were granted."""
    yield from _world(tmp_path_factory.mktemp("matrix-none"), "none")


@pytest.fixture(scope="module")
def world_read(tmp_path_factory: pytest.TempPathFactory, cheap_argon2: None) -> Iterator[World]:
    """Auth on, default permission read: every caller reads everything, writes what it may."""
    yield from _world(tmp_path_factory.mktemp("matrix-read"), "read")


# --- focused checks (before the matrix, which deletes things) --------------------


def _searched(world: World, who: str, **query: Any) -> set[str]:
    """The names of the fixture's experiments a search by ``who`` returns (tests add others)."""
    found = world.post(who, "experiments/search", {"max_results": 100, **query})
    return {e["name"] for e in found["experiments"]} & {"Default", "exp-a", "exp-b"}


def test_a_reader_of_a_searches_only_a_with_default_none(world_none: World) -> None:
    for who in ("reader", "viewer", "read_token", "service", "owner"):
        assert _searched(world_none, who) == {"exp-a"}, who
        paged = world_none.get(who, "experiments/search", max_results=1, filter="name = 'exp-a'")
        assert [e["name"] for e in paged.json()["experiments"]] == ["exp-a"]
        assert "next_page_token" not in paged.json()
    assert _searched(world_none, "reader", filter="name = 'exp-b'") == set()
    assert _searched(world_none, "admin") == {"Default", "exp-a", "exp-b"}


def test_every_caller_searches_everything_with_default_read(world_read: World) -> None:
    for who in CALLERS:
        assert _searched(world_read, who) == {"Default", "exp-a", "exp-b"}, who


def test_a_reader_of_a_cannot_reach_b_by_guessing_ids(world_none: World) -> None:
    a, b = world_none.targets["A"], world_none.targets["B"]
    refused = [
        world_none.get("reader", "runs/get", run_id=b.run_id),
        world_none.get("reader", "metrics/get-history", run_id=b.run_id, metric_key="loss"),
        world_none.get("reader", "artifacts/list", run_id=b.run_id),
        world_none.get("reader", "experiments/get", experiment_id=b.experiment_id),
        world_none.client.get(
            f"{M}/logged-models/{b.model_id}", headers=world_none.headers["reader"]
        ),
        world_none.client.get(
            f"{MA}/artifacts/{b.artifacts}/file.txt", headers=world_none.headers["reader"]
        ),
        world_none.client.get(
            f"{MA}/artifacts", params={"path": b.artifacts}, headers=world_none.headers["reader"]
        ),
    ]
    for response in refused:
        assert response.status_code == 403, (response.url, response.text)
        assert response.json()["error_code"] == "PERMISSION_DENIED"
        assert "exp-b-param" not in response.text
    # By name, B is as absent as a name nobody used: names cannot be probed.
    by_name = world_none.get("reader", "experiments/get-by-name", experiment_name=b.name)
    unused = world_none.get("reader", "experiments/get-by-name", experiment_name="no-such-name")
    assert by_name.status_code == unused.status_code == 404
    assert by_name.json()["message"].replace(b.name, "?") == unused.json()["message"].replace(
        "no-such-name", "?"
    )
    for ids in ([b.experiment_id], [a.experiment_id, b.experiment_id]):
        response = world_none.client.post(
            f"{M}/runs/search", json={"experiment_ids": ids}, headers=world_none.headers["reader"]
        )
        assert response.status_code == 403, ids
        response = world_none.client.post(
            f"{M}/logged-models/search",
            json={"experiment_ids": ids},
            headers=world_none.headers["reader"],
        )
        assert response.status_code == 403, ids
    own = world_none.post("reader", "runs/search", {"experiment_ids": [a.experiment_id]})
    assert [r["info"]["run_id"] for r in own["runs"]] == [a.run_id]
    assert world_none.get("reader", "runs/get", run_id=a.run_id).status_code == 200


def test_artifact_paths_outside_any_experiment_are_admins_only(world_none: World) -> None:
    seq = world_none.audit_seq()
    response = world_none.client.put(
        f"{MA}/artifacts/shared/notes.txt", content=b"x", headers=world_none.headers["owner"]
    )
    assert response.status_code == 403, response.text
    assert world_none.events_since(seq) == [("access.denied", "owner")]
    listing = world_none.client.get(
        f"{MA}/artifacts", params={"path": ""}, headers=world_none.headers["owner"]
    )
    assert listing.status_code == 403
    assert world_none.store.list_files("shared") == []


def test_only_admins_choose_an_artifact_location(world_none: World) -> None:
    body = {"name": "placed", "artifact_location": "mlflow-artifacts:/elsewhere"}
    seq = world_none.audit_seq()
    response = world_none.client.post(
        f"{M}/experiments/create", json=body, headers=world_none.headers["owner"]
    )
    assert response.status_code == 403, response.text
    assert world_none.events_since(seq) == [("access.denied", "owner")]


def test_a_run_cannot_link_a_model_of_another_experiment(world_none: World) -> None:
    a, b = world_none.targets["A"], world_none.targets["B"]
    body = {"run_id": a.run_id, "models": [{"model_id": b.model_id}]}
    seq = world_none.audit_seq()
    response = world_none.client.post(
        f"{M}/runs/outputs", json=body, headers=world_none.headers["service"]
    )
    assert response.status_code == 403, response.text
    assert world_none.events_since(seq) == [("access.denied", "service")]
    assert (
        world_none.get("service", "runs/get", run_id=a.run_id)
        .json()["run"]
        .get("outputs", {})
        .get("model_outputs", [])
        == []
    )


def test_a_model_cannot_name_a_source_run_of_another_experiment(world_none: World) -> None:
    a, b = world_none.targets["A"], world_none.targets["B"]
    body = {"experiment_id": a.experiment_id, "name": "borrowed", "source_run_id": b.run_id}
    seq = world_none.audit_seq()
    response = world_none.client.post(
        f"{M}/logged-models", json=body, headers=world_none.headers["service"]
    )
    assert response.status_code == 403, response.text
    assert world_none.events_since(seq) == [("access.denied", "service")]
    found = world_none.client.post(
        f"{M}/logged-models/search",
        json={"experiment_ids": [a.experiment_id]},
        headers=world_none.headers["service"],
    )
    assert "borrowed" not in found.text


def test_metrics_cannot_be_written_to_a_model_of_another_experiment(world_none: World) -> None:
    a, b = world_none.targets["A"], world_none.targets["B"]
    before = world_none.fingerprint()["logged_model_metrics"]
    body = {"run_id": a.run_id, **_metric(99), "model_id": b.model_id}
    response = world_none.client.post(
        f"{M}/runs/log-metric", json=body, headers=world_none.headers["service"]
    )
    assert world_none.fingerprint()["logged_model_metrics"] == before
    assert response.status_code == 403, response.text


def test_a_duplicate_create_does_not_reveal_another_s_experiment(world_none: World) -> None:
    admins = world_none.post("admin", "experiments/create", {"name": "admins-only"})
    response = world_none.client.post(
        f"{M}/experiments/create",
        json={"name": "admins-only"},
        headers=world_none.headers["reader"],
    )
    assert admins["experiment_id"] not in response.text
    assert response.status_code in (400, 403), response.text


def test_basic_auth_with_a_token_or_a_wrong_password(world_none: World) -> None:
    owner_token = world_none.headers["read_token"]["Authorization"].removeprefix("Bearer ")
    as_owner = world_none.client.get(f"{M}/experiments/search", headers=_basic("", owner_token))
    assert as_owner.status_code == 200
    named = world_none.client.get(f"{M}/experiments/search", headers=_basic("owner", owner_token))
    assert named.status_code == 200
    stolen = world_none.client.get(f"{M}/experiments/search", headers=_basic("admin", owner_token))
    assert stolen.status_code == 401
    assert "belongs to 'owner'" in stolen.json()["message"]
    seq = world_none.audit_seq()
    wrong = world_none.client.get(f"{M}/experiments/search", headers=_basic("owner", "x" * 20))
    assert wrong.status_code == 401
    assert wrong.json() == {"error_code": "UNAUTHENTICATED", "message": wrong.json()["message"]}
    assert wrong.headers["www-authenticate"].startswith("Basic ")
    assert world_none.events_since(seq) == [("auth.login_failed", "anonymous")]


# --- the matrix -------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    who: str
    method: str
    path: str
    endpoint: Endpoint
    target: str | None

    def __str__(self) -> str:
        return f"{self.who} {self.method} {self.path} -> {self.target or '-'}"


def guarded_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(route for route in route_policies(app) if route[1] not in PUBLIC_PATHS)


def test_every_guarded_route_has_a_request_builder(world_none: World) -> None:
    routes = guarded_routes(world_none.app)
    built = set(ENDPOINTS) | set(ASKS)
    missing = sorted({builder_key(r) for r in routes} - built)
    assert missing == [], f"add a request builder to ENDPOINTS (or ASKS) for: {missing}"
    stale = sorted(built - {builder_key(r) for r in routes})
    assert stale == [], f"builders for routes the app no longer serves: {stale}"
    # A route whose rules the auth service applies is asked through ASKS, every other
    # route through ENDPOINTS: a new route cannot land in the table that fits it less.
    policies = route_policies(world_none.app)
    service_routes = {
        builder_key(route)
        for route in routes
        if policies[route] and all(p.resource in SERVICE_KINDS for p in policies[route])
    }
    assert set(ASKS) == service_routes, "ASKS is for (only) the routes of SERVICE_KINDS"


# Who asks the /ajax-api twin of each route (same handler, same policy): one caller
# refused everything on B, one allowed everything, one without credentials.
TWIN_CALLERS = ("service", "admin", "no_credentials")


def _cases(world: World, *, full: bool) -> tuple[list[Case], list[Case]]:
    """Who asks what, refused and allowed.

    ``full``: every caller on both targets, every refused credential, and the
    ``/ajax-api`` twins aimed at B. Otherwise (the default-read variant, where only
    access to B differs from default none) every caller on B through ``/api``.
    """
    refused: list[Case] = []
    allowed: list[Case] = []
    for method, path in guarded_routes(world.app):
        if (method, path) in ASKS:
            continue  # the access-control API has its own matrix
        twin = path.startswith("/ajax-api/")
        if twin and not full:
            continue
        endpoint = ENDPOINTS[builder_key((method, path))]
        targets: tuple[str | None, ...] = ("A", "B") if endpoint.aimed else (None,)
        if twin or not full:
            targets = targets[-1:]
        callers = TWIN_CALLERS if twin else CALLERS + REFUSED if full else CALLERS
        for target in targets:
            for who in callers:
                case = Case(who, method, path, endpoint, target)
                if who in CALLERS and may(world.default, who, endpoint, target):
                    allowed.append(case)
                elif who in CALLERS or target == targets[-1]:
                    refused.append(case)
    allowed.sort(key=lambda case: case.endpoint.order)
    return refused, allowed


@dataclass
class Unchanged:
    """What every refused request must leave as it was (moved on past a reported change)."""

    row_writes: int
    artifacts: list[str]


def _check_refused(world: World, case: Case, unchanged: Unchanged) -> list[str]:
    target = world.targets[case.target or "B"]
    seq = world.audit_seq()
    response = world.call(case.who, case.method, case.path, case.endpoint.build(target, 0))
    problems = []
    authenticated = case.who in CALLERS
    status, code = case.endpoint.refused if authenticated else (401, "UNAUTHENTICATED")
    body = response.json() if response.headers.get("content-type") == "application/json" else {}
    if response.status_code != status or body.get("error_code") != code:
        problems.append(f"expected {status} {code}, got {response.status_code} {response.text}")
    expected = []
    writes = case.endpoint.needs != "read" or case.endpoint.creates
    if authenticated and writes:
        expected = [("access.denied", world.names[case.who])]
    if (events := world.events_since(seq)) != expected:
        problems.append(f"audit events {events}, expected {expected}")
    if writes:
        row_writes = world.row_writes()
        if row_writes != unchanged.row_writes:
            unchanged.row_writes = row_writes
            problems.append("refused, yet it wrote rows")
        if "/mlflow-artifacts/" in case.path and world.artifacts() != unchanged.artifacts:
            unchanged.artifacts = world.artifacts()
            problems.append("refused, yet it changed artifacts")
    return [f"{case}: {problem}" for problem in problems]


def _check_allowed(world: World, case: Case, first: bool) -> str | None:
    target = world.targets[case.target or "A"]
    call = case.endpoint.build(target, next(world.counter))
    response = world.call(case.who, case.method, case.path, call)
    status = response.status_code
    if case.endpoint.unimplemented:
        return None if status == 501 else f"{case}: expected 501, got {status} {response.text}"
    if status in (401, 403) or status >= 500:
        return f"{case}: allowed but got {status} {response.text}"
    if first and not 200 <= status < 300:
        return f"{case}: the builder's first allowed call should succeed: {response.text}"
    return None


@dataclass(frozen=True)
class Asked:
    """One caller asking one access-control route one question."""

    who: str
    method: str
    path: str
    ask: Ask

    def __str__(self) -> str:
        return f"{self.who} {self.method} {self.path}: {self.ask.what}"

    @property
    def writes(self) -> bool:
        return self.method != "GET"


def _asked(world: World, *, full: bool) -> tuple[list[Asked], list[Asked]]:
    """Who asks what of the access-control API, refused and allowed.

    ``full``: also every refused credential, once a route. With default read only
    reading B's grants should differ, but every caller still asks every question:
    a default permission must open nothing that the service keeps to admins.
    """
    refused: list[Asked] = []
    allowed: list[Asked] = []
    for (method, path), asks in ASKS.items():
        for ask in asks:
            for who in sorted(ask.askers, key=CALLERS.index):
                case = Asked(who, method, path, ask)
                rule = WHO_MAY[ask.rule]
                (allowed if rule(world.default, who, ask.target) else refused).append(case)
        if full:
            refused.extend(Asked(who, method, path, asks[0]) for who in REFUSED)
    # Reads, then writes, then revocations and deletions, then what could end the world.
    order = {"GET": 0, "DELETE": 2}
    allowed.sort(key=lambda case: 3 if case.ask.last else order.get(case.method, 1))
    return refused, allowed


def _prepare(world: World, case: Asked) -> Call:
    """The question's request, after its own set-up (a throwaway target, a grant)."""
    return case.ask.build(world, case.who, next(world.counter))


def _ask(world: World, case: Asked, call: Call) -> tuple[httpx.Response, list[tuple[str, str]]]:
    """The answer, and the audit events asking left."""
    seq = world.audit_seq()
    response = world.call(case.who, case.method, case.path, call)
    return response, world.events_since(seq)


def _text(response: httpx.Response) -> str:
    """Enough of a body to tell what happened (an account list or a token is long)."""
    return response.text if len(response.text) <= 300 else f"{response.text[:300]}..."


def _check_refused_ask(world: World, case: Asked) -> list[str]:
    call = _prepare(world, case)
    # After the set-up: api_tokens is unwatched (authenticating touches last_used_ms).
    row_writes, tokens = world.row_writes(), world.tokens()
    response, events = _ask(world, case, call)
    problems = []
    authenticated = case.who in CALLERS
    status, code = (403, "PERMISSION_DENIED") if authenticated else (401, "UNAUTHENTICATED")
    body = response.json() if response.headers.get("content-type") == "application/json" else {}
    if response.status_code != status or body.get("error_code") != code:
        problems.append(f"expected {status} {code}, got {response.status_code} {_text(response)}")
    expected = [("access.denied", world.names[case.who])] if authenticated and case.writes else []
    if events != expected:
        problems.append(f"audit events {events}, expected {expected}")
    if world.row_writes() != row_writes:
        problems.append("refused, yet it wrote rows (accounts, grants, ...)")
    if world.tokens() != tokens:
        problems.append("refused, yet it minted, revoked or changed a token")
    return [f"{case}: {problem}" for problem in problems]


def _check_allowed_ask(world: World, case: Asked) -> str | None:
    response, events = _ask(world, case, _prepare(world, case))
    status = response.status_code
    natural = case.ask.natural.get(case.who)
    if natural is not None:
        expected_events = []
        if status != natural:
            return f"{case}: expected the natural {natural}, got {status} {_text(response)}"
    else:
        expected_events = [(case.ask.audits, world.names[case.who])] if case.ask.audits else []
        if not 200 <= status < 300:
            return f"{case}: allowed but got {status} {_text(response)}"
    if events != expected_events:
        return f"{case}: audit events {events}, expected {expected_events}"
    return None


@pytest.mark.parametrize("default", ["none", "read"])
def test_every_caller_on_every_access_control_route_gets_the_answer_the_rule_gives(
    default: str, request: pytest.FixtureRequest
) -> None:
    """Accounts, tokens, grants, the audit log: :data:`ASKS` and :data:`WHO_MAY`, by hand.

    Runs before the matrix of tracking routes, which deletes A and B.
    """
    world: World = request.getfixturevalue(f"world_{default}")
    refused, allowed = _asked(world, full=default == "none")
    problems = [p for case in refused for p in _check_refused_ask(world, case)]
    assert problems == [], "\n".join(problems)
    problems = [p for case in allowed if (p := _check_allowed_ask(world, case)) is not None]
    assert problems == [], "\n".join(problems)
    assert world.audit.verify().ok


@pytest.mark.parametrize("default", ["none", "read"])
def test_every_caller_on_every_route_gets_the_answer_the_rule_gives(
    default: str, request: pytest.FixtureRequest
) -> None:
    world: World = request.getfixturevalue(f"world_{default}")
    refused, allowed = _cases(world, full=default == "none")
    before = world.fingerprint()
    unchanged = Unchanged(world.row_writes(), before["artifacts"])
    problems = [p for case in refused for p in _check_refused(world, case, unchanged)]
    assert problems == [], "\n".join(problems)
    assert world.fingerprint() == before
    seen: set[tuple[str, str, str | None]] = set()
    for case in allowed:
        key = (case.method, builder_key((case.method, case.path))[1], case.target)
        problem = _check_allowed(world, case, first=key not in seen)
        seen.add(key)
        if problem is not None:
            problems.append(problem)
    assert problems == [], "\n".join(problems)
    assert world.row_writes() > unchanged.row_writes  # the allowed writes were seen
    assert world.audit.verify().ok
