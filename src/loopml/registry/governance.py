"""Release governance: alias policies, approvals, evaluations, gates and promotion.

Moving an alias is a release. An alias may carry a policy: an approval by
someone with MANAGE on the model (four eyes: not the requester), and gate
rules checked against the version's latest evaluation. ``promote`` checks
both and moves the alias in one transaction with the gate check it recorded,
the approval it consumed and its audit event. A failing gate blocks the move
unless an admin overrides it with a reason, which is audited; an approval
cannot be overridden. MLflow's set-alias goes through the same path, so the
``mlflow`` client cannot move a protected alias either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.auth.access import is_admin
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, InvalidState, PermissionDenied, ResourceNotFound
from loopml.core.ids import new_id
from loopml.registry import _sql_governance as g
from loopml.registry.entities import (
    AliasPolicy,
    Approval,
    ApprovalState,
    GateCheck,
    ModelVersion,
    StoredEvaluation,
    check_alias,
    check_model_name,
    parse_version,
)
from loopml.registry.gates import Gate, check_gates

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from loopml.registry.client import RegistryClient


@dataclass(frozen=True)
class Promotion:
    """What a promotion did: the version now behind the alias and the checks it passed."""

    version: ModelVersion
    alias: str
    previous: int | None
    gate_check: GateCheck | None
    approval: Approval | None


# --- policies -----------------------------------------------------------------------


def set_policy(
    client: RegistryClient,
    name: str,
    alias: str,
    *,
    require_approval: bool = False,
    four_eyes: bool = False,
    gates: Sequence[str] = (),
) -> AliasPolicy:
    """Configure what moving ``alias`` needs; gate rules are parsed now (bad syntax: 400)."""
    check_model_name(name)
    check_alias(alias)
    rules = [Gate(rule).rule for rule in gates]
    if four_eyes and not require_approval:
        raise InvalidParameter("four_eyes needs require_approval: there is no approver to check")
    policy = AliasPolicy(
        name, alias, require_approval, four_eyes, rules, now_ms(), client.actor.name
    )
    with client.store.change() as conn:
        client.store.get_model(name, conn=conn)
        before = g.get_policy(conn, name, alias)
        g.put_policy(conn, policy)
        client.store.audit(
            conn, client.actor, "registered_model.set_policy", name, client.request_id,
            before=before.to_dict() if before else None, after=policy.to_dict(),
        )  # fmt: skip
    return policy


def delete_policy(client: RegistryClient, name: str, alias: str) -> None:
    with client.store.change() as conn:
        before = g.get_policy(conn, name, alias)
        if before is None or not g.drop_policy(conn, name, alias):
            client.store.get_model(name, conn=conn)
            raise ResourceNotFound(f"alias {alias!r} of {name!r} has no policy")
        client.store.audit(
            conn, client.actor, "registered_model.delete_policy", name, client.request_id,
            before=before.to_dict(),
        )  # fmt: skip


def policies(client: RegistryClient, name: str) -> list[AliasPolicy]:
    with client.store.db.read() as conn:
        client.store.get_model(name, conn=conn)
        return g.list_policies(conn, name)


# --- approvals ---------------------------------------------------------------------


def request_approval(
    client: RegistryClient, name: str, version: int | str, alias: str, comment: str = ""
) -> Approval:
    number = parse_version(version)
    check_alias(alias)
    with client.store.change() as conn:
        client.store.get_version(name, number, conn=conn)
        approval = g.add_approval(conn, name, number, alias, client.actor.name, comment)
        client.store.audit(
            conn, client.actor, "model_version.request_approval", name, client.request_id,
            after=approval.to_dict(),
        )  # fmt: skip
    return approval


def decide(client: RegistryClient, approval_id: str, approve: bool, reason: str) -> Approval:
    """Approve or reject a pending request. The caller's MANAGE on the model is the
    route's (or the embedded user's) to check; the four-eyes rule is checked here."""
    if not approve and not reason.strip():
        raise InvalidParameter("a rejection needs a reason")
    with client.store.change() as conn:
        pending = g.get_approval(conn, approval_id, lock=True)
        if pending.state is not ApprovalState.PENDING:
            raise InvalidState(
                f"approval {approval_id} was already {pending.state.value} by {pending.decided_by}"
            )
        policy = g.get_policy(conn, pending.name, pending.alias)
        four_eyes = approve and policy is not None and policy.four_eyes
        if four_eyes and pending.requested_by == client.actor.name:
            raise PermissionDenied(
                f"alias {pending.alias!r} of {pending.name!r} needs four eyes: "
                f"{client.actor.name!r} requested this approval and may not approve it"
            )
        state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
        decided = g.decide_approval(conn, approval_id, state, client.actor.name, reason)
        action = "model_version.approve" if approve else "model_version.reject"
        client.store.audit(
            conn, client.actor, action, pending.name, client.request_id,
            before=pending.to_dict(), after=decided.to_dict(),
        )  # fmt: skip
    return decided


def approvals(
    client: RegistryClient, name: str, version: int | str | None = None
) -> list[Approval]:
    number = parse_version(version) if version is not None else None
    with client.store.db.read() as conn:
        client.store.get_model(name, conn=conn)
        return g.list_approvals(conn, name, number)


# --- evaluations ---------------------------------------------------------------------


def record_evaluation(
    client: RegistryClient,
    name: str,
    version: int | str,
    result: Mapping[str, Any],
    *,
    run_id: str | None = None,
    dataset: str = "",
) -> StoredEvaluation:
    """Keep an evaluation of a version: the mapping its aliases' gates are checked against."""
    number = parse_version(version)
    if not isinstance(result, Mapping):
        raise InvalidParameter("result must be a mapping of metric names to values")
    with client.store.change() as conn:
        client.store.get_version(name, number, conn=conn)
        stored = g.add_evaluation(
            conn, name, number, result, run_id=run_id, dataset=dataset,
            created_by=client.actor.name,
        )  # fmt: skip
        client.store.audit(
            conn, client.actor, "model_version.record_evaluation", name, client.request_id,
            after={"version": number, "evaluation_id": stored.evaluation_id, "run_id": run_id},
        )  # fmt: skip
    return stored


