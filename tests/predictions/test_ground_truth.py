"""Ground truth joins by request id: the latest label wins, stray labels add no rows."""

from __future__ import annotations

import pytest

from loopml.artifacts import ArtifactStore
from loopml.core.errors import InvalidParameter
from loopml.predictions import PredictionLog, log_ground_truth, read

from .conftest import MakeRecord


@pytest.fixture
def logged(artifacts: ArtifactStore, make_record: MakeRecord) -> PredictionLog:
    log = PredictionLog(artifacts)
    for i in range(3):
        log.log(make_record(request_id=f"a{i}", endpoint="churn"))
    log.log(make_record(request_id="b0", endpoint="fraud"))
    log.close()
    return log


def _labels(artifacts: ArtifactStore, **filters: object) -> dict[str, str | None]:
    table = read(artifacts, with_ground_truth=True, **filters)
    return dict(
        zip(
            table.column("request_id").to_pylist(),
            table.column("ground_truth").to_pylist(),
            strict=True,
        )
    )


@pytest.mark.usefixtures("logged")
def test_labels_join_by_request_id_and_missing_ones_are_null(artifacts: ArtifactStore) -> None:
    assert log_ground_truth(artifacts, "churn", {"a0": 1, "a2": {"score": 0.5}}) == 2
    assert _labels(artifacts) == {"a0": "1", "a1": None, "a2": '{"score": 0.5}', "b0": None}


@pytest.mark.usefixtures("logged")
def test_the_latest_label_wins(artifacts: ArtifactStore) -> None:
    log_ground_truth(artifacts, "churn", [("a0", "late")], time_ms=3_000)
    log_ground_truth(artifacts, "churn", [("a0", "early")], time_ms=1_000)
    log_ground_truth(artifacts, "churn", [("a1", "first"), ("a1", "second")], time_ms=2_000)

    labels = _labels(artifacts, endpoint="churn")
    assert (labels["a0"], labels["a1"]) == ('"late"', '"second"')


@pytest.mark.usefixtures("logged")
def test_labels_for_unknown_ids_add_no_rows(artifacts: ArtifactStore) -> None:
    assert log_ground_truth(artifacts, "churn", {"nobody": 1, "a1": 0}) == 2
    labels = _labels(artifacts)
    assert sorted(labels) == ["a0", "a1", "a2", "b0"]
    assert labels["a1"] == "0"


@pytest.mark.usefixtures("logged")
def test_labels_belong_to_their_endpoint(artifacts: ArtifactStore) -> None:
    log_ground_truth(artifacts, "fraud", {"a0": "wrong endpoint", "b0": True})
    assert _labels(artifacts) == {"a0": None, "a1": None, "a2": None, "b0": "true"}


def test_a_label_logged_before_its_prediction_is_flushed_joins_later(
    artifacts: ArtifactStore, make_record: MakeRecord
) -> None:
    log = PredictionLog(artifacts)
    log.log(make_record(request_id="early-bird"))
    log_ground_truth(artifacts, "churn", {"early-bird": 42})
    assert _labels(artifacts) == {}

    log.close()
    assert _labels(artifacts) == {"early-bird": "42"}


def test_no_labels_writes_nothing(artifacts: ArtifactStore) -> None:
    assert log_ground_truth(artifacts, "churn", {}) == 0
    assert artifacts.list_files() == []


@pytest.mark.parametrize(
    ("endpoint", "labels", "message"),
    [
        ("bad/name", {"a": 1}, "endpoint 'bad/name'"),
        ("churn", {"": 1}, "request_id must be a non-empty string"),
        ("churn", {"a": object()}, "label of request_id 'a' is not JSON-serialisable"),
        ("churn", {"a": float("nan")}, "label of request_id 'a' is not JSON-serialisable"),
        ("churn", [("a", 1, 2)], "labels must be"),
    ],
)
def test_bad_labels_are_refused_and_nothing_is_written(
    artifacts: ArtifactStore, endpoint: str, labels: object, message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        log_ground_truth(artifacts, endpoint, labels)
    assert artifacts.list_files() == []
