"""How the CLI prints: a Rich table for people, ``--json`` for scripts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


def as_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: as_jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [as_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): as_jsonable(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    print(json.dumps(as_jsonable(value), indent=2, default=str))


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Ids and actions stay whole on one line, so they can be read and copied."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    table = Table(title=title, header_style="bold")
    for index, column in enumerate(columns):
        if column in ("id", "seq", "action") or column.endswith(" id"):
            widest = max((len(row[index]) for row in cells if index < len(row)), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    console.print(table)


def when(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return ""
    stamp = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return stamp.strftime("%Y-%m-%d %H:%M:%S")


def duration(start_ms: int, end_ms: int | None) -> str:
    if end_ms is None:
        return ""
    seconds = max(0, end_ms - start_ms) / 1000
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"
