"""The ``ray`` executor: each trial is a Ray task (one CPU, never retried).

Which Ray: one already initialized in this process is used as it is;
otherwise ``ray_address`` (or ``LOOPML_RAY_ADDRESS``) names a cluster
(``host:port``, ``ray://host:port`` or ``auto``), and without either a private
local Ray is started (``address="local"``, so a cluster someone else started on
this machine is never joined by accident) and shut down afterwards. A named
address is probed first with a plain TCP connection, because ``ray.init``
against an address nobody listens on waits for minutes before it gives up.

A task that dies (its worker process killed, its node lost) comes back as a
FAIL outcome for that trial only: tasks run with ``max_retries=0`` because a
retried trial would report its intermediate values twice. Workers read the
study from the shared journal, so a cluster whose nodes are on other machines
needs a journal they can reach (PostgreSQL); a SQLite file or the local
journal file of a tracking server is refused up front, naming both.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidParameter
from loopml.tuning.executors import StudyCache
from loopml.tuning.trials import (
    TrialOutcome,
    TrialTask,
    WorkerSetup,
    decode,
    died,
    encode_outcome,
    encode_setup,
    failed,
)

if TYPE_CHECKING:
    from loopml.tuning.entities import JournalSpec

RAY_ADDRESS_ENV = "LOOPML_RAY_ADDRESS"
PROBE_TIMEOUT_S = 5.0

#: Per Ray worker process: the setup of the tuning run it last served.
_CACHES: dict[str, StudyCache] = {}


class RayExecutor:
    """Trials as Ray tasks, at most ``capacity`` at once."""

    def __init__(self, setup: WorkerSetup, capacity: int, address: str | None) -> None:
        self.capacity = capacity
        self._setup = setup
        self._address = address
        self._started_ray = False
        self._pending: dict[Any, int] = {}
        self._key = uuid.uuid4().hex
        self._setup_ref: Any = None
        self._remote: Any = None

    def start(self) -> None:
        import ray

        setup_bytes = encode_setup(self._setup)  # an unpicklable objective fails before Ray
        if not ray.is_initialized():
            address = self._address or os.environ.get(RAY_ADDRESS_ENV) or None
            _connect(ray, address)
            self._started_ray = True
        _check_journal_reachable(ray, self._setup.journal)
        self._setup_ref = ray.put(setup_bytes)
        self._remote = ray.remote(num_cpus=1, max_retries=0)(run_remote)

    def submit(self, task: TrialTask) -> None:
        ref = self._remote.remote(self._key, self._setup_ref, task)
        self._pending[ref] = task.number

    def wait(self) -> list[TrialOutcome]:
        import ray

        ready, _ = ray.wait(list(self._pending), num_returns=1)
        outcomes: list[TrialOutcome] = []
        for ref in ready:
            number = self._pending.pop(ref)
            try:
                outcomes.append(decode(ray.get(ref)))
            except Exception as error:
                message = f"the Ray task of trial {number} was lost: {type(error).__name__}"
                outcomes.append(died(number, f"{message}: {error}"))
        return outcomes

    def close(self) -> None:
        import ray

        for ref in self._pending:
            # It may have finished meanwhile: nothing to undo then.
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._pending.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def run_remote(key: str, setup_bytes: bytes, task: TrialTask) -> bytes:
    """The Ray task: one trial, with the setup decoded once per worker process."""
    cache = _CACHES.get(key)
    if cache is None:
        try:
            cache = StudyCache(decode(setup_bytes))
        except Exception as error:
            return encode_outcome(failed(task.number, error))
        for previous in _CACHES.values():
            previous.close()
        _CACHES.clear()
        _CACHES[key] = cache
    return encode_outcome(cache.run(task))


def _connect(ray: Any, address: str | None) -> None:
    if address is None:
        ray.init(address="local", include_dashboard=False)
        return
    if address not in ("auto", "local"):
        _probe(address)
    try:
        ray.init(address=address)
    except Exception as error:
        raise InvalidParameter(
            f"ray_address {address!r}: could not connect to Ray ({type(error).__name__}: {error})"
        ) from None


def _probe(address: str) -> None:
    """Fail fast, naming the address, when nothing listens there."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InvalidParameter(
            f"ray_address {address!r} must be host:port, ray://host:port, auto or local"
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), PROBE_TIMEOUT_S):
            pass
    except OSError as error:
        raise InvalidParameter(
            f"ray_address {address!r} is not reachable ({error}); start the cluster or fix "
            f"the address (ray_address= or {RAY_ADDRESS_ENV})"
        ) from None


def _check_journal_reachable(ray: Any, journal: JournalSpec) -> None:
    if journal.shared_across_machines:
        return
    here = ray.util.get_node_ip_address()
    elsewhere = sorted(
        {node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive")} - {here}
    )
    if elsewhere:
        raise InvalidParameter(
            f"the Ray cluster has nodes on other machines ({', '.join(elsewhere)}) but the "
            f"study's journal ({journal.describe()}) is only on this machine; track to a "
            "PostgreSQL database (LOOPML_DATABASE_URL) so every node can reach it"
        )
