"""The permission rule (grant, default, role and scope), and read filtering done in SQL."""

from __future__ import annotations

import itertools

import pytest

from loopml.auth import (
    EVERYTHING,
    Actor,
    AuthService,
    Permission,
    ReadScope,
    Role,
    Scope,
    ceiling,
    effective_permission,
    is_admin,
)
from loopml.core.errors import PermissionDenied
from loopml.store.database import Database
from loopml.tracking import ViewType
from loopml.tracking._sql import SqlTrackingStore

from .conftest import ActorFactory

NONE, READ, EDIT, MANAGE = Permission.NONE, Permission.READ, Permission.EDIT, Permission.MANAGE
SCOPES: list[Scope | None] = [None, Scope.READ, Scope.WRITE, Scope.ADMIN]


def _actor(role: Role, scope: Scope | None = None) -> Actor:
    return Actor("p1", "someone", role, scope=scope)


def _expected(role: Role, scope: Scope | None, granted: Permission | None, default: Permission):
    """The rule as the docs state it, written independently of ``loopml.auth.access``."""
    if role is Role.ADMIN and scope in (None, Scope.ADMIN):
        return MANAGE
    order = [NONE, READ, EDIT, MANAGE]
    level = max(order.index(granted or NONE), order.index(default))
    role_cap = order.index(READ if role is Role.VIEWER else MANAGE)
    scope_cap = order.index(READ if scope is Scope.READ else MANAGE)
    return order[min(level, role_cap, scope_cap)]


@pytest.mark.parametrize(
    ("role", "scope", "granted", "default"),
    list(itertools.product(Role, SCOPES, [None, READ, EDIT, MANAGE], [NONE, READ, EDIT])),
)
def test_the_effective_permission_table(
    role: Role, scope: Scope | None, granted: Permission | None, default: Permission
) -> None:
    got = effective_permission(_actor(role, scope), granted, default)
    assert got is _expected(role, scope, granted, default)


@pytest.mark.parametrize(
    ("actor", "granted", "default", "expected"),
    [
        pytest.param(_actor(Role.VIEWER), MANAGE, NONE, READ, id="viewer-capped-at-read"),
        pytest.param(_actor(Role.VIEWER), None, NONE, NONE, id="viewer-nothing-granted"),
        pytest.param(_actor(Role.EDITOR), EDIT, NONE, EDIT, id="editor-gets-its-grant"),
        pytest.param(_actor(Role.EDITOR), READ, EDIT, EDIT, id="default-above-grant"),
        pytest.param(_actor(Role.EDITOR, Scope.READ), MANAGE, NONE, READ, id="read-token"),
        pytest.param(_actor(Role.EDITOR, Scope.WRITE), MANAGE, NONE, MANAGE, id="write-token"),
        pytest.param(_actor(Role.ADMIN), None, NONE, MANAGE, id="admin-by-password"),
        pytest.param(_actor(Role.ADMIN, Scope.ADMIN), None, NONE, MANAGE, id="admin-token"),
        pytest.param(_actor(Role.ADMIN, Scope.WRITE), None, NONE, NONE, id="admin-write-token"),
        pytest.param(_actor(Role.ADMIN, Scope.READ), MANAGE, NONE, READ, id="admin-read-token"),
    ],
)
def test_effective_permission_examples(
    actor: Actor, granted: Permission | None, default: Permission, expected: Permission
) -> None:
    assert effective_permission(actor, granted, default) is expected


@pytest.mark.parametrize(("role", "scope"), list(itertools.product(Role, SCOPES)))
def test_is_admin_only_with_full_admin_power(role: Role, scope: Scope | None) -> None:
    assert is_admin(_actor(role, scope)) is (role is Role.ADMIN and scope in (None, Scope.ADMIN))


@pytest.mark.parametrize(
    ("role", "scope", "cap"),
    [
        (Role.VIEWER, None, READ),
        (Role.VIEWER, Scope.ADMIN, READ),
        (Role.EDITOR, None, MANAGE),
        (Role.EDITOR, Scope.READ, READ),
        (Role.ADMIN, Scope.WRITE, MANAGE),
    ],
)
def test_ceiling_is_the_lower_of_role_and_scope(
    role: Role, scope: Scope | None, cap: Permission
) -> None:
    assert ceiling(_actor(role, scope)) is cap


def test_permission_levels_include_the_ones_below() -> None:
    assert MANAGE.covers(EDIT)
    assert EDIT.covers(READ)
    assert READ.covers(NONE)
    assert not READ.covers(EDIT)
    assert [p.rank for p in (NONE, READ, EDIT, MANAGE)] == [0, 1, 2, 3]


# --- through the service, with real grants ---------------------------------------------------


