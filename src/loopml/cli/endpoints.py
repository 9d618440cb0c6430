"""``loopml endpoints ...``: create, change, inspect, roll back and export endpoints.

An endpoint is a named, versioned serving configuration (routes with weights,
shadows, a sticky key, batching); ``loopml serve NAME`` serves it and follows
its changes. Every ``create``, ``update`` and ``rollback`` makes a new version,
audited. The primary route is named ``primary`` and a canary ``canary``, so
``update --canary-weight`` and ``update --promote-canary`` know what to move.
Embedded stores only for now.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from loopml.cli._common import JsonOption, UriOption, friendly_errors, open_client
from loopml.cli._output import console, print_json, print_table, when
from loopml.core.errors import InvalidParameter, InvalidState, NotSupported

if TYPE_CHECKING:  # the CLI starts without loading the inference server
    from loopml.serving.endpoints import EndpointsClient
    from loopml.serving.entities import EndpointConfig, EndpointVersion, Route

app = typer.Typer(
    help="Endpoints: versioned serving configurations (canary, A/B, shadow), rollback, export.",
    no_args_is_help=True,
)

PRIMARY = "primary"
CANARY = "canary"

NameArgument = Annotated[str, typer.Argument(help="Endpoint name.")]
ModelOption = Annotated[
    str | None, typer.Option("--model", help="The primary route's model: models:/NAME@ALIAS.")
]
CanaryOption = Annotated[
    str | None, typer.Option("--canary", help="A canary route's model URI (see --canary-weight).")
]
CanaryWeightOption = Annotated[
    float | None,
    typer.Option("--canary-weight", help="Percent of traffic to the canary (default 10)."),
]
RouteOption = Annotated[
    list[str] | None,
    typer.Option("--route", help="NAME=MODEL_URI[:WEIGHT], repeatable (weights are relative)."),
]
ShadowOption = Annotated[
    list[str] | None,
    typer.Option("--shadow", help="NAME=MODEL_URI: gets a copy of the traffic, never answers."),
]
StickyOption = Annotated[
    str | None,
    typer.Option("--sticky", help="header:NAME or parameter:NAME: one key, one route."),
]
BatchSizeOption = Annotated[
    int | None, typer.Option("--max-batch-size", help="Most requests per model call (64).")
]
BatchDelayOption = Annotated[
    float | None,
    typer.Option("--max-batch-delay-ms", help="How long a busy queue waits for a batch (0)."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="A YAML or JSON file shaped like `show --json`'s config."),
]
CommentOption = Annotated[str, typer.Option("--comment", help="Why: kept in the history.")]


def _endpoints(uri: str | None) -> EndpointsClient:
    """Endpoints on the embedded store at ``uri``, checked against its registry."""
    if uri and uri.startswith(("http://", "https://")):
        raise NotSupported(
            "remote endpoints management is not available yet; "
            "give --uri a local loopml home (the server's own store) instead"
        )
    from loopml.auth import local_actor
    from loopml.serving.endpoints import EndpointsClient

    client = open_client(uri)
    db = getattr(client.store, "db", None)
    assert db is not None  # an embedded store always has its database
    db.initialize()
    return EndpointsClient(db, local_actor(), registry=client.registry)


# --- building a configuration from options ------------------------------------------------


def _named(spec: str, option: str) -> tuple[str, str]:
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise InvalidParameter(f"{option} {spec!r} must be NAME=MODEL_URI")
    return name, rest


def _route(spec: str) -> Route:
    """``NAME=MODEL_URI[:WEIGHT]``; the URI keeps its own colon (``models:/...``)."""
    from loopml.serving.entities import Route

    name, rest = _named(spec, "--route")
    model, sep, weight = rest.rpartition(":")
    if sep and model.startswith("models:/"):
        try:
            return Route(name, model, float(weight))
        except ValueError:
            raise InvalidParameter(f"--route {spec!r}: weight {weight!r} is not a number") from None
    return Route(name, rest)


def _canary_weight(weight: float | None) -> float:
    weight = 10.0 if weight is None else weight
    if not 0 < weight < 100:
        raise InvalidParameter(
            f"--canary-weight must be more than 0 and less than 100; got {weight:g} "
            "(use --promote-canary to send it everything)"
        )
    return weight


def _read_config(path: Path) -> EndpointConfig:
    import yaml

    from loopml.serving.entities import EndpointConfig

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidParameter(f"--config {path}: {error.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise InvalidParameter(f"--config {path} is not valid JSON or YAML: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]  # the whole of `show --json` works too
    return EndpointConfig.from_dict(data)


def _build(
    model: str | None,
    canary: str | None,
    canary_weight: float | None,
    routes: list[str],
    shadows: list[str],
    sticky: str | None,
    max_batch_size: int | None,
    max_batch_delay_ms: float | None,
) -> EndpointConfig:
    """The whole configuration the options describe."""
    from loopml.serving.entities import EndpointConfig, Route

    built: list[Route] = []
    if canary is not None and model is None:
        raise InvalidParameter("--canary needs --model (the primary it shares traffic with)")
    if canary_weight is not None and canary is None:
        raise InvalidParameter("--canary-weight needs --canary (or, in update, nothing else)")
    if model is not None:
        weight = _canary_weight(canary_weight) if canary is not None else 0.0
        built.append(Route(PRIMARY, model, 100.0 - weight))
        if canary is not None:
            built.append(Route(CANARY, canary, weight))
    built.extend(_route(spec) for spec in routes)
    if not built:
        raise InvalidParameter("give --model, --route or --config: an endpoint serves something")
    return EndpointConfig(
        routes=built,
        shadows=[Route(*_named(spec, "--shadow"), 0.0) for spec in shadows],
        sticky=sticky,
        max_batch_size=64 if max_batch_size is None else max_batch_size,
        max_batch_delay_ms=0.0 if max_batch_delay_ms is None else max_batch_delay_ms,
    )


def _from_options(config_file: Path | None, **options: Any) -> EndpointConfig:
    if config_file is None:
        return _build(**options)
    given = [name for name, value in options.items() if value not in (None, [])]
    if given:
        flag = "--" + given[0].replace("_", "-")
        raise InvalidParameter(f"--config holds the whole configuration; leave out {flag}")
    return _read_config(config_file)


# --- printing ----------------------------------------------------------------------------


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _shares(config: EndpointConfig) -> dict[str, float]:
    """Each route's percent of the traffic."""
    total = sum(r.weight for r in config.routes)
    return {r.name: round(100 * r.weight / total, 2) for r in config.routes}


