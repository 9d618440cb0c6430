"""The tracking store contract: what every backend behind ``TrackingClient`` must do.

A new backend (a SQL dialect, the REST store, a third-party plugin) is done
when these checks pass against a client built on it. Each check is a small
function that takes a :class:`~loopml.tracking.TrackingClient`, exercises one
behaviour a user would notice and asserts it with plain ``assert``; none needs
pytest. Each creates its own experiments under unique names, so all checks can
share one database and run in any order.

Use it as scikit-learn's ``parametrize_with_checks`` is used, so each check is
its own test::

    @pytest.mark.parametrize("check", tracking_store_checks(), ids=lambda c: c.__name__)
    def test_contract(check, client):
        check(client)

or run everything at once with ``check_tracking_store(client)``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TypeVar

from loopml.artifacts import FileInfo
from loopml.core.clock import now_ms
from loopml.core.errors import (
    InvalidParameter,
    LoopmlError,
    ResourceAlreadyExists,
    ResourceNotFound,
)
from loopml.tracking import (
    Dataset,
    DatasetInput,
    Metric,
    Page,
    Param,
    Run,
    RunTag,
    TrackingClient,
    ViewType,
)
from loopml.tracking.entities import LoggedModelMetric, ModelOutput

T = TypeVar("T")
Check = Callable[[TrackingClient], None]

RUN_NAME_TAG = "mlflow.runName"
_CHECKS: list[Check] = []
_MAX_PAGES = 1000
_DATASET = Dataset("d", "digest", "local", "s")
_UNISSUED_CURSOR = "not-a-token"  # a page token no backend issued


def tracking_store_checks() -> list[Check]:
    """Every contract check, in a stable order; each takes a client and returns None."""
    return list(_CHECKS)


def check_tracking_store(
    client: TrackingClient, expected_failures: Mapping[str, str] | None = None
) -> None:
    """Run every contract check against ``client``.

    Args:
        client: a client on the backend under test.
        expected_failures: check name -> reason, for gaps a backend knows it
            has (as scikit-learn's ``expected_failed_checks``). Such a check
            must fail; if it passes, that is reported too, so the list shrinks
            as gaps close.

    Raises:
        AssertionError: a check failed unexpectedly or an expected failure
            passed; the message names each one, and the first failure is chained.
        ValueError: ``expected_failures`` names a check that does not exist.
    """
    expected = dict(expected_failures or {})
    checks = tracking_store_checks()
    unknown = sorted(set(expected) - {check.__name__ for check in checks})
    if unknown:
        raise ValueError(f"expected_failures names unknown checks: {', '.join(unknown)}")
    problems: list[str] = []
    first: Exception | None = None
    for check in checks:
        try:
            check(client)
        except Exception as error:  # collect all, so one run shows every gap
            if check.__name__ not in expected:
                problems.append(f"  {check.__name__}: {type(error).__name__}: {error}")
                first = first or error
            continue
        if check.__name__ in expected:
            problems.append(f"  {check.__name__}: passed, but was expected to fail")
    if problems:
        listing = "\n".join(problems)
        raise AssertionError(
            f"{len(problems)} tracking store check(s) broke:\n{listing}"
        ) from first


def _check(function: Check) -> Check:
    _CHECKS.append(function)
    return function


# helpers ---------------------------------------------------------------------


@contextmanager
def _raises(error: type[Exception], match: str) -> Iterator[None]:
    """Assert the block raises ``error`` with a message matching the regex ``match``."""
    try:
        yield
    except error as caught:
        if not re.search(match, str(caught)):
            raise AssertionError(
                f"{type(caught).__name__} was raised, but {str(caught)!r} does not match {match!r}"
            ) from caught
        return
    raise AssertionError(f"expected {error.__name__} matching {match!r}; nothing was raised")


def _unique(label: str) -> str:
    return f"contract-{label}-{uuid.uuid4().hex[:12]}"


def _experiment(client: TrackingClient, label: str, **tags: str) -> str:
    return client.create_experiment(_unique(label), tags=tags or None)


def _walk(fetch: Callable[[str | None], Page[T]], page_size: int | None = None) -> list[T]:
    """Every item of a paged search, following tokens until the last page."""
    items: list[T] = []
    token: str | None = None
    for _ in range(_MAX_PAGES):
        page = fetch(token)
        assert page_size is None or len(page.items) <= page_size, "a page exceeds max_results"
        items.extend(page.items)
        token = page.next_page_token
        if not token:
            return items
    raise AssertionError(f"paging did not end after {_MAX_PAGES} pages")


def _run_ids(runs: Sequence[Run]) -> list[str]:
    return [run.info.run_id for run in runs]


def _searched(
    client: TrackingClient,
    experiment_ids: Sequence[str],
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    view_type: ViewType = ViewType.ACTIVE_ONLY,
) -> list[str]:
    return _run_ids(
        _walk(
            lambda token: client.search_runs(
                experiment_ids, filter_string, view_type, 1000, order_by, token
            )
        )
    )


def _latest(client: TrackingClient, run_id: str) -> dict[str, Metric]:
    return {m.key: m for m in client.get_run(run_id).data.metrics}


def _history(client: TrackingClient, run_id: str, key: str) -> list[Metric]:
    return client.get_metric_history(run_id, key).items


def _near_now(ms: int) -> bool:
    """Epoch milliseconds (not seconds) within a minute of this machine's clock."""
    return abs(ms - now_ms()) < 60_000


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# experiments -----------------------------------------------------------------


@_check
def check_default_experiment_exists_and_cannot_be_deleted(client: TrackingClient) -> None:
    default = client.get_experiment("0")
    assert (default.experiment_id, default.name) == ("0", "Default")
    by_name = client.get_experiment_by_name("Default")
    assert by_name is not None
    assert by_name.experiment_id == "0"
    with _raises(InvalidParameter, "Default|0"):
        client.delete_experiment("0")
    assert client.get_experiment("0").lifecycle_stage == "active"


@_check
def check_create_and_get_experiment(client: TrackingClient) -> None:
    name = _unique("create")
    experiment_id = client.create_experiment(name, tags={"team": "vision", "note": "a b"})
    assert experiment_id.isdigit()
    assert experiment_id != "0"
    got = client.get_experiment(experiment_id)
    assert (got.experiment_id, got.name, got.lifecycle_stage) == (experiment_id, name, "active")
    assert got.tags == {"team": "vision", "note": "a b"}
    assert got.artifact_location, "a default artifact location is filled in"
    assert _near_now(got.creation_time)
    assert got.creation_time <= got.last_update_time
    assert client.get_experiment_by_name(name) == got
    assert client.get_experiment_by_name(_unique("absent")) is None
    located = client.create_experiment(_unique("located"), artifact_location="mlflow-artifacts:/x")
    assert client.get_experiment(located).artifact_location == "mlflow-artifacts:/x"
    run = client.create_run(located)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/x/")
    with _raises(ResourceNotFound, "987654321987"):
        client.get_experiment("987654321987")
    with _raises(InvalidParameter, "name"):
        client.create_experiment("")


@_check
def check_duplicate_experiment_name_is_rejected(client: TrackingClient) -> None:
    name = _unique("dup")
    experiment_id = client.create_experiment(name)
    with _raises(ResourceAlreadyExists, re.escape(name)):
        client.create_experiment(name)
    other = _experiment(client, "dup-other")
    with _raises(ResourceAlreadyExists, re.escape(name)):
        client.rename_experiment(other, name)
    client.delete_experiment(experiment_id)
    with _raises(ResourceAlreadyExists, re.escape(name)):
        client.create_experiment(name)  # a deleted experiment keeps its name, as in MLflow


@_check
def check_rename_experiment(client: TrackingClient) -> None:
    old, new = _unique("rename-old"), _unique("rename-new")
    experiment_id = client.create_experiment(old)
    client.rename_experiment(experiment_id, new)
    assert client.get_experiment(experiment_id).name == new
    assert client.get_experiment_by_name(old) is None
    renamed = client.get_experiment_by_name(new)
    assert renamed is not None
    assert renamed.experiment_id == experiment_id
    with _raises(InvalidParameter, "name"):
        client.rename_experiment(experiment_id, "")
    client.delete_experiment(experiment_id)
    with _raises(InvalidParameter, "deleted"):
        client.rename_experiment(experiment_id, _unique("rename-deleted"))


@_check
def check_delete_and_restore_experiment(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "delete")
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert client.get_run(run_id).info.lifecycle_stage == "deleted", "runs follow the experiment"
    with _raises(InvalidParameter, "active|deleted"):
        client.create_run(experiment_id)
    with _raises(InvalidParameter, re.escape(run_id)):
        client.log_metric(run_id, "m", 1.0)
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    client.log_metric(run_id, "m", 1.0)
    with _raises(ResourceNotFound, "987654321987"):
        client.delete_experiment("987654321987")


@_check
def check_experiment_tags(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "tags", keep="yes")
    client.set_experiment_tag(experiment_id, "stage", "draft")
    client.set_experiment_tag(experiment_id, "stage", "final")
    assert client.get_experiment(experiment_id).tags == {"keep": "yes", "stage": "final"}
    client.delete_experiment_tag(experiment_id, "stage")
    assert client.get_experiment(experiment_id).tags == {"keep": "yes"}
    with _raises(ResourceNotFound, "stage"):
        client.delete_experiment_tag(experiment_id, "stage")
    with _raises(InvalidParameter, "key"):
        client.set_experiment_tag(experiment_id, "../up", "x")
    client.delete_experiment(experiment_id)
    with _raises(InvalidParameter, "deleted|active"):
        client.set_experiment_tag(experiment_id, "late", "x")


@_check
def check_search_experiments_filter_order_and_paging(client: TrackingClient) -> None:
    prefix = _unique("search")
    names = [f"{prefix}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        client.create_experiment(name, tags={"parity": "odd" if i % 2 else "even"})
    mine = f"name LIKE '{prefix}-%'"

    def search(filter_string: str, order_by: Sequence[str], page_size: int = 1000) -> list[str]:
        found = _walk(
            lambda token: client.search_experiments(
                ViewType.ACTIVE_ONLY, page_size, filter_string, order_by, token
            ),
            page_size,
        )
        return [e.name for e in found]

    assert search(mine, ["name ASC"], page_size=2) == names, "pages walk every result once"
    assert search(mine, ["name DESC"], page_size=3) == names[::-1]
    assert search(f"{mine} AND tags.parity = 'even'", ["name"]) == names[0::2]
    assert search(f"name = '{names[3]}'", []) == [names[3]]
    assert sorted(search(mine, [])) == names, "default order still returns everything"
    with _raises(InvalidParameter, "filter"):
        client.search_experiments(filter_string="name ~ 'x'")
    with _raises(InvalidParameter, "max_results"):
        client.search_experiments(max_results=0)
    with _raises(InvalidParameter, "page_token"):
        client.search_experiments(page_token=_UNISSUED_CURSOR)


@_check
def check_search_experiments_view_types(client: TrackingClient) -> None:
    prefix = _unique("view")
    kept = client.create_experiment(f"{prefix}-kept")
    gone = client.create_experiment(f"{prefix}-gone")
    client.delete_experiment(gone)

    def ids(view_type: ViewType) -> set[str]:
        page = client.search_experiments(view_type, filter_string=f"name LIKE '{prefix}-%'")
        return {e.experiment_id for e in page.items}

    assert ids(ViewType.ACTIVE_ONLY) == {kept}
    assert ids(ViewType.DELETED_ONLY) == {gone}
    assert ids(ViewType.ALL) == {kept, gone}


# runs ------------------------------------------------------------------------


@_check
def check_create_run_defaults(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "run-defaults")
    run = client.create_run(experiment_id)
    info = run.info
    assert info.run_id
    assert info.experiment_id == experiment_id
    assert (info.status, info.end_time, info.lifecycle_stage) == ("RUNNING", None, "active")
    assert _near_now(info.start_time)
    assert info.run_name, "a run gets a random readable name"
    assert run.data.tags == {RUN_NAME_TAG: info.run_name}
    assert info.run_id in info.artifact_uri
    assert client.get_run(info.run_id) == run
    assert client.create_run(experiment_id).info.run_id != info.run_id
    with _raises(ResourceNotFound, "0123456789abcdef0123456789abcdef"):
        client.get_run("0123456789abcdef0123456789abcdef")
    with _raises(ResourceNotFound, "987654321987"):
        client.create_run("987654321987")


@_check
def check_create_run_with_name_tags_and_start_time(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "run-named")
    run = client.create_run(
        experiment_id, user_id="alice", start_time=1234, tags={"k": "v"}, run_name="my-run"
    )
    assert (run.info.run_name, run.info.user_id, run.info.start_time) == ("my-run", "alice", 1234)
    assert run.data.tags == {"k": "v", RUN_NAME_TAG: "my-run"}
    tagged = client.create_run(experiment_id, tags=[RunTag(RUN_NAME_TAG, "from-tag")])
    assert tagged.info.run_name == "from-tag"
    with _raises(InvalidParameter, "run_name|runName"):
        client.create_run(experiment_id, tags={RUN_NAME_TAG: "a"}, run_name="b")
    repeated = client.create_run(experiment_id, tags=[RunTag("k", "1"), RunTag("k", "2")])
    assert repeated.data.tags["k"] == "2", "a repeated tag key keeps its last value"
    with _raises(InvalidParameter, "start_time"):
        client.create_run(experiment_id, start_time=-1)


@_check
def check_run_name_tag_renames_the_run(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "run-name-tag")
    run_id = client.create_run(experiment_id, run_name="before").info.run_id
    client.set_tag(run_id, RUN_NAME_TAG, "after")  # what MLflow clients do to rename
    assert client.get_run(run_id).info.run_name == "after"
    client.log_batch(run_id, tags=[RunTag(RUN_NAME_TAG, "batched")])
    assert client.get_run(run_id).info.run_name == "batched"
    assert _searched(client, [experiment_id], "attributes.run_name = 'batched'") == [run_id]


@_check
def check_update_run(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "update"), start_time=1000).info.run_id
    info = client.update_run(run_id, status="FINISHED", end_time=2000)
    assert (info.status, info.end_time) == ("FINISHED", 2000)
    renamed = client.update_run(run_id, run_name="renamed")
    assert (renamed.run_name, renamed.status, renamed.end_time) == ("renamed", "FINISHED", 2000)
    fetched = client.get_run(run_id)
    assert fetched.info == renamed
    assert fetched.data.tags[RUN_NAME_TAG] == "renamed"
    with _raises(InvalidParameter, "status"):
        client.update_run(run_id, status="DONE")
    with _raises(InvalidParameter, "end_time"):
        client.update_run(run_id, end_time=-5)


@_check
def check_delete_and_restore_run(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "run-delete")
    run_id = client.create_run(experiment_id).info.run_id
    client.delete_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "deleted"
    refused: list[Callable[[], object]] = [
        lambda: client.log_metric(run_id, "m", 1.0),
        lambda: client.log_param(run_id, "p", "1"),
        lambda: client.set_tag(run_id, "t", "1"),
        lambda: client.log_batch(run_id, metrics=[Metric("m", 1.0, 1)]),
        lambda: client.update_run(run_id, status="FINISHED"),
    ]
    for attempt in refused:
        with _raises(InvalidParameter, re.escape(run_id)):
            attempt()
    assert client.get_run(run_id).data.metrics == []
    assert _searched(client, [experiment_id]) == []
    assert _searched(client, [experiment_id], view_type=ViewType.DELETED_ONLY) == [run_id]
    client.restore_run(run_id)
    assert client.get_run(run_id).info.lifecycle_stage == "active"
    client.log_metric(run_id, "m", 1.0, timestamp=5)
    assert _latest(client, run_id)["m"].value == 1.0
    with _raises(ResourceNotFound, "0123456789abcdef0123456789abcdef"):
        client.delete_run("0123456789abcdef0123456789abcdef")


@_check
def check_log_metric_param_and_tag(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "log")).info.run_id
    client.log_metric(run_id, "loss", 0.5, timestamp=10, step=1)
    client.log_metric(run_id, "acc", 0.75, timestamp=11)
    client.log_param(run_id, "lr", "0.01")
    client.set_tag(run_id, "stage", "train")
    client.set_tag(run_id, "stage", "eval")
    data = client.get_run(run_id).data
    assert _latest(client, run_id) == {
        "loss": Metric("loss", 0.5, 10, 1),
        "acc": Metric("acc", 0.75, 11, 0),
    }
    assert data.params == {"lr": "0.01"}
    assert data.tags["stage"] == "eval", "a tag takes its newest value"
    client.delete_tag(run_id, "stage")
    assert "stage" not in client.get_run(run_id).data.tags
    with _raises(ResourceNotFound, "stage"):
        client.delete_tag(run_id, "stage")
    with _raises(InvalidParameter, "key"):
        client.log_metric(run_id, "a/../b", 1.0)


