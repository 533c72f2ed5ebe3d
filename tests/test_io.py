"""read_parquet / read_csv: values, order and chunks equal to pandas on the same files; errors."""

import uuid

import dask
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_array_equal

from outofcore import Table, read_csv, read_parquet
from outofcore.io import convert, plan
from outofcore.io.inputs import feature_names


def _frame(rng, n, first_id=0, k=4):
    """n rows: an int64 id, k float64 features on different scales, an int64 target."""
    X = rng.normal(size=(n, k)) * np.logspace(-2, 3, k) + np.arange(k) * 10
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(k)])
    df.insert(0, "id", np.arange(first_id, first_id + n, dtype=np.int64))
    df["target"] = rng.integers(0, 3, n).astype(np.int64)
    return df


def _write_parts(folder, frames, row_group_size=50, fs=None):
    """Write part-0.parquet ... part-<n>.parquet (natural order is not lexicographic past 10)."""
    fs = fs or fsspec.filesystem("file")
    fs.makedirs(folder, exist_ok=True)
    for i, df in enumerate(frames):
        with fs.open(f"{folder}/part-{i}.parquet", "wb") as f:
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), f,
                           row_group_size=row_group_size)
    return pd.concat(frames, ignore_index=True)


def _parts(rng, sizes):
    frames, first = [], 0
    for n in sizes:
        frames.append(_frame(rng, n, first))
        first += n
    return frames


def _check_aligned(X, y, n, k):
    assert isinstance(X, Table)
    assert X.shape == (n, k) and y.shape == (n,)
    assert not any(np.isnan(c) for c in X.chunks[0])
    assert X.chunks[0] == y.chunks[0]
    assert X.chunks[1] == (k,)


def _numbers(X):
    return X.to_dask_array().compute()


@pytest.mark.parametrize("layout", ["file", "folder", "glob", "memory"])
def test_read_parquet_equals_pandas(tmp_path, layout):
    """X and y equal pandas on the same files, in natural file order, with aligned known chunks."""
    rng = np.random.default_rng(0)
    sizes = [30] if layout == "file" else [23, 0, 40, 7, 1, 12, 9, 30, 5, 0, 18, 11]
    frames = _parts(rng, sizes)
    fs = fsspec.filesystem("memory") if layout == "memory" else None
    root = f"/{uuid.uuid4().hex}" if layout == "memory" else str(tmp_path / "data")
    expected = _write_parts(root, frames, row_group_size=16, fs=fs)
    path = {"file": f"{root}/part-0.parquet", "folder": root, "glob": f"{root}/part-*.parquet",
            "memory": f"memory://{root}"}[layout]
    try:
        X, y = read_parquet(path, target="target", block_rows=20)
        _check_aligned(X, y, len(expected), 5)
        x, yy, frame = dask.compute(X.to_dask_array(), y, X)
    finally:
        if fs is not None:
            fs.rm(root, recursive=True)
    features = expected.drop(columns="target")
    pd.testing.assert_frame_equal(frame, features)
    assert x.dtype == np.float32 and x.flags.c_contiguous
    assert_array_equal(x, features.to_numpy(np.float32))
    assert_array_equal(x[:, 0], np.arange(len(expected)))  # ids: rows in file order
    assert yy.dtype == np.int64
    assert_array_equal(yy, expected["target"].to_numpy())
    assert list(feature_names(X)) == list(features.columns)


