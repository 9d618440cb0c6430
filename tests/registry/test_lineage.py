"""A version's lineage graph, built from a real run, real dataset versions and a real model."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from loopml.client import Client
from loopml.core.errors import ResourceNotFound
from loopml.registry.lineage import version_lineage
from loopml.tracking.client import artifact_key

from .conftest import Register, iris_frame


def test_lineage_reaches_run_params_metrics_data_and_its_parent(
    client: Client, registered: Register, add_dataset: Callable[..., str]
) -> None:
    raw = add_dataset("iris-raw", iris_frame())
    clean = add_dataset("iris-clean", iris_frame(120), parents=(raw,))
    made = registered(dataset=clean, c=0.5)

    lineage = version_lineage(client, "iris", 1)

    root = lineage.node(lineage.root)
    assert (root.kind, root.label) == ("model_version", "iris v1")
    assert root.attributes["manifest_digest"] == made.version.manifest_digest
    [(relation, run)] = lineage.sources_of(lineage.root)
    assert (relation, run.id) == ("produced_by", f"run:{made.run_id}")
    assert run.attributes["params"] == {"C": "0.5", "max_iter": "300"}
    assert run.attributes["metrics"]["accuracy"] > 0.9
    found = {node.id: (rel, node) for rel, node in lineage.sources_of(run.id)}
    rel, data = found[f"dataset_version:{clean}"]
    assert rel == "trained_on"
    assert data.attributes["content_hash"] == client.data.get(clean).content_hash
    assert [(r, n.id) for r, n in lineage.sources_of(data.id)] == [
        ("derived_from", f"dataset_version:{raw}")
    ]
    code = found["code:" + "a" * 40][1]
    assert code.attributes == {"commit": "a" * 40, "dirty": False}
    environment = found[f"environment:{made.run_id}"][1]
    assert environment.attributes == {"python": "3.12.1", "packages": {"scikit-learn": "1.5.0"}}
    assert not any(node.missing for node in lineage.nodes)


def test_to_dict_is_json_and_the_tree_reads_top_down(
    client: Client, registered: Register, add_dataset: Callable[..., str]
) -> None:
    raw = add_dataset("iris-raw", iris_frame())
    registered(dataset=add_dataset("iris-clean", iris_frame(), parents=(raw,)))
    lineage = version_lineage(client, "iris", "1")

    graph = json.loads(json.dumps(lineage.to_dict()))
    kinds = {node["kind"] for node in graph["nodes"]}
    assert kinds == {"model_version", "run", "dataset_version", "code", "environment"}
    relations = {edge["relation"] for edge in graph["edges"]}
    assert relations == {"produced_by", "trained_on", "derived_from", "built_from", "ran_in"}
    tree = lineage.render_tree().splitlines()
    assert tree[0] == "model_version iris v1"
    assert tree[1].startswith("└── produced_by → run ")
    assert "params: C=1.0, max_iter=300" in tree[1]
    assert any("derived_from → dataset_version data:iris-raw@1" in line for line in tree)
    assert tree[2].startswith("    ├── trained_on → dataset_version data:iris-clean@1")
    assert tree[3] == "    │   └── derived_from → dataset_version data:iris-raw@1 (content " + (
        client.data.get(raw).content_hash[:12] + ")"
    )
    assert tree[-1].startswith("    └── ran_in → environment python 3.12.1")
    assert [row.depth for row in lineage.rows()][:4] == [0, 1, 2, 3]


def test_missing_pieces_are_nodes_marked_missing(client: Client, registered: Register) -> None:
    registered(commit=None, environment=False)
    lineage = version_lineage(client, "iris", 1)
    missing = {node.kind: node for node in lineage.nodes if node.missing}
    assert set(missing) == {"code", "environment"}
    assert "mlflow.source.git.commit" in missing["code"].attributes["reason"]
    assert "missing: " in lineage.render_tree()


def test_a_version_registered_without_a_run_shows_the_gap(
    client: Client, registered: Register
) -> None:
    made = registered()
    source = made.version.storage_location
    client.registry.create_model_version("iris", source)
    lineage = version_lineage(client, "iris", 2)
    [(relation, run)] = lineage.sources_of(lineage.root)
    assert relation == "produced_by"
    assert run.missing
    assert "without a run" in run.attributes["reason"]


def test_an_evaluation_run_is_linked(client: Client, registered: Register) -> None:
    made = registered()
    experiment = client.get_run(made.run_id).info.experiment_id
    evaluation_run = client.create_run(experiment, run_name="evaluate").info.run_id
    client.registry.record_evaluation("iris", 1, {"accuracy": 0.9}, run_id=evaluation_run)
    lineage = version_lineage(client, "iris", 1)
    assert ("evaluated_in", f"run:{evaluation_run}") in [
        (relation, node.id) for relation, node in lineage.sources_of(lineage.root)
    ]


def test_a_version_from_a_logged_model_goes_through_it_to_the_run(
    client: Client, registered: Register, tmp_path: Path
) -> None:
    made = registered()
    experiment = client.get_run(made.run_id).info.experiment_id
    logged = client.create_logged_model(experiment, "clf", source_run_id=made.run_id)
    folder = tmp_path / "model-1"  # the files the fixture saved for version 1
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = artifact_key(logged.artifact_location, file.relative_to(folder).as_posix())
        client.artifacts.put(key, file.read_bytes())
    version = client.registry.create_model_version("iris", f"models:/{logged.model_id}")
    lineage = version_lineage(client, "iris", version.version)
    [(relation, model)] = lineage.sources_of(lineage.root)
    assert (relation, model.kind, model.label) == ("registered_from", "logged_model", "clf")
    assert [(r, n.id) for r, n in lineage.sources_of(model.id)] == [
        ("produced_by", f"run:{made.run_id}")
    ]


def test_an_unknown_version_is_not_found(client: Client, registered: Register) -> None:
    registered()
    with pytest.raises(ResourceNotFound, match="iris"):
        version_lineage(client, "iris", 9)
