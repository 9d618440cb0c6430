"""Alias policies, approvals, evaluations and gate checks in the metadata database.

The primitives take an open connection where a promotion needs them in one
transaction with the alias move (``RegistryClient.promote``): the approval it
consumes, the gate check it records and the alias it writes commit together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from loopml.core.clock import now_ms
from loopml.core.errors import ResourceNotFound
from loopml.core.ids import new_id
from loopml.registry.entities import (
    AliasPolicy,
    Approval,
    ApprovalState,
    GateCheck,
    StoredEvaluation,
)
from loopml.store.tables import (
    alias_policies,
    model_approvals,
    model_evaluations,
    model_gate_checks,
)


def _approval(row: Mapping[Any, Any]) -> Approval:
    return Approval(
        approval_id=row["approval_id"],
        name=row["name"],
        version=int(row["version"]),
        alias=row["alias"],
        state=ApprovalState(row["state"]),
        requested_by=row["requested_by"],
        requested_ms=int(row["requested_ms"]),
        comment=row["comment"],
        decided_by=row["decided_by"],
        decided_ms=int(row["decided_ms"]) if row["decided_ms"] is not None else None,
        reason=row["reason"],
    )


def _evaluation(row: Mapping[Any, Any]) -> StoredEvaluation:
    return StoredEvaluation(
        evaluation_id=row["evaluation_id"],
        name=row["name"],
        version=int(row["version"]),
        run_id=row["run_id"],
        dataset=row["dataset"],
        result=json.loads(row["result"]),
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
    )


def _gate_check(row: Mapping[Any, Any]) -> GateCheck:
    return GateCheck(
        check_id=row["check_id"],
        name=row["name"],
        version=int(row["version"]),
        alias=row["alias"],
        evaluation_id=row["evaluation_id"],
        passed=bool(row["passed"]),
        results=json.loads(row["results"]),
        overridden_by=row["overridden_by"],
        override_reason=row["override_reason"],
        created_ms=int(row["created_ms"]),
        created_by=row["created_by"],
    )


# --- alias policies ----------------------------------------------------------------


def get_policy(conn: Connection, name: str, alias: str) -> AliasPolicy | None:
    row = (
        conn.execute(
            select(alias_policies).where(
                alias_policies.c.name == name, alias_policies.c.alias == alias
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return AliasPolicy(
        name=row["name"],
        alias=row["alias"],
        require_approval=bool(row["require_approval"]),
        four_eyes=bool(row["four_eyes"]),
        gates=json.loads(row["gates"]),
        updated_ms=int(row["updated_ms"]),
        updated_by=row["updated_by"],
    )


def list_policies(conn: Connection, name: str) -> list[AliasPolicy]:
    aliases = conn.execute(
        select(alias_policies.c.alias)
        .where(alias_policies.c.name == name)
        .order_by(alias_policies.c.alias)
    ).scalars()
    return [p for a in list(aliases) if (p := get_policy(conn, name, a)) is not None]


def put_policy(conn: Connection, policy: AliasPolicy) -> None:
    conn.execute(
        delete(alias_policies).where(
            alias_policies.c.name == policy.name, alias_policies.c.alias == policy.alias
        )
    )
    conn.execute(
        insert(alias_policies).values(
            name=policy.name,
            alias=policy.alias,
            require_approval=policy.require_approval,
            four_eyes=policy.four_eyes,
            gates=json.dumps(policy.gates),
            updated_ms=policy.updated_ms,
            updated_by=policy.updated_by,
        )
    )


def drop_policy(conn: Connection, name: str, alias: str) -> bool:
    result = conn.execute(
        delete(alias_policies).where(alias_policies.c.name == name, alias_policies.c.alias == alias)
    )
    return bool(result.rowcount)


# --- approvals ---------------------------------------------------------------------


def add_approval(
    conn: Connection, name: str, version: int, alias: str, requested_by: str, comment: str
) -> Approval:
    row = {
        "approval_id": new_id(),
        "name": name,
        "version": version,
        "alias": alias,
        "state": ApprovalState.PENDING.value,
        "requested_by": requested_by,
        "requested_ms": now_ms(),
        "comment": comment,
        "decided_by": None,
        "decided_ms": None,
        "reason": "",
    }
    conn.execute(insert(model_approvals).values(**row))
    return _approval(row)


def get_approval(conn: Connection, approval_id: str, *, lock: bool = False) -> Approval:
    query = select(model_approvals).where(model_approvals.c.approval_id == approval_id)
    row = conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise ResourceNotFound(f"no approval request {approval_id!r}")
    return _approval(row)


def decide_approval(
    conn: Connection, approval_id: str, state: ApprovalState, decided_by: str, reason: str
) -> Approval:
    conn.execute(
        update(model_approvals)
        .where(model_approvals.c.approval_id == approval_id)
        .values(state=state.value, decided_by=decided_by, decided_ms=now_ms(), reason=reason)
    )
    return get_approval(conn, approval_id)


def list_approvals(
    conn: Connection, name: str, version: int | None = None, alias: str | None = None
) -> list[Approval]:
    query = select(model_approvals).where(model_approvals.c.name == name)
    if version is not None:
        query = query.where(model_approvals.c.version == version)
    if alias is not None:
        query = query.where(model_approvals.c.alias == alias)
    rows = conn.execute(query.order_by(model_approvals.c.requested_ms)).mappings()
    return [_approval(r) for r in rows]


# --- evaluations and gate checks -------------------------------------------------------


def add_evaluation(
    conn: Connection,
    name: str,
    version: int,
    result: Mapping[Any, Any],
    *,
    run_id: str | None,
    dataset: str,
    created_by: str,
) -> StoredEvaluation:
    row = {
        "evaluation_id": new_id(),
        "name": name,
        "version": version,
        "run_id": run_id,
        "dataset": dataset,
        "result": json.dumps(result, allow_nan=True),
        "created_ms": now_ms(),
        "created_by": created_by,
    }
    conn.execute(insert(model_evaluations).values(**row))
    return _evaluation(row)


def list_evaluations(conn: Connection, name: str, version: int) -> list[StoredEvaluation]:
    rows = conn.execute(
        select(model_evaluations)
        .where(model_evaluations.c.name == name, model_evaluations.c.version == version)
        .order_by(model_evaluations.c.created_ms, model_evaluations.c.evaluation_id)
    ).mappings()
    return [_evaluation(r) for r in rows]


def add_gate_check(conn: Connection, check: GateCheck) -> None:
    conn.execute(
        insert(model_gate_checks).values(
            **{**check.to_dict(), "results": json.dumps(check.results, allow_nan=True)}
        )
    )


def list_gate_checks(conn: Connection, name: str, version: int) -> list[GateCheck]:
    rows = conn.execute(
        select(model_gate_checks)
        .where(model_gate_checks.c.name == name, model_gate_checks.c.version == version)
        .order_by(model_gate_checks.c.created_ms, model_gate_checks.c.check_id)
    ).mappings()
    return [_gate_check(r) for r in rows]
