"""Release gates: rules like ``roc_auc >= baseline.roc_auc - 0.005``, parsed without ``eval``.

A rule is one comparison between two arithmetic expressions over numbers and
dotted names. Names are looked up in an evaluation result (a nested mapping):
``roc_auc``, ``baseline.roc_auc``, ``segment.region.recall`` (a mapping of
segment value to number), ``fairness.sex.demographic_parity_difference``.
``min``, ``max``, ``mean`` reduce such a mapping (or several arguments) to one
number; ``abs`` takes one. The grammar is small on purpose::

    rule   := expr ("<" | "<=" | ">" | ">=" | "==" | "!=") expr
    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := NUMBER | NAME ("." NAME)* | FUNC "(" expr ("," expr)* ")"
              | "(" expr ")" | "-" factor

A syntax error is raised when the gate is made (so a bad rule never reaches a
promotion), naming the position; a name missing from the result fails that
gate with a message listing what exists, never the others.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from loopml.core.errors import InvalidParameter

_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*)"
    r"|(?P<op><=|>=|==|!=|[<>+\-*/(),]))"
)
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}
FUNCTIONS = ("abs", "max", "mean", "min")
MAX_LENGTH = 500

# A parsed expression: ("num", value) | ("name", path) | ("call", func, args)
# | ("neg", expr) | ("bin", op, left, right).
Node = tuple[Any, ...]


class GateMissingValue(LookupError):
    """A rule names something the evaluation result does not have."""


@dataclass(frozen=True)
class GateResult:
    rule: str
    passed: bool
    left: float | None
    right: float | None
    message: str


@dataclass(frozen=True)
class Gate:
    """One rule, checked for syntax when made."""

    rule: str

    def __post_init__(self) -> None:
        self.parsed  # noqa: B018  (parse now: a bad rule fails at the boundary)

    @cached_property
    def parsed(self) -> tuple[str, Node, Node]:
        return _parse(self.rule)

    def evaluate(self, result: Mapping[str, Any]) -> GateResult:
        comparison, left_node, right_node = self.parsed
        try:
            left, right = _value(left_node, result), _value(right_node, result)
        except GateMissingValue as missing:
            return GateResult(self.rule, False, None, None, str(missing))
        except ZeroDivisionError:
            return GateResult(self.rule, False, None, None, f"{self.rule}: division by zero")
        passed = not (math.isnan(left) or math.isnan(right)) and COMPARISONS[comparison](
            left, right
        )
        verdict = "passed" if passed else "failed"
        message = f"{self.rule}: {left:.6g} {comparison} {right:.6g} {verdict}"
        return GateResult(self.rule, passed, left, right, message)


def check_gates(rules: list[str], result: Mapping[str, Any]) -> list[GateResult]:
    """Every rule's verdict on ``result``; all are parsed first (one bad rule: no verdicts)."""
    gates = [Gate(rule) for rule in rules]
    return [gate.evaluate(result) for gate in gates]


# --- parsing ---------------------------------------------------------------------------


def _tokens(rule: str) -> list[tuple[str, str, int]]:
    if len(rule) > MAX_LENGTH:
        raise InvalidParameter(f"gate rule is {len(rule)} characters; the limit is {MAX_LENGTH}")
    found, at = [], 0
    while at < len(rule):
        if rule[at:].strip() == "":
            break
        match = _TOKEN.match(rule, at)
        if match is None or match.lastgroup is None:
            raise _syntax(rule, len(rule) - len(rule[at:].lstrip()), "unexpected character")
        found.append((match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup)))
        at = match.end()
    return found


