"""Endpoints: a named, versioned serving configuration kept in the metadata store.

An endpoint has routes (a model URI each, with a weight: a canary is a route
with a small weight), optionally a sticky key (A/B: the same key always gets
the same route), shadow routes that receive a copy of the traffic whose
answers are logged but never returned, and batching settings. Every change
makes a new version of the configuration, so a rollback is one more version
equal to an earlier one. No I/O here; validation names the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from loopml.core.errors import InvalidParameter

_ROUTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENDPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
STICKY_SOURCES = ("header", "parameter")


def check_endpoint(name: object) -> str:
    if not isinstance(name, str) or _ENDPOINT_NAME.fullmatch(name) is None:
        raise InvalidParameter(
            f"endpoint name {name!r} must be 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return name


def _model_uri(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("models:/") or len(value) < 10:
        raise InvalidParameter(f"{where}: model must be a models:/NAME@ALIAS or models:/NAME/N URI")
    return value


@dataclass(frozen=True)
class Route:
    name: str
    model: str  # models:/NAME@ALIAS (follows the alias) or models:/NAME/VERSION
    weight: float = 100.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "weight": self.weight}


@dataclass(frozen=True)
class EndpointConfig:
    """What an endpoint serves. ``sticky``: ``header:X-User`` or ``parameter:user_id``."""

    routes: list[Route]
    shadows: list[Route] = field(default_factory=list)
    sticky: str | None = None
    max_batch_size: int = 64
    max_batch_delay_ms: float = 0.0

    def __post_init__(self) -> None:
        if not self.routes:
            raise InvalidParameter("routes: an endpoint needs at least one route")
        names = [r.name for r in [*self.routes, *self.shadows]]
        for route in [*self.routes, *self.shadows]:
            if _ROUTE_NAME.fullmatch(route.name) is None:
                raise InvalidParameter(f"route name {route.name!r} must be 1-64 letters or digits")
            _model_uri(route.model, f"route {route.name!r}")
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise InvalidParameter(f"route name {duplicate!r} is used twice")
        if any(r.weight < 0 for r in self.routes) or sum(r.weight for r in self.routes) <= 0:
            raise InvalidParameter("routes: weights must be >= 0 and add up to more than 0")
        if self.sticky is not None:
            source, _, key = self.sticky.partition(":")
            if source not in STICKY_SOURCES or not key:
                raise InvalidParameter(
                    f"sticky {self.sticky!r} must be header:NAME or parameter:NAME"
                )
        if not 1 <= self.max_batch_size <= 10_000:
            raise InvalidParameter("max_batch_size must be between 1 and 10000")
        if not 0 <= self.max_batch_delay_ms <= 10_000:
            raise InvalidParameter("max_batch_delay_ms must be between 0 and 10000")

    def to_dict(self) -> dict[str, Any]:
        return {
            "routes": [r.to_dict() for r in self.routes],
            "shadows": [r.to_dict() for r in self.shadows],
            "sticky": self.sticky,
            "max_batch_size": self.max_batch_size,
            "max_batch_delay_ms": self.max_batch_delay_ms,
        }

    @classmethod
    def from_dict(cls, data: Any) -> EndpointConfig:
        if not isinstance(data, dict):
            raise InvalidParameter("an endpoint config must be an object")
        unknown = set(data) - {
            "routes",
            "shadows",
            "sticky",
            "max_batch_size",
            "max_batch_delay_ms",
        }
        if unknown:
            raise InvalidParameter(f"unknown endpoint config field {sorted(unknown)[0]!r}")
        return cls(
            routes=[_route(r, "routes") for r in _list(data.get("routes"), "routes")],
            shadows=[_route(r, "shadows", 0.0) for r in _list(data.get("shadows", []), "shadows")],
            sticky=data.get("sticky"),
            max_batch_size=int(data.get("max_batch_size", 64)),
            max_batch_delay_ms=float(data.get("max_batch_delay_ms", 0.0)),
        )

    @classmethod
    def single(cls, model: str) -> EndpointConfig:
        return cls(routes=[Route("primary", model)])


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidParameter(f"{where} must be a list")
    return value


def _route(value: Any, where: str, default_weight: float = 100.0) -> Route:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise InvalidParameter(f"each of {where} needs a name and a model")
    weight = value.get("weight", default_weight)
    if isinstance(weight, bool) or not isinstance(weight, int | float):
        raise InvalidParameter(f"{where} {value['name']!r}: weight must be a number")
    return Route(value["name"], _model_uri(value.get("model"), f"route {value['name']!r}"), weight)


@dataclass(frozen=True)
class EndpointVersion:
    """One version of an endpoint's configuration, as kept in its history."""

    name: str
    version: int
    config: EndpointConfig
    created_ms: int
    created_by: str
    comment: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "config": self.config.to_dict(),
            "created_ms": self.created_ms,
            "created_by": self.created_by,
            "comment": self.comment,
        }
