"""The ``mlflow-artifacts`` proxy: artifact files up and down through the tracking server.

Runs and logged models have ``mlflow-artifacts:/<experiment>/...`` locations,
so the mlflow client sends their files here, and the path after
``/mlflow-artifacts/artifacts/`` *is* the artifact store's logical path.

Uploads stream: the request body goes chunk by chunk from the socket into
:meth:`ArtifactStore.put`, which hashes while it writes to a temporary file
and renames at the end, so a large file never sits in memory and an upload
cut off half-way (client gone, server killed) leaves nothing visible.
Downloads stream back the same way.

Every path is checked twice by :func:`~loopml.core.paths.safe_relpath`: as
routed (decoded once) and as sent (the raw, still-encoded request path), so
``..``, ``%2e%2e`` and ``%252e%252e`` are all refused with 400 before any I/O.
Multipart and presigned transfers are not offered (``/server-info`` says so,
and the client then never asks); their endpoints answer 501 in MLflow's words.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Iterator, MutableMapping
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from loopml.core.errors import InvalidParameter, NotSupported, ResourceNotFound
from loopml.core.paths import safe_relpath
from loopml.server import mlflow_schemas as s
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.mlflow_json import file_info_json
from loopml.server.openapi import query_doc
from loopml.server.state import Artifacts
from loopml.server.wire import empty_response, json_response, query_params

router = APIRouter(tags=["MLflow artifacts proxy"])

ARTIFACTS_PREFIXES = ("/api/2.0/mlflow-artifacts", "/ajax-api/2.0/mlflow-artifacts")
# The mlflow client falls back to a plain upload when a 501 carries this message.
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"

Reader = Annotated[RequestContext, guard("artifact", Action.READ)]
Editor = Annotated[RequestContext, guard("artifact", Action.EDIT)]
Manager = Annotated[RequestContext, guard("artifact", Action.MANAGE)]


def is_upload(scope: MutableMapping[str, Any]) -> bool:
    """Whether a request is an artifact upload (streamed, so exempt from the JSON body cap)."""
    path = scope.get("path")
    return (
        scope.get("method") == "PUT"
        and isinstance(path, str)
        and any(path.startswith(f"{prefix}/artifacts/") for prefix in ARTIFACTS_PREFIXES)
    )


def artifact_path(request: Request, routed: str) -> str:
    """The logical path of a request, after checking it both as routed and as sent."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        safe_relpath(raw.decode("latin-1").lstrip("/"), field="request path")
    path = safe_relpath(routed, field="artifact path")
    if not path:
        raise InvalidParameter("artifact path must not be empty")
    return path


def _request_chunks(request: Request) -> Iterator[bytes]:
    """The request body as a blocking iterator, for a worker thread; each chunk as it arrives."""
    stream = request.stream()
    while True:
        try:
            chunk = anyio.from_thread.run(stream.__anext__)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


@router.put("/artifacts/{path:path}")
async def upload_artifact(ctx: Editor, request: Request, path: str, store: Artifacts) -> Response:
    key = artifact_path(request, path)
    ctx.authorize(key)
    put = partial(store.put, key, _request_chunks(request))
    entry = await anyio.to_thread.run_sync(put)
    ctx.record("artifact.upload", key, size=entry.size, sha256=entry.sha256)
    return empty_response()


@router.get("/artifacts/{path:path}")
def download_artifact(ctx: Reader, request: Request, path: str, store: Artifacts) -> Response:
    key = artifact_path(request, path)
    ctx.authorize(key)
    try:
        entry = store.stat(key)
    except ResourceNotFound:
        if store.exists(key):
            raise InvalidParameter(f"artifact path {key!r} is a directory, not a file") from None
        raise
    name = posixpath.basename(key)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {
        "content-length": str(entry.size),
        "content-disposition": f"attachment; filename*=UTF-8''{quote(name)}",
        "x-content-type-options": "nosniff",
    }
    return StreamingResponse(store.iter_bytes(key), media_type=media_type, headers=headers)


@router.get("/artifacts", openapi_extra=query_doc(s.ARTIFACT_PATH))
def list_artifacts(
    ctx: Reader,
    query: Annotated[s.ArtifactPathQuery, query_params(s.ARTIFACT_PATH)],
    store: Artifacts,
) -> Response:
    """One directory level; each path is the entry's name, as MLflow answers."""
    path = safe_relpath(query.get("path", ""), field="path")
    ctx.authorize(path)
    found = store.list(path)
    return json_response({"files": [file_info_json(f, posixpath.basename(f.path)) for f in found]})


@router.delete("/artifacts/{path:path}")
def delete_artifact(ctx: Manager, request: Request, path: str, store: Artifacts) -> Response:
    key = artifact_path(request, path)
    ctx.authorize(key)
    deleted = store.delete(key)
    ctx.record("artifact.delete", key, files=deleted)
    return empty_response()


@router.post("/mpu/create/{path:path}")
@router.post("/mpu/complete/{path:path}")
@router.post("/mpu/abort/{path:path}")
def multipart_upload(ctx: Editor, request: Request, path: str) -> Response:
    artifact_path(request, path)
    raise NotSupported(f"{MULTIPART_UNSUPPORTED}; upload the file with a single PUT")


@router.get("/presigned/{path:path}")
def presigned_download(ctx: Reader, request: Request, path: str) -> Response:
    artifact_path(request, path)
    raise NotSupported("presigned download URLs are not offered; GET the artifact instead")