@pytest.mark.parametrize("rg_rows, block_rows, expected", [
    ([5, 5, 5], 10, [((0, 1), None, None, 0), ((2,), None, None, 10)]),
    ([0, 3, 0, 4], 10, [((1, 3), None, None, 0)]),
    ([25], 10, [((0,), 0, 9, 0), ((0,), 9, 18, 9), ((0,), 18, 25, 18)]),
    ([4, 25, 4], 10, [((0,), None, None, 0), ((2,), None, None, 29),
                      ((1,), 0, 9, 4), ((1,), 9, 18, 13), ((1,), 18, 25, 22)]),
    ([3, 3], 1, [((0,), 0, 1, 0), ((0,), 1, 2, 1), ((0,), 2, 3, 2),
                 ((1,), 0, 1, 3), ((1,), 1, 2, 4), ((1,), 2, 3, 5)]),
])
def test_plan_row_groups(rg_rows, block_rows, expected):
    """Row groups merge up to block_rows; larger ones split evenly; every row is planned once."""
    blocks = plan.plan_row_groups(rg_rows, block_rows)
    assert sorted(blocks, key=lambda b: b[3]) == sorted(expected, key=lambda b: b[3])
    sizes = [sum(rg_rows[i] for i in g) if lo is None else hi - lo for g, lo, hi, _ in blocks]
    assert max(sizes) <= block_rows and sum(sizes) == sum(rg_rows)


def test_plan_row_groups_with_a_split_limit():
    """Between the merge and the split limits a row group is a block of its own, whole."""
    blocks = plan.plan_row_groups([40, 40, 150, 40, 450], 100, 200)
    assert blocks == [((0, 1), None, None, 0), ((2,), None, None, 80), ((3,), None, None, 230),
                      ((4,), 0, 150, 270), ((4,), 150, 300, 420), ((4,), 300, 450, 570)]


@pytest.mark.parametrize("dtype, expected", [
    ("float32", (80, 150, 40, 150, 150, 150)),
    ("float64", (40, 40, 150, 40, 150, 150, 150)),
])
def test_default_blocks_follow_the_row_width(tmp_path, monkeypatch, dtype, expected):
    """Without block_rows, row groups merge up to a byte budget of features (wider rows, fewer
    rows) and only row groups above DEFAULT_BLOCK_ROWS are split; the values are the file's."""
    monkeypatch.setattr(plan, "BLOCK_BYTES", 3 * 4 * 100)  # 100 rows of 3 float32 features
    monkeypatch.setattr(plan, "DEFAULT_BLOCK_ROWS", 200)
    rng = np.random.default_rng(9)
    frame = pd.DataFrame(rng.normal(size=(720, 3)), columns=["a", "b", "c"])
    frame["target"] = rng.integers(0, 2, size=720)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(tmp_path / "part-0.parquet", table.schema) as writer:
        start = 0
        for n in [40, 40, 150, 40, 450]:
            writer.write_table(table.slice(start, n), row_group_size=n)
            start += n
    X, y = read_parquet(tmp_path, target="target", dtype=dtype)
    assert X.chunks[0] == expected and y.chunks[0] == expected
    assert_array_equal(_numbers(X), frame[["a", "b", "c"]].to_numpy(dtype))
    assert_array_equal(y.compute(), frame["target"].to_numpy())
    X, _ = read_parquet(tmp_path, target="target", dtype=dtype, block_rows=1000)
    assert X.chunks[0] == (720,)


@pytest.mark.parametrize("block_rows", [1, 7, 30, 1000])
def test_block_rows_splitting(tmp_path, block_rows):
    """Blocks never exceed block_rows, and split or merged row groups read the same values."""
    rng = np.random.default_rng(1)
    frames = _parts(rng, [25, 3, 40])
    expected = pd.concat(frames, ignore_index=True)
    for i, df in enumerate(frames):  # one row group per part, of 25, 3 and 40 rows
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp_path / f"p{i}.parquet")
    X, y = read_parquet(tmp_path, target="target", block_rows=block_rows, dtype="float64")
    _check_aligned(X, y, 68, 5)
    assert max(X.chunks[0]) <= block_rows
    x, yy = dask.compute(X.to_dask_array(), y)
    assert_array_equal(x, expected.drop(columns="target").to_numpy())
    assert_array_equal(yy, expected["target"].to_numpy())


def _record_reads(monkeypatch):
    calls = []
    read = plan.Source.read
    monkeypatch.setattr(plan.Source, "read",
                        lambda self, i, columns, **kw: calls.append((i, tuple(columns)))
                        or read(self, i, columns, **kw))
    return calls