def evaluations(client: RegistryClient, name: str, version: int | str) -> list[StoredEvaluation]:
    number = parse_version(version)
    with client.store.db.read() as conn:
        client.store.get_version(name, number, conn=conn)
        return g.list_evaluations(conn, name, number)


def gate_checks(client: RegistryClient, name: str, version: int | str) -> list[GateCheck]:
    number = parse_version(version)
    with client.store.db.read() as conn:
        client.store.get_version(name, number, conn=conn)
        return g.list_gate_checks(conn, name, number)


# --- promotion --------------------------------------------------------------------


def promote(
    client: RegistryClient,
    name: str,
    version: int | str,
    alias: str,
    *,
    override_reason: str | None = None,
) -> Promotion:
    """Point ``alias`` at ``version`` if its policy allows; everything in one transaction.

    Raises:
        InvalidState: a gate failed (the message lists each rule with its values)
            or an approval is missing; nothing moved. The gate check is kept
            on the version even then, so a refused promotion leaves its reasons.
        PermissionDenied: ``override_reason`` from someone who is not an admin.
    """
    check_model_name(name)
    check_alias(alias)
    number = parse_version(version)
    if override_reason is not None:
        if not override_reason.strip():
            raise InvalidParameter("an override needs a reason")
        if not is_admin(client.actor):
            raise PermissionDenied(
                f"only admins may override release gates; {client.actor.name!r} is not one"
            )
    store = client.store
    with store.change() as conn:
        store.lock_model(conn, name)
        target = store.get_version(name, number, conn=conn)
        policy = g.get_policy(conn, name, alias)
        approval = _required_approval(conn, target, alias, policy)
        check = _check_gates(client, conn, target, alias, policy, override_reason)
        blocked = check is not None and not check.passed and check.overridden_by is None
        if not blocked:
            previous = _move_alias(client, conn, target, alias, check, approval, override_reason)
    if blocked:
        assert check is not None
        raise _refuse(client, check)
    return Promotion(store.get_version(name, number), alias, previous, check, approval)


