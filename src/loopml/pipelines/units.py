"""Units of work: a node becomes one unit, or one per item when it is mapped.

This is where a node's arguments meet the run: upstream outputs are resolved
to stored references, constants split into parameters (JSON-able, part of the
cache key as JSON) and stored inputs (anything else, saved once by the driver
and keyed by hash), mapped items are laid out, and each unit's cache key is
computed from its step's code hash, parameters, input hashes and extra inputs.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidParameter
from loopml.pipelines.entities import InputValue, input_hashes
from loopml.pipelines.fingerprint import cache_key, canonical_json, code_hash, is_jsonable
from loopml.pipelines.graph import Arg, Const, Node, Ref, Refs
from loopml.pipelines.recording import param_text
from loopml.pipelines.steps import Step
from loopml.pipelines.tasks import StepPayload
from loopml.pipelines.values import ValueStore

EXTRA_KEY = "@extra"  # extra inputs in a record's inputs (no parameter can be named so)


@dataclass
class Unit:
    """One call to run: a node, or item ``map_index`` of a mapped node."""

    id: str
    node: Node
    map_index: int | None
    params: dict[str, Any]
    inputs: dict[str, InputValue]
    key: str = ""
    attempt: int = 0
    started_ms: int = 0

    def record_params(self) -> dict[str, str]:
        return {name: param_text(value) for name, value in self.params.items()}

    def record_inputs(self, extra: list[str]) -> dict[str, Any]:
        hashes: dict[str, Any] = {k: input_hashes(v) for k, v in self.inputs.items()}
        if extra:
            hashes[EXTRA_KEY] = extra
        return hashes


class Planner:
    """Turns ready nodes into units with cache keys, for one run."""

    def __init__(
        self,
        values: ValueStore,
        outputs_of: Callable[[str], tuple[InputValue, ...]],
        resolve_dataset: Callable[[str], str],
    ) -> None:
        self.values = values
        self._outputs_of = outputs_of
        self._resolve_dataset = resolve_dataset
        self._code: dict[int, str] = {}
        self._extra: dict[int, list[str]] = {}
        self._payloads: dict[int, StepPayload] = {}

    def units(self, node: Node) -> list[Unit]:
        params: dict[str, Any] = {}
        inputs: dict[str, InputValue] = {}
        for name, arg in node.args.items():
            self._place(name, arg, params, inputs, f"step {node.id!r} parameter {name!r}")
        if node.map_arg is None:
            units = [Unit(node.id, node, None, params, inputs)]
        else:
            units = []
            for index, item in enumerate(self._items(node)):
                unit = Unit(f"{node.id}[{index}]", node, index, dict(params), dict(inputs))
                if isinstance(item, _Stored):
                    unit.inputs[node.map_arg] = item.value
                else:
                    unit.params[node.map_arg] = item
                units.append(unit)
        for unit in units:
            unit.key = self.key(unit)
        return units

    def _place(
        self, name: str, arg: Arg, params: dict[str, Any], inputs: dict[str, InputValue], where: str
    ) -> None:
        if isinstance(arg, Refs):
            inputs[name] = self._resolve(arg)
        elif is_jsonable(arg.value):
            params[name] = arg.value
        else:
            inputs[name] = self.values.save(arg.value, where)

    def _resolve(self, arg: Refs) -> InputValue:
        values = [self._output(ref) for ref in arg.items]
        return values if arg.many else values[0]

    def _output(self, ref: Ref) -> InputValue:
        return self._outputs_of(ref.node)[ref.index]

    def _items(self, node: Node) -> list[Any]:
        """Each item as a JSON parameter, or as a stored input (``_Stored``)."""
        where = f"step {node.id!r}"
        source = node.map_items
        if isinstance(source, Const):
            return [self._item(value, f"{where} item {i}") for i, value in enumerate(source.value)]
        assert isinstance(source, Refs)
        resolved = self._resolve(source)
        if isinstance(resolved, list):
            return [_Stored(item) for item in resolved]
        loaded = self.values.load(resolved)
        if not isinstance(loaded, list | tuple):
            raise InvalidParameter(
                f"{where}: .map needs a list of items, but its input is {type(loaded).__name__}"
            )
        return [self._item(value, f"{where} item {i}") for i, value in enumerate(loaded)]

    def _item(self, value: Any, where: str) -> Any:
        return value if is_jsonable(value) else _Stored(self.values.save(value, where))

    def key(self, unit: Unit) -> str:
        step = unit.node.step
        params = {name: canonical_json(value) for name, value in unit.params.items()}
        inputs = {name: input_hashes(value) for name, value in unit.inputs.items()}
        return cache_key(
            self.code_hash(step), params, inputs, self.extra_inputs(step), unit.node.outputs
        )

    def code_hash(self, step: Step[..., Any]) -> str:
        if id(step) not in self._code:
            self._code[id(step)] = code_hash(step.fn)
        return self._code[id(step)]

    def extra_inputs(self, step: Step[..., Any]) -> list[str]:
        """Declared extra inputs as what they stand for: a dataset digest, a file hash."""
        if id(step) not in self._extra:
            self._extra[id(step)] = [self._extra_value(ref) for ref in step.options.extra_inputs]
        return self._extra[id(step)]

    def _extra_value(self, ref: str) -> str:
        if ref.startswith("data:"):
            return f"{ref}#{self._resolve_dataset(ref)}"
        if os.path.isfile(ref):
            digest = hashlib.sha256()
            with open(ref, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
            return f"file:{os.path.abspath(ref)}#{digest.hexdigest()}"
        return ref

    def payload(self, step: Step[..., Any]) -> StepPayload:
        """Import the step by name in the worker when it can; else ship it by value."""
        if id(step) not in self._payloads:
            self._payloads[id(step)] = _payload(step)
        return self._payloads[id(step)]


@dataclass(frozen=True)
class _Stored:
    value: InputValue


def _payload(step: Step[..., Any]) -> StepPayload:
    module = str(getattr(step, "__module__", "") or "")
    qualname = str(getattr(step, "__qualname__", "") or "")
    if module != "__main__" and "<locals>" not in qualname and _lookup(module, qualname) is step:
        return StepPayload(module, qualname)
    import cloudpickle

    return StepPayload(module, qualname, bytes(cloudpickle.dumps(step.fn)))


def _lookup(module: str, qualname: str) -> object:
    found: object = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return found


def outputs_structure(outputs: Any, done: Mapping[str, tuple[InputValue, ...]]) -> Any:
    """The pipeline's returned Refs with each replaced by its stored value's reference."""
    if isinstance(outputs, Ref):
        produced = done.get(outputs.node)
        return produced[outputs.index] if produced is not None else None
    if isinstance(outputs, list):
        return [outputs_structure(item, done) for item in outputs]
    if isinstance(outputs, dict):
        return {key: outputs_structure(item, done) for key, item in outputs.items()}
    return None
