"""The HTTP server: MLflow's tracking REST API (and, later, loopml's own API and UI) on FastAPI.

``create_app(settings)`` builds the ASGI app; ``serve(host, port)`` runs it
under uvicorn. Importing this package imports neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.server.app import create_app
    from loopml.server.run import serve

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from loopml.server.app import create_app

        return create_app
    if name == "serve":
        from loopml.server.run import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
