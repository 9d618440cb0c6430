"""Rows of the access-control tables, read and written on a caller's connection.

The service composes these inside one transaction together with the audit
event, so a change and its record commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    bindparam,
    cast,
    delete,
    insert,
    select,
    update,
)

from loopml.auth.entities import ApiToken, Grant, Permission, Principal, PrincipalKind, Role, Scope
from loopml.store.tables import api_tokens, principals, resource_permissions
from loopml.store.upsert import insert_on_conflict


def principal_from_row(row: Mapping[Any, Any]) -> Principal:
    return Principal(
        principal_id=row["principal_id"],
        name=row["name"],
        kind=PrincipalKind(row["kind"]),
        role=Role(row["role"]),
        description=row["description"] or "",
        disabled=bool(row["disabled"]),
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
        updated_ms=int(row["updated_ms"]),
    )


def token_from_row(row: Mapping[Any, Any]) -> ApiToken:
    return ApiToken(
        token_id=row["token_id"],
        principal_id=row["principal_id"],
        principal_name=row["principal_name"],
        name=row["name"],
        scope=Scope(row["scope"]),
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
        expires_ms=row["expires_ms"],
        revoked_ms=row["revoked_ms"],
        last_used_ms=row["last_used_ms"],
    )


def find_principal(conn: Connection, name_or_id: str) -> Mapping[Any, Any] | None:
    """The row (password hash included) of the account named or identified so."""
    row = conn.execute(select(principals).where(principals.c.name == name_or_id)).first()
    if row is None:
        row = conn.execute(
            select(principals).where(principals.c.principal_id == name_or_id)
        ).first()
    return row._mapping if row is not None else None


def insert_principal(conn: Connection, values: Mapping[Any, Any]) -> None:
    conn.execute(insert(principals).values(**values))


def update_principal(conn: Connection, principal_id: str, values: Mapping[Any, Any]) -> None:
    conn.execute(
        update(principals).where(principals.c.principal_id == principal_id).values(**values)
    )


def delete_principal(conn: Connection, principal_id: str) -> None:
    # Explicit deletes: SQLite only cascades with foreign keys on, and being explicit costs nothing.
    conn.execute(delete(api_tokens).where(api_tokens.c.principal_id == principal_id))
    conn.execute(
        delete(resource_permissions).where(resource_permissions.c.principal_id == principal_id)
    )
    conn.execute(delete(principals).where(principals.c.principal_id == principal_id))


def list_principals(conn: Connection, kind: PrincipalKind | None) -> list[Principal]:
    query = select(principals).order_by(principals.c.name)
    if kind is not None:
        query = query.where(principals.c.kind == kind.value)
    return [principal_from_row(row._mapping) for row in conn.execute(query)]


def count_active_admins(conn: Connection) -> int:
    query = select(principals.c.principal_id).where(
        and_(principals.c.role == Role.ADMIN.value, principals.c.disabled.is_(False))
    )
    return len(conn.execute(query).all())


_TOKEN_COLUMNS = (*api_tokens.c, principals.c.name.label("principal_name"))


def _tokens() -> Select[Any]:
    return select(*_TOKEN_COLUMNS).join(
        principals, principals.c.principal_id == api_tokens.c.principal_id
    )


_OWNER_COLUMNS = [column.label(f"owner_{column.name}") for column in principals.c]
# Built once: a token is looked up on every authenticated request.
_TOKEN_AND_OWNER = (
    select(*_TOKEN_COLUMNS, *_OWNER_COLUMNS)
    .join(principals, principals.c.principal_id == api_tokens.c.principal_id)
    .where(api_tokens.c.token_id == bindparam("token_id"))
)
_GRANTED = select(resource_permissions.c.permission).where(
    resource_permissions.c.principal_id == bindparam("principal_id"),
    resource_permissions.c.resource_kind == bindparam("kind"),
    resource_permissions.c.resource_id == bindparam("resource_id"),
)


def find_token_and_owner(
    conn: Connection, token_id: str
) -> tuple[Mapping[Any, Any], Principal] | None:
    """A token's row (with its secret hash) and its owner, in one query."""
    row = conn.execute(_TOKEN_AND_OWNER, {"token_id": token_id}).first()
    if row is None:
        return None
    fields = row._mapping
    owner = {column.name: fields[f"owner_{column.name}"] for column in principals.c}
    return fields, principal_from_row(owner)


