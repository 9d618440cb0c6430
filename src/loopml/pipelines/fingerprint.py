"""Cache keys: what a step's result depends on, hashed.

A step's key is the sha256 of canonical JSON holding

* its code hash: the step function's syntax tree (decorators, docstrings,
  comments and formatting left out, so only a change in behaviour counts) plus,
  recursively, that of every user function or class it refers to by name
  (``helper(x)``, ``utils.clean(df)``); code under the standard library,
  site-packages or loopml is the environment, not the step, and is left out;
* its parameters (constants, as canonical JSON);
* the hashes of its inputs (the artifacts upstream steps produced);
* its declared extra inputs (``data:NAME@V`` as that version's digest, a file
  as its content hash, anything else as written);
* how many outputs it splits its result into.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import os
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from loopml.pipelines.steps import Step

KEY_VERSION = 1
_MAX_DEPTH = 32


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, tuples as lists."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def is_jsonable(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` survives JSON unchanged in meaning: str keys, finite floats, no objects."""
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, list | tuple):
        return all(is_jsonable(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_jsonable(v, depth + 1) for k, v in value.items())
    return False


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def cache_key(
    code_hash: str,
    params: dict[str, str],
    inputs: dict[str, Any],
    extra: list[str],
    outputs: int,
) -> str:
    document = {
        "v": KEY_VERSION,
        "code": code_hash,
        "params": params,
        "inputs": inputs,
        "extra": extra,
        "outputs": outputs,
    }
    return sha256_text(canonical_json(document))


def code_hash(fn: Callable[..., Any]) -> str:
    """The hash of ``fn``'s code and of the user code it refers to, recursively."""
    parts: list[str] = []
    seen: set[int] = set()
    _collect(fn, parts, seen, 0)
    return sha256_text("\n".join(parts))


def _collect(obj: Any, parts: list[str], seen: set[int], depth: int) -> None:
    obj = obj.fn if isinstance(obj, Step) else obj
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if id(obj) in seen or depth > _MAX_DEPTH:
        return
    seen.add(id(obj))
    name = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}"
    parts.append(f"{name}\n{_normalized_source(obj)}")
    for referenced in _referenced_user_objects(obj):
        _collect(referenced, parts, seen, depth + 1)


def _normalized_source(obj: Any) -> str:
    """The definition's syntax tree without decorators or docstrings, else its bytecode."""
    try:
        source = textwrap.dedent(inspect.getsource(obj))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        code = getattr(obj, "__code__", None)
        return _code_text(code) if code is not None else repr(obj)
    definition = next(
        (
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ),
        None,
    )
    if definition is None:  # a lambda: its line holds more than the function
        code = getattr(obj, "__code__", None)
        return _code_text(code) if code is not None else source
    for node in ast.walk(definition):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            node.decorator_list = [] if node is definition else node.decorator_list
            _drop_docstring(node)
    return ast.dump(definition, annotate_fields=False, include_attributes=False)


def _drop_docstring(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
    body = node.body
    first = body[0].value if body and isinstance(body[0], ast.Expr) else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        node.body = body[1:] or [ast.Pass()]


def _code_text(code: types.CodeType) -> str:
    """Bytecode, constants and names, recursively: for code with no source file (``-c``)."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{consts}|{code.co_names}"


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _referenced_user_objects(obj: Any) -> Iterator[Any]:
    """User functions and classes that ``obj`` names: globals, module attributes, closures."""
    functions = [obj] if inspect.isfunction(obj) else _class_functions(obj)
    for fn in functions:
        names = {name for code in _code_objects(fn.__code__) for name in code.co_names}
        namespace = fn.__globals__
        for name in sorted(names):
            value = namespace.get(name)
            if isinstance(value, types.ModuleType):
                if _is_user_module(value):
                    yield from _module_members(value, names)
            elif _is_user_object(value):
                yield value
        for cell in fn.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if _is_user_object(value):
                yield value


def _class_functions(obj: Any) -> list[types.FunctionType]:
    if not inspect.isclass(obj):
        return []
    return [v for v in vars(obj).values() if inspect.isfunction(v)]


def _module_members(module: types.ModuleType, names: set[str]) -> Iterator[Any]:
    for name in sorted(names):
        value = getattr(module, name, None)
        if _is_user_object(value):
            yield value


def _is_user_object(value: Any) -> bool:
    if isinstance(value, Step):
        value = value.fn
    if not (inspect.isfunction(value) or inspect.isclass(value)):
        return False
    module = sys.modules.get(getattr(value, "__module__", "") or "")
    return module is not None and _is_user_module(module)


def _is_user_module(module: types.ModuleType) -> bool:
    if module.__name__ == "__main__":
        return True
    root = module.__name__.partition(".")[0]
    if root == "loopml" or root in sys.stdlib_module_names:
        return False
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and _is_user_path(os.path.realpath(file))


@cache
def _environment_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    return tuple(os.path.realpath(r) + os.sep for r in roots if r)


def _is_user_path(path: str) -> bool:
    if "site-packages" in Path(path).parts or "dist-packages" in Path(path).parts:
        return False
    return not path.startswith(_environment_roots())
