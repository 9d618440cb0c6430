"""A run that reads ``data:NAME@VERSION`` shows it as an input to the mlflow client, and a
logged model's lineage reaches that version and the versions it was derived from."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from loopml.client import Client
from loopml.tracking import fluent

if TYPE_CHECKING:
    from tests.e2e.conftest import ServerProcess

pytestmark = pytest.mark.slow


def test_a_read_dataset_is_a_run_input_for_mlflow_and_lineage_reaches_it(
    tracking_server: ServerProcess,
) -> None:
    with Client(tracking_server.url) as client:
        raw = client.data.add("raw-events", pd.DataFrame({"id": [1, 2, 3], "v": [1.0, 2.0, 9.0]}))
        clean = client.data.add(
            "clean-events",
            pd.DataFrame({"id": [1, 2], "v": [1.0, 2.0]}),
            parents=[raw.version.ref],
        ).version
        experiment_id = client.create_experiment(f"lineage-{uuid.uuid4().hex}")
        with fluent.start_run(client, experiment_id) as run:
            frame = client.read_dataset(clean.ref)
        assert frame["v"].tolist() == [1.0, 2.0]
        model = client.create_logged_model(experiment_id, source_run_id=run.run_id)

        lineage = client.model_lineage(model.model_id)
        assert lineage.run_id == run.run_id
        assert lineage.all_refs() == [clean.ref, raw.version.ref]
        assert lineage.datasets[0].content_hash == clean.content_hash

    from mlflow import MlflowClient

    seen = MlflowClient(tracking_server.url).get_run(run.run_id).inputs.dataset_inputs
    assert len(seen) == 1
    dataset = seen[0].dataset
    assert (dataset.name, dataset.source_type, dataset.source) == (
        "clean-events",
        "loopml",
        clean.ref,
    )
    assert dataset.digest == clean.content_hash[:32]
    assert [c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]] == ["id", "v"]
    assert json.loads(dataset.profile)["num_rows"] == 2
    assert {t.key: t.value for t in seen[0].tags} == {"mlflow.data.context": "training"}