def insert_token(conn: Connection, values: Mapping[Any, Any]) -> None:
    conn.execute(insert(api_tokens).values(**values))


def find_token(conn: Connection, token_id: str) -> Mapping[Any, Any] | None:
    row = conn.execute(_tokens().where(api_tokens.c.token_id == token_id)).first()
    return row._mapping if row is not None else None


def list_tokens(conn: Connection, principal_id: str | None) -> list[ApiToken]:
    query = _tokens().order_by(api_tokens.c.created_ms, api_tokens.c.token_id)
    if principal_id is not None:
        query = query.where(api_tokens.c.principal_id == principal_id)
    return [token_from_row(row._mapping) for row in conn.execute(query)]


def set_token_times(conn: Connection, token_id: str, **times: int) -> None:
    conn.execute(update(api_tokens).where(api_tokens.c.token_id == token_id).values(**times))


def granted(conn: Connection, principal_id: str, kind: str, resource_id: str) -> Permission | None:
    value = conn.execute(
        _GRANTED, {"principal_id": principal_id, "kind": kind, "resource_id": resource_id}
    ).scalar_one_or_none()
    return Permission(value) if value is not None else None


def upsert_grant(conn: Connection, values: Mapping[Any, Any]) -> None:
    statement = insert_on_conflict(conn, resource_permissions).values(**values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["principal_id", "resource_kind", "resource_id"],
            set_={
                "permission": statement.excluded.permission,
                "granted_ms": statement.excluded.granted_ms,
                "granted_by": statement.excluded.granted_by,
            },
        )
    )


def delete_grant(conn: Connection, principal_id: str, kind: str, resource_id: str) -> None:
    conn.execute(
        delete(resource_permissions).where(
            resource_permissions.c.principal_id == principal_id,
            resource_permissions.c.resource_kind == kind,
            resource_permissions.c.resource_id == resource_id,
        )
    )


def list_grants(
    conn: Connection, kind: str | None, resource_id: str | None, principal_id: str | None
) -> list[Grant]:
    query = (
        select(*resource_permissions.c, principals.c.name.label("principal_name"))
        .join(principals, principals.c.principal_id == resource_permissions.c.principal_id)
        .order_by(
            resource_permissions.c.resource_kind,
            resource_permissions.c.resource_id,
            principals.c.name,
        )
    )
    if kind is not None:
        query = query.where(resource_permissions.c.resource_kind == kind)
    if resource_id is not None:
        query = query.where(resource_permissions.c.resource_id == resource_id)
    if principal_id is not None:
        query = query.where(resource_permissions.c.principal_id == principal_id)
    return [
        Grant(
            principal_id=row.principal_id,
            principal_name=row.principal_name,
            resource_kind=row.resource_kind,
            resource_id=row.resource_id,
            permission=Permission(row.permission),
            granted_ms=int(row.granted_ms),
            granted_by=row.granted_by,
        )
        for row in conn.execute(query)
    ]


def granted_ids(principal_id: str, kind: str, at_least: Permission) -> Select[Any]:
    """The ids of ``kind`` resources granted to ``principal_id`` at ``at_least`` or more."""
    levels = [p.value for p in Permission if p.rank >= at_least.rank]
    return select(resource_permissions.c.resource_id).where(
        resource_permissions.c.principal_id == principal_id,
        resource_permissions.c.resource_kind == kind,
        resource_permissions.c.permission.in_(levels),
    )


def id_in_granted(
    column: ColumnElement[Any], principal_id: str, kind: str, at_least: Permission
) -> ColumnElement[bool]:
    """A WHERE clause keeping rows whose ``column`` (any type) is a granted id."""
    return cast(column, String).in_(granted_ids(principal_id, kind, at_least))
