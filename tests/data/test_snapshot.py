"""A snapshot hashes every row, streams, and leaves nothing behind when the input is bad."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidParameter
from loopml.data import snapshot as snapshot_module
from loopml.data.snapshot import BATCH_ROWS, HASH_VERSION, snapshot


def _frame(rows: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype="int64"),
            "x": rng.random(rows),
            "label": rng.choice(["cat", "dog", "eel"], rows),
            "at": pd.date_range("2024-01-01", periods=rows, freq="min"),
            "maybe": pd.array(([1, None] * rows)[:rows], dtype="Int64"),
        }
    )


def _hash(source: object, tmp_path: Path, name: str = "out.parquet") -> str:
    return snapshot(source, tmp_path / name).content_hash


def test_the_same_table_hashes_the_same_from_memory_parquet_and_arrow(tmp_path: Path) -> None:
    frame = _frame()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet")
    hashes = {
        _hash(frame, tmp_path, "a.parquet"),
        _hash(pa.Table.from_pandas(frame, preserve_index=False), tmp_path, "b.parquet"),
        _hash(tmp_path / "in.parquet", tmp_path, "c.parquet"),
    }
    assert len(hashes) == 1


def test_split_into_files_or_batches_it_still_hashes_the_same(tmp_path: Path) -> None:
    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(table.slice(0, 7_001), parts / "part-0.parquet", row_group_size=1_000)
    pq.write_table(table.slice(7_001), parts / "part-1.parquet", row_group_size=3_333)
    assert _hash(parts, tmp_path, "a.parquet") == _hash(table, tmp_path, "b.parquet")


def test_irregular_chunks_hash_like_one_piece(tmp_path: Path) -> None:
    table = pa.Table.from_pandas(_frame(), preserve_index=False)
    pieces = [table.slice(0, 1), table.slice(1, 4_999), table.slice(5_000, 70_000)]
    chunked = pa.concat_tables(pieces)
    assert chunked.column("id").num_chunks == 3
    assert _hash(chunked, tmp_path, "a.parquet") == _hash(table.combine_chunks(), tmp_path, "b")


def test_csv_parquet_and_memory_hash_the_same_when_the_schema_is_the_same(
    tmp_path: Path,
) -> None:
    csv = "n,x,s,on\n1,0.5,a,2024-01-01\n,,,2024-01-02\n3,-1.25,ccc,\n"
    (tmp_path / "in.csv").write_text(csv)
    parts = tmp_path / "parts"
    parts.mkdir()
    lines = csv.splitlines()
    (parts / "0.csv").write_text("\n".join(lines[:2]) + "\n")
    (parts / "1.csv").write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    table = pa.table(
        {
            "n": pa.array([1, None, 3], pa.int64()),
            "x": pa.array([0.5, None, -1.25]),
            "s": pa.array(["a", "", "ccc"]),
            "on": pa.array([date(2024, 1, 1), date(2024, 1, 2), None]),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=2)
    hashes = {
        _hash(tmp_path / "in.csv", tmp_path, "a.parquet"),
        _hash(parts, tmp_path, "b.parquet"),
        _hash(tmp_path / "in.parquet", tmp_path, "c.parquet"),
        _hash(table, tmp_path, "d.parquet"),
    }
    assert len(hashes) == 1


def test_the_hash_scheme_is_pinned(tmp_path: Path) -> None:
    """Changing what a hash means needs a new HASH_VERSION: old versions must stay findable."""
    table = pa.table(
        {
            "i": pa.array([1, None, -3], pa.int32()),
            "f": pa.array([0.5, float("nan"), None]),
            "b": pa.array([True, None, False]),
            "s": pa.array(["x", None, "yz"]),
            "t": pa.array([0, 1, None], pa.timestamp("ms")),
            "d": pa.array(["p", "q", "p"]).dictionary_encode(),
            "l": pa.array([[1], None, []], pa.list_(pa.int64())),
        }
    )
    assert HASH_VERSION == "loopml-table-v2"
    assert _hash(table, tmp_path) == (
        "83bb2e482a4d6a646173137376581dd869cd80f07048baea3d1890e2392d2c0b"
    )


def test_dictionaries_bools_and_nested_values_do_not_depend_on_batches(tmp_path: Path) -> None:
    rows = 3_000
    table = pa.table(
        {
            "d": pa.array([f"v{i % 7}" for i in range(rows)]).dictionary_encode(),
            "b": pa.array([i % 3 == 0 if i % 11 else None for i in range(rows)]),
            "l": pa.array([[i, i + 1] if i % 5 else None for i in range(rows)]),
            "e": pa.nulls(rows),
        }
    )
    parts = tmp_path / "parts"
    parts.mkdir()
    # Each file gets its own dictionary; booleans start mid-byte in the slices.
    pq.write_table(table.slice(0, 1_001), parts / "0.parquet", row_group_size=333)
    pq.write_table(table.slice(1_001), parts / "1.parquet", row_group_size=777)
    pq.write_table(table, tmp_path / "whole.parquet")
    base = _hash(pq.read_table(tmp_path / "whole.parquet"), tmp_path, "a.parquet")
    assert _hash(parts, tmp_path, "b.parquet") == base
    table = pq.read_table(tmp_path / "whole.parquet")
    flipped = table.set_column(1, "b", pc.invert(table.column("b")))
    assert _hash(flipped, tmp_path, "c.parquet") != base


def test_what_lies_under_a_null_or_in_a_nan_does_not_count(tmp_path: Path) -> None:
    validity = pa.py_buffer(np.packbits([1, 0, 1], bitorder="little").tobytes())
    ints = pa.Array.from_buffers(
        pa.int64(), 3, [validity, pa.py_buffer(np.array([1, 99, 3], "<i8").tobytes())]
    )
    texts = pa.Array.from_buffers(
        pa.string(),
        3,
        [validity, pa.py_buffer(np.array([0, 1, 5, 6], "<i4").tobytes()), pa.py_buffer(b"ajunkc")],
    )
    nan_bits = np.array([0x7FF8000000000000, 0x7FF8000000000001], dtype="<u8").view("<f8")
    dirty = pa.table({"i": ints, "s": texts, "f": pa.array(nan_bits[[0, 1, 0]])})
    clean = pa.table(
        {
            "i": pa.array([1, None, 3], pa.int64()),
            "s": pa.array(["a", None, "c"]),
            "f": pa.array([np.nan, np.nan, np.nan]),
        }
    )
    assert _hash(dirty, tmp_path, "a.parquet") == _hash(clean, tmp_path, "b.parquet")


def test_a_null_string_is_not_an_empty_one_and_strings_do_not_run_together(
    tmp_path: Path,
) -> None:
    def h(values: list[str | None], name: str) -> str:
        return _hash(pa.table({"s": pa.array(values, pa.string())}), tmp_path, name)

    assert h([None, "a"], "a") != h(["", "a"], "b")
    assert h(["ab", "c"], "c") != h(["a", "bc"], "d")


def test_a_change_beyond_the_first_ten_thousand_rows_changes_the_hash(tmp_path: Path) -> None:
    """MLflow's digest hashes a sample of the first 10,000 rows; this one hashes all."""
    frame = _frame()
    changed = frame.copy()
    changed.loc[15_000, "x"] = changed.loc[15_000, "x"] + 1e-9
    assert _hash(frame, tmp_path, "a.parquet") != _hash(changed, tmp_path, "b.parquet")


