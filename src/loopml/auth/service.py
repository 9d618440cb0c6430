"""Accounts, tokens, grants and sign-in, with every rule and every audit event.

:class:`AuthService` is the one place that decides who may manage accounts,
mint tokens or change permissions. The server calls it with the request's
actor; the embedded CLI calls it with :func:`local_actor` (whoever can open
the database file is its owner). Each change and its audit event commit in
one transaction.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from loopml.auth import _sql
from loopml.auth.access import (
    EVERYTHING,
    ReadScope,
    effective_permission,
    is_admin,
    may_issue_scope,
)
from loopml.auth.audit import AuditFilter, AuditLog
from loopml.auth.entities import (
    Actor,
    ApiToken,
    AuditEvent,
    AuditVerification,
    Grant,
    NewToken,
    Permission,
    Principal,
    PrincipalKind,
    Role,
    Scope,
)
from loopml.auth.passwords import (
    VerifiedCache,
    check_password_rules,
    hash_password,
    verify_password,
)
from loopml.auth.tokens import new_token, parse_token, secret_matches
from loopml.core.clock import now_ms
from loopml.core.errors import (
    InvalidParameter,
    InvalidState,
    PermissionDenied,
    ResourceAlreadyExists,
    ResourceNotFound,
    TooManyRequests,
    Unauthenticated,
)
from loopml.core.ids import new_id
from loopml.store.database import Database

ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
LOGIN_WINDOW_MS = 5 * 60 * 1000
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20
TOKEN_TOUCH_INTERVAL_MS = 60_000
LOGIN_FAILED = "auth.login_failed"

ANONYMOUS = Actor("anonymous", "anonymous", Role.ADMIN, authenticated=False)
# Verifying against this keeps an unknown name as slow as a wrong password.
_DUMMY_HASH: str | None = None  # made on first use: an argon2 hash costs ~0.1 s at import


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("not-a-real-password-" + new_id())
    return _DUMMY_HASH


def local_actor() -> Actor:
    """The OS user running an embedded (serverless) loopml: owner of its files, so admin."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor("local", f"local:{user}", Role.ADMIN)


