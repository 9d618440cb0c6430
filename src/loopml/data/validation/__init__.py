"""Validation suites: expectations about a dataset version, checked by DuckDB in one scan.

Build expectations with ``expect`` (or write them in a YAML suite file), then
``validate(table_or_parquet_path, suite)`` returns a :class:`ValidationReport`
with the measured value, the count of offending rows and a few of those rows
for every expectation. ``infer_suite(profile, name)`` proposes a suite from a
clean version's :class:`~loopml.data.profile.Profile`.
"""

from __future__ import annotations

from loopml.data.validation.builders import ExpectationBuilders, expect
from loopml.data.validation.engine import validate
from loopml.data.validation.expectations import Expectation
from loopml.data.validation.infer import infer_suite
from loopml.data.validation.results import ExpectationResult, ValidationReport
from loopml.data.validation.suite import Suite

__all__ = [
    "Expectation",
    "ExpectationBuilders",
    "ExpectationResult",
    "Suite",
    "ValidationReport",
    "expect",
    "infer_suite",
    "validate",
]
