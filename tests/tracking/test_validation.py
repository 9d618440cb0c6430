"""The input rules for tracking, with the message each refusal gives (it names the field)."""

from __future__ import annotations

import math

import pytest

from loopml.core.errors import InvalidParameter, LimitExceeded
from loopml.tracking import Metric, Param, RunTag
from loopml.tracking import validation as v


@pytest.mark.parametrize(
    "key", ["loss", "train/loss", "a b", "epoch:3", "a-b_c.d", "ключ", "..a", "a..b", "-"]
)
def test_check_key_accepts(key: str) -> None:
    assert v.check_key(key, "key") == key


@pytest.mark.parametrize(
    ("key", "exc", "message"),
    [
        ("", InvalidParameter, r"^key must be a non-empty string, got ''$"),
        (None, InvalidParameter, "must be a non-empty string, got None"),
        (5, InvalidParameter, "must be a non-empty string, got 5"),
        ("k" * 251, LimitExceeded, "exceeds 250 characters"),
        ("a\tb", InvalidParameter, "may only contain letters, digits"),
        ("a*b", InvalidParameter, "may only contain letters, digits"),
        ("a\\b", InvalidParameter, "may only contain letters, digits"),
        ("loss\n", InvalidParameter, "may only contain letters, digits"),
        ("../a", InvalidParameter, "must be a normalised relative path without '..'"),
        ("a/../b", InvalidParameter, "must be a normalised relative path"),
        ("..", InvalidParameter, "must be a normalised relative path"),
        (".", InvalidParameter, "must be a normalised relative path"),
        ("./a", InvalidParameter, "must be a normalised relative path"),
        ("/a", InvalidParameter, "must be a normalised relative path"),
        ("a/", InvalidParameter, "must be a normalised relative path"),
        ("a//b", InvalidParameter, "must be a normalised relative path"),
    ],
)
def test_check_key_refuses(key: object, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        v.check_key(key, "key")


def test_check_key_names_the_field() -> None:
    with pytest.raises(InvalidParameter, match=r"^params\[3\]\.key '\.\./a' must be"):
        v.check_key("../a", "params[3].key")


def test_check_value() -> None:
    assert v.check_value("x" * 10, "value", 10) == "x" * 10
    with pytest.raises(LimitExceeded, match=r"^tags\['t'\] is 11 characters; the limit is 10$"):
        v.check_value("x" * 11, "tags['t']", 10)
    with pytest.raises(InvalidParameter, match=r"^value must be a string, got int$"):
        v.check_value(3, "value", 10)


@pytest.mark.parametrize("value", [0, 1.5, -2.0, math.nan, math.inf, -math.inf, 10**6])
def test_check_metric_accepts_numbers(value: float) -> None:
    v.check_metric(Metric("m", value, 0, 0))


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (Metric("m", True, 0, 0), r"^metrics\[2\]\.value must be a number, got True$"),
        (Metric("m", "1.0", 0, 0), r"metrics\[2\]\.value must be a number"),  # type: ignore[arg-type]
        (Metric("m", None, 0, 0), r"metrics\[2\]\.value must be a number"),  # type: ignore[arg-type]
        (Metric("m", 1.0, 1.5, 0), r"metrics\[2\]\.timestamp must be an integer"),  # type: ignore[arg-type]
        (Metric("m", 1.0, False, 0), r"metrics\[2\]\.timestamp must be an integer"),
        (Metric("m", 1.0, 0, 2.0), r"metrics\[2\]\.step must be an integer"),  # type: ignore[arg-type]
        (Metric("m", 1.0, 0, True), r"metrics\[2\]\.step must be an integer"),
        (Metric("a/../b", 1.0, 0, 0), r"metrics\[2\]\.key 'a/\.\./b' must be a normalised"),
    ],
)
def test_check_metric_refuses(metric: Metric, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        v.check_metric(metric, 2)


def test_check_metric_without_index_says_metric() -> None:
    with pytest.raises(InvalidParameter, match=r"^metric\.value must be a number"):
        v.check_metric(Metric("m", "x", 0, 0))  # type: ignore[arg-type]


def test_check_metrics_names_the_bad_index() -> None:
    metrics = [Metric("m", 1.0, 0, i) for i in range(3)] + [Metric("bad*key", 1.0, 0, 0)]
    with pytest.raises(InvalidParameter, match=r"^metrics\[3\]\.key 'bad\*key' may only"):
        v.check_metrics(metrics)
    with pytest.raises(InvalidParameter, match=r"^metrics\[1\]\.step must be an integer"):
        v.check_metrics([Metric("m", 1.0, 0, 0), Metric("m", 1.0, 0, 0.5)])  # type: ignore[arg-type]


def _metrics(n: int) -> list[Metric]:
    return [Metric("m", 1.0, 0, i) for i in range(n)]


def _params(n: int) -> list[Param]:
    return [Param(f"p{i}", "v") for i in range(n)]


def _tags(n: int) -> list[RunTag]:
    return [RunTag(f"t{i}", "v") for i in range(n)]


def test_check_batch_accepts_a_batch_at_every_limit() -> None:
    v.check_batch(_metrics(1000), (), ())
    v.check_batch(_metrics(800), _params(100), _tags(100))


@pytest.mark.parametrize(
    ("metrics", "params", "tags", "message"),
    [
        (_metrics(1001), [], [], "^a batch may hold at most 1000 metrics, got 1001$"),
        ([], _params(101), [], "^a batch may hold at most 100 params, got 101$"),
        ([], [], _tags(101), "^a batch may hold at most 100 tags, got 101$"),
        (_metrics(801), _params(100), _tags(100), "at most 1000 entities in all, got 1001$"),
    ],
)
def test_check_batch_limits(
    metrics: list[Metric], params: list[Param], tags: list[RunTag], message: str
) -> None:
    with pytest.raises(LimitExceeded, match=message):
        v.check_batch(metrics, params, tags)


def test_check_batch_param_rules() -> None:
    v.check_batch((), [Param("lr", "0.1"), Param("lr", "0.1")], ())
    with pytest.raises(InvalidParameter, match=r"^params\[1\]: param 'lr' appears twice"):
        v.check_batch((), [Param("lr", "0.1"), Param("lr", "0.2")], ())
    with pytest.raises(LimitExceeded, match=r"^params\[0\]\.value is 6001 characters; the limit"):
        v.check_batch((), [Param("p", "x" * 6001)], ())
    v.check_batch((), [Param("p", "x" * 6000)], ())
    with pytest.raises(InvalidParameter, match=r"^params\[0\]\.key must be a non-empty string"):
        v.check_batch((), [Param("", "x")], ())


def test_check_batch_tag_rules() -> None:
    v.check_batch((), (), [RunTag("t", "x" * 8000)])
    with pytest.raises(LimitExceeded, match=r"^tags\[0\]\.value is 8001 characters; the limit"):
        v.check_batch((), (), [RunTag("t", "x" * 8001)])
    with pytest.raises(InvalidParameter, match=r"^tags\[1\]\.key '\.\./t' must be"):
        v.check_batch((), (), [RunTag("ok", "v"), RunTag("../t", "v")])
    with pytest.raises(InvalidParameter, match=r"^tags\[0\]\.value must be a string, got int$"):
        v.check_batch((), (), [RunTag("t", 1)])  # type: ignore[arg-type]


def test_check_batch_validates_metrics() -> None:
    with pytest.raises(InvalidParameter, match=r"^metrics\[0\]\.value must be a number"):
        v.check_batch([Metric("m", "1", 0, 0)], (), ())  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["Default", "a" * 500, "team/vision: exp #1", "ünïcode"])