@_check
def check_params_are_write_once(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "params")).info.run_id
    client.log_param(run_id, "lr", "0.1")
    client.log_param(run_id, "lr", "0.1")  # the same value again is fine
    with _raises(InvalidParameter, "lr"):
        client.log_param(run_id, "lr", "0.2")
    client.log_batch(run_id, params=[Param("depth", "3"), Param("depth", "3")])
    with _raises(InvalidParameter, "width"):
        client.log_batch(run_id, params=[Param("width", "1"), Param("width", "2")])
    assert client.get_run(run_id).data.params == {"lr": "0.1", "depth": "3"}


@_check
def check_log_batch_is_atomic(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "atomic")).info.run_id
    client.log_param(run_id, "lr", "0.1")
    metrics = [Metric("acc", 0.5 + i / 10, 100 + i, i) for i in range(5)]
    params = [Param("fresh", "x"), Param("lr", "0.2")]  # the conflict comes last
    with _raises(InvalidParameter, "lr"):
        client.log_batch(run_id, metrics, params, [RunTag("note", "n")])
    data = client.get_run(run_id).data
    assert data.metrics == [], "no metric of a refused batch is written"
    assert _history(client, run_id, "acc") == []
    assert data.params == {"lr": "0.1"}
    assert "note" not in data.tags


