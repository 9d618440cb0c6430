"""The closed loop at small scale: an alert retrains, the gates pass, the canary proves
itself on labelled traffic, the alias moves; and each way it can go wrong.

Every test drives the real pieces: the policy scheduler and its persisted state
machine, a pipeline that trains and registers, ``loopml.evaluate`` against the
champion, the endpoint's routes, the serving app's prediction log, late labels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from loopml.auth import AuditFilter, local_actor
from loopml.automation import Policy, PolicyScheduler
from loopml.core.clock import now_ms
from loopml.core.errors import InvalidParameter, InvalidState

if TYPE_CHECKING:
    from tests.automation.conftest import World


def fire_alert(
    world: World, alert_id: str, *, monitor: str = "clf-watch", rule: str = "drift"
) -> None:
    """A drift alert that started firing now on the watched monitor."""
    from loopml.monitoring._sql_alerts import SqlAlertStore
    from loopml.monitoring.alerts import Alert

    at = now_ms()
    alert = Alert(alert_id, rule, monitor, "share_drifted", "warning", "firing", 0.6, 0.3,
                  "drifted", at, at, window_end_ms=at)  # fmt: skip
    SqlAlertStore(world.store.db).put_alert(alert)


def states(world: World, run_id: str) -> list[str]:
    return [t.to_state for t in world.store.transitions(run_id)]


def champion(world: World) -> int:
    return world.client.registry.get_model_version_by_alias("clf", "champion").version


def routes(world: World) -> list[str]:
    return [r.name for r in world.endpoints.get("clf-api").config.routes]


def test_an_alert_retrains_gates_canaries_and_promotes(
    world: World, make_policy: Callable[..., Policy]
) -> None:
    world.store.create(make_policy(), local_actor())
    fire_alert(world, "a1")
    scheduler = world.scheduler()
    [run] = scheduler.run_due()
    assert run.state == "canary"  # trained, evaluated, gated; now waiting for traffic
    assert run.trigger["reason"] == "alert:clf-watch/drift"
    assert run.data["candidate"] == "models:/clf/2"
    assert routes(world) == ["main", "canary"]
    assert scheduler.run_due()[0].state == "canary"  # no traffic yet: it waits

    answered = world.serve(world.table(120, 3), "good")
    assert set(answered) == {"1", "2"}  # both the champion and the canary answered
    [done] = scheduler.run_due()
    assert done.state == "promoted"
    assert states(world, run.run_id) == ["triggered", "training", "gating", "canary", "promoted"]
    assert champion(world) == 2
    assert routes(world) == ["main"]  # the canary route is gone; main follows @champion
    assert done.data["canary"]["requests"] >= 20
    assert done.data["canary"]["labelled"] > 0

    audit = world.client.auth.audit_events(AuditFilter(), limit=500)  # type: ignore[attr-defined]
    actions = [e.action for e in reversed(audit)]
    assert actions.count("policy.transition") == 4
    assert "policy.run" in actions
    aliases = [e for e in audit if e.action == "registered_model.set_alias"]
    assert [e.after["version"] for e in reversed(aliases)] == [1, 2]  # the alias history
    endpoint_changes = [e for e in audit if e.action.startswith("endpoint.")]
    assert len(endpoint_changes) == 3  # made, canary added, canary removed

    from loopml.registry.lineage import version_lineage

    lineage = version_lineage(world.client, "clf", 2)
    text = lineage.render_text() if hasattr(lineage, "render_text") else str(lineage.to_dict())
    assert "data:train@2" in text  # the new champion traces back to the data it learned from


def test_a_bad_retrain_is_rejected_by_the_gates_and_the_champion_stays(
    world: World, make_policy: Callable[..., Policy]
) -> None:
    bad = make_policy(action={"pipeline": "loop_flows:retrain", "params": {"quality": "bad"}})
    world.store.create(bad, local_actor())
    run = world.scheduler().trigger("clf-retrain")
    assert run.state == "rejected"
    assert states(world, run.run_id) == ["triggered", "training", "gating", "rejected"]
    assert [g["passed"] for g in run.data["gates"]] == [False]
    assert "accuracy" in world.store.transitions(run.run_id)[-1].detail
    assert champion(world) == 1
    assert routes(world) == ["main"]  # the endpoint was never touched


def test_a_canary_that_degrades_online_is_rolled_back(
    world: World, make_policy: Callable[..., Policy]
) -> None:
    risky = make_policy(
        action={"pipeline": "loop_flows:retrain", "params": {"quality": "bad"}},
        gates={"rules": ["accuracy >= 0"]},  # offline it passes; online the guard catches it
    )
    world.store.create(risky, local_actor())
    scheduler = world.scheduler()
    run = scheduler.trigger("clf-retrain")
    assert run.state == "canary"
    world.serve(world.table(120, 4), "risky")
    [done] = scheduler.run_due()
    assert done.state == "rolled back"
    assert "accuracy >= baseline.accuracy - 0.1" in world.store.transitions(run.run_id)[-1].detail
    assert champion(world) == 1
    assert routes(world) == ["main"]
    assert done.data["canary"]["accuracy"] < done.data["canary"]["baseline"]["accuracy"]


def test_a_restart_in_the_middle_of_a_canary_resumes_it(
    world: World, make_policy: Callable[..., Policy]
) -> None:
    world.store.create(make_policy(), local_actor())
    run = world.scheduler().trigger("clf-retrain")
    assert run.state == "canary"
    world.client.close()
    restarted = world.restarted()  # a new process: new connections, nothing in memory
    restarted.serve(restarted.table(120, 5), "after-restart")
    [done] = restarted.scheduler().run_due()
    assert done.run_id == run.run_id
    assert done.state == "promoted"
    assert states(restarted, run.run_id)[-2:] == ["canary", "promoted"]
    assert champion(restarted) == 2


def test_simultaneous_triggers_on_two_workers_start_one_run(
    world: World, make_policy: Callable[..., Policy]
) -> None:
    world.store.create(make_policy(), local_actor())
    fire_alert(world, "together")
    world.client.data.add("train", world.table(2000, 9))  # a new version arrives at the same time
    workers = [world.restarted().scheduler(), world.restarted().scheduler()]
    started: list[Any] = []
    barrier = threading.Barrier(2)

    def tick(scheduler: PolicyScheduler) -> None:
        barrier.wait()
        started.extend(scheduler.run_due())

    threads = [threading.Thread(target=tick, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    runs = world.store.runs("clf-retrain")
    assert len(runs) == 1
    assert runs[0].state == "canary"
    assert workers[0].run_due()[0].run_id == runs[0].run_id  # later ticks: the same run
    with pytest.raises(InvalidState, match="already has a run in flight"):
        workers[0].trigger("clf-retrain")


def test_a_failing_pipeline_ends_failed_and_notified(
    world: World, make_policy: Callable[..., Policy], caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_policy(
        action={"pipeline": "loop_flows:retrain", "params": {"data": "data:nope@1"}}
    )
    world.store.create(broken, local_actor())
    run = world.scheduler().trigger("clf-retrain")
    assert run.state == "failed"
    assert "nope" in world.store.transitions(run.run_id)[-1].detail
    assert "training -> failed" in caplog.text  # through the log notifier
    assert champion(world) == 1


def test_policies_are_checked_whole_naming_the_field(make_policy: Callable[..., Policy]) -> None:
    from loopml.automation import load_policy

    with pytest.raises(InvalidParameter, match=r"rollout\.weight must be between 0 and 100"):
        make_policy(rollout={"weight": 100})
    with pytest.raises(InvalidParameter, match="trigger 'webhook:x' must be"):
        make_policy(triggers=["webhook:x"])
    with pytest.raises(InvalidParameter, match=r"gates\.data 'holdout' must be data:NAME@VERSION"):
        make_policy(gates={"data": "holdout"})
    with pytest.raises(InvalidParameter, match=r"rollout: unknown field\(s\) wieght"):
        make_policy(rollout={"wieght": 5})
    with pytest.raises(InvalidParameter, match=r"limits\.cooldown_s must be a number"):
        make_policy(limits={"cooldown_s": "1h"})
    with pytest.raises(InvalidParameter, match="unexpected '>=' \\(at column 11\\)"):
        make_policy(gates={"rules": ["accuracy >>= 1"]})
    with pytest.raises(InvalidParameter, match="policy: gates is required"):
        load_policy("name: p\nendpoint: e\nmodel: m\naction: {pipeline: 'a:b'}\n")
