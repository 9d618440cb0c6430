"""OpenAPI documentation for routes whose input is validated by hand.

The MLflow routes validate raw bytes with pydantic-core (see
:mod:`loopml.server.wire`), which FastAPI cannot see; these helpers describe
the same request types in ``openapi_extra`` so ``/docs`` still shows every
field, and hoist nested definitions into ``components/schemas``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

_REF_TEMPLATE = "#/components/schemas/{model}"
_components: dict[str, Any] = {}


def _schema(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    schema = dict(adapter.json_schema(ref_template=_REF_TEMPLATE))
    _components.update(schema.pop("$defs", {}))
    return schema


def body_doc(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """``openapi_extra`` for a JSON request body."""
    content = {"application/json": {"schema": _schema(adapter)}}
    return {"requestBody": {"required": True, "content": content}}


def query_doc(adapter: TypeAdapter[Any]) -> dict[str, Any]:
    """``openapi_extra`` for query parameters (appended to FastAPI's path parameters)."""
    schema = _schema(adapter)
    required = set(schema.get("required", ()))
    parameters = [
        {"name": name, "in": "query", "required": name in required, "schema": field}
        for name, field in schema.get("properties", {}).items()
    ]
    return {"parameters": parameters}


def install_openapi(app: FastAPI) -> None:
    """Generate the document once, with the hand-validated request types included."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in _components.items():
                schemas.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