@_check
def check_log_batch_with_one_invalid_item_writes_nothing(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "invalid-item")).info.run_id
    good = [Metric("m", 1.0, 1, 0), Metric("m", 2.0, 2, 1)]
    bad_batches: list[tuple[str, list[Metric], list[Param], list[RunTag]]] = [
        ("key", [*good, Metric("../m", 3.0, 3, 2)], [], []),
        ("value", [*good, Metric("m", "3.0", 3, 2)], [], []),  # type: ignore[arg-type]
        ("step", [*good, Metric("m", 3.0, 3, 1.5)], [], []),  # type: ignore[arg-type]
        ("params", good, [Param("p", "x" * 6001)], []),
        ("tags", good, [Param("p", "1")], [RunTag("", "v")]),
    ]
    for match, metrics, params, tags in bad_batches:
        with _raises(InvalidParameter, match):
            client.log_batch(run_id, metrics, params, tags)
    data = client.get_run(run_id).data
    assert (data.metrics, data.params) == ([], {})
    assert data.tags == {RUN_NAME_TAG: client.get_run(run_id).info.run_name}


@_check
def check_log_batch_limits(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "limits")).info.run_id
    too_many: list[tuple[str, list[Metric], list[Param], list[RunTag]]] = [
        ("1001", [Metric("m", 1.0, 1, i) for i in range(1001)], [], []),
        ("101", [], [Param(f"p{i}", "v") for i in range(101)], []),
        ("101", [], [], [RunTag(f"t{i}", "v") for i in range(101)]),
        (
            "1001",
            [Metric("m", 1.0, 1, i) for i in range(900)],
            [Param(f"p{i}", "v") for i in range(100)],
            [RunTag("t", "v")],
        ),
    ]
    for match, metrics, params, tags in too_many:
        with _raises(InvalidParameter, match):
            client.log_batch(run_id, metrics, params, tags)
    data = client.get_run(run_id).data
    assert (data.metrics, data.params, set(data.tags)) == ([], {}, {RUN_NAME_TAG})
    client.log_batch(run_id, metrics=[Metric("m", float(i), 1, i) for i in range(1000)])
    client.log_batch(
        run_id,
        params=[Param(f"p{i}", "v") for i in range(100)],
        tags=[RunTag(f"t{i}", "v") for i in range(100)],
    )
    data = client.get_run(run_id).data
    assert len(_history(client, run_id, "m")) == 1000
    assert (len(data.params), len(data.tags)) == (100, 101)


