"""Batch scoring over a real embedded registry: files, parts, datasets, failures and lineage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.client import Client
from loopml.core.errors import InvalidParameter, ResourceAlreadyExists
from loopml.models import infer_signature
from loopml.serving.batch import ERROR_TAG, OUTPUT_TAG, BatchResult, score

from .conftest import FEATURES, iris_frame, register

ROWS = 1_500
CHUNK = 256  # 1,500 rows are 6 chunks: five of 256 and one of 220
MODEL = "models:/iris@champion"


@pytest.fixture
def model() -> LogisticRegression:
    frame = iris_frame()
    return LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["target"])


@pytest.fixture
def client(tmp_path: Path, model: LogisticRegression) -> Iterator[Client]:
    """An embedded registry in tmp_path with ``iris`` v1 (with a signature) as ``@champion``."""
    frame = iris_frame()
    with Client(tmp_path / "home") as opened:
        version = register(
            opened, tmp_path, "iris", model, signature=infer_signature(frame[FEATURES])
        )
        opened.registry.set_alias("iris", "champion", version)
        yield opened


@pytest.fixture
def rows() -> pd.DataFrame:
    """1,500 iris-like rows (features jittered), with the ``target`` column as a passenger."""
    frame = iris_frame().sample(ROWS, replace=True, random_state=7).reset_index(drop=True)
    noise = np.random.default_rng(7).normal(0, 0.3, size=(ROWS, len(FEATURES)))
    frame[FEATURES] = frame[FEATURES].to_numpy() + noise
    return frame


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The folder sources and outputs go in, so a test can see everything left behind."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def parquet(path: Path, frame: pd.DataFrame, row_group_size: int = 100) -> Path:
    """Small row groups, so chunks are assembled across them."""
    frame.to_parquet(path, index=False, row_group_size=row_group_size)
    return path


def scored(result: BatchResult) -> pd.DataFrame:
    return pd.read_parquet(result.destination)


def test_parquet_predictions_equal_the_models_own_chunk_by_chunk(
    client: Client, model: LogisticRegression, rows: pd.DataFrame, work: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    seen: list[tuple[int, int | None]] = []
    result = score(
        client,
        MODEL,
        source,
        work / "preds.parquet",
        chunk_rows=CHUNK,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.rows, result.chunks) == (ROWS, 6)
    assert (result.model_name, result.model_version) == ("iris", 1)
    assert result.destination == (work / "preds.parquet").absolute()
    assert seen == [(min(n * CHUNK, ROWS), ROWS) for n in range(1, 7)]
    out = scored(result)
    assert list(out.columns) == [*FEATURES, "target", "prediction"]
    pd.testing.assert_frame_equal(out[[*FEATURES, "target"]], rows)
    np.testing.assert_array_equal(out["prediction"], model.predict(rows[FEATURES]))
    assert pq.ParquetFile(result.destination).metadata.num_row_groups == 6
    assert sorted(p.name for p in work.iterdir()) == ["preds.parquet", "rows.parquet"]


def test_csv_is_streamed_with_an_unknown_total(
    client: Client, model: LogisticRegression, rows: pd.DataFrame, work: Path
) -> None:
    source = work / "rows.csv"
    rows.to_csv(source, index=False)
    seen: list[tuple[int, int | None]] = []
    result = score(
        client,
        MODEL,
        str(source),
        work / "preds.parquet",
        chunk_rows=CHUNK,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (result.rows, result.chunks) == (ROWS, 6)
    assert seen[-1] == (ROWS, None)
    out = scored(result)
    np.testing.assert_array_equal(out["prediction"], model.predict(out[FEATURES]))
    np.testing.assert_allclose(out[FEATURES], rows[FEATURES])


def test_a_directory_of_parts_is_read_in_name_order(
    client: Client, model: LogisticRegression, rows: pd.DataFrame, work: Path
) -> None:
    parts = work / "parts"
    parts.mkdir()
    for index, start in enumerate(range(0, ROWS, 400)):
        parquet(parts / f"part-{index:03d}.parquet", rows.iloc[start : start + 400])
    (parts / "_SUCCESS").write_text("")
    result = score(client, MODEL, parts, work / "preds.parquet", chunk_rows=CHUNK)
    assert (result.rows, result.chunks) == (ROWS, 6)
    out = scored(result)
    pd.testing.assert_frame_equal(out[[*FEATURES, "target"]], rows)
    np.testing.assert_array_equal(out["prediction"], model.predict(rows[FEATURES]))


def test_parts_are_cast_to_the_first_parts_schema_or_named(
    client: Client, rows: pd.DataFrame, work: Path
) -> None:
    parts = work / "parts"
    parts.mkdir()
    parquet(parts / "part-0.parquet", rows.iloc[:500])
    parquet(parts / "part-1.parquet", rows.iloc[500:1000].astype({"target": "int32"}))
    assert score(client, MODEL, parts, work / "preds.parquet").rows == 1_000
    parquet(parts / "part-2.parquet", rows.iloc[1000:].drop(columns="target"))
    with pytest.raises(InvalidParameter, match=r"part-2\.parquet: its columns .* do not match"):
        score(client, MODEL, parts, work / "again.parquet", chunk_rows=CHUNK)
    nothing_written(work, "parts", "preds.parquet")
    (parts / "part-3.parquet").write_bytes(b"PAR1 and then nothing")
    with pytest.raises(InvalidParameter, match=r"cannot read .*part-3\.parquet"):
        score(client, MODEL, parts, work / "again.parquet")


def test_a_dataset_version_is_scored_and_recorded_as_the_runs_input(
    client: Client, model: LogisticRegression, rows: pd.DataFrame, work: Path
) -> None:
    added = client.data.add("iris-rows", parquet(work / "rows.parquet", rows)).version
    result = score(client, MODEL, "data:iris-rows@latest", work / "preds.parquet", chunk_rows=500)
    assert (result.rows, result.chunks) == (ROWS, 3)
    np.testing.assert_array_equal(scored(result)["prediction"], model.predict(rows[FEATURES]))
    run = client.get_run(result.run_id)
    assert run.data.params["source"] == added.ref == "data:iris-rows@1"
    [recorded] = run.dataset_inputs
    assert recorded.dataset.source == "data:iris-rows@1"
    assert recorded.tags == {"mlflow.data.context": "scoring"}
    assert sorted(p.name for p in work.iterdir()) == ["preds.parquet", "rows.parquet"]


def test_the_run_records_model_source_output_rows_and_seconds(
    client: Client, rows: pd.DataFrame, work: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    result = score(client, MODEL, source, work / "preds.parquet", chunk_rows=CHUNK)
    run = client.get_run(result.run_id)
    experiment = client.get_experiment_by_name("batch-predictions")
    assert experiment is not None
    assert run.info.experiment_id == experiment.experiment_id
    assert (run.info.run_name, run.info.status) == ("score-iris-v1", "FINISHED")
    assert run.data.params == {
        "model_uri": MODEL,
        "model_name": "iris",
        "model_version": "1",
        "source": str(source),
        "destination": str(result.destination),
        "chunk_rows": str(CHUNK),
        "method": "predict",
    }
    assert run.data.tags[OUTPUT_TAG] == str(result.destination)
    metrics = {m.key: m.value for m in run.data.metrics}
    assert metrics["rows"] == ROWS
    assert metrics["seconds"] == pytest.approx(result.seconds)
    again = score(client, MODEL, source, work / "again.parquet", experiment="nightly")
    assert client.get_run(again.run_id).info.experiment_id != experiment.experiment_id


def test_predict_proba_writes_one_column_per_class(
    client: Client, model: LogisticRegression, rows: pd.DataFrame, work: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    result = score(
        client, MODEL, source, work / "preds.parquet", chunk_rows=CHUNK, method="predict_proba"
    )
    out = scored(result)
    classes = ["prediction_0", "prediction_1", "prediction_2"]
    assert list(out.columns) == [*FEATURES, "target", *classes]
    np.testing.assert_allclose(out[classes], model.predict_proba(rows[FEATURES]))
    assert client.get_run(result.run_id).data.params["method"] == "predict_proba"


def test_only_predictions_and_a_named_prediction_column(
    client: Client, model: LogisticRegression, rows: pd.DataFrame, work: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    result = score(
        client,
        MODEL,
        source,
        work / "preds.parquet",
        keep_columns=False,
        prediction_column="species",
    )
    out = scored(result)
    assert list(out.columns) == ["species"]
    np.testing.assert_array_equal(out["species"], model.predict(rows[FEATURES]))


def test_a_prediction_column_the_input_already_has_is_refused(
    client: Client, rows: pd.DataFrame, work: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    with pytest.raises(InvalidParameter, match="already has a column 'target'"):
        score(client, MODEL, source, work / "preds.parquet", prediction_column="target")
    assert not (work / "preds.parquet").exists()


def nothing_written(work: Path, *sources: str) -> None:
    assert sorted(p.name for p in work.iterdir()) == sorted(sources)


def last_run(client: Client) -> Any:
    experiment = client.get_experiment_by_name("batch-predictions")
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id]).items
    return run


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_missing_column_is_named_and_nothing_is_written(
    client: Client, rows: pd.DataFrame, work: Path, suffix: str
) -> None:
    source = work / f"rows{suffix}"
    without = rows.drop(columns="petal_width")
    parquet(source, without) if suffix == ".parquet" else without.to_csv(source, index=False)
    with pytest.raises(InvalidParameter, match="missing column 'petal_width'"):
        score(client, MODEL, source, work / "preds.parquet", chunk_rows=CHUNK)
    nothing_written(work, source.name)
    failed = last_run(client)
    assert failed.info.status == "FAILED"
    assert "petal_width" in failed.data.tags[ERROR_TAG]
    assert OUTPUT_TAG not in failed.data.tags


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_wrongly_typed_column_is_named_and_nothing_is_written(
    client: Client, rows: pd.DataFrame, work: Path, suffix: str
) -> None:
    source = work / f"rows{suffix}"
    typed = rows.assign(petal_width="wide")
    parquet(source, typed) if suffix == ".parquet" else typed.to_csv(source, index=False)
    with pytest.raises(InvalidParameter, match="input column 'petal_width'"):
        score(client, MODEL, source, work / "preds.parquet", chunk_rows=CHUNK)
    nothing_written(work, source.name)


def test_a_bad_value_in_a_later_chunk_leaves_no_output_and_no_temp_file(
    client: Client, rows: pd.DataFrame, work: Path
) -> None:
    rows.loc[900, "sepal_length"] = np.nan  # in the fourth chunk: rows 768-1,023
    source = parquet(work / "rows.parquet", rows)
    seen: list[int] = []
    with pytest.raises(InvalidParameter, match=r"model failed on rows 768-1,023: ValueError"):
        score(
            client,
            MODEL,
            source,
            work / "preds.parquet",
            chunk_rows=CHUNK,
            progress=lambda done, _: seen.append(done),
        )
    assert seen == [256, 512, 768]
    nothing_written(work, "rows.parquet")
    failed = last_run(client)
    assert failed.info.status == "FAILED"
    assert "NaN" in failed.data.tags[ERROR_TAG]


def test_a_csv_value_of_the_wrong_type_halfway_names_its_column(
    client: Client, rows: pd.DataFrame, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loopml.serving.batch._CSV_BLOCK_BYTES", 16_384)  # ~180 rows a block
    source = work / "rows.csv"
    text = rows.astype({"sepal_width": str})
    text.loc[1_400, "sepal_width"] = "n/a?"
    text.to_csv(source, index=False)
    seen: list[int] = []
    with pytest.raises(InvalidParameter, match=r"input column 'sepal_width'.*invalid value"):
        score(
            client,
            MODEL,
            source,
            work / "preds.parquet",
            chunk_rows=CHUNK,
            progress=lambda done, _: seen.append(done),
        )
    assert seen[:4] == [256, 512, 768, 1_024]
    nothing_written(work, "rows.csv")


def test_without_o_tmpfile_a_hidden_temp_file_is_renamed_or_removed(
    client: Client, rows: pd.DataFrame, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    source = parquet(work / "rows.parquet", rows)
    result = score(client, MODEL, source, work / "preds.parquet", chunk_rows=CHUNK)
    assert scored(result).shape == (ROWS, 6)
    nothing_written(work, "rows.parquet", "preds.parquet")
    rows.loc[900, "sepal_length"] = np.nan
    bad = parquet(work / "bad.parquet", rows)
    with pytest.raises(InvalidParameter, match="model failed on rows 768-1,023"):
        score(client, MODEL, bad, work / "bad-preds.parquet", chunk_rows=CHUNK)
    nothing_written(work, "rows.parquet", "preds.parquet", "bad.parquet")


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from loopml.client import Client
    from loopml.serving.batch import score

    def progress(done, total):
        if done >= 768:  # three chunks written: die without any chance to clean up
            os.kill(os.getpid(), signal.SIGKILL)

    with Client(sys.argv[1]) as client:
        score(client, "models:/iris@champion", sys.argv[2], sys.argv[3], chunk_rows=256,
              progress=progress)
    """
)


