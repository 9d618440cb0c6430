"""AuthService: accounts, the last admin, passwords, grants, sign-in limits and audit events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from loopml.auth import (
    ANONYMOUS,
    Actor,
    AuditEvent,
    AuthService,
    Permission,
    PrincipalKind,
    Role,
    Scope,
    parse_duration_ms,
)
from loopml.auth.passwords import verify_password
from loopml.auth.service import (
    LOGIN_WINDOW_MS,
    MAX_FAILURES_PER_ACCOUNT,
    MAX_FAILURES_PER_ADDRESS,
)
from loopml.core.errors import (
    InvalidParameter,
    InvalidState,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceNotFound,
    TooManyRequests,
    Unauthenticated,
)
from loopml.store.database import Database
from loopml.store.tables import api_tokens, audit_events, principals, resource_permissions

from .conftest import ActorFactory, Clock

PASSWORD = "correct horse battery"
WRONG = "incorrect horse battery"
BAD_LOGIN = r"^invalid username or password$"


def _user(service: AuthService, root: Actor, name: str, role: Role = Role.VIEWER) -> Actor:
    """A user with ``PASSWORD``, as the actor it signs in as (no token)."""
    account = service.create_account(root, name, role=role, password=PASSWORD)
    return Actor(account.principal_id, account.name, account.role)


def _events(service: AuthService, root: Actor) -> list[AuditEvent]:
    return service.audit_events(root, limit=10_000)


# --- accounts -----------------------------------------------------------------------------------


def test_creating_a_user(service: AuthService, root: Actor) -> None:
    user = service.create_account(
        root, "alice", role=Role.EDITOR, password=PASSWORD, description="data science"
    )
    assert (user.name, user.kind, user.role, user.disabled) == (
        "alice",
        PrincipalKind.USER,
        Role.EDITOR,
        False,
    )
    assert (user.description, user.created_by) == ("data science", root.name)
    assert service.get_account(root, "alice") == user
    assert service.get_account(root, user.principal_id) == user, "found by id too"
    assert service.authenticate_password("alice", PASSWORD).role is Role.EDITOR


def test_a_user_needs_a_password(service: AuthService, root: Actor) -> None:
    with pytest.raises(
        InvalidParameter, match=r"user 'alice' needs a password; there is no default"
    ):
        service.create_account(root, "alice")


def test_a_users_password_must_keep_the_rules(service: AuthService, root: Actor) -> None:
    with pytest.raises(InvalidParameter, match=r"at least 12 characters"):
        service.create_account(root, "alice", password="short")
    assert service.list_accounts(root) == []


def test_a_service_account_refuses_a_password(service: AuthService, root: Actor) -> None:
    with pytest.raises(InvalidParameter, match=r"service accounts sign in with tokens only"):
        service.create_account(root, "robot", kind=PrincipalKind.SERVICE, password=PASSWORD)


def test_names_are_unique(service: AuthService, root: Actor) -> None:
    service.create_account(root, "robot", kind=PrincipalKind.SERVICE)
    with pytest.raises(
        ResourceAlreadyExists, match=r"an account named 'robot' already exists"
    ) as e:
        service.create_account(root, "robot", kind=PrincipalKind.SERVICE, role=Role.ADMIN)
    assert (e.value.error_code, e.value.http_status) == ("RESOURCE_ALREADY_EXISTS", 400)
    assert [p.role for p in service.list_accounts(root)] == [Role.VIEWER]


@pytest.mark.parametrize(
    "name",
    ["", " robot", "robot ", "-robot", ".robot", "ro bot", "ro/bot", "röbot", "x" * 129, "robot\n"],
)
def test_invalid_account_names_are_refused(service: AuthService, root: Actor, name: str) -> None:
    with pytest.raises(InvalidParameter, match=r"invalid account name"):
        service.create_account(root, name, kind=PrincipalKind.SERVICE)
    assert service.list_accounts(root) == []


@pytest.mark.parametrize("name", ["r", "robot.ci-2", "a@example.com", "x+y_z", "9" * 128])
def test_valid_account_names(service: AuthService, root: Actor, name: str) -> None:
    assert service.create_account(root, name, kind=PrincipalKind.SERVICE).name == name


def test_only_admins_manage_accounts(service: AuthService, make_actor: ActorFactory) -> None:
    editor = make_actor(Role.EDITOR)
    admin_token = make_actor(Role.ADMIN, scope=Scope.WRITE)
    with pytest.raises(PermissionDenied, match=r"only admins may create accounts"):
        service.create_account(editor, "x", kind=PrincipalKind.SERVICE)
    with pytest.raises(PermissionDenied, match=r"only admins may list accounts"):
        service.list_accounts(admin_token)
    with pytest.raises(PermissionDenied, match=r"only admins may change accounts"):
        service.update_account(editor, editor.name, role=Role.ADMIN)
    with pytest.raises(PermissionDenied, match=r"only admins may delete accounts"):
        service.delete_account(editor, admin_token.name)
    with pytest.raises(PermissionDenied, match=r"only admins may read other accounts"):
        service.get_account(editor, admin_token.name)
    assert service.get_account(editor, editor.name).name == editor.name


def test_listing_accounts_by_kind(service: AuthService, root: Actor) -> None:
    service.create_account(root, "robot", kind=PrincipalKind.SERVICE)
    service.create_account(root, "alice", password=PASSWORD)
    assert [p.name for p in service.list_accounts(root)] == ["alice", "robot"]
    assert [p.name for p in service.list_accounts(root, PrincipalKind.SERVICE)] == ["robot"]


def test_updating_an_account(service: AuthService, root: Actor, make_actor: ActorFactory) -> None:
    robot = make_actor(Role.VIEWER)
    updated = service.update_account(root, robot.name, role=Role.EDITOR, description="ci")
    assert (updated.role, updated.description, updated.disabled) == (Role.EDITOR, "ci", False)
    assert service.get_account(root, robot.name) == updated
    disabled = service.update_account(root, robot.name, disabled=True)
    assert disabled.disabled
    assert disabled.role is Role.EDITOR


def test_an_update_that_changes_nothing_writes_nothing(
    service: AuthService, root: Actor, make_actor: ActorFactory
) -> None:
    robot = make_actor(Role.VIEWER)
    events = len(_events(service, root))
    same = service.update_account(root, robot.name, role=Role.VIEWER, disabled=False)
    assert same == service.get_account(root, robot.name)
    assert len(_events(service, root)) == events


def test_a_disabled_user_cannot_sign_in(service: AuthService, root: Actor) -> None:
    _user(service, root, "alice")
    service.update_account(root, "alice", disabled=True)
    with pytest.raises(Unauthenticated, match=r"account 'alice' is disabled"):
        service.authenticate_password("alice", PASSWORD)


def test_unknown_accounts_are_not_found(service: AuthService, root: Actor) -> None:
    for call in (
        lambda: service.get_account(root, "ghost"),
        lambda: service.update_account(root, "ghost", role=Role.ADMIN),
        lambda: service.delete_account(root, "ghost"),
        lambda: service.set_password(root, "ghost", "a long enough secret"),
    ):
        with pytest.raises(ResourceNotFound, match=r"no account named 'ghost'"):
            call()


# --- the last admin -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda s, a: s.update_account(a, "boss", role=Role.EDITOR), id="demote"),
        pytest.param(lambda s, a: s.update_account(a, "boss", disabled=True), id="disable"),
        pytest.param(lambda s, a: s.delete_account(a, "boss"), id="delete"),
    ],
)
def test_the_last_active_admin_stays(
    service: AuthService, root: Actor, change: Callable[[AuthService, Actor], object]
) -> None:
    boss = service.create_account(root, "boss", kind=PrincipalKind.SERVICE, role=Role.ADMIN)
    events = _events(service, root)
    with pytest.raises(InvalidState, match=r"'boss' is the last active admin; make another admin"):
        change(service, root)
    assert service.get_account(root, "boss") == boss
    assert _events(service, root) == events
    assert service.has_admin()


def test_an_admin_goes_once_another_is_active(service: AuthService, root: Actor) -> None:
    service.create_account(root, "boss", kind=PrincipalKind.SERVICE, role=Role.ADMIN)
    service.create_account(root, "deputy", kind=PrincipalKind.SERVICE, role=Role.ADMIN)
    service.update_account(root, "deputy", disabled=True)
    with pytest.raises(InvalidState, match=r"last active admin"):
        service.update_account(root, "boss", role=Role.VIEWER)
    service.update_account(root, "deputy", disabled=False)
    assert service.update_account(root, "boss", role=Role.VIEWER).role is Role.VIEWER
    with pytest.raises(InvalidState, match=r"'deputy' is the last active admin"):
        service.delete_account(root, "deputy")


def test_a_disabled_admin_may_be_deleted_or_demoted(service: AuthService, root: Actor) -> None:
    service.create_account(root, "boss", kind=PrincipalKind.SERVICE, role=Role.ADMIN)
    service.create_account(root, "old", kind=PrincipalKind.SERVICE, role=Role.ADMIN)
    service.update_account(root, "old", disabled=True)
    assert service.update_account(root, "old", role=Role.EDITOR).role is Role.EDITOR
    service.delete_account(root, "old")
    assert [p.name for p in service.list_accounts(root)] == ["boss"]


# --- passwords ----------------------------------------------------------------------------------


def test_users_change_their_own_password_with_the_current_one(
    service: AuthService, root: Actor
) -> None:
    alice = _user(service, root, "alice")
    with pytest.raises(PermissionDenied, match=r"the current password is wrong"):
        service.set_password(alice, "alice", "a brand new secret")
    with pytest.raises(PermissionDenied, match=r"the current password is wrong"):
        service.set_password(alice, "alice", "a brand new secret", current_password=WRONG)
    service.set_password(alice, "alice", "a brand new secret", current_password=PASSWORD)
    assert service.authenticate_password("alice", "a brand new secret").name == "alice"
    with pytest.raises(Unauthenticated, match=BAD_LOGIN):
        service.authenticate_password("alice", PASSWORD)


def test_users_cannot_change_each_others_passwords(service: AuthService, root: Actor) -> None:
    alice, _ = _user(service, root, "alice"), _user(service, root, "bob")
    with pytest.raises(
        PermissionDenied,
        match=r"only admins may change another account's password; 'alice' is not one",
    ):
        service.set_password(alice, "bob", "a brand new secret", current_password=PASSWORD)


def test_admins_reset_passwords_without_the_current_one(service: AuthService, root: Actor) -> None:
    _user(service, root, "alice")
    service.set_password(root, "alice", "reset by the admin")
    assert service.authenticate_password("alice", "reset by the admin").name == "alice"


def test_a_new_password_must_keep_the_rules(service: AuthService, root: Actor) -> None:
    alice = _user(service, root, "alice")
    with pytest.raises(InvalidParameter, match=r"must not be the account name"):
        service.set_password(root, "alice", "ALICE" + " " * 8)
    with pytest.raises(InvalidParameter, match=r"at least 12 characters"):
        service.set_password(alice, "alice", "short", current_password=PASSWORD)
    assert service.authenticate_password("alice", PASSWORD).name == "alice"


def test_a_service_account_has_no_password_to_set(service: AuthService, root: Actor) -> None:
    service.create_account(root, "robot", kind=PrincipalKind.SERVICE)
    with pytest.raises(InvalidParameter, match=r"'robot' is a service account"):
        service.set_password(root, "robot", "a long enough secret")


# --- deleting ---------------------------------------------------------------------------------


def test_deleting_an_account_deletes_its_tokens_and_grants(
    service: AuthService, root: Actor, make_actor: ActorFactory, db: Database
) -> None:
    robot, keeper = make_actor(Role.EDITOR), make_actor(Role.EDITOR)
    new = service.create_token(robot, "ci", scope=Scope.WRITE)
    kept = service.create_token(keeper, "ci")
    service.grant(root, robot.name, "experiment", "1", Permission.EDIT)
    service.grant_owner(robot, "experiment", "2")
    service.grant(root, keeper.name, "experiment", "1", Permission.READ)
    service.delete_account(root, robot.name)
    with db.read() as conn:
        tokens = conn.execute(select(api_tokens.c.principal_id)).scalars().all()
        grants = conn.execute(select(resource_permissions.c.principal_id)).scalars().all()
        accounts = conn.execute(select(principals.c.name)).scalars().all()
    assert tokens == [keeper.principal_id]
    assert grants == [keeper.principal_id]
    assert accounts == [keeper.name]
    with pytest.raises(Unauthenticated, match=r"^invalid API token$"):
        service.authenticate_token(new.secret)
    assert service.authenticate_token(kept.secret).name == keeper.name


# --- grants -------------------------------------------------------------------------------------


def test_granting_needs_manage_on_the_resource(
    service: AuthService, root: Actor, make_actor: ActorFactory
) -> None:
    editor, viewer = make_actor(Role.EDITOR), make_actor(Role.VIEWER)
    with pytest.raises(PermissionDenied, match=r"may not manage experiment 1 \(permission: none\)"):
        service.grant(editor, viewer.name, "experiment", "1", Permission.READ)
    service.grant(root, editor.name, "experiment", "1", Permission.EDIT)
    with pytest.raises(PermissionDenied, match=r"\(permission: edit\)"):
        service.grant(editor, viewer.name, "experiment", "1", Permission.READ)
    service.grant_owner(editor, "experiment", "1")
    grant = service.grant(editor, viewer.name, "experiment", "1", Permission.READ)
    assert (grant.principal_name, grant.permission, grant.granted_by) == (
        viewer.name,
        Permission.READ,
        editor.name,
    )
    assert service.permission(viewer, "experiment", "1") is Permission.READ


def test_the_owner_manages_what_it_created(service: AuthService, make_actor: ActorFactory) -> None:
    editor = make_actor(Role.EDITOR)
    service.grant_owner(editor, "experiment", "5")
    assert service.permission(editor, "experiment", "5") is Permission.MANAGE
    (grant,) = service.list_grants(editor, "experiment", "5")
    assert (grant.principal_id, grant.permission) == (editor.principal_id, Permission.MANAGE)


def _grant_owner_then_fail(service: AuthService, owner: Actor, db: Database) -> None:
    with db.write() as conn:
        service.grant_owner(owner, "experiment", "5", conn=conn)
        raise RuntimeError("creating the resource failed")


def test_owner_grants_are_written_in_the_callers_transaction(
    service: AuthService, make_actor: ActorFactory, db: Database
) -> None:
    editor = make_actor(Role.EDITOR)
    with pytest.raises(RuntimeError, match="creating the resource failed"):
        _grant_owner_then_fail(service, editor, db)
    assert service.permission(editor, "experiment", "5") is Permission.NONE


def test_local_and_anonymous_actors_own_nothing(
    service: AuthService, root: Actor, db: Database
) -> None:
    service.grant_owner(root, "experiment", "5")
    service.grant_owner(ANONYMOUS, "experiment", "5")
    with db.read() as conn:
        assert conn.execute(select(resource_permissions)).all() == []


def test_an_account_named_like_the_local_actor_does_not_confuse_ownership(
    service: AuthService, root: Actor, db: Database
) -> None:
    service.create_account(root, root.principal_id, kind=PrincipalKind.SERVICE)
    service.grant_owner(root, "experiment", "5")
    with db.read() as conn:
        assert conn.execute(select(resource_permissions)).all() == []


def test_a_viewer_owner_or_a_read_token_cannot_grant(
    service: AuthService, root: Actor, make_actor: ActorFactory
) -> None:
    viewer, editor = make_actor(Role.VIEWER), make_actor(Role.EDITOR)
    service.grant_owner(viewer, "experiment", "1")
    with pytest.raises(PermissionDenied, match=r"\(permission: read\)"):
        service.grant(viewer, editor.name, "experiment", "1", Permission.READ)
    service.grant_owner(editor, "experiment", "1")
    read_token = Actor(editor.principal_id, editor.name, editor.role, scope=Scope.READ)
    with pytest.raises(PermissionDenied, match=r"\(permission: read\)"):
        service.grant(read_token, viewer.name, "experiment", "1", Permission.EDIT)
    write_token = Actor(editor.principal_id, editor.name, editor.role, scope=Scope.WRITE)
    service.grant(write_token, viewer.name, "experiment", "1", Permission.EDIT)


def test_a_grant_of_none_is_refused(
    service: AuthService, root: Actor, make_actor: ActorFactory
) -> None:
    viewer = make_actor(Role.VIEWER)
    with pytest.raises(InvalidParameter, match=r"to take access away, revoke"):
        service.grant(root, viewer.name, "experiment", "1", Permission.NONE)


def test_granting_to_an_unknown_account(service: AuthService, root: Actor) -> None:
    with pytest.raises(ResourceNotFound, match=r"no account named 'ghost'"):
        service.grant(root, "ghost", "experiment", "1", Permission.READ)


def test_granting_again_replaces_the_grant(
    service: AuthService, root: Actor, make_actor: ActorFactory
) -> None:
    viewer = make_actor(Role.EDITOR)
    service.grant(root, viewer.name, "experiment", "1", Permission.READ)
    service.grant(root, viewer.name, "experiment", "1", Permission.MANAGE)
    (grant,) = service.list_grants(root, "experiment", "1")
    assert grant.permission is Permission.MANAGE
    latest = _events(service, root)[0]
    assert latest.before == {"account": viewer.name, "permission": "read"}
    assert latest.after == {"account": viewer.name, "permission": "manage"}


def test_revoking_a_grant(service: AuthService, root: Actor, make_actor: ActorFactory) -> None:
    editor, viewer = make_actor(Role.EDITOR), make_actor(Role.VIEWER)
    service.grant(root, viewer.name, "experiment", "1", Permission.READ)
    with pytest.raises(PermissionDenied, match=r"may not manage experiment 1"):
        service.revoke(editor, viewer.name, "experiment", "1")
    service.revoke(root, viewer.name, "experiment", "1")
    assert service.permission(viewer, "experiment", "1") is Permission.NONE
    with pytest.raises(ResourceNotFound, match=r"has no grant on experiment 1"):
        service.revoke(root, viewer.name, "experiment", "1")


def test_who_may_list_grants(service: AuthService, root: Actor, make_actor: ActorFactory) -> None:
    alice, bob = make_actor(Role.EDITOR), make_actor(Role.VIEWER)
    service.grant(root, alice.name, "experiment", "1", Permission.EDIT)
    service.grant(root, bob.name, "experiment", "1", Permission.READ)
    service.grant(root, bob.name, "experiment", "2", Permission.READ)
    on_one = service.list_grants(alice, "experiment", "1")
    assert [(g.principal_name, g.permission) for g in on_one] == sorted(
        [(alice.name, Permission.EDIT), (bob.name, Permission.READ)]
    )
    assert [g.resource_id for g in service.list_grants(bob, account=bob.name)] == ["1", "2"]
    with pytest.raises(PermissionDenied, match=r"may not read experiment 2"):
        service.list_grants(alice, "experiment", "2")
    with pytest.raises(PermissionDenied, match=r"may list grants on a resource it can read"):
        service.list_grants(alice, account=bob.name)
    with pytest.raises(PermissionDenied, match=r"may list grants on a resource it can read"):
        service.list_grants(alice)
    assert len(service.list_grants(root)) == 3
    assert len(service.list_grants(root, "experiment")) == 3
    assert len(service.list_grants(root, account=bob.name)) == 2


# --- signing in with a password -------------------------------------------------------------------


def test_an_unknown_user_fails_like_a_wrong_password_and_costs_a_verification(
    service: AuthService, root: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    _user(service, root, "alice")
    with pytest.raises(Unauthenticated, match=BAD_LOGIN) as wrong:
        service.authenticate_password("alice", WRONG)
    verified: list[str] = []

    def spy(stored_hash: str, password: str) -> bool:
        verified.append(stored_hash)
        return verify_password(stored_hash, password)

    monkeypatch.setattr("loopml.auth.service.verify_password", spy)
    with pytest.raises(Unauthenticated, match=BAD_LOGIN) as unknown:
        service.authenticate_password("mallory", WRONG)
    assert unknown.value.message == wrong.value.message
    assert len(verified) == 1, "an unknown name pays for one argon2 verification"


def test_failed_sign_ins_are_audited_without_the_password(
    service: AuthService, root: Actor
) -> None:
    with pytest.raises(Unauthenticated, match=BAD_LOGIN):
        service.authenticate_password("mallory", WRONG, client_addr="10.0.0.9", request_id="r1")
    event = _events(service, root)[0]
    assert (event.action, event.resource_kind, event.resource_id) == (
        "auth.login_failed",
        "account",
        "mallory",
    )
    assert (event.client_addr, event.request_id, event.before, event.after) == (
        "10.0.0.9",
        "r1",
        None,
        None,
    )


def _fail(service: AuthService, name: str, client_addr: str = "10.0.0.1") -> None:
    with pytest.raises(Unauthenticated, match=BAD_LOGIN):
        service.authenticate_password(name, WRONG, client_addr=client_addr)


def test_five_failures_lock_the_account_until_the_window_passes(
    service: AuthService, root: Actor, clock: Clock
) -> None:
    _user(service, root, "alice")
    for attempt in range(MAX_FAILURES_PER_ACCOUNT):
        _fail(service, "alice", client_addr=f"10.0.0.{attempt}")
    with pytest.raises(TooManyRequests, match=r"too many failed sign-ins for 'alice'") as e:
        service.authenticate_password("alice", PASSWORD, client_addr="10.9.9.9")
    assert e.value.http_status == 429
    clock.advance(LOGIN_WINDOW_MS)
    with pytest.raises(TooManyRequests, match=r"too many failed sign-ins"):
        service.authenticate_password("alice", PASSWORD)
    clock.advance(1)
    assert service.authenticate_password("alice", PASSWORD).name == "alice"


def test_four_failures_do_not_lock(service: AuthService, root: Actor) -> None:
    _user(service, root, "alice")
    for _ in range(MAX_FAILURES_PER_ACCOUNT - 1):
        _fail(service, "alice")
    assert service.authenticate_password("alice", PASSWORD).name == "alice"


def test_the_lock_counts_failures_by_account_not_by_spelling(
    service: AuthService, root: Actor
) -> None:
    alice = _user(service, root, "alice")
    for attempt in range(MAX_FAILURES_PER_ACCOUNT):
        _fail(service, "alice" if attempt % 2 else alice.principal_id)
    with pytest.raises(TooManyRequests, match=r"too many failed sign-ins"):
        service.authenticate_password("alice", PASSWORD)
    with pytest.raises(TooManyRequests, match=r"too many failed sign-ins"):
        service.authenticate_password(alice.principal_id, PASSWORD)


def test_one_address_is_limited_across_accounts(
    service: AuthService, root: Actor, clock: Clock
) -> None:
    names = [f"user{i}" for i in range(MAX_FAILURES_PER_ADDRESS // (MAX_FAILURES_PER_ACCOUNT - 1))]
    for name in names:
        for _ in range(MAX_FAILURES_PER_ACCOUNT - 1):
            _fail(service, name, client_addr="10.6.6.6")
    _user(service, root, "alice")
    with pytest.raises(TooManyRequests, match=r"or from 10\.6\.6\.6"):
        service.authenticate_password("alice", PASSWORD, client_addr="10.6.6.6")
    _fail(service, "alice", client_addr="10.7.7.7")  # refused for the password, not the limit
    clock.advance(LOGIN_WINDOW_MS + 1)
    assert service.authenticate_password("alice", PASSWORD, client_addr="10.6.6.6").name == "alice"


def test_a_recently_verified_password_is_not_locked_out(service: AuthService, root: Actor) -> None:
    """A busy client's cached check skips the limit: strangers' failures cannot lock it out."""
    _user(service, root, "alice")
    assert service.authenticate_password("alice", PASSWORD).name == "alice"
    for _ in range(MAX_FAILURES_PER_ACCOUNT):
        _fail(service, "alice")
    assert service.authenticate_password("alice", PASSWORD).name == "alice"
    with pytest.raises(TooManyRequests, match=r"too many failed sign-ins"):
        service.authenticate_password("alice", WRONG)


# --- audit events ---------------------------------------------------------------------------------


@dataclass
class World:
    """Accounts and resources every audited change below can act on."""

    service: AuthService
    root: Actor
    robot: Actor
    token_id: str


@pytest.fixture
def world(service: AuthService, root: Actor, make_actor: ActorFactory) -> World:
    _user(service, root, "alice")
    robot = make_actor(Role.EDITOR, name="robot")
    token = service.create_token(robot, "ci", scope=Scope.WRITE)
    service.grant(root, "alice", "experiment", "1", Permission.READ)
    return World(service, root, robot, token.token.token_id)


CHANGES: dict[str, tuple[Callable[[World], object], str, str, bool, bool]] = {
    # name: (change, action, resource_kind, has before, has after)
    "create-account": (
        lambda w: w.service.create_account(w.root, "bob", password="bobs long secret"),
        "account.create",
        "account",
        False,
        True,
    ),
    "update-account": (
        lambda w: w.service.update_account(w.root, "robot", role=Role.VIEWER),
        "account.update",
        "account",
        True,
        True,
    ),
    "set-password": (
        lambda w: w.service.set_password(w.root, "alice", "new long secret!"),
        "account.set_password",
        "account",
        False,
        True,
    ),
    "delete-account": (
        lambda w: w.service.delete_account(w.root, "robot"),
        "account.delete",
        "account",
        True,
        False,
    ),
    "create-token": (
        lambda w: w.service.create_token(w.robot, "another", scope=Scope.READ),
        "token.create",
        "token",
        False,
        True,
    ),
    "revoke-token": (
        lambda w: w.service.revoke_token(w.robot, w.token_id),
        "token.revoke",
        "token",
        True,
        True,
    ),
    "grant": (
        lambda w: w.service.grant(w.root, "robot", "experiment", "1", Permission.EDIT),
        "permission.grant",
        "experiment",
        True,
        True,
    ),
    "revoke": (
        lambda w: w.service.revoke(w.root, "alice", "experiment", "1"),
        "permission.revoke",
        "experiment",
        True,
        True,
    ),
}


@pytest.mark.parametrize("change_name", list(CHANGES))
def test_every_change_writes_exactly_one_audit_event(world: World, change_name: str) -> None:
    change, action, kind, has_before, has_after = CHANGES[change_name]
    before = _events(world.service, world.root)
    change(world)
    after = _events(world.service, world.root)
    assert len(after) == len(before) + 1
    event = after[0]
    assert (event.seq, event.action, event.resource_kind) == (before[0].seq + 1, action, kind)
    assert (event.actor_id, event.actor_name) == (
        (world.robot.principal_id, "robot")
        if "token" in change_name
        else ("local", world.root.name)
    )
    assert (event.before is not None, event.after is not None) == (has_before, has_after)
    if has_before and has_after:
        assert event.before != event.after
    assert world.service.verify_audit(world.root).ok


def test_a_refused_change_writes_no_audit_event(world: World, make_actor: ActorFactory) -> None:
    before = _events(world.service, world.root)
    viewer = make_actor(Role.VIEWER)
    with pytest.raises(PermissionDenied, match=r"only admins may create accounts"):
        world.service.create_account(viewer, "eve", kind=PrincipalKind.SERVICE)
    with pytest.raises(PermissionDenied, match=r"may not manage experiment 1"):
        world.service.grant(viewer, "robot", "experiment", "1", Permission.EDIT)
    assert len(_events(world.service, world.root)) == len(before) + 1  # the viewer's creation


def test_the_audit_trail_holds_no_secret(world: World, db: Database) -> None:
    service, root = world.service, world.root
    new = service.create_token(world.robot, "another")
    service.set_password(root, "alice", "new long secret!")
    alice = Actor(service.get_account(root, "alice").principal_id, "alice", Role.VIEWER)
    service.set_password(alice, "alice", "newer long secret", current_password="new long secret!")
    _fail(service, "alice")
    service.authenticate_password("alice", "newer long secret")
    with db.read() as conn:
        rows = conn.execute(select(audit_events)).all()
        stored_secrets = conn.execute(select(api_tokens.c.secret_hash)).scalars().all()
        password_hashes = conn.execute(select(principals.c.password_hash)).scalars().all()
    trail = "\n".join(" ".join(str(value) for value in row) for row in rows)
    forbidden = [
        PASSWORD,
        WRONG,
        "new long secret!",
        "newer long secret",
        new.secret,
        new.secret.rsplit("_", 1)[1],
        *stored_secrets,
        *[h for h in password_hashes if h],
        "$argon2",
    ]
    assert [secret for secret in forbidden if secret in trail] == []
    assert len(rows) >= 8


def test_audit_is_for_admins(service: AuthService, make_actor: ActorFactory) -> None:
    editor = make_actor(Role.EDITOR)
    with pytest.raises(PermissionDenied, match=r"only admins may read the audit log"):
        service.audit_events(editor)
    with pytest.raises(PermissionDenied, match=r"only admins may verify the audit log"):
        service.verify_audit(editor)


def test_record_appends_a_domain_event(service: AuthService, root: Actor) -> None:
    event = service.record(
        root, "experiment.create", "experiment", "3", after={"name": "x"}, request_id="req"
    )
    assert _events(service, root) == [event]
    assert (event.after, event.request_id) == ({"name": "x"}, "req")


# --- durations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("45s", 45_000),
        ("30m", 1_800_000),
        ("12h", 43_200_000),
        (" 90d ", 7_776_000_000),
        ("1w", 604_800_000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "90", "d", "1.5h", "-1d", "1y", "1d2h"])
def test_invalid_durations(text: str) -> None:
    with pytest.raises(InvalidParameter, match=r"invalid duration"):
        parse_duration_ms(text)