def test_x_and_y_read_each_column_once_per_block(tmp_path, monkeypatch):
    """Computing X and y together reads each block's features once and its target once; y alone
    (a classifier's labels) reads the target column only."""
    _write_parts(tmp_path, _parts(np.random.default_rng(2), [40, 40]), row_group_size=10)
    calls = _record_reads(monkeypatch)
    X, y = read_parquet(tmp_path, target="target", block_rows=20)
    dask.compute(X.to_dask_array(), y)
    features = ("id", "f0", "f1", "f2", "f3")
    assert sorted(calls) == sorted([(i, features) for i in range(4)]
                                   + [(i, ("target",)) for i in range(4)])
    calls.clear()
    y.compute()
    assert sorted(calls) == [(i, ("target",)) for i in range(4)]


def test_csv_x_and_y_share_one_parse_per_block(tmp_path, monkeypatch):
    """A CSV block is parsed once for X and y together."""
    for i, df in enumerate(_parts(np.random.default_rng(2), [30, 20])):
        df.to_csv(tmp_path / f"part-{i}.csv", index=False)
    calls = _record_reads(monkeypatch)
    X, y = read_csv(tmp_path, target="target", block_rows=10)
    dask.compute(X.to_dask_array(), y)
    assert len(calls) == X.numblocks == 5


@pytest.mark.parametrize("columns, exclude, expected", [
    (["f2", "f0"], (), ["f2", "f0"]),
    (None, ["id", "target"], ["f0", "f1", "f2", "f3"]),
    (None, (), ["id", "f0", "f1", "f2", "f3", "target"]),
])
def test_columns_select_features(tmp_path, columns, exclude, expected):
    """columns= picks and orders features, exclude= drops them; without a target only X returns."""
    df = _write_parts(tmp_path, _parts(np.random.default_rng(3), [20]))
    X = read_parquet(tmp_path, columns=columns, exclude=exclude, dtype="float64")
    assert list(feature_names(X)) == expected
    assert_array_equal(_numbers(X), df[expected].to_numpy())


def test_pandas_index_is_not_a_feature(tmp_path):
    """A pandas index saved as a column stays out of the default features."""
    df = pd.DataFrame({"a": [1.0, 2.0], "t": [0, 1]}, index=pd.Index([7, 3], name="key"))
    df.to_parquet(tmp_path / "a.parquet")
    X, y = read_parquet(tmp_path / "a.parquet", target="t")
    assert list(feature_names(X)) == ["a"]
    assert_array_equal(_numbers(X)[:, 0], [1.0, 2.0])


@pytest.mark.parametrize("values", [
    np.array([1, 2, 3], dtype=np.int32), np.array([0.5, 1.5, 2.5]), np.array([True, False, True]),
    np.array(["a", "b", "a"], dtype=object),
])
def test_target_keeps_its_dtype(tmp_path, values):
    """y keeps the target column's own type; X's numbers are float32 by default."""
    pq.write_table(pa.table({"f": [1.0, 2.0, 3.0], "t": pa.array(values)}), tmp_path / "a.parquet")
    X, y = read_parquet(tmp_path / "a.parquet", target="t")
    assert X.float_dtype == np.float32 and _numbers(X).dtype == np.float32
    assert y.dtype == values.dtype
    assert_array_equal(y.compute(), values)


def test_only_empty_parts(tmp_path):
    """Files with no rows give an empty X and y with the right width."""
    _write_parts(tmp_path, [_frame(np.random.default_rng(4), 0)] * 2)
    X, y = read_parquet(tmp_path, target="target")
    x, yy, frame = dask.compute(X.to_dask_array(), y, X)
    assert x.shape == (0, 5) and yy.shape == (0,) and frame.shape == (0, 5)


