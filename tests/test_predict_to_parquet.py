"""predict_to_parquet: outputs equal the in-memory model's on the same rows; atomic and ordered."""

import os
import time
import uuid

import dask
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from outofcore import predict_to_parquet

FEATURES = ["f0", "f1", "f2"]


@pytest.fixture
def source(tmp_path, classification_data):
    """Four parquet parts (one empty) of an id, three features and a target: (folder, frame)."""
    X, y = classification_data
    df = pd.DataFrame(X[:, :3], columns=FEATURES)
    df.insert(0, "id", np.arange(len(df), dtype=np.int64) * 10)
    df["target"] = y
    folder = tmp_path / "src"
    folder.mkdir()
    bounds = [0, 700, 700, 1500, len(df)]
    for i, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        table = pa.Table.from_pandas(df.iloc[lo:hi], preserve_index=False)
        pq.write_table(table, folder / f"part-{i}.parquet", row_group_size=256)
    return folder, df


def _read_parts(folder, n_parts):
    return [pd.read_parquet(folder / f"part-{i}.parquet") for i in range(n_parts)]


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function"])
def test_outputs_equal_model(source, tmp_path, method):
    """One output part per input part, rows in order, keep columns first, values the model's."""
    folder, df = source
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df[FEATURES], df["target"])
    dest = tmp_path / "out"
    written = predict_to_parquet(model, folder, dest, method=method, keep=["id"], block_rows=100)
    assert written == str(dest)
    parts = _read_parts(dest, 4)
    assert sorted(os.listdir(dest)) == sorted(os.listdir(folder))
    assert [len(p) for p in parts] == [700, 0, 800, 500]
    got = pd.concat(parts, ignore_index=True)
    assert_array_equal(got["id"], df["id"])
    expected = getattr(model, method)(df[FEATURES].astype(np.float32))
    if method == "predict":
        assert list(got.columns) == ["id", "prediction"]
        assert_array_equal(got["prediction"], expected)
    else:
        prefix = "proba" if method == "predict_proba" else "decision"
        assert list(got.columns) == ["id"] + [f"{prefix}_{c}" for c in model.classes_]
        assert_allclose(got.iloc[:, 1:].to_numpy(), expected, rtol=1e-6, atol=1e-6)


def test_single_file_regression_and_columns(source, tmp_path):
    """A single source file gives a single dest file; columns= feeds a model fitted on numpy."""
    folder, df = source
    model = LinearRegression().fit(df[["f2", "f0"]].to_numpy(), df["f1"].to_numpy())
    dest = tmp_path / "pred.parquet"
    predict_to_parquet(model, folder / "part-2.parquet", dest, columns=["f2", "f0"],
                       dtype="float64")
    got = pd.read_parquet(dest)
    assert list(got.columns) == ["prediction"]
    expected = model.predict(df[["f2", "f0"]].iloc[700:1500].to_numpy(np.float64))
    assert_allclose(got["prediction"], expected, rtol=1e-12)


def test_transform_names_and_default_columns(source, tmp_path):
    """transform writes get_feature_names_out() columns; features default to feature_names_in_."""
    folder, df = source
    scaler = StandardScaler().fit(df[["f1", "f0"]])
    predict_to_parquet(scaler, f"{folder}/part-*.parquet", tmp_path / "out", method="transform",
                       keep=["id", "target"])
    got = pd.concat(_read_parts(tmp_path / "out", 4), ignore_index=True)
    assert list(got.columns) == ["id", "target", "f1", "f0"]
    assert_allclose(got[["f1", "f0"]], scaler.transform(df[["f1", "f0"]].astype(np.float32)),
                    rtol=1e-5, atol=1e-6)


def test_overwrite(source, tmp_path):
    """An existing dest is refused unless overwrite=True, which replaces it entirely."""
    folder, df = source
    model = LogisticRegression().fit(df[FEATURES], df["target"])
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        predict_to_parquet(model, folder, dest)
    assert os.listdir(dest) == ["old.txt"]
    predict_to_parquet(model, folder, dest, overwrite=True)
    assert sorted(os.listdir(dest)) == [f"part-{i}.parquet" for i in range(4)]
    assert sorted(os.listdir(tmp_path)) == ["out", "src"]


class _FailsOnThirdCall:
    """A model whose predict fails part-way, to check that nothing is left behind."""

    def __init__(self):
        self.calls = 0

    def predict(self, X):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("model broke")
        return np.zeros(len(X))


def test_failure_leaves_nothing(source, tmp_path):
    """A model error propagates and leaves neither dest nor a temporary beside it."""
    folder, _ = source
    with pytest.raises(RuntimeError, match="model broke"):
        predict_to_parquet(_FailsOnThirdCall(), folder, tmp_path / "out", columns=FEATURES)
    assert sorted(os.listdir(tmp_path)) == ["src"]


class _FailsFirstThenSlow:
    """Fails on its first slice; every other slice takes 5 ms, so sibling parts are mid-write."""

    def __init__(self):
        self.calls = 0

    def predict(self, X):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("model broke")
        time.sleep(0.005)
        return np.zeros(len(X))


def test_failure_waits_for_running_parts_and_stops_them(source, tmp_path):
    """Other parts still writing when one fails neither leave files nor run to their end."""
    folder, _ = source
    model = _FailsFirstThenSlow()
    for attempt in range(3):
        with pytest.raises(RuntimeError, match="model broke"):
            predict_to_parquet(model, folder, tmp_path / "out", columns=FEATURES, block_rows=10)
        assert sorted(os.listdir(tmp_path)) == ["src"]
        model.calls = 0
    # 200 slices of 10 rows in all; the parts running beside the failed one stop at their next.
    assert model.calls < 20


