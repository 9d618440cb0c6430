"""Continuous-training policies: when to retrain, how, what proves it better, how to roll out.

A policy binds an endpoint and the registered model behind its alias to:

- **triggers**: ``alert:MONITOR[/RULE]``, ``dataset:NAME`` (a new version),
  ``cron:EXPR``, and always a manual ``loopml policies run``;
- an **action**: an importable pipeline (``package.module:function``) and its
  parameters; it returns the candidate as ``models:/NAME/VERSION``;
- **gates**: rules (the registry's gate syntax) on an evaluation of the
  candidate against the champion on a holdout dataset, overall and per segment;
- a **rollout**: the canary's weight, guard rules on live traffic (error
  rate, latency, online metrics once labels arrive), the requests and time
  the canary must see, and the longest it may run;
- **limits**: the cooldown between runs, how many may run at once, and an
  optional human approval before promotion.

A policy is written as YAML (or built in Python) and checked whole when it is
made, so a bad rule never reaches a run. Every value is checked here, once,
with an error naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from loopml.core.cron import check_cron
from loopml.core.errors import InvalidParameter

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_TRIGGER = re.compile(r"(alert|dataset|cron):(.+)")
EXECUTORS = ("inline", "process", "ray")


@dataclass(frozen=True)
class Action:
    pipeline: str
    params: dict[str, Any] = field(default_factory=dict)
    executor: str = "inline"


@dataclass(frozen=True)
class Gates:
    """Evaluate the candidate (and the champion, as ``baseline``) on ``data``."""

    data: str  # data:NAME@VERSION or data:NAME@TAG
    target: str
    task: str = "classification"
    rules: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rollout:
    """The canary: ``weight`` percent of traffic until it has proved itself or broken a guard.

    Guard rules read the canary's live numbers (``error_rate``, ``latency_p95_ms``,
    ``accuracy`` or ``rmse`` once labels arrive, ...) and the primary route's as
    ``baseline.*``; a guard whose numbers are not there yet waits.
    """

    weight: float = 10.0
    guards: tuple[str, ...] = ()
    min_requests: int = 100
    min_duration_s: float = 60.0
    max_duration_s: float = 86_400.0


@dataclass(frozen=True)
class Limits:
    cooldown_s: float = 3600.0
    max_concurrent: int = 1
    approval: bool = False


@dataclass(frozen=True)
class Policy:
    name: str
    endpoint: str
    model: str  # the registered model whose alias the endpoint serves
    action: Action
    gates: Gates
    alias: str = "champion"
    triggers: tuple[str, ...] = ()
    rollout: Rollout = field(default_factory=Rollout)
    limits: Limits = field(default_factory=Limits)
    notify: tuple[str, ...] = ()  # webhook URLs (checked against the alert allowlist)

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for key in ("triggers", "notify"):
            found[key] = list(found[key])
        for group, keys in (
            ("gates", ("rules", "segments", "sensitive")),
            ("rollout", ("guards",)),
        ):
            for key in keys:
                found[group][key] = list(found[group][key])
        return found

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Policy:
        """A policy from its YAML/JSON shape; every field is checked, errors name the field."""
        if not isinstance(raw, Mapping):
            raise InvalidParameter(f"a policy is a mapping, got {type(raw).__name__}")
        _known(raw, ("name", "endpoint", "model", "alias", "triggers", "action", "gates",
                     "rollout", "limits", "notify"), "policy")  # fmt: skip
        for key in ("name", "endpoint", "model", "action", "gates"):
            if key not in raw:
                raise InvalidParameter(f"policy: {key} is required")
        policy = cls(
            name=_text(raw["name"], "name"),
            endpoint=_text(raw["endpoint"], "endpoint"),
            model=_text(raw["model"], "model"),
            alias=_text(raw.get("alias", "champion"), "alias"),
            triggers=_texts(raw.get("triggers", ()), "triggers"),
            action=_build(Action, raw["action"], "action", lists=()),
            gates=_build(Gates, raw["gates"], "gates", lists=("rules", "segments", "sensitive")),
            rollout=_build(Rollout, raw.get("rollout", {}), "rollout", lists=("guards",)),
            limits=_build(Limits, raw.get("limits", {}), "limits", lists=()),
            notify=_texts(raw.get("notify", ()), "notify"),
        )
        return check_policy(policy)


def load_policy(text: str) -> Policy:
    """A policy from YAML text."""
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidParameter(f"policy YAML does not parse: {error}") from None
    return Policy.from_dict(raw)


def check_policy(policy: Policy) -> Policy:
    """The policy, or an error naming its first bad field."""
    from loopml.registry.gates import Gate

    for value, where in ((policy.name, "name"), (policy.endpoint, "endpoint"),
                         (policy.model, "model"), (policy.alias, "alias")):  # fmt: skip
        if _NAME.fullmatch(value) is None:
            raise InvalidParameter(
                f"{where} {value!r} must be 1-128 letters, digits, '_', '.' or '-'"
            )
    for trigger in policy.triggers:
        parse_trigger(trigger)
    if _TARGET.fullmatch(policy.action.pipeline) is None:
        raise InvalidParameter(
            f"action.pipeline {policy.action.pipeline!r} must be an importable "
            "package.module:function (the server imports it)"
        )
    if policy.action.executor not in EXECUTORS:
        raise InvalidParameter(f"action.executor must be one of {', '.join(EXECUTORS)}")
    if not policy.gates.data.startswith("data:"):
        raise InvalidParameter(f"gates.data {policy.gates.data!r} must be data:NAME@VERSION")
    if policy.gates.task not in ("classification", "regression"):
        raise InvalidParameter("gates.task must be classification or regression")
    for rule in (*policy.gates.rules, *policy.rollout.guards):
        Gate(rule).parsed  # noqa: B018  (parsing is the check; a syntax error names the spot)
    _check_rollout(policy.rollout)
    if policy.limits.cooldown_s < 0 or policy.limits.max_concurrent < 1:
        raise InvalidParameter("limits: cooldown_s must be >= 0 and max_concurrent >= 1")
    return policy


def parse_trigger(text: str) -> tuple[str, str]:
    """``alert:MONITOR[/RULE]``, ``dataset:NAME`` or ``cron:EXPR`` as (kind, rest)."""
    found = _TRIGGER.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise InvalidParameter(
            f"trigger {text!r} must be alert:MONITOR[/RULE], dataset:NAME or cron:EXPR"
        )
    kind, rest = found[1], found[2].strip()
    if kind == "cron":
        check_cron(rest, "trigger cron")
    else:
        from loopml.pipelines.schedules import Trigger

        Trigger.parse(f"{kind}:{rest}")
    return kind, rest


def _check_rollout(rollout: Rollout) -> None:
    if not 0 < rollout.weight < 100:
        raise InvalidParameter(
            f"rollout.weight must be between 0 and 100 percent, got {rollout.weight}"
        )
    if rollout.min_requests < 0 or rollout.min_duration_s < 0:
        raise InvalidParameter("rollout: min_requests and min_duration_s must be >= 0")
    if rollout.max_duration_s < rollout.min_duration_s:
        raise InvalidParameter("rollout.max_duration_s must be at least min_duration_s")


def _known(raw: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise InvalidParameter(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(keys)}"
        )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"{where} must be a non-empty string")
    return value.strip()


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise InvalidParameter(f"{where} must be a list of strings")
    return tuple(_text(item, f"{where}[{i}]") for i, item in enumerate(value))


def _build(kind: type[Any], raw: Any, where: str, *, lists: tuple[str, ...]) -> Any:
    """One section (action, gates, rollout, limits) from a mapping, naming bad fields."""
    if not isinstance(raw, Mapping):
        raise InvalidParameter(f"{where} must be a mapping")
    fields = kind.__dataclass_fields__
    _known(raw, tuple(fields), where)
    values = {}
    for key, value in raw.items():
        if key in lists:
            value = _texts(value, f"{where}.{key}")
        values[key] = _coerce(value, fields[key].type, f"{where}.{key}")
    try:
        return kind(**values)
    except TypeError as error:
        raise InvalidParameter(f"{where}: {error}") from None


def _coerce(value: Any, annotation: str, where: str) -> Any:
    if annotation == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidParameter(f"{where} must be a number")
        return float(value)
    if annotation == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidParameter(f"{where} must be a whole number")
    if annotation == "bool" and not isinstance(value, bool):
        raise InvalidParameter(f"{where} must be true or false")
    if annotation == "str" and not isinstance(value, str):
        raise InvalidParameter(f"{where} must be a string")
    if annotation.startswith("dict") and not isinstance(value, Mapping):
        raise InvalidParameter(f"{where} must be a mapping")
    return dict(value) if annotation.startswith("dict") else value
