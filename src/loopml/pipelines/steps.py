"""``@step``: a plain function that a pipeline runs, caches, retries and records.

Outside a pipeline a step is the function it wraps (call it in a test, get the
value). Inside a pipeline function being traced, calling it records a node in
the DAG and returns placeholders for its outputs, which other steps take as
arguments: that is how the DAG is drawn, by the code itself.
"""

from __future__ import annotations

import functools
import inspect
import math
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from loopml.core.errors import InvalidParameter
from loopml.pipelines.typecheck import type_hints

P = ParamSpec("P")
R = TypeVar("R")

RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory")


@dataclass(frozen=True)
class StepOptions:
    """How a step runs: attempts, timeout, caching, resources, declared extra inputs."""

    retries: int = 0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    backoff_s: float = 1.0  # wait before attempt n+1: backoff_s * 2 ** (n - 1)
    timeout_s: float | None = None
    cache: bool = True
    resources: Mapping[str, float] = field(default_factory=dict)
    extra_inputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if type(self.retries) is not int or self.retries < 0:
            raise InvalidParameter(f"retries must be a whole number >= 0, got {self.retries!r}")
        if not self.retry_on or not all(_is_exception_type(t) for t in self.retry_on):
            raise InvalidParameter(f"retry_on must be exception types, got {self.retry_on!r}")
        if not _is_number(self.backoff_s) or self.backoff_s < 0:
            raise InvalidParameter(f"backoff_s must be a number >= 0, got {self.backoff_s!r}")
        if self.timeout_s is not None and (not _is_number(self.timeout_s) or self.timeout_s <= 0):
            raise InvalidParameter(f"timeout_s must be a number > 0, got {self.timeout_s!r}")
        for key, value in self.resources.items():
            if not isinstance(key, str) or not _is_number(value) or value < 0:
                raise InvalidParameter(f"resources[{key!r}] must be a number >= 0, got {value!r}")
        for ref in self.extra_inputs:
            if not isinstance(ref, str) or not ref:
                raise InvalidParameter(f"extra_inputs must be non-empty strings, got {ref!r}")

    def backoff_for(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(self.backoff_s * 2 ** (attempt - 1))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


class Step(Generic[P, R]):
    """A function wrapped as a pipeline step (made by :func:`step`)."""

    def __init__(
        self, fn: Callable[P, R], options: StepOptions, *, name: str | None, outputs: Any
    ) -> None:
        if not callable(fn) or inspect.isclass(fn):
            raise InvalidParameter(f"@step needs a function, got {fn!r}")
        self.fn = fn
        self.options = options
        self.name = str(name or getattr(fn, "__name__", "step"))
        self.output_names = _output_names(fn, outputs, self.name)
        functools.update_wrapper(self, fn)

    @property
    def outputs(self) -> int:
        return len(self.output_names)

    def __repr__(self) -> str:
        return f"<step {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        from loopml.pipelines.tracing import current_builder

        builder = current_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return typing.cast(R, builder.add_call(self, args, kwargs))

    def map(self, items: Iterable[Any], *args: Any, **kwargs: Any) -> Any:
        """Run the step once per item (passed as its first parameter), in parallel.

        The other arguments go to every call. Inside a pipeline the result is one
        output holding the list of results, usable by any later step; outside
        one, it is that list, computed here.
        """
        from loopml.pipelines.tracing import current_builder

        builder = current_builder()
        if builder is None:
            return [self.fn(item, *args, **kwargs) for item in items]
        return builder.add_map(self, items, args, kwargs)


def _output_names(fn: Callable[..., Any], outputs: Any, name: str) -> tuple[str, ...]:
    """How many values the step returns: ``outputs=`` or a ``-> tuple[A, B]`` annotation."""
    if outputs is not None:
        names = (
            tuple(f"output_{i}" for i in range(outputs))
            if isinstance(outputs, int) and not isinstance(outputs, bool)
            else tuple(outputs)
            if isinstance(outputs, list | tuple)
            else ()
        )
        if not names or not all(isinstance(n, str) and n for n in names):
            raise InvalidParameter(
                f"step {name!r}: outputs must be a count >= 1 or a list of names, got {outputs!r}"
            )
        return names
    hint = type_hints(fn).get("return")
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        if args and args[-1] is not Ellipsis and args != ((),):
            return tuple(f"output_{i}" for i in range(len(args)))
    return ("output",)


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...
@overload
def step(
    *,
    name: str | None = None,
    retries: int = 0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    backoff_s: float = 1.0,
    timeout_s: float | None = None,
    cache: bool = True,
    resources: Mapping[str, float] | None = None,
    extra_inputs: Iterable[str] = (),
    outputs: int | list[str] | tuple[str, ...] | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...
def step(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    backoff_s: float = 1.0,
    timeout_s: float | None = None,
    cache: bool = True,
    resources: Mapping[str, float] | None = None,
    extra_inputs: Iterable[str] = (),
    outputs: int | list[str] | tuple[str, ...] | None = None,
) -> Step[P, R] | Callable[[Callable[P, R]], Step[P, R]]:
    """Make a function a pipeline step; use bare (``@step``) or with options.

    Args:
        name: the step's name in the DAG and records (default: the function's name).
        retries: extra attempts after a failure that ``retry_on`` matches.
        retry_on: exception types worth another attempt; a worker that dies
            (:class:`WorkerLost`) or a timeout (:class:`StepTimeout`) counts as one.
        backoff_s: wait before the first retry, doubled for each later one.
        timeout_s: stop the step after this long (the process executor kills its worker).
        cache: False when the step must run every time (it reads a clock, a live table).
        resources: what a Ray task asks for: ``num_cpus``, ``num_gpus``, ``memory``
            (bytes) or custom resources.
        extra_inputs: more things the result depends on, part of the cache key:
            ``data:NAME@VERSION`` dataset refs (their content digest), file paths
            (their content hash), or any string.
        outputs: how many values it returns as separate outputs (or their names),
            when no ``-> tuple[A, B]`` annotation says so.
    """
    retry_types = retry_on if isinstance(retry_on, tuple) else (retry_on,)
    options = StepOptions(
        retries,
        retry_types,
        backoff_s,
        timeout_s,
        cache,
        dict(resources or {}),
        tuple(extra_inputs) if not isinstance(extra_inputs, str) else (extra_inputs,),
    )

    def wrap(function: Callable[P, R]) -> Step[P, R]:
        return Step(function, options, name=name, outputs=outputs)

    return wrap(fn) if fn is not None else wrap
