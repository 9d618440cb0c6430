"""The model registry: registered models, versions, aliases, approvals and release gates."""

from __future__ import annotations

from loopml.registry._sql import SqlRegistryStore
from loopml.registry.client import RegistryClient
from loopml.registry.entities import (
    AliasPolicy,
    Approval,
    ApprovalState,
    GateCheck,
    ModelVersion,
    RegisteredModel,
    Stage,
    StoredEvaluation,
)
from loopml.registry.governance import Promotion

__all__ = [
    "AliasPolicy",
    "Approval",
    "ApprovalState",
    "GateCheck",
    "ModelVersion",
    "Promotion",
    "RegisteredModel",
    "RegistryClient",
    "SqlRegistryStore",
    "Stage",
    "StoredEvaluation",
]
