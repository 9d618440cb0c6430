"""What a server serves right now, and how it changes without a restart.

An :class:`EndpointState` is an immutable snapshot: the endpoint's routes and
shadows, each with its loaded, warmed :class:`ServedModel`. A request reads
the current snapshot once and keeps it, so swapping in a new one (one
attribute assignment) never fails a request in flight. :class:`LiveEndpoint`
polls the metadata store — the endpoint's configuration version and the
version each route's ``models:/`` URI resolves to (an alias that moved) — and
builds the next snapshot in the background: new models are loaded through the
registry's verified path and warmed before they take traffic; one that fails
to load (a changed file, an untrusted format) is never swapped in, the old
one keeps serving, and the failure is logged and counted.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loopml.core.errors import LoopmlError, ResourceNotFound
from loopml.serving.entities import EndpointConfig, Route
from loopml.serving.runtime import ServedModel

logger = logging.getLogger("loopml.serving")

DEFAULT_POLL_S = 2.0


def load_served(registry: Any, uri: str, *, trust: bool = False) -> ServedModel:
    """Resolve ``models:/NAME@ALIAS`` (or a version), load it verified, and warm it up."""
    version = registry.resolve(uri)
    loaded = registry.load_model(f"models:/{version.name}/{version.version}", trust=trust)
    return ServedModel.of(version.name, version.version, uri, loaded)


@dataclass(frozen=True)
class Served:
    route: Route
    model: ServedModel


@dataclass(frozen=True)
class EndpointState:
    """One endpoint's routes and shadows with their models; never changed once built."""

    name: str
    config_version: int
    config: EndpointConfig
    routes: list[Served]
    shadows: list[Served] = field(default_factory=list)

    def pick(self, key: str | None = None) -> Served:
        """A route by weight: random, or (with a sticky key) always the same for the key."""
        total = sum(s.route.weight for s in self.routes)
        if key is not None:
            digest = hashlib.sha256(f"{self.name}\0{key}".encode()).digest()
            point = int.from_bytes(digest[:8], "big") / 2**64 * total
        else:
            point = random.random() * total
        for served in self.routes:
            point -= served.route.weight
            if point < 0:
                return served
        return self.routes[-1]

    def pinned(self, version: str) -> Served:
        """The route serving model version ``version`` (a V2 ``/versions/{v}`` request)."""
        for served in self.routes:
            if str(served.model.version) == version:
                return served
        versions = sorted({str(s.model.version) for s in self.routes})
        raise ResourceNotFound(
            f"version {version!r} is not served by {self.name!r}; versions served: {versions}"
        )

    def models(self) -> list[ServedModel]:
        return [s.model for s in [*self.routes, *self.shadows]]


Loader = Callable[[str], ServedModel]


def build_state(
    name: str,
    config_version: int,
    config: EndpointConfig,
    load: Loader,
    previous: EndpointState | None = None,
    resolve: Callable[[str], tuple[str, int]] | None = None,
) -> EndpointState:
    """Load what ``config`` names, reusing the previous snapshot's models that did not change."""
    reusable = {(m.name, m.version): m for m in previous.models()} if previous else {}

    def served(route: Route) -> Served:
        if resolve is not None:
            found = reusable.get(resolve(route.model))
            if found is not None:
                return Served(route, found)
        return Served(route, load(route.model))

    return EndpointState(
        name,
        config_version,
        config,
        [served(r) for r in config.routes],
        [served(r) for r in config.shadows],
    )


class LiveEndpoint:
    """The current :class:`EndpointState`, kept up to date by a polling thread.

    ``source`` answers ``(config_version, config)`` for the endpoint (a fixed
    config for a single model); ``resolve`` maps a model URI to ``(name,
    version)`` — what an alias points at now.
    """

    def __init__(
        self,
        state: EndpointState,
        *,
        source: Callable[[], tuple[int, EndpointConfig]],
        resolve: Callable[[str], tuple[str, int]],
        load: Loader,
        poll_s: float = DEFAULT_POLL_S,
        on_failure: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self.state = state
        self.source = source
        self.resolve = resolve
        self.load = load
        self.poll_s = poll_s
        self.on_failure = on_failure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: set[tuple[int, tuple[tuple[str, int], ...]]] = set()

    def start(self) -> LiveEndpoint:
        if self.poll_s > 0 and self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name=f"loopml-endpoint-{self.state.name}", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.refresh()
            except Exception:
                logger.exception("checking endpoint %s for changes failed", self.state.name)

    def refresh(self) -> bool:
        """Swap in what the store says now, if it changed; True when it did."""
        current = self.state
        config_version, config = self.source()
        wanted = tuple(self.resolve(r.model) for r in [*config.routes, *config.shadows])
        served = tuple((m.name, m.version) for m in current.models())
        if config_version == current.config_version and wanted == served:
            return False
        key = (config_version, wanted)
        if key in self._failed:
            return False  # already tried and refused: wait for the next change
        try:
            state = build_state(
                current.name, config_version, config, self.load, current, self.resolve
            )
        except (LoopmlError, OSError, ValueError) as error:
            self._failed.add(key)
            logger.error(
                "endpoint %s: the new configuration (version %s, models %s) was not swapped "
                "in and the old one keeps serving: %s",
                current.name,
                config_version,
                wanted,
                error,
            )
            if self.on_failure is not None:
                self.on_failure(current.name, error)
            return False
        self.state = state
        logger.info(
            "endpoint %s now serves configuration %s: %s",
            current.name,
            config_version,
            ", ".join(f"{s.route.name}={s.model.name} v{s.model.version}" for s in state.routes),
        )
        return True