@_check
def check_latest_metric_is_max_step_then_timestamp_then_value(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "latest")).info.run_id
    expected = [
        (Metric("m", 1.0, 100, 5), (1.0, 100, 5)),
        (Metric("m", 9.0, 900, 4), (1.0, 100, 5)),  # a lower step never wins
        (Metric("m", 2.0, 200, 5), (2.0, 200, 5)),  # same step, later timestamp
        (Metric("m", 3.0, 200, 5), (3.0, 200, 5)),  # same step and time, larger value
        (Metric("m", 0.5, 200, 5), (3.0, 200, 5)),
        (Metric("m", -1.0, 50, 6), (-1.0, 50, 6)),
    ]
    for metric, (value, timestamp, step) in expected:
        client.log_batch(run_id, metrics=[metric])
        assert _latest(client, run_id)["m"] == Metric("m", value, timestamp, step), metric
    shuffled = [Metric("b", 7.0, 50, 2), Metric("b", 1.0, 10, 3), Metric("b", 4.0, 10, 1)]
    client.log_batch(run_id, metrics=shuffled)
    assert _latest(client, run_id)["b"] == Metric("b", 1.0, 10, 3), "within one batch too"
    assert len(_history(client, run_id, "m")) == len(expected)


@_check
def check_metric_nan_and_inf_round_trip(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "nan")).info.run_id
    values = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "big": 1.5e300, "tiny": -3e-300}
    client.log_batch(run_id, metrics=[Metric(k, v, 7, 1) for k, v in values.items()])
    latest = _latest(client, run_id)
    for key, value in values.items():
        assert _same_float(latest[key].value, value), (key, latest[key])
        (point,) = _history(client, run_id, key)
        assert _same_float(point.value, value)
        assert (point.timestamp, point.step) == (7, 1)
    client.log_metric(run_id, "nan", 0.25, timestamp=8, step=2)
    assert _latest(client, run_id)["nan"].value == 0.25


