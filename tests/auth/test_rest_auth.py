"""``RestAuth`` against a real server process with auth on: every call, and its errors.

One server for the module (SQLite, default permission ``none``), started with
an admin made in its database beforehand, as ``loopml users create`` does.
Each test picks its identity through ``LOOPML_TRACKING_*``, which a
``RestAuth`` reads when it first connects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from e2e.conftest import PASSWORD, ServerProcess  # tests/ is on sys.path (rootdir conftest)
from loopml.auth import AuditFilter, Permission, PrincipalKind, Role, Scope
from loopml.auth._rest import RestAuth
from loopml.auth.client import AuthApi
from loopml.client import Client
from loopml.core.clock import now_ms
from loopml.core.errors import (
    InvalidParameter,
    NotSupported,
    PermissionDenied,
    ResourceNotFound,
    TooManyRequests,
    Unauthenticated,
)

pytestmark = pytest.mark.slow

CREDENTIALS = ("TRACKING_TOKEN", "TRACKING_USERNAME", "TRACKING_PASSWORD")
NEW_PASSWORD = "rest-auth-new-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(
        tmp_path_factory.mktemp("rest-auth"), auth=True, default_permission="none"
    )
    process.add_account("admin", Role.ADMIN, scope=Scope.ADMIN)
    process.add_account("vic", Role.VIEWER, scope=Scope.READ)
    process.start()
    yield process
    process.stop()


Connect = Callable[..., RestAuth]


@pytest.fixture
def connect(server: ServerProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[Connect]:
    """``connect(token=...)`` or ``connect(username=..., password=...)``: a fresh RestAuth."""
    opened: list[RestAuth] = []

    def open_as(
        token: str | None = None, username: str | None = None, password: str | None = None
    ) -> RestAuth:
        for name in CREDENTIALS:
            monkeypatch.delenv(f"LOOPML_{name}", raising=False)
            monkeypatch.delenv(f"MLFLOW_{name}", raising=False)
        for name, value in zip(CREDENTIALS, (token, username, password), strict=True):
            if value is not None:
                monkeypatch.setenv(f"LOOPML_{name}", value)
        auth = RestAuth(server.url)
        opened.append(auth)
        return auth

    yield open_as
    for auth in opened:
        auth.close()


@pytest.fixture
def admin(server: ServerProcess, connect: Connect) -> RestAuth:
    return connect(token=server.accounts["admin"].token)


def test_it_is_what_client_auth_returns_for_a_server(server: ServerProcess) -> None:
    with Client(server.url) as client:
        auth: AuthApi = client.auth
        assert isinstance(auth, RestAuth)


def test_whoami(admin: RestAuth, server: ServerProcess, connect: Connect) -> None:
    found = admin.whoami()
    assert (found["name"], found["role"], found["scope"]) == ("admin", "admin", "admin")
    assert found["authenticated"] is True
    by_password = connect(username="vic", password=PASSWORD).whoami()
    assert (by_password["name"], by_password["scope"], by_password["token_id"]) == (
        "vic",
        None,
        None,
    )


def test_accounts(admin: RestAuth) -> None:
    user = admin.create_account(
        "rita", role=Role.EDITOR, password="rita-password-long", description="analyst"
    )
    assert (user.name, user.kind, user.role, user.description) == (
        "rita",
        PrincipalKind.USER,
        Role.EDITOR,
        "analyst",
    )
    robot = admin.create_account("ci.bot@team+1", kind=PrincipalKind.SERVICE)
    assert admin.get_account("ci.bot@team+1") == robot  # quoted in the path
    assert admin.get_account("rita") == user
    assert "rita" in {a.name for a in admin.list_accounts()}
    assert [a.name for a in admin.list_accounts(PrincipalKind.SERVICE)] == ["ci.bot@team+1"]

    updated = admin.update_account("rita", role=Role.VIEWER, disabled=True, description="")
    assert (updated.role, updated.disabled, updated.description) == (Role.VIEWER, True, "")
    assert admin.update_account("rita") == updated  # nothing asked, nothing changed

    admin.delete_account("ci.bot@team+1")
    with pytest.raises(ResourceNotFound, match=r"no account named 'ci\.bot@team\+1'"):
        admin.get_account("ci.bot@team+1")


def test_passwords(admin: RestAuth, connect: Connect) -> None:
    admin.create_account("paula", password="paula-password-long")
    paula = connect(username="paula", password="paula-password-long")
    with pytest.raises(PermissionDenied, match="current password is wrong"):
        paula.set_password("paula", NEW_PASSWORD, current_password="not-her-password")
    paula.set_password("paula", NEW_PASSWORD, current_password="paula-password-long")
    assert connect(username="paula", password=NEW_PASSWORD).whoami()["name"] == "paula"
    admin.set_password("paula", "reset-by-the-admin")  # admins need no current password
    with pytest.raises(Unauthenticated, match="invalid username or password"):
        connect(username="paula", password=NEW_PASSWORD).whoami()


def test_tokens(admin: RestAuth, connect: Connect) -> None:
    admin.create_account("tom", kind=PrincipalKind.SERVICE, role=Role.EDITOR)
    created = admin.create_token(
        "deploy", scope=Scope.WRITE, owner="tom", expires_ms=now_ms() + 3_600_000
    )
    assert created.secret.startswith("lml_")
    assert (created.token.principal_name, created.token.scope) == ("tom", Scope.WRITE)
    tom = connect(token=created.secret)
    assert tom.whoami()["token_id"] == created.token.token_id
    assert [t.token_id for t in admin.list_tokens("tom")] == [created.token.token_id]
    assert [t.token_id for t in tom.list_tokens()] == [created.token.token_id]
    assert created.token.token_id in {t.token_id for t in admin.list_tokens(everyone=True)}

    with pytest.raises(PermissionDenied, match="not with another token"):
        tom.create_token("own")  # a leaked token must not mint more
    revoked = admin.revoke_token(created.token.token_id)
    assert revoked.revoked_ms is not None
    with pytest.raises(Unauthenticated, match="is revoked"):
        connect(token=created.secret).whoami()


def test_grants(admin: RestAuth, server: ServerProcess) -> None:
    with Client(server.url) as client:  # still the admin's token in the environment
        experiment_id = client.create_experiment("rest-auth-grants")
    admin.create_account("gina", kind=PrincipalKind.SERVICE)
    grant = admin.grant("gina", "experiment", experiment_id, Permission.READ)
    assert (grant.principal_name, grant.resource_id, grant.permission) == (
        "gina",
        experiment_id,
        Permission.READ,
    )
    assert grant in admin.list_grants("experiment", experiment_id)
    assert admin.list_grants(account="gina") == [grant]

    admin.revoke("gina", "experiment", experiment_id)
    assert admin.list_grants(account="gina") == []
    with pytest.raises(ResourceNotFound, match="has no grant"):
        admin.revoke("gina", "experiment", experiment_id)
    with pytest.raises(ResourceNotFound, match="experiment 987654 does not exist"):
        admin.grant("gina", "experiment", "987654", Permission.READ)
    with pytest.raises(InvalidParameter, match=r"'resource_kind'.*experiment"):
        admin.grant("gina", "run", experiment_id, Permission.READ)


def test_audit(admin: RestAuth) -> None:
    admin.create_account("audra", kind=PrincipalKind.SERVICE)
    admin.update_account("audra", role=Role.EDITOR)
    found = admin.audit_events(AuditFilter(action="account.update", actor="admin"), limit=1)
    assert len(found) == 1
    event = found[0]
    state = {"name": "audra", "kind": "service", "disabled": False, "description": ""}
    assert event.before == {**state, "role": "viewer"}
    assert event.after == {**state, "role": "editor"}
    older = admin.audit_events(AuditFilter(before_seq=event.seq, resource_id=event.resource_id))
    assert [e.action for e in older] == ["account.create"]
    assert admin.audit_events(AuditFilter(since_ms=now_ms() + 60_000)) == []
    verification = admin.verify_audit()
    assert verification.ok
    assert verification.checked == verification.head_seq


def test_errors_come_back_as_loopml_errors(server: ServerProcess, connect: Connect) -> None:
    with pytest.raises(Unauthenticated, match="authentication required"):
        connect().whoami()
    viewer = connect(token=server.accounts["vic"].token)
    with pytest.raises(PermissionDenied, match="only admins may list accounts"):
        viewer.list_accounts()
    with pytest.raises(PermissionDenied, match="not with another token"):
        viewer.create_token("more", scope=Scope.WRITE)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            connect(username="vic", password="a-wrong-guess").whoami()
    with pytest.raises(TooManyRequests, match="too many failed sign-ins"):
        connect(username="vic", password="another-wrong-guess").whoami()


def test_a_server_without_the_api_is_not_supported(server: ServerProcess) -> None:
    elsewhere = RestAuth(server.url + "/somewhere-else")
    try:
        with pytest.raises(NotSupported, match="access-control API"):
            elsewhere.whoami()
    finally:
        elsewhere.close()
