"""Hyperparameter search with Optuna, every trial a child run of one tuning run.

``loopml.tune(objective, space, n_trials)`` is the entry point; the study is
kept in Optuna's journal inside loopml's metadata database
(:class:`SqlJournalBackend`), so worker processes and Ray tasks share it.

The names load on first use: importing this package imports neither Optuna
nor Ray, and a worker process that only runs trials does not pay for the
tracking client either.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.tuning.entities import JournalSpec, TrialRecord, TuningResult
    from loopml.tuning.journal import SqlJournalBackend
    from loopml.tuning.search import tune
    from loopml.tuning.space import SearchSpace, parse_space
    from loopml.tuning.trials import TrialHandle, TrialPruned

_HOMES = {
    "JournalSpec": "loopml.tuning.entities",
    "SearchSpace": "loopml.tuning.space",
    "SqlJournalBackend": "loopml.tuning.journal",
    "TrialHandle": "loopml.tuning.trials",
    "TrialPruned": "loopml.tuning.trials",
    "TrialRecord": "loopml.tuning.entities",
    "TuningResult": "loopml.tuning.entities",
    "parse_space": "loopml.tuning.space",
    "tune": "loopml.tuning.search",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'loopml.tuning' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


__all__ = [
    "JournalSpec",
    "SearchSpace",
    "SqlJournalBackend",
    "TrialHandle",
    "TrialPruned",
    "TrialRecord",
    "TuningResult",
    "parse_space",
    "tune",
]