@_check
def check_metric_history_order_and_paging(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "history")).info.run_id
    points = [Metric("h", float(i), 1000 + (i * 7) % 11, i % 4) for i in range(11)]
    for chunk in (points[5:], points[:2], points[2:5]):
        client.log_batch(run_id, metrics=chunk)
    expected = sorted(points, key=lambda m: (m.step, m.timestamp))
    assert _history(client, run_id, "h") == expected, "ordered by step, then timestamp"
    paged = _walk(
        lambda token: client.get_metric_history(run_id, "h", max_results=4, page_token=token), 4
    )
    assert paged == expected, "pages walk every point once"
    assert _history(client, run_id, "absent") == []
    with _raises(ResourceNotFound, "0123456789abcdef0123456789abcdef"):
        client.get_metric_history("0123456789abcdef0123456789abcdef", "h")


@_check
def check_search_runs_filters(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "run-filters")
    specs = [
        ("alpha", {"acc": 0.9}, {"model": "cnn"}, {"team": "a"}, 1000),
        ("beta", {"acc": 0.5}, {"model": "rnn"}, {"team": "b"}, 2000),
        ("gamma", {}, {"model": "cnn"}, {"team": "a"}, 3000),
    ]
    ids = {}
    for name, metrics, params, tags, start in specs:
        run_id = client.create_run(experiment_id, start_time=start, run_name=name).info.run_id
        client.log_batch(
            run_id,
            [Metric(k, v, 1, 0) for k, v in metrics.items()],
            [Param(k, v) for k, v in params.items()],
            [RunTag(k, v) for k, v in tags.items()],
        )
        ids[name] = run_id
    client.update_run(ids["beta"], status="FINISHED", end_time=2500)
    cases = {
        "metrics.acc > 0.6": {"alpha"},
        "metrics.acc >= 0.5": {"alpha", "beta"},
        "metrics.acc != 0.9": {"beta"},
        "params.model = 'cnn'": {"alpha", "gamma"},
        "params.model != 'cnn'": {"beta"},
        "tags.team = 'a' AND params.model = 'cnn' AND metrics.acc < 1": {"alpha"},
        "tags.`mlflow.runName` LIKE 'g%'": {"gamma"},
        "attributes.status = 'FINISHED'": {"beta"},
        "attributes.run_name = 'beta'": {"beta"},
        "attributes.start_time >= 2000": {"beta", "gamma"},
        "tags.team IS NULL": set(),
        f"attributes.run_id = '{ids['gamma']}'": {"gamma"},
    }
    for filter_string, names in cases.items():
        found = set(_searched(client, [experiment_id], filter_string))
        assert found == {ids[n] for n in names}, filter_string
    with _raises(InvalidParameter, "filter"):
        client.search_runs([experiment_id], "metrics.acc >> 1")