@pytest.mark.parametrize("bad", [np.nan, np.inf, None])
def test_missing_and_infinite_values_are_read_as_they_are(tmp_path, bad):
    """NaN, inf and null features are data: null and NaN read as NaN, inf as inf (the step that
    reads them imputes or refuses them)."""
    df = _frame(np.random.default_rng(5), 30)
    table = pa.Table.from_pandas(df, preserve_index=False)
    f1 = table.column("f1").to_pylist()
    f1[23] = bad
    table = table.set_column(2, "f1", pa.array(f1, pa.float64()))
    pq.write_table(table, tmp_path / "part-0.parquet", row_group_size=10)
    X, y = read_parquet(tmp_path, target="target", block_rows=15)
    x = _numbers(X)
    expected = np.inf if bad == np.inf else np.nan
    assert_array_equal(x[23, 2], np.float32(expected))
    assert np.isfinite(np.delete(x, 23, axis=0)).all()


def test_float32_overflow_is_reported(tmp_path):
    """A float64 value beyond float32's range is an error that suggests dtype='float64'."""
    pq.write_table(pa.table({"f": [1.0, 1e300]}), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=r"'f' holds 1e\+300 at row 1 of .*a.parquet.*float64"):
        _numbers(read_parquet(tmp_path / "a.parquet"))
    assert _numbers(read_parquet(tmp_path / "a.parquet", dtype="float64"))[1, 0] == 1e300


def test_null_target(tmp_path):
    """A missing target value is an error naming the target, row and file."""
    pq.write_table(pa.table({"f": [1.0, 2.0], "t": pa.array([1, None])}), tmp_path / "a.parquet")
    with pytest.raises(ValueError, match=r"'t' is missing at row 1 of .*a.parquet"):
        dask.compute(*read_parquet(tmp_path, target="t"))


@pytest.mark.parametrize("kwargs, error, pattern", [
    (dict(target="label"), ValueError, r"\['label'\] not found in .*part-0.parquet; available"),
    (dict(target="target", columns=["f0", "f9"]), ValueError, r"\['f9'\] not found in .*part-0"),
    (dict(target="target", columns=["f0", "target"]), ValueError, "contains the target"),
    (dict(target="target", dtype="int32"), ValueError, "not a floating type"),
    (dict(target="target", block_rows=0), ValueError, "block_rows=0"),
    (dict(target="target", exclude=["nope"]), ValueError, r"\['nope'\] not found"),
])
def test_bad_arguments(tmp_path, kwargs, error, pattern):
    """Unknown columns (naming the file and listing the columns) and bad arguments raise at once."""
    _write_parts(tmp_path, _parts(np.random.default_rng(6), [10]))
    with pytest.raises(error, match=pattern):
        read_parquet(tmp_path, **kwargs)


def test_mixed_columns_keep_their_types(tmp_path):
    """Strings, categories, booleans, integers with gaps and timestamps are read with their types,
    and the Table's pandas view equals pandas reading the same file."""
    frame = pd.DataFrame({
        "city": ["Oslo", None, "Lima", "Oslo"],
        "carrier": pd.Categorical(["AA", "UA", None, "AA"]),
        "late": [True, False, True, None],
        "seats": pd.array([120, None, 80, 95], dtype="Int64"),
        "when": pd.to_datetime(["2024-01-01 10:00", None, "2024-03-05 00:00", "2024-12-31 23:59"]),
        "t": [0, 1, 0, 1],
    })
    frame.to_parquet(tmp_path / "a.parquet")
    X, y = read_parquet(tmp_path / "a.parquet", target="t")
    assert X.columns == ["city", "carrier", "late", "seats", "when"]
    assert str(X.schema.field("carrier").type).startswith("dictionary")
    expected = pd.read_parquet(tmp_path / "a.parquet").drop(columns="t")
    pd.testing.assert_frame_equal(X.compute(), expected)
    assert_array_equal(X[["seats", "late"]].to_dask_array(dtype="float64").compute(),
                       [[120, 1], [np.nan, 0], [80, 1], [95, np.nan]])


