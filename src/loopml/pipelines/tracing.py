"""Tracing: run the pipeline function once with placeholder outputs to draw its DAG.

While a pipeline function is traced, each step call adds a node and returns
:class:`StepOutput` placeholders. Passing a placeholder to another step is an
edge. Constants are checked against the step's annotations right there, so a
wrong type, a missing or unknown argument is an error before any step runs.
Using a placeholder as a value (``if df.empty``, ``len(rows)``) is an error
that says why: the value only exists when the step runs.
"""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn

from loopml.core.errors import InvalidParameter
from loopml.pipelines.graph import Arg, Const, Graph, Node, Ref, Refs
from loopml.pipelines.typecheck import bind_arguments, check_type, type_hints

if TYPE_CHECKING:
    from loopml.pipelines.steps import Step

_BUILDER: ContextVar[GraphBuilder | None] = ContextVar("loopml_pipeline_builder", default=None)


def current_builder() -> GraphBuilder | None:
    return _BUILDER.get()


class StepOutput:
    """A step's output while the pipeline is traced; pass it to other steps."""

    __slots__ = ("ref",)

    def __init__(self, ref: Ref) -> None:
        self.ref = ref

    def __repr__(self) -> str:
        return f"<output {self.ref.index} of step {self.ref.node!r}>"

    def _refuse(self, *_: Any) -> NoReturn:
        raise InvalidParameter(
            f"{self!r} is a placeholder while the pipeline is traced: pass it to a step; "
            "its value exists only when that step runs"
        )

    __bool__ = __len__ = __iter__ = __getitem__ = __contains__ = _refuse
    __add__ = __sub__ = __mul__ = __truediv__ = __lt__ = __gt__ = __le__ = __ge__ = _refuse

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        self._refuse()


class MappedOutput(StepOutput):
    """The list of a mapped step's results; pass it to a step, or ``.map`` over it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<results of mapped step {self.ref.node!r}>"


class GraphBuilder:
    """Collects the nodes of one trace."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._counts: Counter[str] = Counter()

    def _new_id(self, name: str) -> str:
        self._counts[name] += 1
        count = self._counts[name]
        return name if count == 1 else f"{name}_{count}"

    def add_call(
        self, step: Step[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> StepOutput | tuple[StepOutput, ...]:
        bound = bind_arguments(step.fn, args, kwargs, f"step {step.name!r}")
        node_id = self._new_id(step.name)
        hints = type_hints(step.fn)
        node_args = {
            name: _to_arg(value, hints.get(name), f"step {node_id!r} parameter {name!r}")
            for name, value in bound.items()
        }
        self.nodes[node_id] = Node(node_id, step, node_args, step.outputs)
        if step.outputs == 1:
            return StepOutput(Ref(node_id, 0))
        return tuple(StepOutput(Ref(node_id, i)) for i in range(step.outputs))

    def add_map(
        self, step: Step[..., Any], items: Any, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> MappedOutput:
        if step.outputs != 1:
            raise InvalidParameter(
                f"step {step.name!r} has {step.outputs} outputs; .map needs a step with one"
            )
        params = list(inspect.signature(step.fn).parameters)
        if not params:
            raise InvalidParameter(f"step {step.name!r} takes no parameter to map over")
        mapped = params[0]
        hints = type_hints(step.fn)
        node_id = self._new_id(step.name)
        where = f"step {node_id!r}"
        bound = bind_arguments(step.fn, (_ITEM, *args), kwargs, where)
        node_args = {
            name: _to_arg(value, hints.get(name), f"{where} parameter {name!r}")
            for name, value in bound.items()
            if name != mapped
        }
        map_items = _map_items(items, hints.get(mapped), f"{where} mapped parameter {mapped!r}")
        self.nodes[node_id] = Node(node_id, step, node_args, 1, mapped, map_items)
        return MappedOutput(Ref(node_id, 0))


_ITEM = object()  # stands for the mapped argument while binding the others


def _to_arg(value: Any, hint: Any, where: str) -> Arg:
    if isinstance(value, StepOutput):
        return Refs((value.ref,))
    if isinstance(value, list | tuple) and any(isinstance(v, StepOutput) for v in value):
        if not all(isinstance(v, StepOutput) for v in value):
            raise InvalidParameter(f"{where} mixes step outputs and constants in one list")
        return Refs(tuple(v.ref for v in value), many=True)
    if _holds_placeholder(value):
        raise InvalidParameter(
            f"{where} hides a step output inside a {type(value).__name__}; pass step outputs "
            "directly or as a list"
        )
    if hint is not None:
        check_type(value, hint, where)
    return Const(value)


def _holds_placeholder(value: Any, depth: int = 0) -> bool:
    if isinstance(value, StepOutput):
        return True
    if depth > 8:
        return False
    if isinstance(value, dict):
        return any(_holds_placeholder(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_placeholder(v, depth + 1) for v in value)
    return False


def _map_items(items: Any, hint: Any, where: str) -> Arg:
    if isinstance(items, StepOutput):
        return Refs((items.ref,))
    if isinstance(items, list | tuple) and any(isinstance(v, StepOutput) for v in items):
        return _to_arg(items, None, where)
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidParameter(f"{where}: .map needs a list of items, got {type(items).__name__}")
    values = list(items)
    if _holds_placeholder(values):
        raise InvalidParameter(f"{where} hides a step output inside an item")
    if hint is not None:
        for index, value in enumerate(values):
            check_type(value, hint, f"{where} item {index}")
    return Const(values)


def trace(
    name: str, fn: Callable[..., Any], params: Mapping[str, Any], *, check: bool = True
) -> Graph:
    """Run ``fn`` with ``params`` and step calls recorded; return the validated DAG."""
    bound = bind_arguments(fn, (), params, f"pipeline {name!r}")
    if check:
        hints = type_hints(fn)
        for key, value in bound.items():
            if key in hints:
                check_type(value, hints[key], f"pipeline {name!r} parameter {key!r}")
    builder = GraphBuilder()
    token = _BUILDER.set(builder)
    try:
        returned = fn(**bound)
    finally:
        _BUILDER.reset(token)
    graph = Graph(name, dict(builder.nodes), _returned_refs(returned), dict(bound))
    graph.validate()
    return graph


def _returned_refs(value: Any) -> Any:
    """The pipeline's return value with placeholders as Refs; constants are dropped."""
    if isinstance(value, StepOutput):
        return value.ref
    if isinstance(value, list | tuple):
        return [_returned_refs(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _returned_refs(item) for key, item in value.items()}
    return None