def test_a_change_only_in_a_datetime_column_changes_the_hash(tmp_path: Path) -> None:
    frame = _frame()
    changed = frame.copy()
    changed.loc[12_345, "at"] = changed.loc[12_345, "at"] + pd.Timedelta(seconds=1)
    assert _hash(frame, tmp_path, "a.parquet") != _hash(changed, tmp_path, "b.parquet")


def test_a_null_hashes_apart_from_zero_whatever_its_neighbours(tmp_path: Path) -> None:
    with_null = pd.DataFrame({"n": pd.array([None, 5], dtype="Int64")})
    with_zero = pd.DataFrame({"n": pd.array([0, 5], dtype="Int64")})
    assert _hash(with_null, tmp_path, "a.parquet") != _hash(with_zero, tmp_path, "b.parquet")
    # Split so that one part has no nulls: the same rows hash the same.
    table = pa.table({"n": pa.array([None, 5, 7], pa.int64())})
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(table.slice(0, 1), parts / "0.parquet")
    pq.write_table(table.slice(1), parts / "1.parquet")
    assert _hash(parts, tmp_path, "c.parquet") == _hash(table, tmp_path, "d.parquet")


def test_row_order_and_schema_are_part_of_the_content(tmp_path: Path) -> None:
    frame = _frame(100)
    base = _hash(frame, tmp_path, "a.parquet")
    assert _hash(frame.iloc[::-1], tmp_path, "b.parquet") != base
    assert _hash(frame.rename(columns={"x": "y"}), tmp_path, "c.parquet") != base
    assert _hash(frame.astype({"id": "int32"}), tmp_path, "d.parquet") != base
    swapped = frame[["x", "id", "label", "at", "maybe"]]
    assert _hash(swapped, tmp_path, "e.parquet") != base