class AuthService:
    """Access control over one database; ``default_permission`` covers ungranted resources."""

    def __init__(self, db: Database, default_permission: Permission = Permission.READ) -> None:
        self.db = db
        self.default_permission = default_permission
        self.audit = AuditLog(db)
        self._verified = VerifiedCache()

    # --- accounts ---------------------------------------------------------------

    def create_account(
        self,
        actor: Actor,
        name: str,
        *,
        kind: PrincipalKind = PrincipalKind.USER,
        role: Role = Role.VIEWER,
        password: str | None = None,
        description: str = "",
        request_id: str = "",
    ) -> Principal:
        """Create a user (a password is required) or a service account (tokens only)."""
        self._require_admin(actor, "create accounts")
        _check_account_name(name)
        if kind is PrincipalKind.USER:
            if password is None:
                raise InvalidParameter(f"user {name!r} needs a password; there is no default")
            check_password_rules(name, password)
        elif password is not None:
            raise InvalidParameter("service accounts sign in with tokens only, not passwords")
        at = now_ms()
        values = {
            "principal_id": new_id(),
            "name": name,
            "kind": kind.value,
            "role": role.value,
            "password_hash": hash_password(password) if password is not None else None,
            "description": description,
            "disabled": False,
            "created_ms": at,
            "created_by": actor.name,
            "updated_ms": at,
        }
        with self.db.write() as conn:
            if _sql.find_principal(conn, name) is not None:
                raise ResourceAlreadyExists(f"an account named {name!r} already exists")
            _sql.insert_principal(conn, values)
            principal = _sql.principal_from_row(values)
            self.audit.append(
                actor,
                "account.create",
                "account",
                principal.principal_id,
                after=_account_state(principal),
                request_id=request_id,
                conn=conn,
            )
        return principal

    def get_account(self, actor: Actor, name: str) -> Principal:
        self._require_self_or_admin(actor, name, "read other accounts")
        with self.db.read() as conn:
            return _sql.principal_from_row(self._find(conn, name))

    def list_accounts(self, actor: Actor, kind: PrincipalKind | None = None) -> list[Principal]:
        self._require_admin(actor, "list accounts")
        with self.db.read() as conn:
            return _sql.list_principals(conn, kind)

    def update_account(
        self,
        actor: Actor,
        name: str,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        description: str | None = None,
        request_id: str = "",
    ) -> Principal:
        """Change an account's role, description, or disable / enable it (admins only)."""
        self._require_admin(actor, "change accounts")
        with self.db.write() as conn:
            before = _sql.principal_from_row(self._find(conn, name))
            changes: dict[str, Any] = {}
            if role is not None and role is not before.role:
                changes["role"] = role.value
            if disabled is not None and disabled != before.disabled:
                changes["disabled"] = disabled
            if description is not None and description != before.description:
                changes["description"] = description
            if not changes:
                return before
            self._keep_an_admin(conn, before, role, disabled)
            changes["updated_ms"] = now_ms()
            _sql.update_principal(conn, before.principal_id, changes)
            after = _sql.principal_from_row(self._find(conn, before.principal_id))
            self.audit.append(
                actor,
                "account.update",
                "account",
                before.principal_id,
                before=_account_state(before),
                after=_account_state(after),
                request_id=request_id,
                conn=conn,
            )
        return after

    def set_password(
        self,
        actor: Actor,
        name: str,
        new_password: str,
        *,
        current_password: str | None = None,
        request_id: str = "",
    ) -> None:
        """Admins reset anyone's password; users change their own with the current one.

        A wrong current password counts as a failed sign-in (audited, rate-limited),
        so a stolen token cannot be used to guess its owner's password.
        """
        self._require_self_or_admin(actor, name, "change another account's password")
        if actor.scope is Scope.READ:
            raise PermissionDenied("a read-only token may not change a password")
        with self.db.read() as conn:
            row = self._find(conn, name)
        principal = _sql.principal_from_row(row)
        if principal.kind is not PrincipalKind.USER:
            raise InvalidParameter(f"{name!r} is a service account; it signs in with tokens")
        if not is_admin(actor):
            self._check_login_rate(principal.name, actor.client_addr)
            if current_password is None or not verify_password(
                row["password_hash"] or _dummy_hash(), current_password
            ):
                self._record_login_failure(principal.name, actor.client_addr, request_id)
                raise PermissionDenied("the current password is wrong")
        check_password_rules(principal.name, new_password)
        with self.db.write() as conn:
            _sql.update_principal(
                conn,
                principal.principal_id,
                {"password_hash": hash_password(new_password), "updated_ms": now_ms()},
            )
            self.audit.append(
                actor,
                "account.set_password",
                "account",
                principal.principal_id,
                after={"name": principal.name},
                request_id=request_id,
                conn=conn,
            )

    def delete_account(self, actor: Actor, name: str, *, request_id: str = "") -> None:
        """Delete an account with its tokens and grants (admins only; never the last admin)."""
        self._require_admin(actor, "delete accounts")
        with self.db.write() as conn:
            principal = _sql.principal_from_row(self._find(conn, name))
            self._keep_an_admin(conn, principal, Role.VIEWER, True)
            _sql.delete_principal(conn, principal.principal_id)
            self.audit.append(
                actor,
                "account.delete",
                "account",
                principal.principal_id,
                before=_account_state(principal),
                request_id=request_id,
                conn=conn,
            )

    # --- tokens -------------------------------------------------------------------

    def create_token(
        self,
        actor: Actor,
        name: str,
        *,
        scope: Scope = Scope.READ,
        owner: str | None = None,
        expires_ms: int | None = None,
        request_id: str = "",
    ) -> NewToken:
        """Mint a token for ``owner`` (default: the actor); its secret is returned only here."""
        if not name.strip() or len(name) > 256:
            raise InvalidParameter("a token needs a name of 1 to 256 characters")
        at = now_ms()
        if expires_ms is not None and expires_ms <= at:
            raise InvalidParameter("a token's expiry must be in the future")
        if actor.token_id is not None and actor.scope is not Scope.ADMIN:
            raise PermissionDenied(
                "tokens are created after signing in with a password (or with an admin "
                "token), not with another token: a leaked token must not mint more"
            )
        if owner:
            self._require_self_or_admin(actor, owner, "create tokens for other accounts")
        with self.db.write() as conn:
            principal = _sql.principal_from_row(self._find(conn, owner or actor.principal_id))
            if principal.principal_id != actor.principal_id:
                self._require_admin(actor, "create tokens for other accounts")
            if principal.disabled:
                raise InvalidState(f"account {principal.name!r} is disabled")
            if not may_issue_scope(actor, principal.role, scope):
                raise PermissionDenied(
                    f"a {scope.value!r} token is more than {principal.role.value} "
                    f"{principal.name!r} or the credentials in use allow"
                )
            expires_ms = self._no_later_than_own_token(conn, actor, expires_ms)
            token_id, secret, secret_hash = new_token()
            values = {
                "token_id": token_id,
                "principal_id": principal.principal_id,
                "name": name,
                "scope": scope.value,
                "secret_hash": secret_hash,
                "created_ms": at,
                "created_by": actor.name,
                "expires_ms": expires_ms,
                "revoked_ms": None,
                "last_used_ms": None,
            }
            _sql.insert_token(conn, values)
            token = _sql.token_from_row({**values, "principal_name": principal.name})
            self.audit.append(
                actor,
                "token.create",
                "token",
                token_id,
                after=_token_state(token),
                request_id=request_id,
                conn=conn,
            )
        return NewToken(token, secret)

    def list_tokens(
        self, actor: Actor, owner: str | None = None, *, everyone: bool = False
    ) -> list[ApiToken]:
        """The actor's own tokens; admins may ask for another account's, or everyone's."""
        with self.db.read() as conn:
            if everyone:
                self._require_admin(actor, "list every account's tokens")
                return _sql.list_tokens(conn, None)
            if owner:
                self._require_self_or_admin(actor, owner, "list other accounts' tokens")
            principal_id = self._find(conn, owner)["principal_id"] if owner else actor.principal_id
            if principal_id != actor.principal_id:
                self._require_admin(actor, "list other accounts' tokens")
            return _sql.list_tokens(conn, principal_id)

    def revoke_token(self, actor: Actor, token_id: str, *, request_id: str = "") -> ApiToken:
        with self.db.write() as conn:
            row = _sql.find_token(conn, token_id)
            if row is None:
                raise ResourceNotFound(f"no token with id {token_id!r}")
            before = _sql.token_from_row(row)
            if before.principal_id != actor.principal_id:
                self._require_admin(actor, "revoke other accounts' tokens")
            if actor.scope is Scope.READ and token_id != actor.token_id:
                raise PermissionDenied(
                    "a read-only token may revoke itself, not its account's other tokens"
                )
            if before.revoked_ms is not None:
                return before
            _sql.set_token_times(conn, token_id, revoked_ms=now_ms())
            after = _sql.token_from_row(_sql.find_token(conn, token_id) or row)
            self.audit.append(
                actor,
                "token.revoke",
                "token",
                token_id,
                before=_token_state(before),
                after=_token_state(after),
                request_id=request_id,
                conn=conn,
            )
        return after

    # --- sign-in --------------------------------------------------------------------

    def authenticate_token(self, bearer: str, client_addr: str = "") -> Actor:
        """The actor a bearer token stands for; 401 with the reason when it stands for none."""
        parsed = parse_token(bearer)
        if parsed is None:
            raise Unauthenticated("malformed API token: expected lml_<id>_<secret>")
        token_id, secret = parsed
        with self.db.read() as conn:
            found = _sql.find_token_and_owner(conn, token_id)
        if found is None or not secret_matches(secret, found[0]["secret_hash"]):
            raise Unauthenticated("invalid API token")
        row, principal = found
        token = _sql.token_from_row(row)
        at = now_ms()
        state = token.state(at)
        if state != "active":
            raise Unauthenticated(f"API token {token.name!r} ({token_id}) is {state}")
        if principal.disabled:
            raise Unauthenticated(f"account {principal.name!r} is disabled")
        if token.last_used_ms is None or at - token.last_used_ms > TOKEN_TOUCH_INTERVAL_MS:
            with self.db.write() as conn:
                _sql.set_token_times(conn, token_id, last_used_ms=at)
        return Actor(
            principal.principal_id,
            principal.name,
            principal.role,
            scope=token.scope,
            token_id=token_id,
            client_addr=client_addr,
        )

    def authenticate_password(
        self, name: str, password: str, client_addr: str = "", request_id: str = ""
    ) -> Actor:
        """Sign in with a name and password (HTTP basic auth); failures are audited and limited."""
        with self.db.read() as conn:
            row = _sql.find_principal(conn, name) if name else None
        stored = row["password_hash"] if row is not None else None
        if row is not None and stored and self._verified.hit(name, password, stored):
            return self._password_actor(row, client_addr)
        # Failures count against the account, however it was named (name or id).
        account = row["name"] if row is not None else name
        self._check_login_rate(account, client_addr)
        if row is None or not stored or not self._verified.verify(name, password, stored):
            if row is None or not stored:
                verify_password(_dummy_hash(), password)
            self._record_login_failure(account, client_addr, request_id)
            raise Unauthenticated("invalid username or password")
        return self._password_actor(row, client_addr)

    def _record_login_failure(self, account: str, client_addr: str, request_id: str) -> None:
        self.audit.append(
            Actor("anonymous", "anonymous", Role.VIEWER, client_addr=client_addr),
            LOGIN_FAILED,
            "account",
            account[:256],
            request_id=request_id,
        )

    def _password_actor(self, row: Any, client_addr: str) -> Actor:
        principal = _sql.principal_from_row(row)
        if principal.disabled:
            raise Unauthenticated(f"account {principal.name!r} is disabled")
        return Actor(
            principal.principal_id, principal.name, principal.role, client_addr=client_addr
        )

    def _check_login_rate(self, name: str, client_addr: str) -> None:
        since = now_ms() - LOGIN_WINDOW_MS
        failures = self.audit.count(LOGIN_FAILED, since, resource_id=name[:256])
        by_address = (
            self.audit.count(LOGIN_FAILED, since, client_addr=client_addr) if client_addr else 0
        )
        if failures >= MAX_FAILURES_PER_ACCOUNT or by_address >= MAX_FAILURES_PER_ADDRESS:
            wait_s = LOGIN_WINDOW_MS // 1000
            raise TooManyRequests(
                f"too many failed sign-ins for {name!r} or from {client_addr or 'this address'}; "
                f"try again in up to {wait_s} seconds, or use an API token"
            )

    # --- permissions --------------------------------------------------------------

    def permission(self, actor: Actor, kind: str, resource_id: str) -> Permission:
        """What ``actor`` may do to one resource: its grant, the default, its role and scope."""
        if is_admin(actor):
            return Permission.MANAGE
        with self.db.read() as conn:
            granted = _sql.granted(conn, actor.principal_id, kind, str(resource_id))
        return effective_permission(actor, granted, self.default_permission)

    def require(self, actor: Actor, kind: str, resource_id: str, needed: Permission) -> None:
        """Raise ``PermissionDenied`` naming what is missing unless ``actor`` may do ``needed``."""
        have = self.permission(actor, kind, resource_id)
        if not have.covers(needed):
            raise PermissionDenied(
                f"{actor.name!r} may not {needed.value} {kind} {resource_id} "
                f"(permission: {have.value})"
            )

    def has_grant(self, actor: Actor, kind: str, resource_id: str) -> bool:
        """Whether ``actor`` holds a grant on the resource itself (the default does not count)."""
        with self.db.read() as conn:
            return _sql.granted(conn, actor.principal_id, kind, str(resource_id)) is not None

    def readable(self, actor: Actor) -> ReadScope:
        """What a search by ``actor`` may return: everything, or only its granted resources."""
        if is_admin(actor) or self.default_permission.covers(Permission.READ):
            return EVERYTHING
        return ReadScope(actor.principal_id)

    def grant(
        self,
        actor: Actor,
        account: str,
        kind: str,
        resource_id: str,
        permission: Permission,
        *,
        request_id: str = "",
    ) -> Grant:
        """Give ``account`` ``permission`` on a resource; the actor must manage that resource."""
        if permission is Permission.NONE:
            raise InvalidParameter("grant read, edit or manage; to take access away, revoke")
        self.require(actor, kind, resource_id, Permission.MANAGE)
        resource_id = str(resource_id)
        with self.db.write() as conn:
            principal = _sql.principal_from_row(self._find(conn, account))
            before = _sql.granted(conn, principal.principal_id, kind, resource_id)
            at = now_ms()
            _sql.upsert_grant(
                conn,
                {
                    "principal_id": principal.principal_id,
                    "resource_kind": kind,
                    "resource_id": resource_id,
                    "permission": permission.value,
                    "granted_ms": at,
                    "granted_by": actor.name,
                },
            )
            self.audit.append(
                actor,
                "permission.grant",
                kind,
                resource_id,
                before={"account": principal.name, "permission": before.value if before else None},
                after={"account": principal.name, "permission": permission.value},
                request_id=request_id,
                conn=conn,
            )
        return Grant(
            principal.principal_id, principal.name, kind, resource_id, permission, at, actor.name
        )

    def revoke(
        self, actor: Actor, account: str, kind: str, resource_id: str, *, request_id: str = ""
    ) -> None:
        self.require(actor, kind, resource_id, Permission.MANAGE)
        resource_id = str(resource_id)
        with self.db.write() as conn:
            principal = _sql.principal_from_row(self._find(conn, account))
            before = _sql.granted(conn, principal.principal_id, kind, resource_id)
            if before is None:
                raise ResourceNotFound(f"{principal.name!r} has no grant on {kind} {resource_id}")
            _sql.delete_grant(conn, principal.principal_id, kind, resource_id)
            self.audit.append(
                actor,
                "permission.revoke",
                kind,
                resource_id,
                before={"account": principal.name, "permission": before.value},
                after={"account": principal.name, "permission": None},
                request_id=request_id,
                conn=conn,
            )

    def list_grants(
        self,
        actor: Actor,
        kind: str | None = None,
        resource_id: str | None = None,
        account: str | None = None,
    ) -> list[Grant]:
        """Grants on a resource (readers of it may look) or of an account (itself or admins).

        Refusals come before any lookup, so they never tell whether an account exists.
        """
        on_resource = kind is not None and resource_id is not None
        if not is_admin(actor):
            if on_resource:
                self.require(actor, str(kind), str(resource_id), Permission.READ)
            elif account is None or account not in (actor.name, actor.principal_id):
                raise PermissionDenied(
                    f"{actor.name!r} may list grants on a resource it can read, or its own grants"
                )
        with self.db.read() as conn:
            found = _sql.find_principal(conn, account) if account else None
            if account and found is None:
                if on_resource:
                    return []
                raise ResourceNotFound(f"no account named {account!r}")
            principal_id = found["principal_id"] if found is not None else None
            return _sql.list_grants(conn, kind, resource_id, principal_id)

    def grant_owner(
        self, actor: Actor, kind: str, resource_id: str, conn: Connection | None = None
    ) -> None:
        """Make a resource's creator its manager (no-op for local and anonymous actors)."""
        with self._connection(conn) as c:
            # By id only: an account may be *named* "local" or "anonymous".
            row = _sql.find_principal(c, actor.principal_id)
            if row is None or row["principal_id"] != actor.principal_id:
                return
            _sql.upsert_grant(
                c,
                {
                    "principal_id": actor.principal_id,
                    "resource_kind": kind,
                    "resource_id": str(resource_id),
                    "permission": Permission.MANAGE.value,
                    "granted_ms": now_ms(),
                    "granted_by": actor.name,
                },
            )

    # --- audit --------------------------------------------------------------------

    def record(
        self,
        actor: Actor,
        action: str,
        kind: str,
        resource_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        request_id: str = "",
    ) -> AuditEvent:
        return self.audit.append(
            actor, action, kind, resource_id, before=before, after=after, request_id=request_id
        )

    def audit_events(
        self, actor: Actor, where: AuditFilter | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        self._require_admin(actor, "read the audit log")
        return self.audit.list(where, limit)

    def verify_audit(self, actor: Actor) -> AuditVerification:
        self._require_admin(actor, "verify the audit log")
        return self.audit.verify()

    def has_admin(self) -> bool:
        with self.db.read() as conn:
            return _sql.count_active_admins(conn) > 0

    # --- helpers --------------------------------------------------------------------

    @contextmanager
    def _connection(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.db.write() as own:
            yield own

    def _find(self, conn: Connection, name: str) -> Any:
        row = _sql.find_principal(conn, name)
        if row is None:
            raise ResourceNotFound(f"no account named {name!r}")
        return row

    def _no_later_than_own_token(
        self, conn: Connection, actor: Actor, expires_ms: int | None
    ) -> int | None:
        """A token minted with a token expires no later than the one in use."""
        if actor.token_id is None:
            return expires_ms
        row = _sql.find_token(conn, actor.token_id)
        limit = row["expires_ms"] if row is not None else None
        if limit is None:
            return expires_ms
        return limit if expires_ms is None else min(expires_ms, int(limit))

    def _require_self_or_admin(self, actor: Actor, name: str, what: str) -> None:
        """Refuse before any lookup, so a refusal never tells whether ``name`` exists."""
        if name not in (actor.name, actor.principal_id):
            self._require_admin(actor, what)

    def _require_admin(self, actor: Actor, what: str) -> None:
        if not is_admin(actor):
            how = f" with a {actor.scope.value!r} token" if actor.scope is not None else ""
            raise PermissionDenied(f"only admins may {what}; {actor.name!r}{how} is not one")

    def _keep_an_admin(
        self, conn: Connection, principal: Principal, role: Role | None, disabled: bool | None
    ) -> None:
        losing = (
            principal.role is Role.ADMIN
            and not principal.disabled
            and ((role is not None and role is not Role.ADMIN) or bool(disabled))
        )
        if losing and _sql.count_active_admins(conn) <= 1:
            raise InvalidState(
                f"{principal.name!r} is the last active admin; make another admin first"
            )


def _check_account_name(name: str) -> None:
    if not ACCOUNT_NAME.fullmatch(name):  # match() would let a trailing newline through
        raise InvalidParameter(
            f"invalid account name {name!r}: use 1 to 128 letters, digits and . _ @ + - "
            "(starting with a letter or digit)"
        )


def _account_state(principal: Principal) -> dict[str, Any]:
    return {
        "name": principal.name,
        "kind": principal.kind.value,
        "role": principal.role.value,
        "disabled": principal.disabled,
        "description": principal.description,
    }


def _token_state(token: ApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "account": token.principal_name,
        "scope": token.scope.value,
        "expires_ms": token.expires_ms,
        "revoked_ms": token.revoked_ms,
    }


def parse_duration_ms(text: str) -> int:
    """``"90d"``, ``"12h"``, ``"30m"`` or ``"45s"`` as milliseconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text)
    if not match:
        raise InvalidParameter(
            f"invalid duration {text!r}: use a number and s, m, h, d or w, e.g. 90d"
        )
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[match.group(2)]
    return int(match.group(1)) * unit * 1000