@_check
def check_search_runs_order_by_metric_puts_missing_last(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "run-order")
    values = {"low": 0.2, "high": 0.8, "none": None, "mid": 0.5, "nan": math.nan}
    ids = {}
    for start, (name, value) in enumerate(values.items()):
        run_id = client.create_run(experiment_id, start_time=start, run_name=name).info.run_id
        if value is not None:
            client.log_metric(run_id, "acc", value, timestamp=1)
        client.log_param(run_id, "label", name)
        ids[name] = run_id

    def order(*order_by: str) -> list[str]:
        found = _searched(client, [experiment_id], order_by=order_by)
        by_id = {v: k for k, v in ids.items()}
        return [by_id[run_id] for run_id in found]

    # NaN sorts after every number and before runs without the metric, both ways.
    assert order("metrics.acc DESC") == ["high", "mid", "low", "nan", "none"]
    assert order("metrics.acc ASC") == ["low", "mid", "high", "nan", "none"]
    assert order("params.label ASC") == ["high", "low", "mid", "nan", "none"]
    assert order() == ["nan", "mid", "none", "high", "low"], "default: newest start_time first"
    assert order("attributes.start_time ASC") == ["low", "high", "none", "mid", "nan"]


@_check
def check_search_runs_pages_walk_every_result_once(client: TrackingClient) -> None:
    first, second = _experiment(client, "run-pages-a"), _experiment(client, "run-pages-b")
    created = [
        client.create_run(first if i % 2 else second, start_time=10 * i).info.run_id
        for i in range(7)
    ]

    def fetch(token: str | None) -> Page[Run]:
        return client.search_runs([first, second], max_results=3, page_token=token)

    assert _run_ids(_walk(fetch, 3)) == created[::-1]
    assert len(fetch(None).items) == 3
    with _raises(InvalidParameter, "max_results"):
        client.search_runs([first], max_results=0)
    with _raises(InvalidParameter, "page_token"):
        client.search_runs([first], page_token=_UNISSUED_CURSOR)


@_check
def check_search_runs_view_types(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "run-views")
    kept = client.create_run(experiment_id, start_time=2).info.run_id
    gone = client.create_run(experiment_id, start_time=1).info.run_id
    client.delete_run(gone)
    assert _searched(client, [experiment_id]) == [kept]
    assert _searched(client, [experiment_id], view_type=ViewType.DELETED_ONLY) == [gone]
    assert _searched(client, [experiment_id], view_type=ViewType.ALL) == [kept, gone]


# inputs and outputs ----------------------------------------------------------


@_check
def check_log_inputs(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "inputs")
    first = client.create_run(experiment_id).info.run_id
    second = client.create_run(experiment_id).info.run_id
    train = Dataset("train", "abc123", "local", "/data/train.csv", '{"a": "int"}', '{"rows": 3}')
    newer = Dataset("train", "def456", "local", "/data/train-v2.csv")
    context = "mlflow.data.context"
    client.log_inputs(first, [DatasetInput(train, {context: "training"})])
    client.log_inputs(first, [DatasetInput(train, {context: "training"})])  # no duplicate
    client.log_inputs(first, [DatasetInput(newer)])
    inputs = {(i.dataset.digest): i for i in client.get_run(first).dataset_inputs}
    assert set(inputs) == {"abc123", "def456"}
    assert inputs["abc123"] == DatasetInput(train, {context: "training"})
    assert inputs["def456"].dataset == newer
    # A dataset is identified by (experiment, name, digest): the first one logged is kept.
    moved = Dataset("train", "abc123", "local", "/elsewhere.csv")
    client.log_inputs(second, [DatasetInput(moved, {context: "eval"})])
    (logged,) = client.get_run(second).dataset_inputs
    assert logged == DatasetInput(train, {context: "eval"})
    other_run = client.create_run(_experiment(client, "inputs-other")).info.run_id
    client.log_inputs(other_run, [DatasetInput(moved)])
    assert client.get_run(other_run).dataset_inputs == [DatasetInput(moved)]
    assert set(_searched(client, [experiment_id], "datasets.name = 'train'")) == {first, second}
    assert _searched(client, [experiment_id], "datasets.digest = 'def456'") == [first]
    with _raises(InvalidParameter, "name"):
        client.log_inputs(first, [DatasetInput(Dataset("", "d", "local", "s"))])
    client.delete_run(second)
    with _raises(InvalidParameter, re.escape(second)):
        client.log_inputs(second, [DatasetInput(newer)])


@_check
def check_log_outputs(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "outputs")
    run_id = client.create_run(experiment_id).info.run_id
    model = client.create_logged_model(experiment_id, "out", source_run_id=run_id)
    client.log_outputs(run_id, [ModelOutput(model.model_id, step=3)])
    client.log_outputs(run_id, [])
    assert client.get_run(run_id).model_outputs == [ModelOutput(model.model_id, 3)]
    with _raises(ResourceNotFound, "m-missing"):
        client.log_outputs(run_id, [ModelOutput("m-missing")])
    client.delete_run(run_id)
    with _raises(InvalidParameter, re.escape(run_id)):
        client.log_outputs(run_id, [ModelOutput(model.model_id)])