def test_check_experiment_name_accepts(name: str) -> None:
    assert v.check_experiment_name(name) == name


@pytest.mark.parametrize(
    ("name", "exc", "message"),
    [
        ("", InvalidParameter, "^experiment name must be a non-empty string$"),
        ("   ", InvalidParameter, "^experiment name must be a non-empty string$"),
        (None, InvalidParameter, "^experiment name must be a non-empty string$"),
        ("a" * 501, LimitExceeded, "^experiment name is 501 characters; the limit is 500$"),
        ("a\x00b", InvalidParameter, "^experiment name must not contain NUL characters$"),
    ],
)
def test_check_experiment_name_refuses(name: object, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        v.check_experiment_name(name)


def test_check_max_results() -> None:
    assert v.check_max_results(1, 10) == 1
    assert v.check_max_results(10, 10) == 10
    for bad in (0, -1, True, 1.5, "3"):
        with pytest.raises(InvalidParameter, match=r"^max_results must be a positive integer"):
            v.check_max_results(bad, 10)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match=r"^max_results must be at most 10, got 11$"):
        v.check_max_results(11, 10)
    with pytest.raises(InvalidParameter, match=r"^page_size must be a positive integer"):
        v.check_max_results(0, 10, field="page_size")


def test_limits_are_mlflows() -> None:
    limits = (
        v.MAX_METRICS_PER_BATCH,
        v.MAX_PARAMS_TAGS_PER_BATCH,
        v.MAX_ENTITIES_PER_BATCH,
        v.MAX_PARAM_VALUE_LENGTH,
        v.MAX_TAG_VALUE_LENGTH,
        v.MAX_KEY_LENGTH,
    )
    assert limits == (1000, 100, 1000, 6000, 8000, 250)
