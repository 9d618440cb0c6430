"""Suites: a named list of expectations, written by hand in YAML or kept as JSON.

The file shape is one mapping per expectation, keyed by its kind::

    name: orders
    expectations:
      - column_exists: id                 # short for {column: id}
      - not_null: {column: id}
      - between: {column: amount, min: 0, max: 10000}
      - unique_together: [customer_id, order_id]
      - row_count_between: {min: 1000}

Errors name the item (``expectations[3]``) and the field, so a hand-written
file is fixed in one read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loopml.core.errors import InvalidParameter
from loopml.data.validation.expectations import Expectation

SUITE_KEYS = ("name", "description", "expectations")


@dataclass(frozen=True)
class Suite:
    """Expectations validated together; ``name`` labels reports."""

    name: str
    expectations: list[Expectation]
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidParameter(f"suite: name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.description, str):
            raise InvalidParameter("suite: description must be a string")
        for index, item in enumerate(self.expectations):
            if not isinstance(item, Expectation):
                raise InvalidParameter(f"expectations[{index}]: not an Expectation: {item!r}")
        object.__setattr__(self, "expectations", list(self.expectations))

    @classmethod
    def from_dict(cls, data: Any) -> Suite:
        if not isinstance(data, dict):
            raise InvalidParameter("suite: expected a mapping with name and expectations")
        unknown = sorted(set(map(str, data)) - set(SUITE_KEYS))
        if unknown:
            raise InvalidParameter(
                f"suite: unknown key {unknown[0]!r}; a suite has {', '.join(SUITE_KEYS)}"
            )
        items = data.get("expectations")
        if not isinstance(items, list):
            raise InvalidParameter("suite: expectations must be a list")
        return cls(
            name=data.get("name"),  # type: ignore[arg-type]  # checked in __post_init__
            expectations=[_item(index, item) for index, item in enumerate(items)],
            description=data.get("description") or "",
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name}
        if self.description:
            data["description"] = self.description
        data["expectations"] = [item.to_dict() for item in self.expectations]
        return data

    @classmethod
    def from_yaml(cls, text: str) -> Suite:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InvalidParameter(f"suite: not valid YAML: {error}") from error
        return cls.from_dict(data)

    def to_yaml(self) -> str:
        """The suite as people write it: one line per expectation, short forms where they fit."""
        data = self.to_dict()
        data["expectations"] = [_one_line(item) for item in data["expectations"]]
        return yaml.dump(data, Dumper=_SuiteDumper, sort_keys=False, allow_unicode=True)

    @classmethod
    def load(cls, path: str | Path) -> Suite:
        """Read a suite file: ``.yaml``/``.yml`` or ``.json``."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise InvalidParameter(f"{path}: a suite file ends in .yaml, .yml or .json")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidParameter(f"{path}: cannot read suite: {error}") from error
        try:
            if suffix != ".json":
                return cls.from_yaml(text)
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as error:
            raise InvalidParameter(f"{path}: not valid JSON: {error}") from error
        except InvalidParameter as error:
            raise InvalidParameter(f"{path}: {error.message}") from error


def _item(index: int, item: Any) -> Expectation:
    try:
        return Expectation.from_dict(item)
    except InvalidParameter as error:
        raise InvalidParameter(f"expectations[{index}]: {error.message}") from error


class _FlowMap(dict[str, Any]):
    """A mapping YAML writes inline: ``{column: amount, min: 0}``."""


class _SuiteDumper(yaml.SafeDumper):
    """Safe YAML with block lists indented under their key, as in hand-written files."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _flow_map(dumper: yaml.SafeDumper, data: _FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_SuiteDumper.add_representer(_FlowMap, _flow_map)


def _one_line(item: dict[str, Any]) -> dict[str, Any]:
    """``{not_null: {column: id}}`` as ``not_null: id``; other bodies inline."""
    ((kind, body),) = item.items()
    if list(body) == ["column"]:
        return {kind: body["column"]}
    return {kind: _FlowMap(body)}