@pytest.mark.parametrize("column, kind, todo", [
    ("city", "string", "OneHotEncoder"), ("carrier", "category", "OrdinalEncoder"),
    ("when", "timestamp", "DateTimeFeatures"),
])
def test_non_numbers_are_never_silently_numbers(tmp_path, column, kind, todo):
    """Asking a string, category or timestamp column for numbers is a TypeError naming the
    column, its kind and file, and what to do."""
    frame = pd.DataFrame({"f": [1.0], "city": ["Oslo"], "carrier": pd.Categorical(["AA"]),
                          "when": pd.to_datetime(["2024-01-01"]), "t": [0]})
    frame.to_parquet(tmp_path / "a.parquet")
    X, _ = read_parquet(tmp_path, target="t")
    with pytest.raises(TypeError, match=rf"'{column}' holds {kind} values .* in .*a.parquet.*"
                                        rf"{todo}.*exclude=\['{column}'\]"):
        X[["f", column]].to_dask_array()
    assert _numbers(X[["f"]]).shape == (1, 1)


def test_a_list_of_paths(tmp_path):
    """A list of files and globs reads those parts in the order given."""
    frames = _parts(np.random.default_rng(3), [5, 6, 7])
    _write_parts(tmp_path, frames)
    X = read_parquet([tmp_path / "part-2.parquet", str(tmp_path / "part-[01].parquet")],
                     exclude=["target"], dtype="float64")
    expected = pd.concat([frames[2], frames[0], frames[1]]).drop(columns="target")
    assert_array_equal(_numbers(X), expected.to_numpy())
    with pytest.raises(ValueError, match="more than once"):
        read_parquet([tmp_path / "part-0.parquet", tmp_path / "part-0.parquet"])


