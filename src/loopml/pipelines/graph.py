"""The DAG a pipeline function traces to: nodes (step calls) and what feeds each argument.

Tracing (:mod:`loopml.pipelines.tracing`) builds a :class:`Graph` from the
pipeline function; a graph can also be built by hand (from a config file, a
UI). Either way :meth:`Graph.validate` runs before anything executes and names
what is wrong: an input that points at no step or at an output a step does not
have, or a cycle (with its path).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from loopml.core.errors import InvalidParameter

if TYPE_CHECKING:
    from loopml.pipelines.steps import Step


@dataclass(frozen=True)
class Ref:
    """Output ``index`` of node ``node`` (a mapped node has one output: the list of results)."""

    node: str
    index: int = 0


@dataclass(frozen=True)
class Const:
    """A constant argument: a parameter of the step (JSON-able) or a value stored as an input."""

    value: Any


@dataclass(frozen=True)
class Refs:
    """Step outputs as an argument: one (``many=False``) or a list of them."""

    items: tuple[Ref, ...]
    many: bool = False


Arg: TypeAlias = Const | Refs


@dataclass(frozen=True)
class Node:
    """One call of a step in the pipeline, or one mapped call (``map_arg`` set)."""

    id: str
    step: Step[..., Any]
    args: Mapping[str, Arg]
    outputs: int = 1
    map_arg: str | None = None  # the parameter each item is passed as
    map_items: Arg | None = None  # a constant list, or step outputs holding the items

    @property
    def is_map(self) -> bool:
        return self.map_arg is not None

    def refs(self) -> Iterator[Ref]:
        for arg in (*self.args.values(), self.map_items):
            if isinstance(arg, Refs):
                yield from arg.items

    def upstream(self) -> set[str]:
        return {ref.node for ref in self.refs()}


@dataclass(frozen=True)
class Graph:
    """Nodes by id, in the order they were added, and the pipeline's returned outputs."""

    name: str
    nodes: Mapping[str, Node]
    outputs: Any = None  # None, a Ref, or a list/tuple/dict of them
    params: Mapping[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Refuse missing inputs and cycles before anything runs."""
        for node in self.nodes.values():
            for ref in node.refs():
                self._check_ref(ref, f"step {node.id!r}")
        for ref in _output_refs(self.outputs):
            self._check_ref(ref, "the pipeline's return value")
        self.order()

    def _check_ref(self, ref: Ref, where: str) -> None:
        source = self.nodes.get(ref.node)
        if source is None:
            raise InvalidParameter(f"{where} needs the output of {ref.node!r}, which is no step")
        if not 0 <= ref.index < source.outputs:
            raise InvalidParameter(
                f"{where} needs output {ref.index} of step {ref.node!r}, "
                f"which has {source.outputs} output(s)"
            )

    def order(self) -> list[str]:
        """Node ids, upstream first (ties in insertion order); a cycle is an error naming it."""
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        ordered: list[str] = []
        for start in self.nodes:
            if start not in state:
                self._visit(start, state, ordered, [])
        return ordered

    def _visit(
        self, node_id: str, state: dict[str, int], ordered: list[str], path: list[str]
    ) -> None:
        state[node_id] = 1
        path.append(node_id)
        for parent in sorted(self.nodes[node_id].upstream()):
            if state.get(parent) == 1:
                cycle = [*path[path.index(parent) :], parent]
                raise InvalidParameter(f"the pipeline has a cycle: {' -> '.join(reversed(cycle))}")
            if parent not in state:
                self._visit(parent, state, ordered, path)
        path.pop()
        state[node_id] = 2
        ordered.append(node_id)

    def width(self) -> int:
        """How many tasks can run at once at the start: the roots, or a constant fan-out."""
        roots = [node for node in self.nodes.values() if not node.upstream()]
        fans = [len(n.map_items.value) for n in roots if isinstance(n.map_items, Const)]
        return max([len(roots), *fans])

    def downstream(self, roots: set[str]) -> set[str]:
        """Every node that depends, directly or not, on one of ``roots`` (roots excluded)."""
        children: dict[str, set[str]] = {node_id: set() for node_id in self.nodes}
        for node in self.nodes.values():
            for parent in node.upstream():
                children[parent].add(node.id)
        found: set[str] = set()
        stack = list(roots)
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def to_dict(self) -> dict[str, Any]:
        """The shape of the DAG as JSON: what ``loopml pipelines show`` draws from."""
        return {
            "name": self.name,
            "nodes": [
                {
                    "id": node.id,
                    "step": node.step.name,
                    "upstream": sorted(node.upstream()),
                    "map": node.is_map,
                    "outputs": node.outputs,
                }
                for node in self.nodes.values()
            ],
        }


def _output_refs(outputs: Any) -> Iterator[Ref]:
    if isinstance(outputs, Ref):
        yield outputs
    elif isinstance(outputs, list | tuple):
        for item in outputs:
            yield from _output_refs(item)
    elif isinstance(outputs, dict):
        for item in outputs.values():
            yield from _output_refs(item)
