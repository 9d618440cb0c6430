"""Datasets on the native API: versions, tags, reads, validation, profiles and diffs.

Mounted at ``/api/loopml/v1`` beside the access-control API. Every handler
authorizes the dataset it names (grants live on datasets; one that does not
exist yet may be created by anyone whose role may edit), then makes one
:class:`~loopml.data.DataClient` call as the request's actor; the client
writes each change with its audit event in one transaction and audits every
read of rows. A new version is uploaded as a Parquet body (streamed to a 0600
temp file, exempt from the JSON body cap) and re-snapshotted here: the server
hashes the content itself and never trusts a client's hash.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Required

import anyio
from fastapi import APIRouter, Request
from pydantic import Field, TypeAdapter, with_config
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from typing_extensions import TypedDict

from loopml.core.errors import InvalidParameter
from loopml.data import DataClient
from loopml.data.entities import DataRef, check_dataset_name
from loopml.data.report import render_profile_html
from loopml.data.validation import Expectation, Suite
from loopml.server.guard import Action, RequestContext, guard
from loopml.server.mlflow_artifacts import _request_chunks
from loopml.server.openapi import body_doc, query_doc
from loopml.server.state import Tracking
from loopml.server.wire import STRICT, Bool, json_body, json_response, query_params

PREFIX = "/api/loopml/v1"
router = APIRouter(tags=["Datasets"])
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


def is_dataset_upload(scope: MutableMapping[str, Any]) -> bool:
    """Whether a request uploads a dataset version (streamed: exempt from the JSON body cap)."""
    path = scope.get("path")
    return (
        scope.get("method") == "POST"
        and isinstance(path, str)
        and path.startswith(f"{PREFIX}/datasets/")
        and path.endswith("/versions")
    )


# --- request messages ------------------------------------------------------------


@with_config(STRICT)
class AddVersionQuery(TypedDict, total=False):
    description: Annotated[str, Field(max_length=5000)]
    parents: list[str]
    run_id: str
    source: Annotated[str, Field(max_length=2000)]  # where the client read it: a label


@with_config(STRICT)
class SetTagBody(TypedDict, total=False):
    version: Required[Annotated[int, Field(ge=1)]]
    expected: int | None  # where the tag must point now (null: nowhere), or 409


@with_config(STRICT)
class ColumnTagsBody(TypedDict):
    tags: list[str]


@with_config(STRICT)
class SuiteBody(TypedDict, total=False):
    suite: dict[str, Any] | None


@with_config(STRICT)
class ContentQuery(TypedDict, total=False):
    mask: Bool


@with_config(STRICT)
class ProfileQuery(TypedDict, total=False):
    format: str


@with_config(STRICT)
class DiffQuery(TypedDict, total=False):
    before: Required[str]
    after: Required[str]
    key: list[str]


ADD_VERSION = TypeAdapter(AddVersionQuery)
SET_TAG = TypeAdapter(SetTagBody)
COLUMN_TAGS = TypeAdapter(ColumnTagsBody)
SUITE = TypeAdapter(SuiteBody)
CONTENT = TypeAdapter(ContentQuery)
PROFILE = TypeAdapter(ProfileQuery)
DIFF = TypeAdapter(DiffQuery)

Reader = Annotated[RequestContext, guard("dataset", Action.READ)]
Editor = Annotated[RequestContext, guard("dataset", Action.EDIT)]
Manager = Annotated[RequestContext, guard("dataset", Action.MANAGE)]


def data_client(request: Request, ctx: RequestContext) -> DataClient:
    """A client acting as the request's caller, on the app's store and artifact root."""
    settings = request.app.state.settings
    return DataClient(
        request.app.state.data_store,
        request.app.state.tracking.artifacts,
        ctx.actor,
        settings.home / "tmp",
        request_id=ctx.request_id,
        enforce_masking=ctx.access.enabled,
    )


def _ref(name: str, selector: str) -> DataRef:
    return DataRef.parse(f"{check_dataset_name(name)}@{selector}")


def _referenced(suite: Suite) -> list[str]:
    """Datasets a suite reads besides its own (``references`` expectations)."""
    return [DataRef.parse(e.params["ref"]).name for e in suite.expectations if _refers(e)]


def _refers(expectation: Expectation) -> bool:
    return expectation.kind == "references"


def _suite_in(ctx: RequestContext, raw: dict[str, Any] | None) -> Suite | None:
    """The suite a request carries (or a dataset has), once the caller may read what it reads."""
    if raw is None:
        return None
    suite = Suite.from_dict(raw)
    for other in _referenced(suite):
        ctx.authorize(other, Action.READ)
    return suite


# --- datasets and versions -------------------------------------------------------


@router.get("/datasets")
def list_datasets(ctx: Reader, request: Request) -> Response:
    """The datasets the caller may read, by name."""
    datasets = data_client(request, ctx).list_datasets(ctx.readable())
    return json_response({"datasets": [d.to_dict() for d in datasets]})


@router.get("/datasets/{name}")
def get_dataset(ctx: Reader, request: Request, name: str) -> Response:
    ctx.authorize(name)
    return json_response({"dataset": data_client(request, ctx).dataset(name).to_dict()})


@router.get("/datasets/{name}/versions")
def list_versions(ctx: Reader, request: Request, name: str) -> Response:
    ctx.authorize(name)
    versions = data_client(request, ctx).list_versions(name)
    return json_response({"versions": [v.to_dict() for v in versions]})


@router.post("/datasets/{name}/versions", openapi_extra=query_doc(ADD_VERSION))
async def add_version(
    ctx: Editor,
    request: Request,
    name: str,
    client: Tracking,
    query: Annotated[AddVersionQuery, query_params(ADD_VERSION)],
) -> Response:
    """Add a version from a Parquet body; 201 when new, 200 when identical content existed."""
    check_dataset_name(name)
    ctx.authorize(name)
    parents = query.get("parents", [])
    for parent in parents:
        ctx.authorize(DataRef.parse(parent).name, Action.READ)
    run_id = query.get("run_id") or None
    if run_id is not None:
        ctx.authorize(run_id, Action.EDIT, kind="run")
        await anyio.to_thread.run_sync(client.get_run, run_id)  # 404 before any work
    data = data_client(request, ctx)
    data.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=data.work_dir) as scratch:
        upload = Path(scratch) / "upload.parquet"
        await anyio.to_thread.run_sync(_receive, request, upload)
        add = partial(
            data.add,
            name,
            upload,
            description=query.get("description", ""),
            parents=parents,
            run_id=run_id,
            source_uri=query.get("source") or "upload",
        )
        added = await anyio.to_thread.run_sync(add)
    payload = {"version": added.version.to_dict(), "created": added.created}
    return json_response(payload, 201 if added.created else 200)


def _receive(request: Request, destination: Path) -> None:
    fd = os.open(destination, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as sink:
        for chunk in _request_chunks(request):
            sink.write(chunk)
    if destination.stat().st_size == 0:
        raise InvalidParameter("the request body is empty: send the version as a Parquet file")


@router.get("/datasets/{name}/versions/{selector}")
def get_version(ctx: Reader, request: Request, name: str, selector: str) -> Response:
    """One version: ``selector`` is a number, a tag or ``latest``."""
    ctx.authorize(name)
    version = data_client(request, ctx).get(_ref(name, selector))
    return json_response({"version": version.to_dict()})


@router.get("/datasets/{name}/versions/{selector}/content", openapi_extra=query_doc(CONTENT))
def read_content(
    ctx: Reader,
    request: Request,
    name: str,
    selector: str,
    query: Annotated[ContentQuery, query_params(CONTENT)],
) -> Response:
    """The version's rows as Parquet; sensitive columns are null for callers without a grant."""
    ctx.authorize(name)
    data = data_client(request, ctx)
    version = data.get(_ref(name, selector))
    masked = data.masked_columns(name, mask=query.get("mask", False))
    headers = {
        "content-disposition": f'attachment; filename="{name}-{version.version}.parquet"',
        "x-loopml-masked-columns": ",".join(masked),
        "x-loopml-version": str(version.version),
    }
    if masked:  # written to a private temp file, streamed, then removed
        data.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, scratch = tempfile.mkstemp(suffix=".parquet", dir=data.work_dir)
        os.close(fd)
        data.download(version.ref, Path(scratch), mask=True)
        return FileResponse(
            scratch,
            media_type=PARQUET_MEDIA_TYPE,
            headers=headers,
            background=BackgroundTask(os.unlink, scratch),
        )
    data.store.record_read(version, ctx.actor, [], ctx.request_id)
    return StreamingResponse(
        data.artifacts.iter_bytes(version.artifact_path),
        media_type=PARQUET_MEDIA_TYPE,
        headers=headers,
    )


