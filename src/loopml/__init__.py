"""loopml: the machine-learning lifecycle as one system.

``import loopml`` stays light: the SDK's names load on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from loopml.client import Client
    from loopml.evaluation.workflow import Evaluation
    from loopml.tracking.fluent import ActiveRun

_default_client: Client | None = None


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Point the fluent API at a local path or an ``http(s)://`` server."""
    global _default_client
    from loopml.client import Client

    _default_client = Client(uri)


def get_client() -> Client:
    global _default_client
    if _default_client is None:
        from loopml.client import Client

        _default_client = Client()
    return _default_client


def start_run(
    experiment: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> ActiveRun:
    """Start a run; use it as a context manager so it ends (and flushes) on exit."""
    from loopml.tracking import fluent

    return fluent.start_run(get_client(), experiment, run_name, tags, nested)


def active_run() -> ActiveRun | None:
    from loopml.tracking import fluent

    return fluent.active_run()


def read_dataset(ref: str, *, format: str = "pandas", context: str = "training") -> Any:
    """Read ``data:NAME@VERSION`` and record it as an input of the active run (if any)."""
    return get_client().read_dataset(ref, format=format, context=context)


def evaluate(
    model: Any,
    data: Any,
    *,
    target: str,
    task: str,
    segments: tuple[str, ...] | list[str] = (),
    sensitive: tuple[str, ...] | list[str] = (),
    baseline: Any | None = None,
    **options: Any,
) -> Evaluation:
    """Evaluate a model (``models:/NAME@ALIAS`` or any predictor) on data (``data:NAME@V``
    or a frame): metrics, segments, fairness, importance; logged to a run with JSON and
    HTML reports and, for a registered version, recorded on it for its release gates.
    """
    from loopml.evaluation.workflow import evaluate as run_evaluation

    return run_evaluation(
        get_client(),
        model,
        data,
        target=target,
        task=task,
        segments=segments,
        sensitive=sensitive,
        baseline=baseline,
        **options,
    )


_LAYERED = {"step": "loopml.pipelines", "pipeline": "loopml.pipelines", "tune": "loopml.tuning"}


def __getattr__(name: str) -> Any:
    if name == "Client":
        from loopml.client import Client

        return Client
    if name in _LAYERED:
        # by name, not an import statement: ``loopml`` is imported from every layer, and
        # naming higher layers here would make each of them look imported from below
        import importlib

        return getattr(importlib.import_module(_LAYERED[name]), name)
    raise AttributeError(f"module 'loopml' has no attribute {name!r}")


__all__ = [
    "Client",
    "__version__",
    "active_run",
    "evaluate",
    "get_client",
    "pipeline",
    "read_dataset",
    "set_tracking_uri",
    "start_run",
    "step",
    "tune",
]