def _serves(config: EndpointConfig, separator: str = ", ") -> str:
    shares = _shares(config)
    return separator.join(f"{r.name} {shares[r.name]:g}% {r.model}" for r in config.routes)


def _described(version: EndpointVersion) -> dict[str, Any]:
    return {**version.to_dict(), "traffic_percent": _shares(version.config)}


def _print_version(version: EndpointVersion) -> None:
    config = version.config
    _say(f"endpoint {version.name}, version {version.version}")
    _say(f"changed {when(version.created_ms)} by {version.created_by}: {version.comment or '-'}")
    shares = _shares(config)
    rows = [(r.name, f"{shares[r.name]:g}%", r.weight, r.model) for r in config.routes]
    _table("Routes", ["route", "traffic", "weight", "model"], rows)
    if config.shadows:
        _table(
            "Shadows (answers logged, never returned)",
            ["route", "model"],
            [(r.name, r.model) for r in config.shadows],
        )
    else:
        _say("shadows: none")
    _say(f"sticky: {config.sticky or 'none (each request routed by weight)'}")
    _say(
        f"batching: up to {config.max_batch_size} requests per call, a busy queue waits "
        f"at most {config.max_batch_delay_ms:g} ms"
    )


def _table(title: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """A Rich table whose cells are shown as typed (markup in user text is escaped)."""
    safe = [tuple(escape("" if c is None else str(c)) for c in row) for row in rows]
    print_table(escape(title), columns, safe)


# --- commands ----------------------------------------------------------------------------


@app.command("create")
@friendly_errors
def create(
    name: NameArgument,
    model: ModelOption = None,
    canary: CanaryOption = None,
    canary_weight: CanaryWeightOption = None,
    route: RouteOption = None,
    shadow: ShadowOption = None,
    sticky: StickyOption = None,
    max_batch_size: BatchSizeOption = None,
    max_batch_delay_ms: BatchDelayOption = None,
    config: ConfigOption = None,
    comment: CommentOption = "",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create endpoint NAME, e.g. --model models:/churn@champion --canary models:/churn/7."""
    endpoints = _endpoints(uri)
    built = _from_options(
        config,
        model=model,
        canary=canary,
        canary_weight=canary_weight,
        routes=route or [],
        shadows=shadow or [],
        sticky=sticky,
        max_batch_size=max_batch_size,
        max_batch_delay_ms=max_batch_delay_ms,
    )
    made = endpoints.create(name, built, comment=comment)
    _report(made, "created", as_json)


@app.command("update")
@friendly_errors
def update(
    name: NameArgument,
    model: ModelOption = None,
    canary: CanaryOption = None,
    canary_weight: CanaryWeightOption = None,
    route: RouteOption = None,
    shadow: ShadowOption = None,
    sticky: StickyOption = None,
    max_batch_size: BatchSizeOption = None,
    max_batch_delay_ms: BatchDelayOption = None,
    config: ConfigOption = None,
    promote_canary: Annotated[
        bool,
        typer.Option("--promote-canary", help="Make the canary's model the primary, at 100%."),
    ] = False,
    comment: CommentOption = "",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replace NAME's configuration (as in create), or adjust its canary.

    `--canary-weight N` alone moves N% of the traffic to the existing canary;
    `--promote-canary` alone makes the canary's model the primary and drops the canary.
    Everything else the configuration holds stays as it was in those two cases.
    """
    endpoints = _endpoints(uri)
    options: dict[str, Any] = {
        "model": model,
        "canary": canary,
        "routes": route or [],
        "shadows": shadow or [],
        "sticky": sticky,
        "max_batch_size": max_batch_size,
        "max_batch_delay_ms": max_batch_delay_ms,
    }
    adjusting = config is None and all(v in (None, []) for v in options.values())
    if promote_canary:
        if not adjusting or canary_weight is not None:
            raise InvalidParameter("--promote-canary takes no other configuration options")
        built = _promoted(endpoints.get(name).config)
    elif adjusting and canary_weight is not None:
        built = _reweighted(endpoints.get(name).config, _canary_weight(canary_weight))
    else:
        built = _from_options(config, canary_weight=canary_weight, **options)
    made = endpoints.update(name, built, comment=comment)
    _report(made, "updated", as_json)


def _canary_pair(config: EndpointConfig) -> tuple[Route, Route]:
    found = {r.name: r for r in config.routes}
    if CANARY not in found or PRIMARY not in found:
        raise InvalidState(
            f"the endpoint has no {PRIMARY!r} and {CANARY!r} routes to adjust; "
            "give the whole configuration instead (--model ... --canary ...)"
        )
    return found[PRIMARY], found[CANARY]


def _reweighted(config: EndpointConfig, weight: float) -> EndpointConfig:
    import dataclasses

    _canary_pair(config)
    moved = {PRIMARY: 100.0 - weight, CANARY: weight}
    routes = [dataclasses.replace(r, weight=moved.get(r.name, r.weight)) for r in config.routes]
    return dataclasses.replace(config, routes=routes)


def _promoted(config: EndpointConfig) -> EndpointConfig:
    import dataclasses

    _, canary = _canary_pair(config)
    routes = [
        dataclasses.replace(r, model=canary.model, weight=100.0) if r.name == PRIMARY else r
        for r in config.routes
        if r.name != CANARY
    ]
    return dataclasses.replace(config, routes=routes)


def _report(made: EndpointVersion, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(_described(made))
        return
    _say(f"{verb} endpoint {made.name} version {made.version}: {_serves(made.config)}")


@app.command("show")
@friendly_errors
def show(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Show the version in force: routes with their share of traffic, shadows, batching."""
    current = _endpoints(uri).get(name)
    if as_json:
        print_json(_described(current))
        return
    _print_version(current)


@app.command("history")
@friendly_errors
def history(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List every version of NAME's configuration: who, when, why and what it served."""
    endpoints = _endpoints(uri)
    versions = endpoints.history(name)
    current = endpoints.current_version(name)
    if as_json:
        print_json([{**_described(v), "current": v.version == current} for v in versions])
        return
    _table(
        f"History of endpoint {name}",
        ["version", "in force", "created", "created by", "comment", "routes"],
        [
            (
                v.version,
                "yes" if v.version == current else "",
                when(v.created_ms),
                v.created_by,
                v.comment,
                _serves(v.config, "\n"),
            )
            for v in versions
        ],
    )


@app.command("rollback")
@friendly_errors
def rollback(name: NameArgument, uri: UriOption = None, as_json: JsonOption = False) -> None:
    """Put the configuration before the current one back in force (as a new version)."""
    made = _endpoints(uri).rollback(name)
    if as_json:
        print_json(_described(made))
        return
    _say(f"endpoint {made.name}: version {made.version} is now in force ({made.comment})")
    _say(f"serving {_serves(made.config)}")


@app.command("list")
@friendly_errors
def list_endpoints(uri: UriOption = None, as_json: JsonOption = False) -> None:
    """List endpoints with the version in force and what it serves."""
    found = _endpoints(uri).list()
    if as_json:
        print_json([_described(v) for v in found])
        return
    _table(
        "Endpoints",
        ["name", "version", "changed", "changed by", "routes", "shadows"],
        [
            (
                v.name,
                v.version,
                when(v.created_ms),
                v.created_by,
                _serves(v.config, "\n"),
                ", ".join(r.name for r in v.config.shadows),
            )
            for v in found
        ],
    )


class ExportFormat(StrEnum):
    docker = "docker"
    kubernetes = "kubernetes"


@app.command("export")
@friendly_errors
def export(
    name: NameArgument,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")],
    export_format: Annotated[
        ExportFormat, typer.Option("--format", help="docker: a Dockerfile; kubernetes: manifests.")
    ] = ExportFormat.docker,
    image: Annotated[
        str | None,
        typer.Option(help="The image to build (docker) or run (kubernetes). Default loopml-NAME."),
    ] = None,
    replicas: Annotated[int, typer.Option(help="Pods to start with (kubernetes).", min=1)] = 2,
    namespace: Annotated[str | None, typer.Option(help="Kubernetes namespace.")] = None,
    base_image: Annotated[str, typer.Option(help="Image to build on (docker).")] = (
        "python:3.11-slim"
    ),
    loopml_spec: Annotated[
        str, typer.Option(help="What the image pip-installs, e.g. loopml==0.4.0 (docker).")
    ] = "loopml",
    uri: UriOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write the files that deploy NAME: a Dockerfile, or Kubernetes manifests."""
    from loopml.serving.export import export_docker, export_kubernetes, kubernetes_name

    current = _endpoints(uri).get(name)
    tag = image or f"loopml-{kubernetes_name(current.name)}:latest"
    if export_format is ExportFormat.docker:
        written = export_docker(current, output, image_base=base_image, loopml_spec=loopml_spec)
        hint = f"build it with: docker build -t {tag} {output}"
    else:
        written = export_kubernetes(
            current, output, image=tag, replicas=replicas, namespace=namespace
        )
        hint = f"apply with: kubectl apply -f {output} (the pods run {tag})"
    if as_json:
        print_json({"version": current.version, "image": tag, "files": [str(p) for p in written]})
        return
    _say(f"exported endpoint {name} version {current.version} to {output}:")
    for path in written:
        _say(f"  {path.name}")
    _say(hint)
