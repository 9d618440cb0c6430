"""``loopml predict`` as a user types it, on an embedded registry in a temp dir."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner, Result

from loopml.cli.main import app
from loopml.client import Client
from loopml.models import infer_signature, save_model

runner = CliRunner()
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def said(result: Result) -> str:
    """The output with Rich's line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture
def iris() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame.columns = [*FEATURES, "target"]
    return frame


@pytest.fixture
def model(iris: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=500).fit(iris[FEATURES], iris["target"])


@pytest.fixture
def home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, iris: pd.DataFrame, model: LogisticRegression
) -> Path:
    """LOOPML_HOME with ``iris`` v1 as ``@champion``; the test's files go in tmp_path."""
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    with Client() as client:
        run_id = client.create_run(client.create_experiment("training")).info.run_id
        save_model(model, tmp_path / "model", signature=infer_signature(iris[FEATURES]))
        client.log_artifact(run_id, tmp_path / "model", "model")
        client.registry.create_registered_model("iris")
        version = client.registry.create_model_version("iris", f"runs:/{run_id}/model").version
        client.registry.set_alias("iris", "champion", version)
    return tmp_path


def predict(*args: str) -> Result:
    return runner.invoke(app, ["predict", "models:/iris@champion", *args])


def test_predict_writes_the_output_and_says_what_it_did(
    home: Path, iris: pd.DataFrame, model: LogisticRegression
) -> None:
    iris.to_parquet(home / "rows.parquet", index=False)
    result = predict(
        "--input", str(home / "rows.parquet"), "--output", str(home / "preds.parquet"),
        "--chunk-rows", "40",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = pd.read_parquet(home / "preds.parquet")
    assert list(out.columns) == [*FEATURES, "target", "prediction"]
    np.testing.assert_array_equal(out["prediction"], model.predict(iris[FEATURES]))
    text = said(result)
    assert "scored 150 rows in 4 chunks with iris v1" in text
    assert f"output {home / 'preds.parquet'}" in text
    with Client() as client:
        experiment = client.get_experiment_by_name("batch-predictions")
        assert experiment is not None
        [run] = client.search_runs([experiment.experiment_id]).items
    assert f"run {run.info.run_id}" in text


def test_json_proba_and_only_predictions_from_csv(
    home: Path, iris: pd.DataFrame, model: LogisticRegression
) -> None:
    iris.to_csv(home / "rows.csv", index=False)
    result = predict(
        "-i", str(home / "rows.csv"), "-o", str(home / "preds.parquet"),
        "--proba", "--only-predictions", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert (facts["rows"], facts["chunks"]) == (150, 1)
    assert (facts["model_name"], facts["model_version"]) == ("iris", 1)
    assert facts["destination"] == str(home / "preds.parquet")
    assert len(facts["run_id"]) == 32
    out = pd.read_parquet(home / "preds.parquet")
    assert list(out.columns) == ["prediction_0", "prediction_1", "prediction_2"]
    np.testing.assert_allclose(out, model.predict_proba(iris[FEATURES]))


def test_a_dataset_version_as_input(home: Path, iris: pd.DataFrame) -> None:
    iris.to_parquet(home / "rows.parquet", index=False)
    added = runner.invoke(app, ["data", "add", "iris-rows", str(home / "rows.parquet")])
    assert added.exit_code == 0, added.output
    result = predict("--input", "data:iris-rows@1", "--output", str(home / "preds.parquet"))
    assert result.exit_code == 0, result.output
    assert "scored 150 rows in 1 chunks" in said(result)


def test_an_existing_output_is_refused_unless_overwrite(home: Path, iris: pd.DataFrame) -> None:
    iris.to_parquet(home / "rows.parquet", index=False)
    (home / "preds.parquet").write_text("keep me")
    refused = predict("-i", str(home / "rows.parquet"), "-o", str(home / "preds.parquet"))
    assert refused.exit_code == 2
    assert "exists; choose a new file or pass --overwrite" in said(refused)
    assert (home / "preds.parquet").read_text() == "keep me"
    replaced = predict(
        "-i", str(home / "rows.parquet"), "-o", str(home / "preds.parquet"), "--overwrite"
    )
    assert replaced.exit_code == 0, replaced.output
    assert len(pd.read_parquet(home / "preds.parquet")) == 150


def test_errors_are_one_clear_line_and_exit_1(home: Path, iris: pd.DataFrame) -> None:
    iris.drop(columns="petal_width").to_parquet(home / "rows.parquet", index=False)
    missing = predict("-i", str(home / "rows.parquet"), "-o", str(home / "preds.parquet"))
    assert missing.exit_code == 1
    assert "error: input is missing column 'petal_width'" in said(missing)
    assert "Traceback" not in said(missing)
    assert not (home / "preds.parquet").exists()
    unknown = runner.invoke(
        app, ["predict", "models:/nope@champion", "-i", "x.csv", "-o", "y.parquet"]
    )
    assert unknown.exit_code == 3
    assert "nope" in said(unknown)
