"""The access-control API (``/api/loopml/v1``) on an app with auth on.

``root`` (an admin with a password) exists before the first request; every
other account is made through the API. Argon2 runs at its lowest cost here:
hashing only needs to behave like hashing (``tests/auth`` checks the real
parameters).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient  # conftest imported it first, silencing its warning

from loopml.auth import Role, local_actor
from loopml.core.clock import now_ms
from loopml.core.config import Settings
from loopml.server.app import create_app

V1 = "/api/loopml/v1"
MLFLOW = "/api/2.0/mlflow"
ROOT_PASSWORD = "root-password-not-secret"
PASSWORD = "a-long-enough-password"
ROOT = ("root", ROOT_PASSWORD)

Expect = Callable[[Any, int, str], str]


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr("loopml.auth.passwords._hasher", hasher)
    monkeypatch.setattr("loopml.auth.service._DUMMY_HASH", hasher.hash("not-a-real-password"))


@pytest.fixture
def auth_app(tmp_path: Path) -> Iterator[FastAPI]:
    settings = dataclasses.replace(Settings.from_env(home=tmp_path / "home"), auth=True)
    application = create_app(settings)
    application.state.access.service.create_account(
        local_actor(), "root", role=Role.ADMIN, password=ROOT_PASSWORD
    )
    yield application
    application.state.tracking.store.db.dispose()


@pytest.fixture
def api(auth_app: FastAPI) -> TestClient:
    return TestClient(auth_app)


@pytest.fixture
def make_user(api: TestClient) -> Callable[..., tuple[str, str]]:
    """Create a user as root; return basic-auth credentials for it."""

    def make(name: str, role: str = "viewer") -> tuple[str, str]:
        body = {"name": name, "role": role, "password": PASSWORD}
        response = api.post(f"{V1}/accounts", json=body, auth=ROOT)
        assert response.status_code == 200, response.text
        return (name, PASSWORD)

    return make


@pytest.fixture
def make_token(api: TestClient) -> Callable[..., dict[str, Any]]:
    """Create a token with ``auth``; return the response body (token and secret)."""

    def make(auth: Any = ROOT, **body: Any) -> dict[str, Any]:
        response = api.post(f"{V1}/tokens", json={"name": "t", **body}, auth=auth)
        assert response.status_code == 200, response.text
        return dict(response.json())

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def events(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = api.get(f"{V1}/audit/events", params=params, auth=ROOT)
    assert response.status_code == 200, response.text
    return list(response.json()["events"])


# --- who am I --------------------------------------------------------------------


def test_whoami_with_a_password_and_with_a_token(
    api: TestClient, make_token: Callable[..., dict[str, Any]]
) -> None:
    assert api.get(f"{V1}/auth/whoami", auth=ROOT).json() == {
        "name": "root",
        "role": "admin",
        "scope": None,
        "token_id": None,
        "authenticated": True,
    }
    created = make_token(scope="write")
    found = api.get(f"{V1}/auth/whoami", headers=bearer(created["secret"])).json()
    assert (found["scope"], found["token_id"]) == ("write", created["token"]["token_id"])


def test_whoami_with_auth_off_is_anonymous(client: TestClient) -> None:
    found = client.get(f"{V1}/auth/whoami").json()
    assert found == {
        "name": "anonymous",
        "role": "admin",
        "scope": None,
        "token_id": None,
        "authenticated": False,
    }


ROUTES = [
    ("GET", "/auth/whoami"),
    ("POST", "/accounts"),
    ("GET", "/accounts"),
    ("GET", "/accounts/root"),
    ("PATCH", "/accounts/root"),
    ("POST", "/accounts/root/password"),
    ("DELETE", "/accounts/root"),
    ("POST", "/tokens"),
    ("GET", "/tokens"),
    ("DELETE", "/tokens/0123"),
    ("POST", "/permissions"),
    ("DELETE", "/permissions"),
    ("GET", "/permissions"),
    ("GET", "/audit/events"),
    ("GET", "/audit/verify"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_credentials(
    api: TestClient, expect: Expect, method: str, path: str
) -> None:
    message = expect(api.request(method, V1 + path), 401, "UNAUTHENTICATED")
    assert "authentication required" in message


def test_the_api_is_documented_under_access_control(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for method, path in ROUTES:
        documented = V1 + path.replace("root", "{name}").replace("0123", "{token_id}")
        assert paths[documented][method.lower()]["tags"] == ["Access control"]
    body = paths[f"{V1}/accounts"]["post"]["requestBody"]["content"]["application/json"]
    assert {"name", "kind", "role", "password"} <= set(body["schema"]["properties"])
    assert "limit" in {p["name"] for p in paths[f"{V1}/audit/events"]["get"]["parameters"]}


@pytest.fixture
def expect(expect_error: Expect) -> Expect:
    return expect_error


# --- accounts --------------------------------------------------------------------


def test_account_lifecycle(api: TestClient) -> None:
    body = {"name": "ana", "role": "editor", "password": PASSWORD, "description": "analyst"}
    created = api.post(f"{V1}/accounts", json=body, auth=ROOT).json()["account"]
    assert (created["name"], created["kind"], created["role"]) == ("ana", "user", "editor")
    assert "password" not in str(created)
    assert PASSWORD not in str(created)
    robot = api.post(f"{V1}/accounts", json={"name": "robot", "kind": "service"}, auth=ROOT)
    assert robot.json()["account"]["role"] == "viewer"

    assert api.get(f"{V1}/accounts/ana", auth=ROOT).json()["account"] == created
    names = [a["name"] for a in api.get(f"{V1}/accounts", auth=ROOT).json()["accounts"]]
    assert sorted(names) == ["ana", "robot", "root"]
    services = api.get(f"{V1}/accounts", params={"kind": "service"}, auth=ROOT).json()
    assert [a["name"] for a in services["accounts"]] == ["robot"]

    patch = {"role": "viewer", "disabled": True, "description": "gone"}
    updated = api.patch(f"{V1}/accounts/ana", json=patch, auth=ROOT).json()["account"]
    assert {key: updated[key] for key in patch} == patch
    assert api.delete(f"{V1}/accounts/robot", auth=ROOT).json() == {}
    assert api.get(f"{V1}/accounts/robot", auth=ROOT).status_code == 404


def test_users_read_their_own_account_but_not_others(
    api: TestClient, make_user: Callable[..., tuple[str, str]], expect: Expect
) -> None:
    viewer = make_user("val")
    assert api.get(f"{V1}/accounts/val", auth=viewer).json()["account"]["name"] == "val"
    assert "only admins" in expect(
        api.get(f"{V1}/accounts/root", auth=viewer), 403, "PERMISSION_DENIED"
    )


ADMIN_ONLY = [
    ("POST", "/accounts", {"name": "x", "kind": "service"}, None),
    ("GET", "/accounts", None, None),
    ("PATCH", "/accounts/root", {"description": "mine now"}, None),
    ("DELETE", "/accounts/root", None, None),
    ("POST", "/accounts/root/password", {"new_password": "hijacked-password"}, None),
    ("GET", "/tokens", None, {"everyone": "true"}),
    ("GET", "/tokens", None, {"owner": "root"}),
    ("POST", "/tokens", {"name": "t", "owner": "root"}, None),
    ("GET", "/audit/events", None, None),
    ("GET", "/audit/verify", None, None),
]


@pytest.mark.parametrize(("method", "path", "body", "params"), ADMIN_ONLY)
def test_non_admins_are_refused_admin_endpoints(
    api: TestClient,
    make_user: Callable[..., tuple[str, str]],
    expect: Expect,
    method: str,
    path: str,
    body: Any,
    params: Any,
) -> None:
    editor = make_user("eddie", role="editor")
    seq = events(api, limit=1)[0]["seq"]
    response = api.request(method, V1 + path, json=body, params=params, auth=editor)
    expect(response, 403, "PERMISSION_DENIED")
    refusals = [e for e in events(api) if e["seq"] > seq]
    if method == "GET":
        assert refusals == []
    else:  # a refused write is audited, as everywhere on the server
        assert [(e["action"], e["actor_name"]) for e in refusals] == [("access.denied", "eddie")]


def test_an_admin_token_with_a_lower_scope_is_not_an_admin(
    api: TestClient, make_token: Callable[..., dict[str, Any]], expect: Expect
) -> None:
    write = make_token(scope="write")["secret"]
    message = expect(api.get(f"{V1}/accounts", headers=bearer(write)), 403, "PERMISSION_DENIED")
    assert "'write' token" in message


# --- passwords -------------------------------------------------------------------


def test_users_change_their_own_password_only_with_the_current_one(
    api: TestClient, make_user: Callable[..., tuple[str, str]], expect: Expect
) -> None:
    user = make_user("uma")
    url = f"{V1}/accounts/uma/password"
    new = "a-brand-new-password"
    expect(api.post(url, json={"new_password": new}, auth=user), 403, "PERMISSION_DENIED")
    wrong = {"new_password": new, "current_password": "not-the-password"}
    assert "current password is wrong" in expect(
        api.post(url, json=wrong, auth=user), 403, "PERMISSION_DENIED"
    )
    right = {"new_password": new, "current_password": PASSWORD}
    assert api.post(url, json=right, auth=user).json() == {}
    expect(api.get(f"{V1}/auth/whoami", auth=user), 401, "UNAUTHENTICATED")
    assert api.get(f"{V1}/auth/whoami", auth=("uma", new)).json()["name"] == "uma"
    # An admin resets it without the current one.
    reset = {"new_password": "reset-by-an-admin"}
    assert api.post(url, json=reset, auth=ROOT).status_code == 200
    assert api.get(f"{V1}/auth/whoami", auth=("uma", "reset-by-an-admin")).status_code == 200


def test_users_cannot_change_another_users_password(
    api: TestClient, make_user: Callable[..., tuple[str, str]], expect: Expect
) -> None:
    make_user("vic")
    other = make_user("wes", role="editor")
    body = {"new_password": "a-takeover-password", "current_password": PASSWORD}
    message = expect(
        api.post(f"{V1}/accounts/vic/password", json=body, auth=other), 403, "PERMISSION_DENIED"
    )
    assert "only admins may change another account's password" in message


def test_passwords_never_reach_the_audit_log(
    api: TestClient, make_user: Callable[..., tuple[str, str]]
) -> None:
    user = make_user("pat")
    body = {"new_password": "the-second-password", "current_password": PASSWORD}
    api.post(f"{V1}/accounts/pat/password", json=body, auth=user)
    api.get(f"{V1}/auth/whoami", auth=("pat", "a-wrong-password-typed"))
    logged = str(events(api, limit=10_000))
    assert "account.set_password" in logged
    assert "auth.login_failed" in logged
    for secret in (PASSWORD, "the-second-password", "a-wrong-password-typed", ROOT_PASSWORD):
        assert secret not in logged


def test_the_sixth_failed_sign_in_in_a_row_is_429(api: TestClient, expect: Expect) -> None:
    for _ in range(5):
        expect(api.get(f"{V1}/auth/whoami", auth=("root", "wrong-guess")), 401, "UNAUTHENTICATED")
    message = expect(api.get(f"{V1}/auth/whoami", auth=ROOT), 429, "REQUEST_LIMIT_EXCEEDED")
    assert "too many failed sign-ins" in message


# --- tokens ----------------------------------------------------------------------


def test_a_token_secret_is_shown_once_and_never_cached(
    api: TestClient, make_user: Callable[..., tuple[str, str]]
) -> None:
    user = make_user("tia")
    response = api.post(f"{V1}/tokens", json={"name": "laptop"}, auth=user)
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    assert created["secret"].startswith("lml_")
    assert created["token"]["scope"] == "read"
    assert api.get(f"{V1}/auth/whoami", headers=bearer(created["secret"])).json()["name"] == "tia"
    listed = api.get(f"{V1}/tokens", auth=user)
    assert [t["token_id"] for t in listed.json()["tokens"]] == [created["token"]["token_id"]]
    everyone = api.get(f"{V1}/tokens", params={"everyone": "true"}, auth=ROOT)
    secret_part = created["secret"].rsplit("_", 1)[1]
    for text in (listed.text, everyone.text, str(events(api, limit=10_000))):
        assert "secret" not in text
        assert secret_part not in text


def test_a_viewer_mints_read_tokens_but_not_write_tokens(
    api: TestClient, make_user: Callable[..., tuple[str, str]], expect: Expect
) -> None:
    viewer = make_user("vera")
    assert api.post(f"{V1}/tokens", json={"name": "r"}, auth=viewer).status_code == 200
    write = {"name": "w", "scope": "write"}
    message = expect(api.post(f"{V1}/tokens", json=write, auth=viewer), 403, "PERMISSION_DENIED")
    assert "'write' token" in message


def test_admins_mint_and_revoke_tokens_for_others(
    api: TestClient,
    make_user: Callable[..., tuple[str, str]],
    make_token: Callable[..., dict[str, Any]],
    expect: Expect,
) -> None:
    user = make_user("otto", role="editor")
    created = make_token(owner="otto", scope="write", expires_ms=now_ms() + 3_600_000)
    assert created["token"]["principal_name"] == "otto"
    found = api.get(f"{V1}/tokens", params={"owner": "otto"}, auth=ROOT).json()["tokens"]
    assert [t["token_id"] for t in found] == [created["token"]["token_id"]]
    revoked = api.delete(f"{V1}/tokens/{created['token']['token_id']}", auth=ROOT)
    assert revoked.json()["token"]["revoked_ms"] is not None
    # Users revoke their own, not others'.
    own = make_token(auth=user)["token"]["token_id"]
    assert api.delete(f"{V1}/tokens/{own}", auth=user).status_code == 200
    roots = make_token()["token"]["token_id"]
    expect(api.delete(f"{V1}/tokens/{roots}", auth=user), 403, "PERMISSION_DENIED")
    expect(api.delete(f"{V1}/tokens/{'0' * 32}", auth=ROOT), 404, "RESOURCE_DOES_NOT_EXIST")


def test_revoked_and_expired_tokens_are_401_naming_the_state(
    api: TestClient,
    make_token: Callable[..., dict[str, Any]],
    expect: Expect,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    revoked = make_token(name="old")
    api.delete(f"{V1}/tokens/{revoked['token']['token_id']}", auth=ROOT)
    response = api.get(f"{V1}/auth/whoami", headers=bearer(revoked["secret"]))
    assert "is revoked" in expect(response, 401, "UNAUTHENTICATED")

    expiring = make_token(name="soon", expires_ms=now_ms() + 60_000)
    later = now_ms() + 120_000
    monkeypatch.setattr("loopml.auth.service.now_ms", lambda: later)
    response = api.get(f"{V1}/auth/whoami", headers=bearer(expiring["secret"]))
    assert "is expired" in expect(response, 401, "UNAUTHENTICATED")


# --- permissions -----------------------------------------------------------------


def make_experiment(api: TestClient, name: str, auth: Any = ROOT) -> str:
    response = api.post(f"{MLFLOW}/experiments/create", json={"name": name}, auth=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["experiment_id"])


def test_grant_list_and_revoke(
    api: TestClient, make_user: Callable[..., tuple[str, str]], expect: Expect
) -> None:
    make_user("gus")
    experiment_id = make_experiment(api, "shared")
    body = {
        "account": "gus",
        "resource_kind": "experiment",
        "resource_id": experiment_id,
        "permission": "edit",
    }
    grant = api.post(f"{V1}/permissions", json=body, auth=ROOT).json()["grant"]
    assert (grant["principal_name"], grant["resource_id"], grant["permission"]) == (
        "gus",
        experiment_id,
        "edit",
    )
    on_it = {"resource_kind": "experiment", "resource_id": experiment_id}
    listed = api.get(f"{V1}/permissions", params=on_it, auth=ROOT).json()["grants"]
    assert sorted(g["principal_name"] for g in listed) == ["gus", "root"]  # root: creator
    assert grant in listed
    mine = api.get(f"{V1}/permissions", params={"account": "gus"}, auth=("gus", PASSWORD))
    assert mine.json()["grants"] == [grant]

    where = {"account": "gus", **on_it}
    assert api.delete(f"{V1}/permissions", params=where, auth=ROOT).json() == {}
    listed = api.get(f"{V1}/permissions", params=on_it, auth=ROOT).json()["grants"]
    assert [g["principal_name"] for g in listed] == ["root"]
    expect(api.delete(f"{V1}/permissions", params=where, auth=ROOT), 404, "RESOURCE_DOES_NOT_EXIST")


def test_granting_on_a_missing_experiment_is_404(
    api: TestClient, make_user: Callable[..., tuple[str, str]], expect: Expect
) -> None:
    make_user("hal")
    body = {"account": "hal", "resource_kind": "experiment", "resource_id": "424242"}
    response = api.post(f"{V1}/permissions", json={**body, "permission": "read"}, auth=ROOT)
    assert "424242" in expect(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_editors_grant_on_what_they_manage_only(
    api: TestClient, make_user: Callable[..., tuple[str, str]], expect: Expect
) -> None:
    owner = make_user("olga", role="editor")
    make_user("pia")
    own = make_experiment(api, "olgas", auth=owner)
    roots = make_experiment(api, "roots")
    body = {"account": "pia", "resource_kind": "experiment", "permission": "read"}
    allowed = api.post(f"{V1}/permissions", json={**body, "resource_id": own}, auth=owner)
    assert allowed.status_code == 200, allowed.text
    refused = api.post(f"{V1}/permissions", json={**body, "resource_id": roots}, auth=owner)
    assert "may not manage experiment" in expect(refused, 403, "PERMISSION_DENIED")
    # Refused before the lookup: a missing experiment is no different from a foreign one.
    missing = api.post(f"{V1}/permissions", json={**body, "resource_id": "999"}, auth=owner)
    expect(missing, 403, "PERMISSION_DENIED")


# --- validation ------------------------------------------------------------------


INVALID = [
    ("POST", "/accounts", {"name": "x", "nmae": "y"}, None, ["unknown field 'nmae'"]),
    ("POST", "/accounts", {"kind": "user"}, None, ["missing required field 'name'"]),
    ("POST", "/accounts", {"name": "x", "role": "boss"}, None, ["'role'", "'viewer'", "'admin'"]),
    ("POST", "/accounts", {"name": "x", "kind": "bot"}, None, ["'kind'", "'user'", "'service'"]),
    ("GET", "/accounts", None, {"kind": "bot"}, ["'kind'", "'service'"]),
    ("PATCH", "/accounts/root", {"disabled": "yes"}, None, ["'disabled'"]),
    ("POST", "/tokens", {"name": "t", "scope": "all"}, None, ["'scope'", "'read'", "'write'"]),
    ("POST", "/tokens", {"name": "t", "expires_ms": 1.5}, None, ["'expires_ms'"]),
    ("GET", "/tokens", None, {"everyone": "maybe"}, ["'everyone'"]),
    (
        "POST",
        "/permissions",
        {"account": "root", "resource_kind": "run", "resource_id": "1", "permission": "read"},
        None,
        ["'resource_kind'", "experiment"],
    ),
    (
        "POST",
        "/permissions",
        {"account": "root", "resource_kind": "experiment", "resource_id": "0", "permission": "all"},
        None,
        ["'permission'", "'manage'"],
    ),
    ("DELETE", "/permissions", None, {"account": "root"}, ["missing required field"]),
    ("GET", "/permissions", None, {"resource_kind": "deployment"}, ["'resource_kind'"]),
    ("GET", "/audit/events", None, {"limit": "0"}, ["'limit'"]),
    ("GET", "/audit/events", None, {"limit": "10001"}, ["'limit'", "10000"]),
    ("GET", "/audit/events", None, {"since_ms": "yesterday"}, ["'since_ms'"]),
    ("GET", "/audit/events", None, {"seq": "1"}, ["unknown field 'seq'"]),
]


@pytest.mark.parametrize(("method", "path", "body", "params", "named"), INVALID)
def test_invalid_input_is_400_naming_the_field(
    api: TestClient,
    expect: Expect,
    method: str,
    path: str,
    body: Any,
    params: Any,
    named: list[str],
) -> None:
    response = api.request(method, V1 + path, json=body, params=params, auth=ROOT)
    message = expect(response, 400, "INVALID_PARAMETER_VALUE")
    for part in named:
        assert part in message


# --- audit -----------------------------------------------------------------------


def test_audit_events_show_changes_with_before_and_after(
    api: TestClient, make_user: Callable[..., tuple[str, str]]
) -> None:
    make_user("ray")
    response = api.patch(f"{V1}/accounts/ray", json={"role": "editor"}, auth=ROOT)
    found = events(api, action="account.update")
    assert len(found) == 1
    event = found[0]
    assert event["actor_name"] == "root"
    assert event["request_id"] == response.headers["x-request-id"]
    assert (event["before"]["role"], event["after"]["role"]) == ("viewer", "editor")

    rays = events(api, resource_id=event["resource_id"])
    assert [e["action"] for e in rays] == ["account.update", "account.create"]
    assert events(api, action="account.*", actor="root") == rays  # root itself: made locally
    page = events(api, limit=1, before_seq=rays[0]["seq"])
    assert page == [rays[1]]
    assert events(api, since_ms=now_ms() + 60_000) == []


def test_audit_verify_reports_an_intact_chain(api: TestClient) -> None:
    api.post(f"{V1}/accounts", json={"name": "svc", "kind": "service"}, auth=ROOT)
    found = api.get(f"{V1}/audit/verify", auth=ROOT).json()["verification"]
    assert found["ok"] is True
    assert found["checked"] == found["head_seq"] >= 2
    assert found["first_bad_seq"] is None


def test_with_auth_off_anonymous_manages_accounts(client: TestClient) -> None:
    """A loopback server without auth: anonymous has admin rights, and is audited."""
    response = client.post(f"{V1}/accounts", json={"name": "bot", "kind": "service"})
    assert response.json()["account"]["created_by"] == "anonymous"
    found = client.get(f"{V1}/audit/events", params={"action": "account.create"}).json()
    assert found["events"][0]["actor_name"] == "anonymous"