@router.put("/datasets/{name}/tags/{tag}", openapi_extra=body_doc(SET_TAG))
def set_tag(
    ctx: Editor,
    request: Request,
    name: str,
    tag: str,
    body: Annotated[SetTagBody, json_body(SET_TAG)],
) -> Response:
    """Move ``tag`` to ``version`` if it still points at ``expected`` (409 if it moved)."""
    ctx.authorize(name)
    previous = data_client(request, ctx).set_tag(
        name, tag, body["version"], expected=body.get("expected")
    )
    return json_response({"tag": tag, "version": body["version"], "previous": previous})


@router.put("/datasets/{name}/columns/{column}/tags", openapi_extra=body_doc(COLUMN_TAGS))
def set_column_tags(
    ctx: Manager,
    request: Request,
    name: str,
    column: str,
    body: Annotated[ColumnTagsBody, json_body(COLUMN_TAGS)],
) -> Response:
    """Label a column (``pii`` masks it for readers without a grant); managers only."""
    ctx.authorize(name)
    previous = data_client(request, ctx).set_column_tags(name, column, body["tags"])
    tags = sorted(set(body["tags"]))
    return json_response({"column": column, "tags": tags, "previous": previous})


# --- quality ---------------------------------------------------------------------


@router.put("/datasets/{name}/suite", openapi_extra=body_doc(SUITE))
def attach_suite(
    ctx: Editor, request: Request, name: str, body: Annotated[SuiteBody, json_body(SUITE)]
) -> Response:
    """Attach a suite (``null`` detaches): every later version is validated on add."""
    ctx.authorize(name)
    suite = _suite_in(ctx, body.get("suite"))
    data_client(request, ctx).attach_suite(name, suite)
    return json_response({"suite": None if suite is None else suite.to_dict()})


