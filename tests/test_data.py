"""The synthetic data generator: deterministic, exact row counts, bounded parts, learnable."""

import json
import os

import dask
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from outofcore import data, read_csv, read_parquet


def _files(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


@pytest.mark.parametrize("format", ["parquet", "csv"])
def test_same_seed_same_files(tmp_path, format):
    """The same seed writes byte-identical parts; another seed writes other data."""
    kwargs = dict(rows=900, features=3, format=format, rows_per_part=400, row_group_rows=150)
    data.generate(tmp_path / "a", seed=3, **kwargs)
    data.generate(tmp_path / "b", seed=3, workers=1, **kwargs)
    data.generate(tmp_path / "c", seed=4, **kwargs)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert list(a) == ["_outofcore.json"] + [f"part-0000{i}.{format}" for i in range(3)]
    assert a == b
    assert all(a[name] != c[name] for name in a if name.startswith("part"))


@pytest.mark.parametrize("rows, rows_per_part, row_group_rows, part_rows", [
    (2500, 1000, 300, [1000, 1000, 500]),
    (1000, 1000, 1000, [1000]),
    (7, 3, 2, [3, 3, 1]),
    (0, 10, 10, [0]),
])
def test_row_counts_and_parts(tmp_path, rows, rows_per_part, row_group_rows, part_rows):
    """Row counts are exact, parts hold rows_per_part rows, row groups at most row_group_rows."""
    data.generate(tmp_path / "d", rows=rows, features=2, rows_per_part=rows_per_part,
                  row_group_rows=row_group_rows)
    parts = sorted(p for p in os.listdir(tmp_path / "d") if p.endswith(".parquet"))
    metas = [pq.read_metadata(tmp_path / "d" / p) for p in parts]
    assert [m.num_rows for m in metas] == part_rows
    groups = [m.row_group(i).num_rows for m in metas for i in range(m.num_row_groups)]
    assert all(g <= row_group_rows for g in groups)
    df = pd.read_parquet(tmp_path / "d")
    assert list(df.columns) == ["id", "f0", "f1", "target"]
    assert_array_equal(df["id"], np.arange(rows))
    meta = json.loads((tmp_path / "d" / "_outofcore.json").read_text())
    assert meta["rows"] == rows and meta["columns"] == list(df.columns)


def test_layout_does_not_change_values(tmp_path):
    """Row-group size and format change the files, not the values (CSV keeps float32 exactly)."""
    data.generate(tmp_path / "a", rows=500, features=4, row_group_rows=64)
    data.generate(tmp_path / "b", rows=500, features=4, row_group_rows=500)
    data.generate(tmp_path / "c", rows=500, features=4, format="csv")
    a, b = pd.read_parquet(tmp_path / "a"), pd.read_parquet(tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)
    X, y = read_csv(tmp_path / "c", target="target", exclude=["id"])
    x, yy = dask.compute(X.to_dask_array(), y)
    assert_array_equal(x, a.filter(like="f").to_numpy())
    assert_array_equal(yy, a["target"].to_numpy())


@pytest.mark.parametrize("n_classes", [2, 4])
def test_classification_is_learnable_but_noisy(tmp_path, n_classes):
    """A scaled linear model reaches roughly 0.7-0.9 accuracy; the features need scaling."""
    data.generate(tmp_path / "d", rows=6000, features=6, n_classes=n_classes, seed=1)
    X, y = read_parquet(tmp_path / "d", target="target", exclude=["id"])
    X, y = dask.compute(X.to_dask_array(), y)
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(n_classes))
    scales = X.std(axis=0)
    assert scales.max() / scales.min() > 100
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[:4000], y[:4000])
    assert 0.7 <= model.score(X[4000:], y[4000:]) <= 0.9


def test_regression_target(tmp_path):
    """The regression target is float64 and linear in the features with R^2 near 0.8."""
    data.generate(tmp_path / "d", rows=4000, features=5, task="regression", seed=2)
    X, y = read_parquet(tmp_path / "d", target="target", exclude=["id"])
    X, y = dask.compute(X.to_dask_array(), y)
    assert y.dtype == np.float64
    assert 0.7 <= LinearRegression().fit(X[:3000], y[:3000]).score(X[3000:], y[3000:]) <= 0.9


def test_refuses_existing_and_cleans_up(tmp_path, monkeypatch):
    """An existing folder is refused without overwrite=True; a failure leaves no folder or temp."""
    data.generate(tmp_path / "d", rows=10, features=2)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        data.generate(tmp_path / "d", rows=10, features=2)
    data.generate(tmp_path / "d", rows=20, features=2, overwrite=True)
    assert pq.read_metadata(tmp_path / "d" / "part-00000.parquet").num_rows == 20

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(data, "_row_group", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        data.generate(tmp_path / "e", rows=10, features=2)
    assert sorted(os.listdir(tmp_path)) == ["d"]


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(rows=-1), "rows=-1"), (dict(rows=10, task="ranking"), "task='ranking'"),
    (dict(rows=10, format="json"), "format='json'"), (dict(rows=10, n_classes=1), "n_classes=1"),
    (dict(rows=10, rows_per_part=0), "rows_per_part=0"),
])
def test_bad_arguments(tmp_path, kwargs, pattern):
    """Invalid sizes or choices raise a ValueError naming the argument, and write nothing."""
    with pytest.raises(ValueError, match=pattern):
        data.generate(tmp_path / "d", **kwargs)
    assert not os.listdir(tmp_path)


def test_command_line(tmp_path, capsys):
    """The command writes the data set, infers CSV from the name and refuses to overwrite."""
    out = tmp_path / "train.csv"
    assert data.main(["--rows", "1_000", "--features", "3", "--out", str(out)]) == 0
    assert "wrote 1000 rows" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["_outofcore.json", "part-00000.csv"]
    assert data.main(["--rows", "10", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_mixed_tables(tmp_path):
    """A mixed table has string columns of the asked cardinalities with skewed frequencies, a
    timestamp in row order, a boolean, NaN at the asked rate; its values do not depend on the
    row groups, and its categories and hours carry part of the target."""
    kwargs = dict(rows=6000, features=3, categories=(5, 300), timestamp=True, boolean=True,
                  missing=0.1, seed=2)
    data.generate(tmp_path / "a", row_group_rows=1000, **kwargs)
    data.generate(tmp_path / "b", row_group_rows=6000, **kwargs)
    a, b = pd.read_parquet(tmp_path / "a"), pd.read_parquet(tmp_path / "b")
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["id", "f0", "f1", "f2", "c0", "c1", "ts", "flag", "target"]
    assert a["c0"].nunique() == 5 and 100 < a["c1"].nunique() <= 300
    counts = a["c1"].value_counts()
    assert counts.iloc[0] > 10 * counts.iloc[-1]  # Zipf-like: a few frequent, many rare
    assert a["ts"].is_monotonic_increasing or (a["ts"].diff().dt.total_seconds() > -60).all()
    assert 0.08 < a[["f0", "f1", "f2"]].isna().to_numpy().mean() < 0.12
    by_category = a.groupby("c0")["target"].mean()
    by_hour = a.groupby(a["ts"].dt.hour)["target"].mean()
    assert by_category.max() - by_category.min() > 0.1
    assert by_hour.max() - by_hour.min() > 0.1


def test_numbers_only_tables_are_unchanged_by_the_mixed_options(tmp_path):
    """Without the mixed options the files hold only id, numbers and target, as before."""
    data.generate(tmp_path / "a", rows=100, features=2)
    assert list(pd.read_parquet(tmp_path / "a").columns) == ["id", "f0", "f1", "target"]
