"""The official mlflow client's model-registry calls against a live loopml server.

Runs on SQLite and PostgreSQL, and on an auth server as an editor (token and
basic auth), each test a workflow as MLflow's registry docs write it:
register, version, alias, load by ``models:/name@alias``, search, stages,
rename and delete.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
    # the stage API is deprecated in mlflow itself; old clients still call it
    pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning"),
    pytest.mark.filterwarnings("ignore:.*get_latest_versions.*:FutureWarning"),
]

Mlflow = Any


def _name(prefix: str = "model") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _log_iris_model(mlflow: Mlflow, **options: Any) -> tuple[Any, Any, Any]:
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(_name("registry"))
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(features, labels)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", **options)
    return run, info, (model, features)


def test_register_alias_and_load_by_alias(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    name = _name()
    run, info, (model, features) = _log_iris_model(mlflow)
    first = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    second = mlflow.register_model(info.model_uri, name)
    assert (first.version, second.version) == ("1", "2")
    assert second.run_id == run.info.run_id
    assert second.source == info.model_uri  # the client does not read model_id back
    assert second.status == "READY"

    client = mlflow.MlflowClient()
    client.set_registered_model_alias(name, "champion", "2")
    assert client.get_model_version_by_alias(name, "champion").version == "2"
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    assert list(loaded.predict(features[:10])) == list(model.predict(features[:10]))
    by_number = mlflow.sklearn.load_model(f"models:/{name}/1")
    assert list(by_number.predict(features[:10])) == list(model.predict(features[:10]))

    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(mlflow.exceptions.MlflowException, match="alias champion not found"):
        client.get_model_version_by_alias(name, "champion")


def test_log_model_with_registered_model_name(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    name = _name()
    _log_iris_model(mlflow, registered_model_name=name)
    _log_iris_model(mlflow, registered_model_name=name)
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(v.version for v in versions) == ["1", "2"]
    newest = client.search_model_versions(
        f"name = '{name}'", order_by=["version_number DESC"], max_results=1
    )
    assert [v.version for v in newest] == ["2"]


def test_tags_descriptions_stages_and_search(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    name = _name("searchable")
    run, _, _ = _log_iris_model(mlflow)
    client = mlflow.MlflowClient()
    client.create_registered_model(name, tags={"team": "risk"}, description="first")
    for _ in range(3):
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    client.update_registered_model(name, description="credit risk")
    client.set_registered_model_tag(name, "domain", "lending")
    client.delete_registered_model_tag(name, "team")
    client.update_model_version(name, "2", description="retrained")
    client.set_model_version_tag(name, "2", "validated", "yes")
    client.delete_model_version_tag(name, "2", "validated")
    client.set_model_version_tag(name, "3", "validated", "yes")

    model = client.get_registered_model(name)
    assert model.description == "credit risk"
    assert model.tags == {"domain": "lending"}
    assert client.get_model_version(name, "2").description == "retrained"
    tagged = client.search_model_versions(f"name = '{name}' AND tags.validated = 'yes'")
    assert [v.version for v in tagged] == ["3"]
    by_run = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert {v.version for v in by_run} == {"1", "2", "3"}

    client.transition_model_version_stage(name, "1", "Production")
    client.transition_model_version_stage(name, "2", "Production", archive_existing_versions=True)
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name='{name}'")}
    assert stages == {"1": "Archived", "2": "Production", "3": "None"}
    latest = client.get_latest_versions(name, stages=["Production"])
    assert [v.version for v in latest] == ["2"]

    found = client.search_registered_models(f"name = '{name}'")
    assert [m.name for m in found] == [name]
    assert client.search_registered_models("tags.domain = 'lending'")
    uri = client.get_model_version_download_uri(name, "3")
    assert uri.startswith("mlflow-artifacts:/")


def test_rename_paginate_and_delete(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    prefix = _name("paged")
    client = mlflow.MlflowClient()
    for i in range(5):
        client.create_registered_model(f"{prefix}-{i}")
    page = client.search_registered_models(f"name LIKE '{prefix}-%'", max_results=2)
    names = [m.name for m in page]
    while page.token:
        page = client.search_registered_models(
            f"name LIKE '{prefix}-%'", max_results=2, page_token=page.token
        )
        names += [m.name for m in page]
    assert names == [f"{prefix}-{i}" for i in range(5)]

    client.rename_registered_model(f"{prefix}-0", f"{prefix}-renamed")
    assert client.get_registered_model(f"{prefix}-renamed").name == f"{prefix}-renamed"
    with pytest.raises(mlflow.exceptions.MlflowException, match="not found"):
        client.get_registered_model(f"{prefix}-0")
    with pytest.raises(mlflow.exceptions.MlflowException, match="already exists"):
        client.create_registered_model(f"{prefix}-1")

    run, _, _ = _log_iris_model(mlflow)
    client.create_model_version(f"{prefix}-renamed", f"runs:/{run.info.run_id}/model")
    client.set_registered_model_alias(f"{prefix}-renamed", "prod", "1")
    client.delete_model_version(f"{prefix}-renamed", "1")
    with pytest.raises(mlflow.exceptions.MlflowException, match="alias prod not found"):
        client.get_model_version_by_alias(f"{prefix}-renamed", "prod")
    again = client.create_model_version(f"{prefix}-renamed", f"runs:/{run.info.run_id}/model")
    assert again.version == "2"  # numbers are never reused
    client.delete_registered_model(f"{prefix}-renamed")
    assert not client.search_registered_models(f"name = '{prefix}-renamed'")


def test_bad_registry_requests_are_clear_and_change_nothing(mlflow_env: Mlflow) -> None:
    mlflow = mlflow_env
    client = mlflow.MlflowClient()
    name = _name("bad")
    client.create_registered_model(name)
    error = mlflow.exceptions.MlflowException
    with pytest.raises(error, match="not in this registry's artifact store"):
        client.create_model_version(name, "/etc/passwd")
    with pytest.raises(error, match=r"Model Version .* not found"):
        client.set_registered_model_alias(name, "champion", "7")
    with pytest.raises(error, match="reserved"):
        client.set_registered_model_alias(name, "latest", "1")
    with pytest.raises(error, match="stage 'Prod' is not one of"):
        client.transition_model_version_stage(name, "1", "Prod")
    with pytest.raises(error, match="Invalid model version filter"):
        client.search_model_versions("nme = 'x'")
    assert client.search_model_versions(f"name = '{name}'") == []
