"""Values to content-addressed artifacts and back: built-in formats, user types, refusals."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.artifacts import ArtifactStore
from loopml.client import Client
from loopml.core.errors import InvalidParameter, InvalidState
from loopml.pipelines import Materializer, OutputRef, register_materializer
from loopml.pipelines.values import INLINE_LIMIT, StoreSpec, ValueStore
from pipelines import flows


@pytest.fixture
def values(tmp_path: Path) -> ValueStore:
    return ValueStore(StoreSpec("local", str(tmp_path / "artifacts")))


FRAME = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, np.nan, 2.0]})


@pytest.mark.parametrize(
    ("value", "materializer"),
    [
        (FRAME, "pandas"),
        (pd.Series([1.0, 2.0], name="score"), "pandas-series"),
        (pd.Series([1, 2]), "pandas-series"),
        (pa.table({"a": [1, 2], "b": ["p", "q"]}), "arrow"),
        (np.arange(12, dtype=np.float32).reshape(3, 4), "numpy"),
        (b"\x00raw bytes", "bytes"),
        ({"nested": [1, 2.5, None, True, "text"]}, "json"),
    ],
)
def test_built_in_formats_round_trip_with_a_stable_hash(
    values: ValueStore, value: Any, materializer: str
) -> None:
    ref = values.save(value, "step 'test'")
    assert ref.materializer == materializer
    assert values.save(value, "step 'test'").sha256 == ref.sha256  # same value, same bytes
    loaded = values.load(ref)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, value)
    elif isinstance(value, pd.Series):
        pd.testing.assert_series_equal(loaded, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(loaded, value)
    elif isinstance(value, pa.Table):
        assert loaded.equals(value)
    else:
        assert loaded == value


def test_small_json_travels_inline_and_large_values_are_stored(values: ValueStore) -> None:
    small = values.save([1, 2, 3], "step 'small'")
    assert small.inline == "[1,2,3]"
    assert small.sha256 == hashlib.sha256(b"[1,2,3]").hexdigest()
    large = values.save(list(range(INLINE_LIMIT)), "step 'large'")
    assert large.inline is None
    store = ArtifactStore(values.spec.location)
    assert store.stat(large.path).sha256 == large.sha256
    assert values.load(large) == list(range(INLINE_LIMIT))


def test_a_model_is_stored_through_loopml_models_and_loaded_untrusted(values: ValueStore) -> None:
    model = LogisticRegression(max_iter=200).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    ref = values.save(model, "step 'train'")
    assert ref.materializer == "model"
    loaded = values.load(ref)
    assert type(loaded) is LogisticRegression
    assert list(loaded.predict([[0.0], [3.0]])) == [0, 1]


def test_values_that_would_need_a_pickle_are_refused(values: ValueStore) -> None:
    with pytest.raises(InvalidParameter, match=r"step 'objects' returned a value of type numpy"):
        values.save(np.array([object()], dtype=object), "step 'objects'")
    with pytest.raises(InvalidParameter, match=r"of type builtins.dict that no materializer"):
        values.save({1: "int keys change type in JSON"}, "step 'keys'")


def test_a_pickled_array_in_the_store_is_never_unpickled(values: ValueStore) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    ref = OutputRef(sha, len(data), "numpy", "numpy.ndarray")
    values.artifacts.put(ref.path, data)
    with pytest.raises(ValueError, match=r"allow_pickle=False"):
        values.load(ref)


def test_an_artifact_of_an_unknown_materializer_names_it(values: ValueStore) -> None:
    ref = OutputRef("0" * 64, 2, "parquet-v9", "x.Y", "{}")
    with pytest.raises(InvalidState, match=r"no materializer named 'parquet-v9' is registered"):
        values.load(ref)


def test_registering_is_checked() -> None:
    with pytest.raises(InvalidParameter, match=r"needs a Materializer instance"):
        register_materializer(flows.PointMaterializer)  # type: ignore[arg-type]

    class Clash(flows.PointMaterializer):
        name = "json"

    with pytest.raises(InvalidParameter, match=r"materializer name 'json' is built in"):
        register_materializer(Clash())


def test_a_registered_materializer_works_in_worker_processes(client: Client) -> None:
    run = flows.points.run({"x": 3.0}, client=client)
    assert run.status == "FINISHED", run.steps
    assert run.steps["make_point"].outputs[0].materializer == "test-point"
    assert run.result() == pytest.approx(45**0.5)


def test_a_value_no_materializer_handles_fails_its_step_by_name_and_type(client: Client) -> None:
    run = flows.opaque.run(client=client)
    assert run.status == "FAILED"
    error = run.steps["make_opaque"].error
    assert error is not None
    assert error.retryable is False
    assert error.message.startswith(
        "step 'make_opaque' returned a value of type pipelines.flows.Opaque that no "
        "materializer can store"
    )


class Celsius(float):
    """A float the built-in JSON materializer would store too, as a plain number."""


class CelsiusMaterializer(Materializer):
    name = "test-celsius"
    types = (Celsius,)

    def save(self, value: Any, file: Any) -> None:
        file.write(f"{float(value)!r} C".encode())

    def load(self, file: Any) -> Any:
        return Celsius(file.read().decode().removesuffix(" C"))


def test_user_materializers_come_before_the_built_in_ones(values: ValueStore) -> None:
    assert values.save(Celsius(21.5), "step 't'").materializer == "json"
    register_materializer(CelsiusMaterializer())
    ref = values.save(Celsius(21.5), "step 't'")
    assert ref.materializer == "test-celsius"
    loaded = values.load(ref)
    assert type(loaded) is Celsius
    assert loaded == 21.5