class _RecordsBlocks:
    """Predicts twice the first feature and keeps every block it is given."""

    def __init__(self):
        self.blocks = []

    def predict(self, X):
        self.blocks.append(X)  # kept alive, so no block's memory can be handed out anew
        return X[:, 0] * 2


def _row_groups(path):
    meta = pq.ParquetFile(path).metadata
    return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]


def test_slices_reuse_one_block_buffer_per_thread(source, tmp_path):
    """One thread builds every block of a job in one buffer; shorter slices use its first rows
    and still predict their own rows. Output row groups mirror the input's."""
    folder, df = source
    model = _RecordsBlocks()
    with dask.config.set(scheduler="synchronous"):
        predict_to_parquet(model, folder, tmp_path / "out", columns=FEATURES, keep=["id"],
                           block_rows=100)
    got = pd.concat(_read_parts(tmp_path / "out", 4), ignore_index=True)
    assert_array_equal(got["prediction"], df["f0"].to_numpy(np.float32) * 2)
    assert len(model.blocks) == 24  # row groups of 256 rows read in slices of 100, 100 and 56
    assert len({X.__array_interface__["data"][0] for X in model.blocks}) == 1
    for part in ("part-0.parquet", "part-2.parquet", "part-3.parquet"):
        # Each output row group holds one input row group's rows, whatever the slices.
        assert _row_groups(tmp_path / "out" / part) == _row_groups(folder / part)


def test_a_model_error_names_the_rows_and_nothing_is_written(source, tmp_path):
    """A NaN the model refuses is reported with the file, row group and rows it was predicting,
    and nothing is written."""
    folder, df = source
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df[FEATURES], df["target"])
    table = pq.read_table(folder / "part-2.parquet")
    f1 = table.column("f1").to_numpy().copy()
    f1[300] = np.nan
    pq.write_table(table.set_column(2, "f1", pa.array(f1)), folder / "part-2.parquet",
                   row_group_size=256)
    match = r"(?s)Input X contains NaN.*while predicting row 256 of .*part-2.parquet \(row group 1\)"
    with pytest.raises(ValueError, match=match):
        predict_to_parquet(model, folder, tmp_path / "out")
    assert sorted(os.listdir(tmp_path)) == ["src"]


def test_empty_source(tmp_path):
    """A source without rows gives empty parts whose columns come from the model's classes."""
    pq.write_table(pa.table({"id": pa.array([], pa.int64()), "f0": pa.array([], pa.float64())}),
                   tmp_path / "empty.parquet")
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0]]), ["a", "b", "c"])
    predict_to_parquet(model, tmp_path / "empty.parquet", tmp_path / "p.parquet",
                       method="predict_proba", keep=["id"])
    got = pq.read_table(tmp_path / "p.parquet")
    assert got.num_rows == 0 and got.column_names == ["id", "proba_a", "proba_b", "proba_c"]


class _Movable:
    def __init__(self):
        self.device = "cpu"

    def to(self, device):
        self.device = device
        return self

    def predict(self, X):
        assert self.device == "meta-test"
        return X.sum(axis=1)


@pytest.mark.parametrize("model, kwargs, error, pattern", [
    (LinearRegression(), dict(method="score"), ValueError, "method='score'"),
    (LinearRegression(), dict(method="predict_proba"), TypeError, "has no predict_proba"),
    (LinearRegression(), dict(device="cuda"), TypeError, r"\.to\(device\)"),
    (LinearRegression(), dict(keep=["nope"]), ValueError, r"\['nope'\] not found in .*part-0"),
])
def test_bad_arguments(source, tmp_path, model, kwargs, error, pattern):
    """Bad methods, devices and columns raise before anything is written."""
    folder, df = source
    model.fit(df[FEATURES], df["target"])
    with pytest.raises(error, match=pattern):
        predict_to_parquet(model, folder, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_feature_count_mismatch(source, tmp_path):
    """A model fitted on other columns is told which columns were selected."""
    folder, df = source
    model = LinearRegression().fit(df[FEATURES].to_numpy(), df["target"])
    with pytest.raises(ValueError, match=r"fitted on 3 features but 5 columns"):
        predict_to_parquet(model, folder, tmp_path / "out")


def test_device_moves_model(source, tmp_path):
    """device= calls model.to(device) before predicting."""
    folder, df = source
    predict_to_parquet(_Movable(), folder / "part-0.parquet", tmp_path / "p.parquet",
                       columns=FEATURES, device="meta-test", dtype="float64")
    assert_allclose(pd.read_parquet(tmp_path / "p.parquet")["prediction"],
                    df[FEATURES].iloc[:700].to_numpy(np.float64).sum(axis=1), rtol=1e-12)


def test_fsspec_urls(source):
    """Source and dest may be fsspec URLs; the output lands there and nothing is left beside it."""
    folder, df = source
    model = LinearRegression().fit(df[FEATURES], df["target"])
    fs, root = fsspec.filesystem("memory"), f"/{uuid.uuid4().hex}"
    try:
        fs.put(str(folder), root, recursive=True)
        predict_to_parquet(model, f"memory://{root}", f"memory://{root}-out", keep=["id"])
        parts = []
        for i in range(4):
            with fs.open(f"{root}-out/part-{i}.parquet", "rb") as f:
                parts.append(pd.read_parquet(f))
        assert sorted(p for p in fs.ls("/", detail=False) if root in p) == [root, f"{root}-out"]
    finally:
        fs.rm(root, recursive=True)
        if fs.exists(f"{root}-out"):
            fs.rm(f"{root}-out", recursive=True)
    got = pd.concat(parts, ignore_index=True)
    assert_array_equal(got["id"], df["id"])
    assert_allclose(got["prediction"], model.predict(df[FEATURES]), rtol=1e-6)