def test_the_snapshot_is_the_whole_table_in_a_private_file(tmp_path: Path) -> None:
    frame = _frame(BATCH_ROWS * 2 + 17)
    seen: list[int] = []
    result = snapshot(frame, tmp_path / "out.parquet", progress=seen.append)
    assert result.row_count == len(frame)
    assert seen[-1] == len(frame)
    assert len(seen) == 3  # one report per batch
    assert [c["name"] for c in result.schema] == list(frame.columns)
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    back = pq.read_table(result.path).to_pandas()
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_a_parquet_file_is_kept_byte_for_byte_in_a_private_file(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(_frame(BATCH_ROWS + 5)), tmp_path / "in.parquet")
    seen: list[int] = []
    result = snapshot(tmp_path / "in.parquet", tmp_path / "out.parquet", progress=seen.append)
    assert result.path.read_bytes() == (tmp_path / "in.parquet").read_bytes()
    assert stat.S_IMODE(result.path.stat().st_mode) == 0o600
    assert result.row_count == seen[-1] == BATCH_ROWS + 5
    assert result.size_bytes == (tmp_path / "in.parquet").stat().st_size


def test_a_parquet_file_that_changes_while_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pq.write_table(pa.Table.from_pandas(_frame(100)), tmp_path / "in.parquet")
    stamps = iter([(1, 2, 3, 4), (1, 2, 3, 5)])
    monkeypatch.setattr(snapshot_module, "_identity", lambda path: next(stamps))
    with pytest.raises(InvalidParameter, match=r"in\.parquet changed while it was being read"):
        snapshot(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_parquet_parts_typed_differently_are_refused(tmp_path: Path) -> None:
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(pa.table({"a": pa.array([1], pa.int64())}), parts / "0.parquet")
    pq.write_table(pa.table({"a": pa.array([1.5])}), parts / "1.parquet")
    with pytest.raises(InvalidParameter, match="typed differently"):
        snapshot(parts, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_csv_files_stream_and_hash_like_the_same_table(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": range(1000), "b": [f"s{i}" for i in range(1000)]})
    frame.to_csv(tmp_path / "in.csv", index=False)
    result = snapshot(tmp_path / "in.csv", tmp_path / "out.parquet")
    assert result.row_count == 1000
    assert result.schema == [{"name": "a", "type": "int64"}, {"name": "b", "type": "string"}]


@pytest.mark.parametrize("content", ["a,b\n1,2\n3,4,5\n", "a,b\n1,2\n3\n"])
def test_csv_with_inconsistent_columns_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, content: str
) -> None:
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(InvalidParameter, match=r"cannot read .*bad\.csv"):
        snapshot(tmp_path / "bad.csv", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_a_truncated_parquet_file_is_a_clear_error(tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pandas(_frame(5000)), tmp_path / "in.parquet")
    data = (tmp_path / "in.parquet").read_bytes()
    (tmp_path / "in.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidParameter, match=r"in\.parquet"):
        snapshot(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_mixed_types_in_a_column_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, "two", 3.0]})
    with pytest.raises(InvalidParameter, match="cannot store this DataFrame"):
        snapshot(frame, tmp_path / "out.parquet")


@pytest.mark.parametrize("name", ["notes.txt", "missing.parquet"])
def test_unsupported_or_missing_inputs_name_the_problem(tmp_path: Path, name: str) -> None:
    if name.endswith(".txt"):
        (tmp_path / name).write_text("hello")
    with pytest.raises(InvalidParameter, match=r"expected Parquet|no such file"):
        snapshot(tmp_path / name, tmp_path / "out.parquet")


def test_other_objects_are_refused_with_what_is_accepted(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameter, match="give a pandas DataFrame"):
        snapshot([1, 2, 3], tmp_path / "out.parquet")
