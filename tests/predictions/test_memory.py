"""MemoryPredictionLog: the same sink interface, records kept in a list."""

from __future__ import annotations

import pytest

from loopml.artifacts import ArtifactStore
from loopml.core.errors import InvalidParameter
from loopml.predictions import MemoryPredictionLog, PredictionLog, PredictionSink

from .conftest import MakeRecord


def test_records_are_kept_in_order_and_bounded(make_record: MakeRecord) -> None:
    records = [make_record() for _ in range(4)]
    with MemoryPredictionLog(max_records=3) as log:
        accepted = [log.log(record) for record in records]
        log.flush()

    assert accepted == [True, True, True, False]
    assert (log.records, log.dropped) == (records[:3], 1)
    assert log.log(make_record()) is False
    assert log.dropped == 2


def test_both_logs_are_prediction_sinks(artifacts: ArtifactStore) -> None:
    assert isinstance(MemoryPredictionLog(), PredictionSink)
    assert isinstance(PredictionLog(artifacts), PredictionSink)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(InvalidParameter, match="max_records must be at least 1"):
        MemoryPredictionLog(max_records=0)
