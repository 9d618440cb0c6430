"""A policy run's state machine: one step per call, every step persisted.

::

    triggered -> training -> gating -> canary -> promoted
                    |           |         |  \\-> awaiting approval -> promoted
                    v           v         v                |
                  failed     rejected  rolled back  <------/  (approval refused)

Each call to :meth:`PolicyRunner.advance` does the work of the state the run is
in and moves it on with a compare-and-swap, so a server that stops between
two calls resumes where it stopped: ``training`` reruns its pipeline (its
cache makes the finished steps free), ``canary`` goes on counting the traffic
since the canary started. Every transition is audited by the store and sent
through the alert notifiers (the log, and the policy's webhooks). Whatever
goes wrong, the champion keeps serving: a failure after the canary started
puts the endpoint's routes back as they were.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import asdict, dataclass
from typing import Any

from loopml.auth import Actor
from loopml.automation.guards import CANARY_ROUTE, judge, route_numbers
from loopml.automation.policies import Policy
from loopml.automation.store import PolicyRun, PolicyStore
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, LoopmlError

logger = logging.getLogger("loopml.automation")


@dataclass
class PolicyRunner:
    """Advances policy runs with a loopml ``client`` (tracking, registry, data) as ``actor``."""

    store: PolicyStore
    client: Any
    endpoints: Any  # loopml.serving.endpoints.EndpointsClient
    actor: Actor

    def advance(self, run: PolicyRun) -> PolicyRun:
        """Do the current state's work once; return the run as it is now."""
        if run.done:
            return run
        policy = self.store.get(run.policy).policy
        step = getattr(self, "_" + run.state.replace(" ", "_"))
        try:
            moved: PolicyRun = step(policy, run)
        except Exception as error:  # one run's failure must never stop the scheduler
            logger.exception("policy %s run %s failed in %s", policy.name, run.run_id, run.state)
            return self._fail(policy, run, error)
        return moved

    def run_to_rest(self, run: PolicyRun, *, max_steps: int = 20) -> PolicyRun:
        """Advance until the run is done or waits on the world (canary traffic, approval)."""
        for _ in range(max_steps):
            before = run.state
            run = self.advance(run)
            if run.done or run.state == before:
                return run
        return run

    # --- states -------------------------------------------------------------------------

    def _triggered(self, policy: Policy, run: PolicyRun) -> PolicyRun:
        return self._move(policy, run, "training", detail=f"pipeline {policy.action.pipeline}")

    def _training(self, policy: Policy, run: PolicyRun) -> PolicyRun:
        from loopml.pipelines.targets import load_target

        pipeline = load_target(policy.action.pipeline)
        done = pipeline.run(
            policy.action.params,
            executor=policy.action.executor,
            client=self.client,
            target=policy.action.pipeline,
            tags={"loopml.policy": policy.name, "loopml.policy.run": run.run_id},
        )
        if done.status != "FINISHED":
            try:
                done.raise_for_status()
            except LoopmlError as error:  # names each failed step and its error
                return self._move(
                    policy, run, "failed", {"pipeline_run": done.run_id}, error.message
                )
        candidate = _candidate(done.result(), policy)
        data = {"pipeline_run": done.run_id, "candidate": candidate}
        return self._move(policy, run, "gating", data, f"candidate {candidate}")

    def _gating(self, policy: Policy, run: PolicyRun) -> PolicyRun:
        from loopml.evaluation.workflow import evaluate
        from loopml.registry.gates import check_gates

        gates = policy.gates
        evaluation = evaluate(
            self.client, run.data["candidate"], gates.data, target=gates.target,
            task=gates.task, segments=gates.segments, sensitive=gates.sensitive,
            baseline=f"models:/{policy.model}@{policy.alias}",
        )  # fmt: skip
        results = check_gates(list(gates.rules), evaluation.values())
        checks = [asdict(r) for r in results]
        data = {"evaluation_run": evaluation.run_id, "gates": checks}
        failed = [r.message for r in results if not r.passed]
        if failed:
            return self._move(policy, run, "rejected", data, "; ".join(failed))
        return self._start_canary(policy, run, data)

    def _start_canary(self, policy: Policy, run: PolicyRun, data: dict[str, Any]) -> PolicyRun:
        from loopml.serving.entities import EndpointConfig, Route

        current = self.endpoints.get(policy.endpoint)
        before = current.config
        share = 1 - policy.rollout.weight / 100
        routes = [Route(r.name, r.model, r.weight * share) for r in before.routes]
        routes.append(Route(CANARY_ROUTE, run.data["candidate"], _total(before) * (1 - share)))
        config = EndpointConfig(routes, before.shadows, before.sticky,
                                before.max_batch_size, before.max_batch_delay_ms)  # fmt: skip
        self.endpoints.update(
            policy.endpoint, config, comment=f"policy {policy.name}: canary {run.data['candidate']}"
        )
        data = {**data, "routes_before": _routes(before), "canary_started_ms": now_ms()}
        detail = f"{policy.rollout.weight:g}% of {policy.endpoint} to {run.data['candidate']}"
        return self._move(policy, run, "canary", data, detail)

    def _canary(self, policy: Policy, run: PolicyRun) -> PolicyRun:
        rollout = policy.rollout
        started = int(run.data["canary_started_ms"])
        now = now_ms()
        numbers = route_numbers(
            self.client.artifacts, policy.endpoint, started, now + 1, policy.gates.task
        )
        verdict = judge(rollout.guards, numbers)
        run = self.store.save(run, {"canary": numbers})
        elapsed_s = (now - started) / 1000
        enough = numbers.get("requests", 0) >= rollout.min_requests
        if enough and verdict.failed:
            return self._end_canary(policy, run, "rolled back", "; ".join(verdict.failed))
        if enough and verdict.passed and elapsed_s >= rollout.min_duration_s:
            if policy.limits.approval:
                return self._await_approval(policy, run)
            return self._promote(policy, run)
        if elapsed_s >= rollout.max_duration_s:
            why = "not enough traffic" if not enough else "; ".join(verdict.undecided)
            return self._end_canary(policy, run, "rolled back", f"canary timed out: {why}")
        return run  # waiting for traffic, time or labels

    def _await_approval(self, policy: Policy, run: PolicyRun) -> PolicyRun:
        name, version = _name_version(run.data["candidate"])
        approval = self.client.registry.request_approval(
            name, version, policy.alias, f"policy {policy.name} run {run.run_id}: canary passed"
        )
        data = {"approval_id": approval.approval_id}
        return self._move(
            policy, run, "awaiting approval", data, f"approval {approval.approval_id}"
        )

    def _awaiting_approval(self, policy: Policy, run: PolicyRun) -> PolicyRun:
        name, version = _name_version(run.data["candidate"])
        found = [a for a in self.client.registry.approvals(name, version)
                 if a.approval_id == run.data["approval_id"]]  # fmt: skip
        state = found[0].state if found else "missing"
        if state == "approved":
            return self._promote(policy, run)
        if state in ("rejected", "missing"):
            return self._end_canary(policy, run, "rolled back", f"approval {state}")
        return run

    def _promote(self, policy: Policy, run: PolicyRun) -> PolicyRun:
        name, version = _name_version(run.data["candidate"])
        self.client.registry.promote(name, version, policy.alias)
        return self._end_canary(
            policy, run, "promoted", f"{policy.alias} -> {run.data['candidate']}"
        )

    def _end_canary(self, policy: Policy, run: PolicyRun, state: str, detail: str) -> PolicyRun:
        self._restore_routes(policy, run)
        return self._move(policy, run, state, None, detail)

    def _restore_routes(self, policy: Policy, run: PolicyRun) -> None:
        """Put the endpoint's routes back as they were before the canary (if it started)."""
        from loopml.serving.entities import Route

        before = run.data.get("routes_before")
        if not before:
            return
        current = self.endpoints.get(policy.endpoint).config
        if all(r.name != CANARY_ROUTE for r in current.routes):
            return  # already restored (a retry after a crash)
        routes = [Route(**r) for r in before]
        config = type(current)(routes, current.shadows, current.sticky,
                               current.max_batch_size, current.max_batch_delay_ms)  # fmt: skip
        self.endpoints.update(policy.endpoint, config, comment=f"policy {policy.name}: canary ends")

    def _fail(self, policy: Policy, run: PolicyRun, error: Exception) -> PolicyRun:
        detail = f"{type(error).__name__}: {error}"
        try:
            self._restore_routes(policy, self.store.get_run(run.run_id))
        except Exception:
            logger.exception("restoring %s's routes failed", policy.endpoint)
        current = self.store.get_run(run.run_id)
        if current.done:
            return current
        data = {"error": detail, "traceback": traceback.format_exc(limit=5)}
        return self._move(policy, current, "failed", data, detail)

    # --- moves --------------------------------------------------------------------------

    def _move(
        self,
        policy: Policy,
        run: PolicyRun,
        state: str,
        data: dict[str, Any] | None = None,
        detail: str = "",
    ) -> PolicyRun:
        before = run.state
        moved = self.store.transition(run, state, self.actor, data=data, detail=detail)
        notify(policy, moved, before, detail)
        return moved