@_check
def check_run_artifacts_round_trip(client: TrackingClient) -> None:
    run_id = client.create_run(_experiment(client, "artifacts")).info.run_id
    client.log_artifact_bytes(run_id, b"hello", "outputs/hello.txt")
    client.log_artifact_bytes(run_id, b"{}", "config.json")
    assert client.download_artifact(run_id, "outputs/hello.txt") == b"hello"
    assert client.list_artifacts(run_id) == [
        FileInfo("config.json", False, 2),
        FileInfo("outputs", True, None),
    ]
    assert client.list_artifacts(run_id, "outputs") == [FileInfo("outputs/hello.txt", False, 5)]
    with _raises(InvalidParameter, r"\.\."):
        client.log_artifact_bytes(run_id, b"x", "../escape.txt")
    client.delete_run(run_id)
    with _raises(InvalidParameter, re.escape(run_id)):
        client.log_artifact_bytes(run_id, b"late", "late.txt")


# logged models ---------------------------------------------------------------


@_check
def check_logged_model_create_get_and_finalize(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "models")
    run_id = client.create_run(experiment_id).info.run_id
    model = client.create_logged_model(
        experiment_id, "clf", run_id, "sklearn", {"owner": "ml"}, {"alpha": "0.1"}
    )
    assert model.model_id
    assert model.model_id in model.artifact_location
    assert (model.experiment_id, model.name, model.model_type) == (experiment_id, "clf", "sklearn")
    assert (model.source_run_id, model.status) == (run_id, "LOGGED_MODEL_PENDING")
    assert (model.tags, model.params) == ({"owner": "ml"}, {"alpha": "0.1"})
    assert _near_now(model.creation_timestamp_ms)
    assert client.get_logged_model(model.model_id) == model
    ready = client.finalize_logged_model(model.model_id, "LOGGED_MODEL_READY")
    assert ready.status == "LOGGED_MODEL_READY"
    assert client.get_logged_model(model.model_id).status == "LOGGED_MODEL_READY"
    with _raises(InvalidParameter, "status"):
        client.finalize_logged_model(model.model_id, "DONE")
    assert client.create_logged_model(experiment_id).name, "a model gets a default name"
    with _raises(ResourceNotFound, "987654321987"):
        client.create_logged_model("987654321987", "x")
    with _raises(ResourceNotFound, "0123456789abcdef0123456789abcdef"):
        client.create_logged_model(experiment_id, "x", "0123456789abcdef0123456789abcdef")
    with _raises(ResourceNotFound, "m-missing"):
        client.get_logged_model("m-missing")


@_check
def check_logged_model_tags_params_and_metrics(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "model-data")
    run_id = client.create_run(experiment_id).info.run_id  # MLflow logs model metrics via runs
    model_id = client.create_logged_model(experiment_id, "m").model_id
    client.set_logged_model_tags(model_id, {"a": "1", "b": "2"})
    client.set_logged_model_tags(model_id, {"a": "3"})
    client.delete_logged_model_tag(model_id, "b")
    with _raises(ResourceNotFound, "b"):
        client.delete_logged_model_tag(model_id, "b")
    client.log_logged_model_params(model_id, {"depth": "4"})
    metric = LoggedModelMetric("acc", 0.9, 5, 1, run_id, "eval", "d1")
    client.log_logged_model_metrics(model_id, [metric])
    model = client.get_logged_model(model_id)
    assert (model.tags, model.params, model.metrics) == ({"a": "3"}, {"depth": "4"}, [metric])
    with _raises(InvalidParameter, "key"):
        client.set_logged_model_tags(model_id, {"../x": "1"})


@_check
def check_logged_model_metrics_keep_nan_and_inf(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "model-nan")
    run_id = client.create_run(experiment_id).info.run_id
    model_id = client.create_logged_model(experiment_id, "m").model_id
    odd = [LoggedModelMetric("loss", v, 6, 2, run_id) for v in (math.inf, -math.inf, math.nan)]
    client.log_logged_model_metrics(model_id, odd)
    stored = client.get_logged_model(model_id).metrics
    assert [(m.key, m.timestamp, m.step) for m in stored] == [("loss", 6, 2)] * 3
    assert all(_same_float(a.value, b.value) for a, b in zip(stored, odd, strict=True))


@_check
def check_search_logged_models(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "model-search")
    specs = [("a", "tree", 0.7), ("b", "linear", 0.9), ("c", "tree", None)]
    run_id = client.create_run(experiment_id).info.run_id
    ids = {}
    for name, kind, acc in specs:
        model_id = client.create_logged_model(experiment_id, name, params={"kind": kind}).model_id
        if acc is not None:
            client.log_logged_model_metrics(
                model_id, [LoggedModelMetric("acc", acc, 1, 0, run_id, "eval", "d1")]
            )
        ids[name] = model_id
    client.finalize_logged_model(ids["a"], "LOGGED_MODEL_READY")
    by_id = {v: k for k, v in ids.items()}

    def names(
        filter_string: str | None = None,
        order_by: Sequence[dict[str, object]] = (),
        datasets: Sequence[dict[str, str | None]] = (),
        page_size: int = 100,
    ) -> list[str]:
        found = _walk(
            lambda token: client.search_logged_models(
                [experiment_id], filter_string, page_size, order_by, token, datasets
            ),
            page_size,
        )
        return [by_id[m.model_id] for m in found]

    assert sorted(names("params.kind = 'tree'")) == ["a", "c"]
    assert names("name = 'b'") == ["b"]
    assert names("metrics.acc > 0.8") == ["b"]
    assert names("status = 'READY'") == ["a"]
    descending = [{"field_name": "metrics.acc", "ascending": False}]
    assert names(order_by=descending) == ["b", "a", "c"], "models without the metric go last"
    assert names(order_by=descending, page_size=1) == ["b", "a", "c"], "pages walk every model"
    assert sorted(names(datasets=[{"dataset_name": "eval"}])) == ["a", "b"]
    assert names(datasets=[{"dataset_name": "other"}]) == []
    with _raises(InvalidParameter, "filter"):
        client.search_logged_models([experiment_id], "name ~ 'x'")