@router.post("/datasets/{name}/versions/{selector}/validations", openapi_extra=body_doc(SUITE))
def validate_version(
    ctx: Editor,
    request: Request,
    name: str,
    selector: str,
    body: Annotated[SuiteBody, json_body(SUITE)],
) -> Response:
    """Validate a version (with the body's suite, or the attached one) and store the report."""
    ctx.authorize(name)
    suite = _suite_in(ctx, body.get("suite"))
    data = data_client(request, ctx)
    if suite is None:  # the attached suite: its references are checked as they are now
        _suite_in(ctx, data.dataset(name).suite)
    report = data.validate(_ref(name, selector), suite)
    return json_response({"report": report.to_dict()})


@router.get("/datasets/{name}/versions/{selector}/validations")
def list_validations(ctx: Reader, request: Request, name: str, selector: str) -> Response:
    ctx.authorize(name)
    reports = data_client(request, ctx).validations(_ref(name, selector))
    return json_response({"reports": [r.to_dict() for r in reports]})


@router.get("/datasets/{name}/versions/{selector}/profile", openapi_extra=query_doc(PROFILE))
def get_profile(
    ctx: Reader,
    request: Request,
    name: str,
    selector: str,
    query: Annotated[ProfileQuery, query_params(PROFILE)],
) -> Response:
    """The version's profile as JSON, or (``format=html``) as a page with charts."""
    ctx.authorize(name)
    fmt = query.get("format", "json")
    if fmt not in ("json", "html"):
        raise InvalidParameter(f"invalid value for 'format': {fmt!r}; must be json or html")
    data = data_client(request, ctx)
    ref = _ref(name, selector)
    profile = data.profile(ref)
    if fmt == "html":
        return HTMLResponse(render_profile_html(profile, f"{name} @ {data.get(ref).version}"))
    return json_response({"profile": profile.to_dict()})


@router.get("/datasets/{name}/versions/{selector}/suggested-suite")
def suggest_suite(ctx: Reader, request: Request, name: str, selector: str) -> Response:
    """A suite proposed from the version's profile (``loopml data infer-suite``)."""
    ctx.authorize(name)
    suite = data_client(request, ctx).infer_suite(_ref(name, selector))
    return json_response({"suite": suite.to_dict()})


@router.get("/datasets/{name}/diff", openapi_extra=query_doc(DIFF))
def diff_versions(
    ctx: Reader, request: Request, name: str, query: Annotated[DiffQuery, query_params(DIFF)]
) -> Response:
    """Schema, row-count and (by ``key``) row changes from ``before`` to ``after``."""
    ctx.authorize(name)
    result = data_client(request, ctx).diff(
        _ref(name, query["before"]), _ref(name, query["after"]), keys=query.get("key", [])
    )
    return json_response({"diff": result.to_dict()})
