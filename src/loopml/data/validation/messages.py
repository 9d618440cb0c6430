"""The words of validation messages: counts, percentages, intervals and values, kept short."""

from __future__ import annotations

from typing import Any

SHOWN_VALUES = 8


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def percent(fraction: float) -> str:
    """``0.03%``; a tiny nonzero share reads ``<0.01%`` rather than a misleading ``0.00%``."""
    if fraction == 0:
        return "0%"
    if fraction < 0.0001:
        return "<0.01%"
    return f"{fraction:.2%}"


def show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def interval(low: Any, high: Any) -> str:
    """``[0, 10]``, ``[0, ∞)`` or ``(-∞, 10]``: the closed range a bound pair allows."""
    left = "(-∞" if low is None else f"[{show(low)}"
    right = "∞)" if high is None else f"{show(high)}]"
    return f"{left}, {right}"


def show_set(values: list[Any]) -> str:
    shown = ", ".join(repr(value) for value in values[:SHOWN_VALUES])
    more = f", ... ({len(values)} values)" if len(values) > SHOWN_VALUES else ""
    return "{" + shown + more + "}"


def examples(values: list[Any]) -> str:
    return ", e.g. " + ", ".join(repr(value) for value in values[:SHOWN_VALUES])