@_check
def check_delete_logged_model(client: TrackingClient) -> None:
    experiment_id = _experiment(client, "model-delete")
    model_id = client.create_logged_model(experiment_id, "gone").model_id
    kept = client.create_logged_model(experiment_id, "kept").model_id
    client.delete_logged_model(model_id)
    with _raises(ResourceNotFound, re.escape(model_id)):
        client.get_logged_model(model_id)
    with _raises(ResourceNotFound, re.escape(model_id)):
        client.set_logged_model_tags(model_id, {"a": "1"})
    found = client.search_logged_models([experiment_id]).items
    assert [m.model_id for m in found] == [kept]


# input no backend can store ----------------------------------------------------


def _refused(attempts: Sequence[tuple[str, Callable[[], object]]]) -> None:
    for match, attempt in attempts:
        with _raises(InvalidParameter, match):
            attempt()


@_check
def check_oversized_values_are_refused(client: TrackingClient) -> None:
    """Text longer than a backend's column is refused up front, the same on every backend."""
    experiment_id = _experiment(client, "oversized")
    run_id = client.create_run(experiment_id, run_name="kept").info.run_id
    model_id = client.create_logged_model(experiment_id, "m").model_id
    long = "x" * 300
    _refused(
        [
            ("run_name", lambda: client.create_run(experiment_id, run_name=long)),
            ("run_name|runName", lambda: client.update_run(run_id, run_name=long)),
            ("user_id", lambda: client.create_run(experiment_id, user_id=long)),
            ("key", lambda: client.log_inputs(run_id, [DatasetInput(_DATASET, {long: "v"})])),
            (
                "source_type",
                lambda: client.log_inputs(run_id, [DatasetInput(Dataset("d", "x", long, "s"))]),
            ),
            ("model_type", lambda: client.create_logged_model(experiment_id, model_type=long * 2)),
            (
                "key",
                lambda: client.log_logged_model_metrics(
                    model_id, [LoggedModelMetric(long, 1.0, 1, 0)]
                ),
            ),
        ]
    )
    assert _searched(client, [experiment_id]) == [run_id]
    run = client.get_run(run_id)
    assert (run.info.run_name, run.dataset_inputs) == ("kept", [])
    assert client.get_logged_model(model_id).metrics == []


@_check
def check_out_of_range_numbers_are_refused(client: TrackingClient) -> None:
    """Times and steps are 64-bit integers; a value outside is a clear error, not a crash."""
    experiment_id = _experiment(client, "out-of-range")
    run_id = client.create_run(experiment_id).info.run_id
    huge = 2**63
    _refused(
        [
            ("step", lambda: client.log_metric(run_id, "m", 1.0, timestamp=1, step=huge)),
            ("timestamp", lambda: client.log_metric(run_id, "m", 1.0, timestamp=huge)),
            ("value", lambda: client.log_metric(run_id, "m", 10**400, timestamp=1)),
            ("start_time", lambda: client.create_run(experiment_id, start_time=huge)),
            ("end_time", lambda: client.update_run(run_id, end_time=huge)),
        ]
    )
    assert _searched(client, [experiment_id]) == [run_id]
    assert client.get_run(run_id).data.metrics == []
    with _raises(LoopmlError, "9{25}"):
        client.get_experiment("9" * 25)  # no such experiment: not found or invalid


@_check
def check_text_a_database_cannot_hold_is_refused(client: TrackingClient) -> None:
    """NUL characters (PostgreSQL text refuses them) and lone surrogates (not UTF-8)."""
    experiment_id = _experiment(client, "nul")
    run_id = client.create_run(experiment_id).info.run_id
    nul = "a\x00b"
    _refused(
        [
            ("param|value", lambda: client.log_param(run_id, "p", nul)),
            ("tag|value", lambda: client.set_tag(run_id, "t", nul)),
            ("param|value", lambda: client.log_param(run_id, "p", "\ud800")),
            ("run_name", lambda: client.create_run(experiment_id, run_name=nul)),
            ("user_id", lambda: client.create_run(experiment_id, user_id=nul)),
            ("value", lambda: client.set_experiment_tag(experiment_id, "t", nul)),
            (
                "source",
                lambda: client.log_inputs(run_id, [DatasetInput(Dataset("d", "x", "l", nul))]),
            ),
            ("name", lambda: client.create_logged_model(experiment_id, nul)),
        ]
    )
    run = client.get_run(run_id)
    assert (run.data.params, run.dataset_inputs) == ({}, [])
    assert _searched(client, [experiment_id]) == [run_id]