class _Parser:
    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.tokens = _tokens(rule)
        self.at = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise _syntax(self.rule, len(self.rule), f"expected {text or 'more'} at the end")
        if text is not None and token[1] != text:
            raise _syntax(self.rule, token[2], f"expected {text!r}, found {token[1]!r}")
        self.at += 1
        return token

    def rule_(self) -> tuple[str, Node, Node]:
        left = self.expr()
        token = self.peek()
        if token is None or token[1] not in COMPARISONS:
            where = len(self.rule) if token is None else token[2]
            raise _syntax(self.rule, where, "expected a comparison (<, <=, >, >=, ==, !=)")
        self.at += 1
        right = self.expr()
        if (extra := self.peek()) is not None:
            raise _syntax(self.rule, extra[2], f"unexpected {extra[1]!r} after the comparison")
        return token[1], left, right

    def expr(self) -> Node:
        node = self.term()
        while (token := self.peek()) is not None and token[1] in ("+", "-"):
            self.at += 1
            node = ("bin", token[1], node, self.term())
        return node

    def term(self) -> Node:
        node = self.factor()
        while (token := self.peek()) is not None and token[1] in ("*", "/"):
            self.at += 1
            node = ("bin", token[1], node, self.factor())
        return node

    def factor(self) -> Node:
        kind, text, where = self.take()
        if kind == "number":
            return ("num", float(text))
        if text == "-":
            return ("neg", self.factor())
        if text == "(":
            node = self.expr()
            self.take(")")
            return node
        if kind == "name":
            following = self.peek()
            if following is not None and following[1] == "(":
                return self.call(text, where)
            return ("name", text)
        raise _syntax(self.rule, where, f"unexpected {text!r}")

    def call(self, func: str, where: int) -> Node:
        if func not in FUNCTIONS:
            raise _syntax(
                self.rule, where, f"unknown function {func!r}; use {', '.join(FUNCTIONS)}"
            )
        self.take("(")
        args = [self.expr()]
        while (token := self.peek()) is not None and token[1] == ",":
            self.at += 1
            args.append(self.expr())
        self.take(")")
        if func == "abs" and len(args) != 1:
            raise _syntax(self.rule, where, "abs takes one argument")
        return ("call", func, args)


def _parse(rule: str) -> tuple[str, Node, Node]:
    if not isinstance(rule, str) or not rule.strip():
        raise InvalidParameter("a gate rule must be a non-empty string, e.g. 'roc_auc >= 0.8'")
    return _Parser(rule).rule_()


def _syntax(rule: str, where: int, problem: str) -> InvalidParameter:
    return InvalidParameter(f"gate {rule!r}: {problem} (at column {where + 1})")


# --- evaluation ------------------------------------------------------------------------


def _value(node: Node, result: Mapping[str, Any]) -> float:
    values = _values(node, result)
    if len(values) != 1:
        raise GateMissingValue(
            f"{_show(node)} holds {len(values)} values; reduce them with min(), max() or mean()"
        )
    return values[0]


def _values(node: Node, result: Mapping[str, Any]) -> list[float]:
    kind = node[0]
    if kind == "num":
        return [node[1]]
    if kind == "name":
        return _lookup(node[1], result)
    if kind == "neg":
        return [-_value(node[1], result)]
    if kind == "bin":
        return [_ARITHMETIC[node[1]](_value(node[2], result), _value(node[3], result))]
    func, args = node[1], node[2]
    if func == "abs":
        return [abs(_value(args[0], result))]
    pooled = [v for arg in args for v in _values(arg, result)]
    if not pooled:
        raise GateMissingValue(f"{func}() of nothing: {_show(node)} found no values")
    if func == "min":
        return [min(pooled)]
    if func == "max":
        return [max(pooled)]
    return [math.fsum(pooled) / len(pooled)]


def _lookup(path: str, result: Mapping[str, Any]) -> list[float]:
    here: Any = result
    for depth, part in enumerate(path.split(".")):
        if not isinstance(here, Mapping) or part not in here:
            known = sorted(here) if isinstance(here, Mapping) else []
            where = ".".join(path.split(".")[:depth]) or "the evaluation result"
            raise GateMissingValue(
                f"no value {path!r}: {where} has {', '.join(map(str, known[:20])) or 'nothing'}"
            )
        here = here[part]
    if isinstance(here, Mapping):
        numbers = [
            v for v in here.values() if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        if len(numbers) != len(here):
            raise GateMissingValue(f"{path!r} is not a number or a mapping of numbers")
        return [float(v) for v in numbers]
    if isinstance(here, bool) or not isinstance(here, (int, float)):
        raise GateMissingValue(f"{path!r} is {here!r}, not a number")
    return [float(here)]


def _show(node: Node) -> str:
    kind = node[0]
    if kind == "num":
        return f"{node[1]:g}"
    if kind == "name":
        return str(node[1])
    if kind == "neg":
        return f"-{_show(node[1])}"
    if kind == "bin":
        return f"{_show(node[2])} {node[1]} {_show(node[3])}"
    return f"{node[1]}({', '.join(_show(a) for a in node[2])})"
