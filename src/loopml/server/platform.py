"""A ``loopml.Client``'s shape for one request: its tracking, registry and data, as the caller.

Domain code that reads across packages (lineage, cards, monitors' references)
takes a client; on the server each part is the request's own, so every read
goes through the caller's permissions.
"""

from __future__ import annotations

from typing import Any


class Platform:
    def __init__(self, tracking: Any, registry: Any, data: Any) -> None:
        self.tracking = tracking
        self.registry = registry
        self.data = data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tracking, name)
