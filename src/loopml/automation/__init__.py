"""Continuous training: policies that retrain, gate, canary and promote on their own.

A :class:`Policy` says when to retrain (alerts, new data, a schedule, a
manual call), how (a pipeline), what proves the candidate better (gates on a
holdout against the champion), and how to roll it out (a guarded canary,
optional approval). The :class:`PolicyScheduler` (run by ``loopml server``
with ``LOOPML_SCHEDULER=true``) starts runs and advances each through its
persisted state machine (:mod:`loopml.automation.runner`).
"""

from __future__ import annotations

from loopml.automation.policies import Action, Gates, Limits, Policy, Rollout, load_policy
from loopml.automation.runner import PolicyRunner
from loopml.automation.scheduler import PolicyScheduler
from loopml.automation.store import PolicyRecord, PolicyRun, PolicyStore, Transition

__all__ = [
    "Action",
    "Gates",
    "Limits",
    "Policy",
    "PolicyRecord",
    "PolicyRun",
    "PolicyRunner",
    "PolicyScheduler",
    "PolicyStore",
    "Rollout",
    "Transition",
    "load_policy",
]
