"""API tokens: the string format, what is stored, sign-in by token, and who may mint what."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import select

from loopml.auth import Actor, AuthService, PrincipalKind, Role, Scope
from loopml.auth.service import TOKEN_TOUCH_INTERVAL_MS
from loopml.auth.tokens import hash_secret, looks_like_token, new_token, parse_token, secret_matches
from loopml.core.clock import now_ms
from loopml.core.errors import (
    InvalidParameter,
    InvalidState,
    PermissionDenied,
    ResourceNotFound,
    Unauthenticated,
)
from loopml.core.ids import new_id
from loopml.store.database import Database
from loopml.store.tables import api_tokens

from .conftest import ActorFactory, Clock

# --- the string -----------------------------------------------------------------------


def test_a_new_token_is_prefix_id_and_secret() -> None:
    token_id, bearer, _ = new_token()
    assert re.fullmatch(rf"lml_{token_id}_[0-9a-f]{{64}}", bearer)
    assert looks_like_token(bearer)
    assert parse_token(bearer) == (token_id, bearer.rsplit("_", 1)[1])


def test_the_stored_hash_is_the_secrets_sha256_not_the_secret() -> None:
    _, bearer, secret_hash = new_token()
    secret = bearer.rsplit("_", 1)[1]
    assert secret_hash == hashlib.sha256(secret.encode()).hexdigest() == hash_secret(secret)
    assert secret not in secret_hash
    assert secret_matches(secret, secret_hash)
    assert not secret_matches(secret[:-1] + "0" if secret[-1] != "0" else "1", secret_hash)


def test_every_token_is_new() -> None:
    first, second = new_token(), new_token()
    assert first[0] != second[0]
    assert first[1] != second[1]


def test_surrounding_whitespace_is_ignored() -> None:
    token_id, bearer, _ = new_token()
    assert parse_token(f"  {bearer}\n") == (token_id, bearer.rsplit("_", 1)[1])


GOOD_ID, GOOD_SECRET = "a" * 32, "b" * 64


@pytest.mark.parametrize(
    "bearer",
    [
        "",
        "lml_",
        f"lml_{GOOD_ID}",
        f"lml_{GOOD_ID}_",
        f"lml_{GOOD_ID}_{GOOD_SECRET}x",
        f"lml_{GOOD_ID}_{GOOD_SECRET[:-1]}",
        f"lml_{GOOD_ID[:-1]}_{GOOD_SECRET}",
        f"lml_{GOOD_ID.upper()}_{GOOD_SECRET}",
        f"lml_{GOOD_ID}_{'g' * 64}",
        f"lml_{GOOD_ID}_{GOOD_SECRET}_extra",
        f"lmx_{GOOD_ID}_{GOOD_SECRET}",
        f"LML_{GOOD_ID}_{GOOD_SECRET}",
        f"Bearer lml_{GOOD_ID}_{GOOD_SECRET}",
        f"lml_{GOOD_ID}-{GOOD_SECRET}",
        f"lml_{GOOD_ID}_{GOOD_SECRET}\nlml_{GOOD_ID}_{GOOD_SECRET}",
    ],
)
def test_parse_rejects_malformed_tokens(bearer: str) -> None:
    assert parse_token(bearer) is None


def test_a_malformed_token_does_not_sign_in(service: AuthService) -> None:
    with pytest.raises(Unauthenticated, match=r"malformed API token: expected lml_<id>_<secret>"):
        service.authenticate_token("lml_not-a-token")


# --- what is stored -----------------------------------------------------------------------


def test_only_the_secrets_hash_is_stored(
    service: AuthService, make_actor: ActorFactory, db: Database
) -> None:
    owner = make_actor(Role.EDITOR)
    new = service.create_token(owner, "ci", scope=Scope.WRITE)
    secret = new.secret.rsplit("_", 1)[1]
    with db.read() as conn:
        row = conn.execute(select(api_tokens)).one()
    stored = " ".join(str(value) for value in row)
    assert secret not in stored
    assert row.secret_hash == hash_secret(secret)
    assert (row.token_id, row.principal_id, row.scope) == (
        new.token.token_id,
        owner.principal_id,
        "write",
    )
    assert "secret" not in new.token.to_dict()


# --- signing in with a token ------------------------------------------------------------------


def test_a_token_signs_in_as_its_owner_with_its_scope(
    service: AuthService, make_actor: ActorFactory
) -> None:
    owner = make_actor(Role.EDITOR)
    new = service.create_token(owner, "ci", scope=Scope.READ)
    actor = service.authenticate_token(new.secret, client_addr="10.1.2.3")
    assert actor == Actor(
        owner.principal_id,
        owner.name,
        Role.EDITOR,
        scope=Scope.READ,
        token_id=new.token.token_id,
        client_addr="10.1.2.3",
    )


def _unauthenticated(service: AuthService, bearer: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        service.authenticate_token(bearer)
    assert raised.value.http_status == 401
    return raised.value.message


def test_an_unknown_token_id_is_invalid(service: AuthService) -> None:
    assert _unauthenticated(service, f"lml_{new_id()}_{GOOD_SECRET}") == "invalid API token"


def test_a_wrong_secret_is_invalid(service: AuthService, make_actor: ActorFactory) -> None:
    new = service.create_token(make_actor(), "ci")
    forged = f"lml_{new.token.token_id}_{GOOD_SECRET}"
    assert _unauthenticated(service, forged) == "invalid API token"


def test_a_revoked_token_says_so(service: AuthService, make_actor: ActorFactory) -> None:
    owner = make_actor()
    new = service.create_token(owner, "ci")
    service.revoke_token(owner, new.token.token_id)
    message = _unauthenticated(service, new.secret)
    assert message == f"API token 'ci' ({new.token.token_id}) is revoked"


def test_a_revoked_token_with_a_wrong_secret_reveals_nothing(
    service: AuthService, make_actor: ActorFactory
) -> None:
    owner = make_actor()
    new = service.create_token(owner, "ci")
    service.revoke_token(owner, new.token.token_id)
    forged = f"lml_{new.token.token_id}_{GOOD_SECRET}"
    assert _unauthenticated(service, forged) == "invalid API token"


def test_a_token_expires(service: AuthService, make_actor: ActorFactory, clock: Clock) -> None:
    new = service.create_token(make_actor(), "short", expires_ms=clock() + 1_000)
    clock.advance(999)
    assert service.authenticate_token(new.secret).token_id == new.token.token_id
    clock.advance(1)
    message = _unauthenticated(service, new.secret)
    assert message == f"API token 'short' ({new.token.token_id}) is expired"


def test_a_disabled_owners_token_does_not_sign_in(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    owner = make_actor()
    new = service.create_token(owner, "ci")
    service.update_account(root, owner.name, disabled=True)
    assert _unauthenticated(service, new.secret) == f"account {owner.name!r} is disabled"
    service.update_account(root, owner.name, disabled=False)
    assert service.authenticate_token(new.secret).name == owner.name


def _last_used(service: AuthService, root: Actor, token_id: str) -> int | None:
    (token,) = [t for t in service.list_tokens(root, everyone=True) if t.token_id == token_id]
    return token.last_used_ms


def test_last_used_is_recorded_at_most_once_a_minute(
    service: AuthService, make_actor: ActorFactory, root: Actor, clock: Clock
) -> None:
    new = service.create_token(make_actor(), "ci")
    token_id = new.token.token_id
    assert _last_used(service, root, token_id) is None
    first = clock()
    service.authenticate_token(new.secret)
    assert _last_used(service, root, token_id) == first
    clock.advance(TOKEN_TOUCH_INTERVAL_MS)
    service.authenticate_token(new.secret)
    assert _last_used(service, root, token_id) == first, "within the minute: no write"
    clock.advance(1)
    service.authenticate_token(new.secret)
    assert _last_used(service, root, token_id) == first + TOKEN_TOUCH_INTERVAL_MS + 1


def test_signing_in_with_a_token_writes_no_audit_event(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    new = service.create_token(make_actor(), "ci")
    before = len(service.audit_events(root))
    service.authenticate_token(new.secret)
    assert len(service.audit_events(root)) == before


# --- minting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scope", "allowed"),
    [
        (Role.VIEWER, Scope.READ, True),
        (Role.VIEWER, Scope.WRITE, False),
        (Role.VIEWER, Scope.ADMIN, False),
        (Role.EDITOR, Scope.READ, True),
        (Role.EDITOR, Scope.WRITE, True),
        (Role.EDITOR, Scope.ADMIN, False),
        (Role.ADMIN, Scope.READ, True),
        (Role.ADMIN, Scope.WRITE, True),
        (Role.ADMIN, Scope.ADMIN, True),
    ],
)
def test_an_account_mints_tokens_up_to_its_role(
    service: AuthService, make_actor: ActorFactory, role: Role, scope: Scope, allowed: bool
) -> None:
    actor = make_actor(role)
    if allowed:
        assert service.create_token(actor, "t", scope=scope).token.scope is scope
    else:
        with pytest.raises(PermissionDenied, match=rf"a '{scope.value}' token is more than"):
            service.create_token(actor, "t", scope=scope)


@pytest.mark.parametrize(
    ("using", "scope", "allowed"),
    [
        (Scope.READ, Scope.READ, True),
        (Scope.READ, Scope.WRITE, False),
        (Scope.READ, Scope.ADMIN, False),
        (Scope.WRITE, Scope.WRITE, True),
        (Scope.WRITE, Scope.ADMIN, False),
        (Scope.ADMIN, Scope.ADMIN, True),
    ],
)
def test_nobody_mints_a_token_stronger_than_the_one_in_use(
    service: AuthService,
    make_actor: ActorFactory,
    using: Scope,
    scope: Scope,
    allowed: bool,
) -> None:
    actor = make_actor(Role.ADMIN, scope=using)
    if allowed:
        assert service.create_token(actor, "t", scope=scope).token.scope is scope
    else:
        with pytest.raises(PermissionDenied, match=r"or the credentials in use allow"):
            service.create_token(actor, "t", scope=scope)


def test_only_admins_mint_tokens_for_other_accounts(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    editor, other = make_actor(Role.EDITOR), make_actor(Role.EDITOR)
    with pytest.raises(PermissionDenied, match=r"only admins may create tokens for other accounts"):
        service.create_token(editor, "t", owner=other.name)
    admin_by_write_token = make_actor(Role.ADMIN, scope=Scope.WRITE)
    with pytest.raises(PermissionDenied, match=r"with a 'write' token is not one"):
        service.create_token(admin_by_write_token, "t", owner=other.name)
    made = service.create_token(root, "t", owner=other.name, scope=Scope.WRITE)
    assert (made.token.principal_name, made.token.created_by) == (other.name, root.name)


def test_an_admin_cannot_mint_more_than_the_owners_role(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    viewer = make_actor(Role.VIEWER)
    with pytest.raises(PermissionDenied, match=r"more than viewer"):
        service.create_token(root, "t", owner=viewer.name, scope=Scope.WRITE)


def test_a_disabled_account_gets_no_new_tokens(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    owner = make_actor()
    service.update_account(root, owner.name, disabled=True)
    with pytest.raises(InvalidState, match=r"is disabled"):
        service.create_token(root, "t", owner=owner.name)


@pytest.mark.parametrize("name", ["", "   ", "x" * 257])
def test_a_token_needs_a_name(service: AuthService, make_actor: ActorFactory, name: str) -> None:
    with pytest.raises(InvalidParameter, match=r"a token needs a name of 1 to 256 characters"):
        service.create_token(make_actor(), name)


def test_a_token_cannot_expire_in_the_past(
    service: AuthService, make_actor: ActorFactory, clock: Clock
) -> None:
    with pytest.raises(InvalidParameter, match=r"expiry must be in the future"):
        service.create_token(make_actor(), "t", expires_ms=clock())


def test_the_local_owner_has_no_account_to_mint_for(service: AuthService, root: Actor) -> None:
    with pytest.raises(ResourceNotFound, match=r"no account named 'local'"):
        service.create_token(root, "t")


def test_a_service_account_signs_in_only_by_token(service: AuthService, root: Actor) -> None:
    service.create_account(root, "robot", kind=PrincipalKind.SERVICE, role=Role.EDITOR)
    new = service.create_token(root, "deploy", owner="robot", scope=Scope.WRITE)
    assert service.authenticate_token(new.secret).name == "robot"
    with pytest.raises(Unauthenticated, match=r"^invalid username or password$"):
        service.authenticate_password("robot", "anything at all")


# --- listing and revoking -----------------------------------------------------------------------


def test_accounts_list_their_own_tokens_and_admins_list_any(
    service: AuthService, make_actor: ActorFactory, root: Actor
) -> None:
    alice, bob = make_actor(), make_actor()
    mine = service.create_token(alice, "a").token
    theirs = service.create_token(bob, "b").token
    assert service.list_tokens(alice) == [mine]
    with pytest.raises(PermissionDenied, match=r"only admins may list other accounts' tokens"):
        service.list_tokens(alice, bob.name)
    with pytest.raises(PermissionDenied, match=r"only admins may list every account's tokens"):
        service.list_tokens(alice, everyone=True)
    assert service.list_tokens(root, bob.name) == [theirs]
    assert {t.token_id for t in service.list_tokens(root, everyone=True)} == {
        mine.token_id,
        theirs.token_id,
    }


def test_revoking(service: AuthService, make_actor: ActorFactory, root: Actor) -> None:
    alice, bob = make_actor(), make_actor()
    token = service.create_token(alice, "a").token
    with pytest.raises(PermissionDenied, match=r"only admins may revoke other accounts' tokens"):
        service.revoke_token(bob, token.token_id)
    revoked = service.revoke_token(alice, token.token_id)
    assert revoked.revoked_ms is not None
    assert revoked.state(revoked.revoked_ms) == "revoked"
    events = len(service.audit_events(root))
    assert service.revoke_token(root, token.token_id) == revoked, "revoking twice changes nothing"
    assert len(service.audit_events(root)) == events
    with pytest.raises(ResourceNotFound, match=r"no token with id"):
        service.revoke_token(root, new_id())


def test_only_admin_tokens_mint_tokens_and_never_longer_lived_ones(
    service: AuthService, root: Actor
) -> None:
    service.create_account(root, "minter", kind=PrincipalKind.SERVICE, role=Role.ADMIN)
    soon = now_ms() + 3_600_000
    writer = service.create_token(root, "w", owner="minter", scope=Scope.WRITE)
    with pytest.raises(PermissionDenied, match="not with another token"):
        service.create_token(service.authenticate_token(writer.secret), "more")
    parent = service.create_token(
        root, "parent", owner="minter", scope=Scope.ADMIN, expires_ms=soon
    )
    actor = service.authenticate_token(parent.secret)
    forever = service.create_token(actor, "child", scope=Scope.READ)
    later = service.create_token(actor, "later", scope=Scope.READ, expires_ms=soon + 10**9)
    sooner = service.create_token(actor, "sooner", scope=Scope.READ, expires_ms=soon - 1000)
    assert forever.token.expires_ms == soon
    assert later.token.expires_ms == soon
    assert sooner.token.expires_ms == soon - 1000


def test_a_read_token_may_revoke_itself_but_not_its_siblings(
    service: AuthService, root: Actor
) -> None:
    service.create_account(root, "reader-bot", kind=PrincipalKind.SERVICE, role=Role.EDITOR)
    writer = service.create_token(root, "ci", owner="reader-bot", scope=Scope.WRITE)
    reader = service.create_token(root, "dash", owner="reader-bot", scope=Scope.READ)
    actor = service.authenticate_token(reader.secret)
    with pytest.raises(PermissionDenied, match="read-only token may revoke itself"):
        service.revoke_token(actor, writer.token.token_id)
    assert service.authenticate_token(writer.secret).name == "reader-bot"
    service.revoke_token(actor, reader.token.token_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        service.authenticate_token(reader.secret)