def test_a_process_killed_midway_leaves_no_output(
    client: Client, rows: pd.DataFrame, work: Path, tmp_path: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    destination = work / "preds.parquet"
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "home"), str(source), str(destination)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    nothing_written(work, "rows.parquet")


def test_an_existing_output_is_kept_unless_overwrite(
    client: Client, model: LogisticRegression, rows: pd.DataFrame, work: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    destination = work / "preds.parquet"
    destination.write_text("keep me")
    with pytest.raises(ResourceAlreadyExists, match=r"preds\.parquet already exists"):
        score(client, MODEL, source, destination)
    assert destination.read_text() == "keep me"
    result = score(client, MODEL, source, destination, overwrite=True)
    np.testing.assert_array_equal(scored(result)["prediction"], model.predict(rows[FEATURES]))
    nothing_written(work, "rows.parquet", "preds.parquet")


def test_bad_options_and_sources_are_refused_before_a_run_starts(
    client: Client, rows: pd.DataFrame, work: Path
) -> None:
    source = parquet(work / "rows.parquet", rows)
    (work / "notes.txt").write_text("hello")
    out = work / "preds.parquet"
    with pytest.raises(InvalidParameter, match="chunk_rows must be at least 1"):
        score(client, MODEL, source, out, chunk_rows=0)
    with pytest.raises(InvalidParameter, match=r"no such file or directory: .*nowhere"):
        score(client, MODEL, work / "nowhere.parquet", out)
    with pytest.raises(InvalidParameter, match=r"expected a Parquet \(\.parquet\) or CSV"):
        score(client, MODEL, work / "notes.txt", out)
    with pytest.raises(InvalidParameter, match=r"output directory .* does not exist"):
        score(client, MODEL, source, work / "missing" / "preds.parquet")
    assert client.get_experiment_by_name("batch-predictions") is None
    nothing_written(work, "rows.parquet", "notes.txt")


def test_predict_proba_on_a_model_without_it_is_refused(
    client: Client, tmp_path: Path, rows: pd.DataFrame, work: Path
) -> None:
    from sklearn.linear_model import LinearRegression

    frame = iris_frame()
    regressor = LinearRegression().fit(frame[FEATURES], frame["target"])
    register(client, tmp_path, "petals", regressor, signature=infer_signature(frame[FEATURES]))
    source = parquet(work / "rows.parquet", rows)
    with pytest.raises(InvalidParameter, match="method 'predict_proba' is not one of"):
        score(client, "models:/petals/1", source, work / "p.parquet", method="predict_proba")
    result = score(client, "models:/petals/1", source, work / "p.parquet", keep_columns=False)
    np.testing.assert_allclose(scored(result)["prediction"], regressor.predict(rows[FEATURES]))
