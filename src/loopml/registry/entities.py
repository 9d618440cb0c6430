"""The model registry's records, shaped like MLflow's so the REST API is a translation.

No I/O here. Times are epoch milliseconds; a version number is an int here
and a string on MLflow's wire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loopml.core.errors import InvalidParameter

MAX_NAME_LENGTH = 256
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
# Alias names: MLflow's rule (letters, digits, _ and -, not "latest", not "vN").
_ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")
_VERSION_LIKE = re.compile(r"[vV]\d+")
LATEST = "latest"


class Stage(StrEnum):
    """The stages of MLflow's older workflow (aliases replace them; kept for old clients)."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, text: str) -> Stage:
        for stage in cls:
            if stage.value.lower() == text.strip().lower():
                return stage
        raise InvalidParameter(f"stage {text!r} is not one of {', '.join(s.value for s in cls)}")


class ApprovalState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    created_ms: int
    updated_ms: int
    created_by: str
    description: str
    current_stage: str
    source: str
    storage_location: str
    run_id: str | None
    run_link: str
    model_id: str | None
    status: str
    status_message: str
    manifest_digest: str | None
    trusted: bool
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    created_ms: int
    updated_ms: int
    created_by: str
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_versions: list[ModelVersion] = field(default_factory=list)


@dataclass(frozen=True)
class AliasPolicy:
    """What moving ``alias`` of ``name`` requires; no policy means nothing beyond EDIT."""

    name: str
    alias: str
    require_approval: bool = False
    four_eyes: bool = False
    gates: list[str] = field(default_factory=list)
    updated_ms: int = 0
    updated_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "require_approval": self.require_approval,
            "four_eyes": self.four_eyes,
            "gates": list(self.gates),
            "updated_ms": self.updated_ms,
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class Approval:
    approval_id: str
    name: str
    version: int
    alias: str
    state: ApprovalState
    requested_by: str
    requested_ms: int
    comment: str
    decided_by: str | None
    decided_ms: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "approval_id": self.approval_id,
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "state": self.state.value,
            "requested_by": self.requested_by,
            "requested_ms": self.requested_ms,
            "comment": self.comment,
            "decided_by": self.decided_by,
            "decided_ms": self.decided_ms,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class StoredEvaluation:
    """An evaluation of a version: ``result`` is the nested mapping gates read."""

    evaluation_id: str
    name: str
    version: int
    run_id: str | None
    dataset: str
    result: dict[str, Any]
    created_ms: int
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluation_id": self.evaluation_id,
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "dataset": self.dataset,
            "result": self.result,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class GateCheck:
    """The gates of an alias checked against one evaluation, rule by rule."""

    check_id: str
    name: str
    version: int
    alias: str
    evaluation_id: str | None
    passed: bool
    results: list[dict[str, Any]]
    overridden_by: str | None
    override_reason: str
    created_ms: int
    created_by: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "evaluation_id": self.evaluation_id,
            "passed": self.passed,
            "results": self.results,
            "overridden_by": self.overridden_by,
            "override_reason": self.override_reason,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
        }


def check_model_name(name: object, field_name: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(f"{field_name} must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameter(f"{field_name} is longer than {MAX_NAME_LENGTH} characters")
    if "/" in name or any(ord(c) < 32 for c in name):
        raise InvalidParameter(f"{field_name} {name!r} may not contain '/' or control characters")
    return name


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or _ALIAS.fullmatch(alias) is None:
        raise InvalidParameter(f"alias {alias!r} must be 1-255 letters, digits, '_' or '-'")
    if alias.lower() == LATEST or _VERSION_LIKE.fullmatch(alias):
        raise InvalidParameter(
            f"alias {alias!r} is reserved: 'latest' and 'v<number>' name versions already"
        )
    return alias


def parse_version(version: object, field_name: str = "version") -> int:
    """A version number from the wire (a string of digits) or from Python (an int)."""
    if isinstance(version, bool):
        raise InvalidParameter(f"{field_name} must be a positive integer, got {version!r}")
    if isinstance(version, int):
        number = version
    elif isinstance(version, str) and version.strip().isdigit():
        number = int(version.strip())
    else:
        raise InvalidParameter(f"{field_name} must be a positive integer, got {version!r}")
    if not 0 < number < 2**31:
        raise InvalidParameter(f"{field_name} must be a positive integer, got {version!r}")
    return number


def check_tag(key: object, value: object) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidParameter(f"tag key must be 1-{MAX_TAG_KEY_LENGTH} characters, got {key!r}")
    if any(ord(c) < 32 for c in key):
        raise InvalidParameter(f"tag key {key!r} may not contain control characters")
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameter(
            f"tag {key!r}: value must be a string of at most {MAX_TAG_VALUE_LENGTH} characters"
        )
