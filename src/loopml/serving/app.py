"""The inference server as a plain ASGI app: Open Inference Protocol V2 and MLflow's routes.

Plain ASGI rather than FastAPI: a prediction of a quarter millisecond should
not pay a framework's per-request cost several times over. Routes:

- V2: ``GET /v2/health/live|ready``, ``GET /v2``, ``GET /v2/models/{name}[/versions/{v}]``
  (metadata), ``.../ready``, ``POST .../infer`` (JSON or binary tensors);
- MLflow: ``POST /invocations`` (``dataframe_split``, ``dataframe_records``,
  ``instances``, ``inputs``, CSV), ``GET /ping``, ``/health``, ``/version``;
- ``GET /metrics`` (Prometheus).

Errors are JSON with a message naming what was wrong (V2: ``{"error"}``;
MLflow routes: ``{"error_code", "message"}``); a model that raises answers
that one request with a 500 and the server keeps serving. With auth on, every
route but liveness needs a token (or basic auth) whose account may read the
registered model; health, readiness and the server's version stay open for
orchestrators' probes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from loopml import __version__
from loopml.auth import ANONYMOUS, Actor
from loopml.core.clock import now_ms
from loopml.core.errors import (
    InvalidParameter,
    LoopmlError,
    PermissionDenied,
    ResourceNotFound,
    Unauthenticated,
)
from loopml.core.ids import new_id
from loopml.predictions import PredictionRecord, PredictionSink
from loopml.serving.batching import Batcher
from loopml.serving.invocations import parse_invocation
from loopml.serving.metrics import ServingMetrics
from loopml.serving.models import EndpointState, LiveEndpoint, Served
from loopml.serving.runtime import ModelInput, ServedModel
from loopml.serving.tensors import BINARY_HEADER, decode_request, encode_response

logger = logging.getLogger("loopml.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Action = Literal["read", "edit"]

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
Labels = tuple[str, str, str, str]  # endpoint, model, version, route (for /metrics)
Routed = tuple["Response", Labels]
Match = re.Match[str]
Handler = Callable[["Request", Match, "EndpointState"], Awaitable[Routed]]

# Who may call a route: anyone (probes), any authenticated caller, or a caller with
# read (predict) or edit (send labels) on every model the endpoint answers with.
PUBLIC, CALLER, READ, EDIT = "public", "caller", "read", "edit"


@dataclass(frozen=True)
class ServingRoute:
    method: str
    pattern: re.Pattern[str]
    handler: str
    access: str


_MODEL = r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?"
ROUTES: tuple[ServingRoute, ...] = (
    ServingRoute("GET", re.compile(r"^/v2/health/live$"), "live_check", PUBLIC),
    ServingRoute("GET", re.compile(r"^/(?:v2/health/ready|ping|health)$"), "ready_check", PUBLIC),
    ServingRoute("GET", re.compile(r"^/(?:v2|version)$"), "server_metadata", PUBLIC),
    ServingRoute("GET", re.compile(r"^/metrics$"), "metrics_page", CALLER),
    ServingRoute("POST", re.compile(r"^/invocations$"), "invocations", READ),
    ServingRoute("POST", re.compile(r"^/v2/feedback$"), "feedback_labels", EDIT),
    ServingRoute("POST", re.compile(_MODEL + r"(?P<verb>/infer)$"), "infer", READ),
    ServingRoute("GET", re.compile(_MODEL + r"(?P<verb>/ready)?$"), "model_page", READ),
)
JSON = [(b"content-type", b"application/json")]


class BodyTooLarge(InvalidParameter):
    http_status = 413


class Request:
    """What a handler needs of one HTTP request."""

    __slots__ = ("actor", "body", "headers", "method", "path", "query")

    def __init__(self, scope: Scope, body: bytes) -> None:
        client = scope.get("client")
        # Who is calling: set by the access check; anonymous while auth is off.
        self.actor = dataclasses.replace(ANONYMOUS, client_addr=client[0] if client else "")
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope.get("query_string", b"")
        self.headers: dict[bytes, bytes] = dict(scope.get("headers") or ())
        self.body = body

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.encode())
        return value.decode("latin-1") if value is not None else None


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else JSON


def json(status: int, payload: Any) -> Response:
    return Response(status, orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))


class ServingApp:
    """Serves one endpoint: its current snapshot of routes, shadows and models."""

    def __init__(
        self,
        live: LiveEndpoint,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        authorize: Callable[[Request, str, Action], Actor] | None = None,
        metrics: ServingMetrics | None = None,
        log: PredictionSink | None = None,
        feedback: Callable[[Actor, str, list[tuple[str, Any]]], int] | None = None,
    ) -> None:
        self.live = live
        self.max_body_bytes = max_body_bytes
        self.authorize = authorize
        self.metrics = metrics or ServingMetrics()
        self.endpoint = live.state.name
        self.log = log
        self.feedback = feedback
        self._batchers: dict[tuple[str, int], Batcher] = {}
        self._background: set[asyncio.Future[None]] = set()
        if log is not None:
            self.metrics.watch_log(log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        try:
            body = await self._body(scope, receive)
            request = Request(scope, body)
            response, labels = await self.route(request)
        except LoopmlError as error:
            response, labels = _error(scope["path"], error), ("", "", "", "error")
        except Exception:
            logger.exception("request %s %s failed", scope.get("method"), scope["path"])
            response = _error(scope["path"], LoopmlError("internal error; see the server log"))
            labels = ("", "", "", "error")
        self.metrics.observe(labels, response.status, time.perf_counter() - started)
        await send(
            {"type": "http.response.start", "status": response.status, "headers": response.headers}
        )
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def close(self) -> None:
        """Stop serving: the prediction log is flushed whole (a clean shutdown loses nothing)."""
        self.live.close()
        if self.log is not None:
            self.log.close()

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and int(declared) > self.max_body_bytes:
            raise BodyTooLarge(
                f"request body of {int(declared)} bytes is over the limit of {self.max_body_bytes}"
            )
        chunks = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge(f"request body is over the limit of {self.max_body_bytes} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks) if len(chunks) != 1 else chunks[0]

    # --- routing ----------------------------------------------------------------------

    async def route(self, request: Request) -> tuple[Response, Labels]:
        """Find the request's route in :data:`ROUTES`, check its access, run its handler."""
        path, method = request.path, request.method
        allowed = []
        for route in ROUTES:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            state = self.live.state
            if "name" in found.groupdict() and found["name"] != state.name:
                raise ResourceNotFound(
                    f"model {found['name']!r} is not served here; {state.name!r} is"
                )
            self._check_access(request, route.access, state)
            handler: Handler = getattr(self, route.handler)
            return await handler(request, found, state)
        if allowed:
            raise MethodNotAllowed(f"{path} takes {' or '.join(sorted(allowed))}, not {method}")
        raise ResourceNotFound(f"no route {method} {path}")

    def _check_access(self, request: Request, access: str, state: EndpointState) -> None:
        if access == PUBLIC:
            return
        if access == CALLER:
            self._authorize(request, "")
            return
        for model_name in sorted({s.model.name for s in state.routes}):
            self._authorize(request, model_name, "edit" if access == EDIT else "read")

    # --- handlers (named in ROUTES) ------------------------------------------------------

    async def live_check(self, request: Request, found: Match, state: EndpointState) -> Routed:
        return json(200, {"live": True}), ("", "", "", "live")

    async def ready_check(self, request: Request, found: Match, state: EndpointState) -> Routed:
        ready = bool(state.routes)
        return json(200 if ready else 503, {"ready": ready}), ("", "", "", "ready")

    async def server_metadata(self, request: Request, found: Match, state: EndpointState) -> Routed:
        if request.path == "/version":
            body = Response(200, __version__.encode(), [(b"content-type", b"text/plain")])
            return body, ("", "", "", "metadata")
        info = {"name": "loopml", "version": __version__, "extensions": ["binary_tensor_data"]}
        return json(200, info), ("", "", "", "metadata")

    async def metrics_page(self, request: Request, found: Match, state: EndpointState) -> Routed:
        body, content_type = self.metrics.render()
        return Response(200, body, [(b"content-type", content_type.encode())]), (
            "", "", "", "metrics",
        )  # fmt: skip

    async def model_page(self, request: Request, found: Match, state: EndpointState) -> Routed:
        version, verb = found["version"], found["verb"] or ""
        served = state.pinned(version) if version else state.routes[0]
        labels = (self.endpoint, served.model.name, str(served.model.version), verb.strip("/"))
        if verb == "/ready":
            return json(200, {"name": state.name, "ready": True}), labels
        return json(200, model_metadata(state)), labels

    async def infer(self, request: Request, found: Match, state: EndpointState) -> Routed:
        return await self._infer(request, state, found["version"])

    async def invocations(self, request: Request, found: Match, state: EndpointState) -> Routed:
        return await self._invocations(request, state)

    async def feedback_labels(self, request: Request, found: Match, state: EndpointState) -> Routed:
        return self._feedback(request), (self.endpoint, "", "", "feedback")

    def _authorize(self, request: Request, model_name: str, action: Action = "read") -> None:
        if self.authorize is not None:
            request.actor = self.authorize(request, model_name, action)

    async def _infer(self, request: Request, state: EndpointState, version: str | None) -> Routed:
        started = time.perf_counter()
        length = request.header(BINARY_HEADER)
        decoded = decode_request(request.body, int(length) if length else None)
        served = (
            state.pinned(version)
            if version
            else state.pick(_sticky_key(state.config.sticky, request, decoded.parameters))
        )
        model = served.model
        labels = (self.endpoint, model.name, str(model.version), served.route.name)
        try:
            request_id = decoded.id or request.header("x-request-id") or new_id()
            method = _method(decoded.outputs)
            data = model.from_tensors(decoded.inputs)
            outputs = {method: await self._batcher(model, state).predict(data, method)}
        except LoopmlError as error:  # counted against the model it was sent to
            return _error(request.path, error), labels
        body, header_length = encode_response(
            model.name, str(model.version), outputs, request_id, decoded.binary_output
        )
        self._record(request_id, served, data, outputs[method], started)
        self._shadow(request_id, state, decoded.inputs, None)
        headers = [(b"x-request-id", request_id.encode())]
        if header_length is None:
            return Response(200, body, [*JSON, *headers]), labels
        headers += [
            (b"content-type", b"application/octet-stream"),
            (BINARY_HEADER.encode(), str(header_length).encode()),
        ]
        return Response(200, body, headers), labels

    def _batcher(self, model: ServedModel, state: EndpointState) -> Batcher:
        key = (model.name, model.version)
        found = self._batchers.get(key)
        if found is None or found.model is not model:
            found = Batcher(
                model,
                max_batch_size=state.config.max_batch_size,
                max_delay_ms=state.config.max_batch_delay_ms,
                metrics=self.metrics,
            )
            self._batchers[key] = found
        return found

    def _shadow(
        self, request_id: str, state: EndpointState, tensors: Any, request: Request | None
    ) -> None:
        """Send a copy to each shadow route; logged, never returned, never in the way."""
        for served in state.shadows:
            task = asyncio.ensure_future(
                self._shadow_one(request_id, state, served, tensors, request)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _shadow_one(
        self,
        request_id: str,
        state: EndpointState,
        served: Served,
        tensors: Any,
        request: Request | None,
    ) -> None:
        started = time.perf_counter()
        model = served.model
        try:
            if request is None:
                data = model.from_tensors(tensors)
            else:
                data = parse_invocation(request.body, request.header("content-type"), model)
            outputs = await self._batcher(model, state).predict(data)
        except Exception as error:
            logger.warning(
                "shadow %s failed on request %s: %s", served.route.name, request_id, error
            )
            return
        self.metrics.observe(
            (self.endpoint, model.name, str(model.version), f"shadow:{served.route.name}"),
            200,
            time.perf_counter() - started,
        )
        self._record(request_id, served, data, outputs, started, shadow=True)

    def _record(
        self,
        request_id: str,
        served: Served,
        data: ModelInput,
        outputs: Any,
        started: float,
        *,
        shadow: bool = False,
    ) -> None:
        """Append the answer to the prediction log (never blocks unless configured to)."""
        if self.log is None:
            return
        inputs = _columns_of(data, served.model)
        self.log.log(
            PredictionRecord(
                request_id=request_id,
                time_ms=now_ms(),
                endpoint=self.endpoint,
                route=f"shadow:{served.route.name}" if shadow else served.route.name,
                model_name=served.model.name,
                model_version=served.model.version,
                inputs=orjson.dumps(inputs, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
                outputs=orjson.dumps(outputs, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
                latency_ms=(time.perf_counter() - started) * 1000,
                status=200,
                shadow=shadow,
            )
        )

    def _feedback(self, request: Request) -> Response:
        """Ground truth for logged requests: ``{"labels": [{"request_id", "value"}, ...]}``."""
        if self.feedback is None:
            raise InvalidParameter("this server keeps no prediction log to attach labels to")
        try:
            message = orjson.loads(request.body)
        except orjson.JSONDecodeError as error:
            raise InvalidParameter(f"request body is not valid JSON: {error}") from None
        items = message.get("labels") if isinstance(message, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("request_id"), str) and "value" in i
            for i in items
        ):
            raise InvalidParameter(
                'feedback must be {"labels": [{"request_id": "...", "value": ...}, ...]}'
            )
        labels = [(i["request_id"], i["value"]) for i in items]
        stored = self.feedback(request.actor, self.endpoint, labels)
        return json(200, {"stored": stored})

    async def _invocations(self, request: Request, state: EndpointState) -> Routed:
        served = state.pick(_sticky_key(state.config.sticky, request, {}))
        model = served.model
        labels = (self.endpoint, model.name, str(model.version), served.route.name)
        started = time.perf_counter()
        try:
            data = parse_invocation(request.body, request.header("content-type"), model)
            predictions = await self._batcher(model, state).predict(data)
        except LoopmlError as error:
            return _error(request.path, error), labels
        request_id = request.header("x-request-id") or new_id()
        self._record(request_id, served, data, predictions, started)
        self._shadow(request_id, state, None, request)
        response = json(200, {"predictions": predictions})
        response.headers = [
            *JSON,
            (b"x-request-id", request_id.encode()),
            # which release answered: a canary or an A/B arm is visible to the caller
            (b"x-model-version", str(model.version).encode()),
            (b"x-route", served.route.name.encode()),
        ]
        return response, labels


def model_metadata(state: EndpointState) -> dict[str, Any]:
    """V2 model metadata: name, versions served, platform and the input tensors it takes."""
    model = state.routes[0].model
    inputs = [
        {"name": name, "datatype": _V2_TYPES.get(kind, "BYTES"), "shape": [-1]}
        for name, kind in zip(model.columns, model.types, strict=True)
    ]
    return {
        "name": state.name,
        "versions": sorted({str(s.model.version) for s in state.routes}),
        "platform": f"loopml-{model.loaded.flavor}",
        "inputs": inputs,
        "outputs": [{"name": m, "datatype": "FP64", "shape": [-1]} for m in model.methods],
    }


def _columns_of(data: ModelInput, model: ServedModel) -> Any:
    """The request's inputs as named columns (what monitoring reads back from the log)."""
    if data.frame is not None:
        return data.frame.to_dict(orient="list")
    assert data.matrix is not None
    if model.columns and data.matrix.ndim == 2 and data.matrix.shape[1] == len(model.columns):
        return dict(zip(model.columns, data.matrix.T.tolist(), strict=True))
    return data.matrix


def _sticky_key(sticky: str | None, request: Request, parameters: dict[str, Any]) -> str | None:
    """The request's A/B key (``header:NAME`` or ``parameter:NAME``); None: a random split."""
    if sticky is None:
        return None
    source, _, name = sticky.partition(":")
    value = request.header(name.lower()) if source == "header" else parameters.get(name)
    return None if value is None else str(value)


_V2_TYPES = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "binary": "BYTES",
}


def _method(outputs: list[dict[str, Any]]) -> str:
    names = [o.get("name") for o in outputs if isinstance(o, dict)]
    if len(names) > 1:
        raise InvalidParameter("ask for one output: 'predict' or 'predict_proba'")
    return str(names[0]) if names else "predict"


class MethodNotAllowed(InvalidParameter):
    http_status = 405


def _error(path: str, error: LoopmlError) -> Response:
    status = error.http_status
    if isinstance(error, Unauthenticated):
        status = 401
    elif isinstance(error, PermissionDenied):
        status = 403
    if path.startswith("/v2"):
        return json(status, {"error": error.message})
    return json(status, {"error_code": error.error_code, "message": error.message})