def _check_gates(
    client: RegistryClient,
    conn: Connection,
    target: ModelVersion,
    alias: str,
    policy: AliasPolicy | None,
    override_reason: str | None,
) -> GateCheck | None:
    if policy is None or not policy.gates:
        return None
    found = g.list_evaluations(conn, target.name, target.version)
    latest = found[-1] if found else None
    if latest is None:
        results: list[dict[str, Any]] = [
            {
                "rule": rule,
                "passed": False,
                "left": None,
                "right": None,
                "message": f"{rule}: version {target.version} has no evaluation",
            }
            for rule in policy.gates
        ]
    else:
        results = [
            {
                "rule": r.rule,
                "passed": r.passed,
                "left": r.left,
                "right": r.right,
                "message": r.message,
            }
            for r in check_gates(policy.gates, latest.result)
        ]
    passed = all(r["passed"] for r in results)
    overridden = not passed and override_reason is not None
    return GateCheck(
        check_id=new_id(),
        name=target.name,
        version=target.version,
        alias=alias,
        evaluation_id=latest.evaluation_id if latest else None,
        passed=passed,
        results=results,
        overridden_by=client.actor.name if overridden else None,
        override_reason=override_reason or "" if overridden else "",
        created_ms=now_ms(),
        created_by=client.actor.name,
    )


def _move_alias(
    client: RegistryClient,
    conn: Connection,
    target: ModelVersion,
    alias: str,
    check: GateCheck | None,
    approval: Approval | None,
    override_reason: str | None,
) -> int | None:
    previous = client.store.write_alias(conn, target.name, alias, target.version, client.actor)
    client.store.audit(
        conn, client.actor, "registered_model.set_alias", target.name, client.request_id,
        before={"alias": alias, "version": previous},
        after={
            "alias": alias,
            "version": target.version,
            "gate_check": check.check_id if check else None,
            "override_reason": override_reason if check and check.overridden_by else None,
            "approval": approval.approval_id if approval else None,
        },
    )  # fmt: skip
    if check is not None:
        g.add_gate_check(conn, check)
    return previous


def _required_approval(
    conn: Connection, target: ModelVersion, alias: str, policy: AliasPolicy | None
) -> Approval | None:
    if policy is None or not policy.require_approval:
        return None
    found = [
        a
        for a in g.list_approvals(conn, target.name, target.version, alias)
        if a.state is ApprovalState.APPROVED
    ]
    if not found:
        raise InvalidState(
            f"alias {alias!r} of {target.name!r} needs an approval of version "
            f"{target.version}: request one (loopml models request-approval) and have a "
            "manager of the model approve it"
        )
    return found[-1]


def _refuse(client: RegistryClient, check: GateCheck) -> InvalidState:
    """Keep a refused promotion's gate check and audit it; the alias did not move."""
    failed = [r["message"] for r in check.results if not r["passed"]]
    refusal = InvalidState(
        f"version {check.version} of {check.name!r} fails the gates of alias {check.alias!r}: "
        + "; ".join(failed)
        + ". Nothing changed; an admin may override with a reason."
    )
    with client.store.change() as conn:
        g.add_gate_check(conn, check)
        client.store.audit(
            conn, client.actor, "model_version.gates_failed", check.name, client.request_id,
            after={"version": check.version, "alias": check.alias, "check_id": check.check_id,
                   "message": refusal.message},
        )  # fmt: skip
    return refusal