def test_missing_path(tmp_path):
    """A path that does not exist, or a folder without parts, raises FileNotFoundError naming it."""
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_parquet(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(FileNotFoundError, match="no parquet files"):
        read_parquet(tmp_path)


@pytest.mark.parametrize("change", ["extra column", "missing column", "target type",
                                    "feature kind"])
def test_schema_differs_between_parts(tmp_path, change):
    """Parts with different schemas raise an error naming both files."""
    frames = _parts(np.random.default_rng(7), [10, 10])
    if change == "extra column":
        frames[1]["f9"] = 1.0
    elif change == "missing column":
        frames[1] = frames[1].drop(columns="f2")
    elif change == "target type":
        frames[1]["target"] = frames[1]["target"].astype(float)
    else:
        frames[1]["f0"] = "text"
    _write_parts(tmp_path, frames)
    with pytest.raises(ValueError, match=r"different schemas: .*part-1.parquet.*part-0.parquet"):
        read_parquet(tmp_path, target="target")


def test_truncated_part(tmp_path):
    """A truncated parquet part raises an error naming that file, before any compute."""
    _write_parts(tmp_path, _parts(np.random.default_rng(8), [10, 10]))
    data = (tmp_path / "part-1.parquet").read_bytes()
    (tmp_path / "part-1.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"part-1.parquet.*truncated"):
        read_parquet(tmp_path, target="target")


def test_corrupt_part(tmp_path):
    """A part whose pages are corrupt raises, when read, an error naming the file and row groups."""
    pq.write_table(pa.table({"a": np.arange(100.0), "t": np.arange(100)}), tmp_path / "c.parquet",
                   row_group_size=50)
    data = bytearray((tmp_path / "c.parquet").read_bytes())
    data[4:24] = b"\xff" * 20  # the first page header, right after the magic bytes
    (tmp_path / "c.parquet").write_bytes(bytes(data))
    X, y = read_parquet(tmp_path / "c.parquet", target="t")
    with pytest.raises(ValueError, match=r"row group\(s\) \[0, 1\] of .*c.parquet"):
        dask.compute(X, y)


# ------------------------------------------------------------------------------------------ CSV
def _write_csv(path, df, newline="\n", final_newline=True):
    text = df.to_csv(index=False, lineterminator=newline)
    path.write_text(text if final_newline else text.rstrip(newline), newline="")


@pytest.mark.parametrize("block_rows", [1, 7, 1000])
@pytest.mark.parametrize("newline, final_newline", [("\n", True), ("\r\n", True), ("\n", False)])
def test_read_csv_equals_pandas(tmp_path, block_rows, newline, final_newline):
    """CSV parts read like pandas.read_csv, in natural order, with aligned known chunks."""
    frames = _parts(np.random.default_rng(9), [13, 0, 20, 4] * 3)
    for i, df in enumerate(frames):
        _write_csv(tmp_path / f"part-{i}.csv", df, newline, final_newline)
    X, y = read_csv(tmp_path, target="target", exclude=["id"], block_rows=block_rows)
    expected = pd.concat([pd.read_csv(tmp_path / f"part-{i}.csv") for i in range(len(frames))])
    _check_aligned(X, y, len(expected), 4)
    assert max(X.chunks[0]) <= block_rows
    x, yy = dask.compute(X.to_dask_array(), y)
    assert_array_equal(x, expected[["f0", "f1", "f2", "f3"]].to_numpy(np.float32))
    assert_array_equal(yy, expected["target"].to_numpy())
    assert list(feature_names(X)) == ["f0", "f1", "f2", "f3"]


@pytest.mark.parametrize("body, pattern", [
    ("1,2,0\n3,4\n5,6,1\n", r"line 3 of .*a.csv: 2 fields where the header has 3"),
    ("1,2,0\n\n5,6,1\n", r"'t' is missing at line 3 of .*a.csv"),
    ("1,2,0\n3,4,1\n5,x,1\n", r"line 4 of .*a.csv.*invalid value 'x'"),
])
def test_csv_bad_lines(tmp_path, monkeypatch, body, pattern):
    """Malformed lines, a missing label or a value that is not of its column's type raise errors
    naming file and line."""
    # Types are inferred from the first line only, as they are from the first MiB of a large file.
    monkeypatch.setattr(plan, "_CSV_SAMPLE_BYTES", 6)
    (tmp_path / "a.csv").write_text("a,b,t\n" + body)
    X, y = read_csv(tmp_path / "a.csv", target="t", block_rows=2)
    with pytest.raises(ValueError, match=pattern):
        dask.compute(X.to_dask_array(), y)


def test_csv_gaps_are_missing_values(tmp_path):
    """An empty field reads as a missing value (NaN in numbers, None in strings)."""
    (tmp_path / "a.csv").write_text("a,s,t\n1,x,0\n,,1\n3,y,0\n")
    X, y = read_csv(tmp_path / "a.csv", target="t")
    frame = X.compute()
    assert frame["s"].isna().tolist() == [False, True, False]
    assert_array_equal(_numbers(X[["a"]]).ravel(), [1, np.nan, 3])


def test_csv_errors_at_planning(tmp_path):
    """A different header or an empty file raise before any compute."""
    (tmp_path / "part-0.csv").write_text("a,b,t\n1,2,0\n")
    (tmp_path / "part-1.csv").write_text("a,c,t\n1,2,0\n")
    with pytest.raises(ValueError, match=r"part-1.csv has header .*part-0.csv"):
        read_csv(tmp_path, target="t")
    (tmp_path / "part-1.csv").write_text("")
    with pytest.raises(ValueError, match=r"part-1.csv is empty"):
        read_csv(tmp_path, target="t")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows, tile", [(301, 64), (301, 8192), (64, 64), (0, 64)])
def test_blocks_built_by_tiles_equal_column_stack(monkeypatch, dtype, rows, tile):
    """A C-ordered block built a tile of rows at a time equals np.column_stack of its columns,
    whatever the tile size against the rows and the arrow chunk boundaries (ints included)."""
    monkeypatch.setattr(convert, "_TILE_ROWS", tile)
    rng = np.random.default_rng(4)
    columns = {f"f{j}": rng.normal(size=rows) for j in range(5)}
    columns["n"] = rng.integers(-50, 50, size=rows)
    table = pa.table(columns)
    # Chunks of 100, 1 and the rest rows, so tiles straddle chunk boundaries.
    table = pa.concat_tables([table.slice(0, 100), table.slice(100, 1), table.slice(101)])
    names = ["f3", "n", "f0"]
    block = convert.matrix(table, names, np.dtype(dtype), str)
    expected = np.column_stack([columns[n] for n in names]).astype(dtype).reshape(rows, 3)
    assert block.flags.c_contiguous and block.dtype == np.dtype(dtype)
    assert_array_equal(block, expected)


def test_rows_are_selected_by_slices(tmp_path):
    """X[a:b] holds rows a..b-1 in blocks cut at the same places, reads only the blocks it
    needs, and names rows by their file and row."""
    frame = _write_parts(tmp_path, _parts(np.random.default_rng(11), [25, 25]), row_group_size=10)
    X, y = read_parquet(tmp_path, target="target", block_rows=10)
    part = X[13:41]
    assert part.shape == (28, 5) and part.chunks[0] == (7, 5, 10, 6)
    pd.testing.assert_frame_equal(part.compute(), frame.drop(columns="target").iloc[13:41]
                                  .reset_index(drop=True))
    assert part.where(2, 1) == f"row 1 of {tmp_path / 'part-1.parquet'} (row group 0)"
    assert_array_equal(part[["f0"]].to_dask_array(dtype="float64").compute().ravel(),
                       frame["f0"].to_numpy()[13:41])
    assert X[60:70].shape == (0, 5) and len(X[60:70].compute()) == 0


def test_a_stray_quote_in_a_csv_target_is_named(tmp_path):
    """A numeric CSV target with one odd value is refused with its line, not read as a third
    class of strings; labels that are all text read as they are."""
    (tmp_path / "a.csv").write_text("f,t\n1,0\n2,1\n3,1\"\n4,0\n")
    with pytest.raises(ValueError, match=r"'t' holds '1\"' at line 4 of .*a.csv.*stray quote"):
        read_csv(tmp_path / "a.csv", target="t")
    (tmp_path / "b.csv").write_text("f,t\n1,cat\n2,dog\n")
    _, y = read_csv(tmp_path / "b.csv", target="t")
    assert y.compute().tolist() == ["cat", "dog"]


def test_a_later_csv_value_of_another_type_names_its_line(tmp_path, monkeypatch):
    """Past the sample that set the types, a value that does not convert names its line."""
    monkeypatch.setattr(plan, "_CSV_SAMPLE_BYTES", 8)
    (tmp_path / "a.csv").write_text("f,t\n1,0\n2,1\n3,1\"\n4,0\n")
    X, y = read_csv(tmp_path / "a.csv", target="t", block_rows=2)
    with pytest.raises(ValueError, match=r"line 4 of .*a.csv"):
        y.compute()


@pytest.mark.parametrize("order", ["C", "F"])
def test_columns_fill_a_row_range_and_name_a_value_beyond_float32(order):
    """Blocks filled from a range of rows of chunked columns hold those rows (C- or
    column-ordered); a value beyond float32 is named by its row in the whole table."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 3))
    table = pa.Table.from_batches([pa.RecordBatch.from_arrays(
        [pa.array(values[lo:lo + 20, j]) for j in range(3)], names=["a", "b", "c"])
        for lo in (0, 20, 40)])  # chunks of 20, 20 and 10 rows
    columns = convert.Columns(table, ["c", "a"])
    block = np.empty((25, 2), dtype=np.float32, order=order)
    assert_array_equal(columns.fill(block, 15, str), values[15:40][:, [2, 0]].astype(np.float32))
    values[33, 0] = 1e39
    table = pa.table({"a": values[:, 0], "c": values[:, 2]})
    with pytest.raises(ValueError, match=r"column 'a' holds 1e\+39 at row 33\b"):
        convert.Columns(table, ["c", "a"]).fill(block, 15, lambda r: f"row {r}")
