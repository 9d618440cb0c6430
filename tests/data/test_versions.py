"""Dataset versions: dedupe, immutability, references, tags by compare-and-swap, clean failure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from loopml.artifacts import ArtifactStore
from loopml.auth import Actor, Role
from loopml.core.errors import Conflict, InvalidParameter, ResourceNotFound
from loopml.data import DataClient
from loopml.data._sql import SqlDataStore
from loopml.store.database import Database

TESTER = Actor("p-tester", "tester", Role.EDITOR)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def data(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DataClient]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'loopml.db'}"
    else:
        url = request.getfixturevalue("postgres_databases").create()
    db = Database(url)
    db.initialize()
    yield DataClient(
        SqlDataStore(db), ArtifactStore(str(tmp_path / "artifacts")), TESTER, tmp_path / "work"
    )
    db.dispose()


def _frame(shift: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"id": range(100), "x": [i * 0.5 + shift for i in range(100)]})


def test_identical_content_is_one_version(data: DataClient, tmp_path: Path) -> None:
    first = data.add("sales", _frame())
    _frame().to_parquet(tmp_path / "same.parquet", index=False)
    again = data.add("sales", tmp_path / "same.parquet")
    assert (first.created, again.created) == (True, False)
    assert again.version == first.version
    assert [v.version for v in data.list_versions("sales")] == [1]


def test_new_content_is_a_new_version_and_old_ones_do_not_change(data: DataClient) -> None:
    v1 = data.log_dataset("sales", _frame())
    v2 = data.log_dataset("sales", _frame(shift=1), parents=("data:sales@1",))
    assert (v1.version, v2.version) == (1, 2)
    assert v2.parents == ["data:sales@1"]
    assert data.get("data:sales@1") == v1
    pd.testing.assert_frame_equal(data.read_pandas("data:sales@1"), _frame())
    pd.testing.assert_frame_equal(data.read_pandas("data:sales@latest"), _frame(shift=1))
    assert data.get("sales") == v2  # no selector: latest
    assert v1.row_count == 100
    assert v1.schema == [{"name": "id", "type": "int64"}, {"name": "x", "type": "double"}]
    assert v1.created_by == "tester"


def test_reads_as_arrow_and_duckdb(data: DataClient) -> None:
    data.log_dataset("sales", _frame())
    assert data.read_arrow("data:sales@1").num_rows == 100
    relation = data.read_duckdb("data:sales@1")
    assert relation.aggregate("count(*) AS n, sum(id) AS s").fetchall() == [(100, 4950)]


def test_missing_names_versions_and_tags_are_404s_naming_them(data: DataClient) -> None:
    data.log_dataset("sales", _frame())
    with pytest.raises(ResourceNotFound, match="no dataset named 'nope'"):
        data.get("data:nope@1")
    with pytest.raises(ResourceNotFound, match="has no version 7"):
        data.get("data:sales@7")
    with pytest.raises(ResourceNotFound, match="has no tag 'prod'"):
        data.get("data:sales@prod")
    with pytest.raises(ResourceNotFound, match="has no version 9"):
        data.set_tag("sales", "prod", 9)


@pytest.mark.parametrize("ref", ["data:", "data:../x@1", "data:sales@", "data:sales@1.5", "a b"])
def test_malformed_references_are_refused(data: DataClient, ref: str) -> None:
    if ref == "data:sales@":  # an empty selector means latest, which is fine
        data.log_dataset("sales", _frame())
        assert data.get(ref).version == 1
        return
    with pytest.raises(InvalidParameter, match="invalid dataset"):
        data.get(ref)


def test_tags_move_by_compare_and_swap(data: DataClient) -> None:
    data.log_dataset("sales", _frame())
    data.log_dataset("sales", _frame(shift=1))
    assert data.set_tag("sales", "prod", 1) is None
    assert data.get("data:sales@prod").version == 1
    with pytest.raises(Conflict, match="points at version 1, not nothing"):
        data.set_tag("sales", "prod", 2)  # the writer thought it was unset
    assert data.set_tag("sales", "prod", 2, expected=1) == 1
    assert data.get("data:sales@prod").version == 2
    with pytest.raises(InvalidParameter, match="invalid tag 'latest'"):
        data.set_tag("sales", "latest", 1)


def test_two_writers_racing_on_one_tag_get_one_winner(data: DataClient) -> None:
    data.log_dataset("sales", _frame())
    data.log_dataset("sales", _frame(shift=1))
    data.set_tag("sales", "prod", 1)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def move() -> None:
        barrier.wait()
        try:
            data.set_tag("sales", "prod", 2, expected=1)
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=move) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "won"]


def test_an_interrupted_add_leaves_no_version_and_can_be_rerun(
    data: DataClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(data.store, "add_version", crash)
    with pytest.raises(KeyboardInterrupt):
        data.add("sales", _frame())
    monkeypatch.undo()
    with pytest.raises(ResourceNotFound):
        data.list_versions("sales")
    assert data.add("sales", _frame()).version.version == 1
    assert list((data.work_dir).iterdir()) == []  # scratch files are gone


def test_bad_input_creates_no_version(data: DataClient, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InvalidParameter, match="cannot read"):
        data.add("sales", tmp_path / "bad.csv")
    with pytest.raises(ResourceNotFound):
        data.list_versions("sales")
    with pytest.raises(InvalidParameter, match="invalid dataset name"):
        data.add("../escape", _frame())


def test_unknown_parents_are_refused_before_anything_is_written(data: DataClient) -> None:
    with pytest.raises(ResourceNotFound, match="no dataset named 'raw'"):
        data.add("sales", _frame(), parents=("data:raw@1",))
    assert data.list_datasets() == []
