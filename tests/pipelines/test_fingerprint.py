"""Code hashes and cache keys: what counts as a change of a step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pandas as pd

from loopml.client import Client
from loopml.pipelines.fingerprint import cache_key, canonical_json, code_hash, is_jsonable

STEPS = '''
import json

import {helpers}
from {helpers} import shout
from loopml.pipelines import step


def local_helper(text):
    return text.strip() + "{suffix}"


@step
def clean(text: str) -> str:
    """Docstring."""
    return {helpers}.tidy(shout(local_helper(json.dumps(text))))
'''

HELPERS = """
def tidy(text):
    return text.replace("  ", " "){tidy_extra}


def shout(text):
    return text.upper()


def unused(text):
    return text{unused_extra}
"""


def _hash(write: Callable[[str, str], ModuleType], suffix: str = "!", **helper: str) -> str:
    parts = {"tidy_extra": "", "unused_extra": "", **helper}
    write("fp_helpers", HELPERS.format(**parts))
    module = write("fp_steps", STEPS.format(helpers="fp_helpers", suffix=suffix))
    return code_hash(module.clean.fn)


def test_a_step_hash_follows_the_user_code_it_calls(
    write_module: Callable[[str, str], ModuleType],
) -> None:
    base = _hash(write_module)
    assert _hash(write_module) == base
    assert _hash(write_module, suffix="?") != base  # a same-module function it calls
    assert _hash(write_module, tidy_extra=".strip()") != base  # helpers.tidy(...)
    assert _hash(write_module, unused_extra=".lower()") == base  # not called: not part of it


def test_docstrings_decorators_and_comments_do_not_count(
    write_module: Callable[[str, str], ModuleType],
) -> None:
    base = _hash(write_module)
    write_module("fp_helpers", HELPERS.format(tidy_extra="", unused_extra=""))
    source = STEPS.format(helpers="fp_helpers", suffix="!")
    reworded = source.replace('"""Docstring."""', '"""Another docstring."""  # and a comment')
    module = write_module("fp_steps", reworded.replace("@step\n", "@step(retries=3)\n"))
    assert code_hash(module.clean.fn) == base


def test_functions_without_a_source_file_hash_their_bytecode() -> None:
    namespace: dict[str, object] = {}
    exec("def f(x):\n    return x + 1\n", namespace)  # code with no file
    first = code_hash(namespace["f"])  # type: ignore[arg-type]
    exec("def f(x):\n    return x + 2\n", namespace)
    assert code_hash(namespace["f"]) != first  # type: ignore[arg-type]


def test_cache_keys_cover_code_params_inputs_extras_and_outputs() -> None:
    base = cache_key("c", {"a": "1"}, {"x": "h1"}, [], 1)
    assert cache_key("c", {"a": "1"}, {"x": "h1"}, [], 1) == base
    variants = [
        cache_key("d", {"a": "1"}, {"x": "h1"}, [], 1),
        cache_key("c", {"a": "2"}, {"x": "h1"}, [], 1),
        cache_key("c", {"a": "1"}, {"x": "h2"}, [], 1),
        cache_key("c", {"a": "1"}, {"x": "h1"}, ["data:x@1#d"], 1),
        cache_key("c", {"a": "1"}, {"x": "h1"}, [], 2),
    ]
    assert len({base, *variants}) == 6


def test_canonical_json_and_what_counts_as_json() -> None:
    assert canonical_json({"b": [1, (2, 3)], "a": "é"}) == '{"a":"é","b":[1,[2,3]]}'
    assert is_jsonable({"a": [1, 2.5, None, True]})
    assert not is_jsonable({1: "a"})
    assert not is_jsonable(float("nan"))
    assert not is_jsonable({"a": object()})


STEP_WITH_EXTRAS = """
from loopml.pipelines import pipeline, step


@step(extra_inputs=["data:clicks@latest", {path!r}, "v1"])
def report(n: int) -> int:
    return n


@pipeline
def reporting(n: int = 1) -> int:
    return report(n)
"""


def test_declared_extra_inputs_rerun_a_step_when_they_change(
    client: Client, tmp_path: Path, write_module: Callable[[str, str], ModuleType]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("threshold: 1\n")
    client.data.add("clicks", pd.DataFrame({"n": [1, 2]}))
    module = write_module("extras_flow", STEP_WITH_EXTRAS.format(path=str(rules)))
    first = module.reporting.run(client=client, executor="inline")
    assert first.completed == ["report"]
    extra = first.steps["report"].inputs["@extra"]
    assert extra[0].startswith("data:clicks@latest#")
    assert module.reporting.run(client=client, executor="inline").cached == ["report"]

    client.data.add("clicks", pd.DataFrame({"n": [1, 2, 3]}))
    assert module.reporting.run(client=client, executor="inline").completed == ["report"]
    rules.write_text("threshold: 2\n")
    assert module.reporting.run(client=client, executor="inline").completed == ["report"]
    assert module.reporting.run(client=client, executor="inline").cached == ["report"]