def notify(policy: Policy, run: PolicyRun, before: str, detail: str) -> None:
    """Send a transition through the alert notifiers: the log, and the policy's webhooks."""
    from loopml.monitoring.alerts import Alert
    from loopml.monitoring.notifiers import Dispatcher, LogNotifier, Notifier, WebhookNotifier
    from loopml.monitoring.runner import url_allowlist

    notifiers: list[Notifier] = [LogNotifier()]
    notifiers += [WebhookNotifier(url, allowlist=url_allowlist()) for url in policy.notify]
    bad = run.state in ("rejected", "rolled back", "failed")
    at = now_ms()
    event = Alert(
        alert_id=f"{run.run_id}-{run.state.replace(' ', '-')}", rule=f"policy.{run.state}",
        monitor=policy.name, subject=run.run_id, severity="warning" if bad else "info",
        state="firing" if bad else "resolved", value=0.0, threshold=0.0,
        message=f"policy {policy.name} run {run.run_id}: {before} -> {run.state}"
        + (f" ({detail})" if detail else ""),
        started_ms=run.created_ms, updated_ms=at,
        labels={"kind": "policy", "from": before, "to": run.state, "endpoint": policy.endpoint},
    )  # fmt: skip
    Dispatcher(notifiers).dispatch(event)


def _candidate(result: Any, policy: Policy) -> str:
    """The pipeline's answer must be ``models:/<policy.model>/<version>``."""
    uri = result[0] if isinstance(result, list | tuple) and result else result
    if not isinstance(uri, str) or not uri.startswith(f"models:/{policy.model}/"):
        raise InvalidParameter(
            f"pipeline {policy.action.pipeline} must return models:/{policy.model}/VERSION "
            f"(the candidate it registered), got {uri!r}"
        )
    _name_version(uri)
    return uri


def _name_version(uri: str) -> tuple[str, int]:
    name, _, version = uri.removeprefix("models:/").rpartition("/")
    if not version.isdigit():
        raise InvalidParameter(f"candidate {uri!r} must name a version: models:/NAME/VERSION")
    return name, int(version)


def _routes(config: Any) -> list[dict[str, Any]]:
    return [r.to_dict() for r in config.routes]


def _total(config: Any) -> float:
    return float(sum(r.weight for r in config.routes))