def test_the_service_applies_grants_from_the_database(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    editor = make_actor(Role.EDITOR)
    assert service.permission(editor, "experiment", "1") is NONE
    service.grant(root, editor.name, "experiment", "1", EDIT)
    assert service.permission(editor, "experiment", "1") is EDIT
    assert service.permission(editor, "experiment", "2") is NONE
    assert service.permission(editor, "model", "1") is NONE, "grants are per kind"
    read_token = Actor(editor.principal_id, editor.name, editor.role, scope=Scope.READ)
    assert service.permission(read_token, "experiment", "1") is READ
    assert service.permission(root, "experiment", "2") is MANAGE


def test_require_names_what_is_missing(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    viewer = make_actor(Role.VIEWER, name="vera")
    service.grant(root, "vera", "experiment", "7", READ)
    service.require(viewer, "experiment", "7", READ)
    with pytest.raises(
        PermissionDenied, match=r"'vera' may not edit experiment 7 \(permission: read\)"
    ):
        service.require(viewer, "experiment", "7", EDIT)


def test_a_default_permission_lets_everyone_read(db: Database, make_actor: ActorFactory) -> None:
    viewer = make_actor(Role.VIEWER)
    open_service = AuthService(db, Permission.READ)
    assert open_service.permission(viewer, "experiment", "1") is READ
    assert open_service.readable(viewer) is EVERYTHING


def test_readable_is_everything_for_admins_and_the_grants_for_others(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    viewer = make_actor(Role.VIEWER)
    assert service.readable(root) is EVERYTHING
    assert service.readable(viewer) == ReadScope(viewer.principal_id)


# --- ReadScope in SQL ---------------------------------------------------------------------------


@pytest.fixture
def tracking(db: Database) -> SqlTrackingStore:
    return SqlTrackingStore(db)


def _names(
    tracking: SqlTrackingStore, readable: ReadScope, max_results: int = 100
) -> tuple[list[str], str | None]:
    page = tracking.search_experiments(
        ViewType.ACTIVE_ONLY, max_results, None, ["name ASC"], None, readable=readable
    )
    return [e.name for e in page.items], page.next_page_token


def _experiments(tracking: SqlTrackingStore, count: int) -> list[str]:
    return [tracking.create_experiment(f"exp-{i}", None, {}) for i in range(count)]


def test_a_search_returns_only_granted_experiments(
    service: AuthService, make_actor: ActorFactory, root: Actor, tracking: SqlTrackingStore
) -> None:
    ids = _experiments(tracking, 4)
    viewer, other = make_actor(Role.VIEWER), make_actor(Role.VIEWER)
    service.grant(root, viewer.name, "experiment", ids[2], READ)
    service.grant(root, other.name, "experiment", ids[0], READ)
    service.grant(root, viewer.name, "model", ids[1], READ)
    assert _names(tracking, service.readable(viewer)) == (["exp-2"], None)
    assert _names(tracking, service.readable(other)) == (["exp-0"], None)
    names, _ = _names(tracking, service.readable(root))
    assert names == ["Default", "exp-0", "exp-1", "exp-2", "exp-3"]


def test_any_grant_level_makes_an_experiment_readable(
    service: AuthService, make_actor: ActorFactory, root: Actor, tracking: SqlTrackingStore
) -> None:
    ids = _experiments(tracking, 3)
    editor = make_actor(Role.EDITOR)
    service.grant(root, editor.name, "experiment", ids[0], EDIT)
    service.grant_owner(editor, "experiment", ids[2])
    assert _names(tracking, service.readable(editor)) == (["exp-0", "exp-2"], None)
    service.revoke(root, editor.name, "experiment", ids[0])
    assert _names(tracking, service.readable(editor)) == (["exp-2"], None)


def test_a_search_with_no_grants_is_empty(
    service: AuthService, make_actor: ActorFactory, tracking: SqlTrackingStore
) -> None:
    _experiments(tracking, 2)
    assert _names(tracking, service.readable(make_actor(Role.VIEWER))) == ([], None)


def test_pages_count_only_readable_experiments(
    service: AuthService, make_actor: ActorFactory, root: Actor, tracking: SqlTrackingStore
) -> None:
    ids = _experiments(tracking, 8)
    viewer = make_actor(Role.VIEWER)
    for i in (1, 4, 6):
        service.grant(root, viewer.name, "experiment", ids[i], READ)
    readable = service.readable(viewer)
    first = tracking.search_experiments(
        ViewType.ACTIVE_ONLY, 2, None, ["name ASC"], None, readable=readable
    )
    assert [e.name for e in first.items] == ["exp-1", "exp-4"]
    assert first.next_page_token is not None
    second = tracking.search_experiments(
        ViewType.ACTIVE_ONLY, 2, None, ["name ASC"], first.next_page_token, readable=readable
    )
    assert [e.name for e in second.items] == ["exp-6"]
    assert second.next_page_token is None
    exact = tracking.search_experiments(
        ViewType.ACTIVE_ONLY, 3, None, ["name ASC"], None, readable=readable
    )
    assert [e.name for e in exact.items] == ["exp-1", "exp-4", "exp-6"]
    assert exact.next_page_token is None, "no next page when exactly max_results are readable"
