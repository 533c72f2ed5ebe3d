"""Compiled models on dask input: lazy map_blocks results with known chunks and sklearn's values."""

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_array_equal
from sklearn.cluster import MiniBatchKMeans
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import outofcore as ooc
from outofcore.compiled import CompiledPipeline
from _parity import assert_labels_match, assert_values_close


@pytest.mark.parametrize("chunks", [1, 37, 5000])
def test_dask_array_is_lazy_and_matches(chunks, classification_data):
    """predict/predict_proba/decision_function on a dask array stay lazy, keep the row chunks,
    and compute to sklearn's results (chunks of 1 row, uneven chunks, one chunk larger than X)."""
    X, y = classification_data
    X, y = X[:300], y[:300]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, np.array(["a", "b", "c"])[y])
    compiled = ooc.compile_pipeline(model)
    dX = da.from_array(X, chunks=(chunks, 5))
    pred, proba = compiled.predict(dX), compiled.predict_proba(dX)
    scores = compiled.decision_function(dX)
    assert isinstance(pred, da.Array) and pred.chunks == (dX.chunks[0],)
    assert proba.chunks == (dX.chunks[0], (3,)) and proba.dtype == np.float32
    assert pred.dtype == model.classes_.dtype
    assert_labels_match(pred.compute(), model.predict(X))
    assert_values_close(proba.compute(), model.predict_proba(X))
    assert_values_close(scores.compute(), model.decision_function(X))


def test_dask_column_chunks_are_joined(classification_data):
    """A dask array chunked along columns is rechunked so each block holds whole rows."""
    X, y = classification_data
    model = RandomForestClassifier(n_estimators=4, max_depth=4, random_state=0).fit(X, y)
    dX = da.from_array(X, chunks=(500, 2))
    assert_values_close(ooc.compile_pipeline(model).predict_proba(dX).compute(), model.predict_proba(X))


def test_dask_dataframe_by_name(classification_data):
    """A dask DataFrame is reordered to the fitted column names before prediction."""
    X, y = classification_data
    df = pd.DataFrame(X, columns=list("abcde"))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df, y)
    ddf = dd.from_pandas(df[list("edcba")], npartitions=3)
    pred = ooc.compile_pipeline(model).predict(ddf)
    assert isinstance(pred, da.Array)
    assert_labels_match(pred.compute(), model.predict(df))


def test_dask_regression_and_score(regression_data):
    """A 1-D regression output and the R^2 score over dask input match sklearn."""
    X, y = regression_data
    model = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    dX, dy = da.from_array(X, chunks=(300, 5)), da.from_array(y, chunks=300)
    pred = compiled.predict(dX)
    assert pred.ndim == 1 and pred.chunks == dX.chunks[:1]
    assert_values_close(pred.compute(), model.predict(X))
    assert compiled.score(dX, dy) == pytest.approx(model.score(X, y), rel=1e-4)


def test_dask_kmeans_transform_and_score(classification_data):
    """k-means distances keep one column per centre; the dask score equals sklearn's -inertia."""
    X, _ = classification_data
    model = MiniBatchKMeans(n_clusters=4, n_init=1, random_state=0).fit(X)
    compiled = ooc.compile_pipeline(model)
    dX = da.from_array(X, chunks=(700, 5))
    dist = compiled.transform(dX)
    assert dist.chunks == (dX.chunks[0], (4,))
    assert_values_close(dist.compute(), model.transform(X))
    assert compiled.score(dX) == pytest.approx(model.score(X), rel=1e-4)
    labels = compiled.predict(dX)
    assert labels.dtype == model.predict(X).dtype
    assert_labels_match(labels.compute(), model.predict(X))


@pytest.mark.parametrize("method", ["predict", "predict_proba"])
def test_predict_to_parquet_with_compiled_model(method, classification_data, tmp_path):
    """predict_to_parquet runs a compiled pipeline (moved with device='cpu') part by part and
    writes sklearn's predictions."""
    X, y = classification_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = np.array(["a", "b", "c"])[y]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df, labels)
    src = tmp_path / "src"
    src.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[part].assign(id=part).to_parquet(src / f"part-{i}.parquet")
    dest = tmp_path / "pred"
    ooc.predict_to_parquet(ooc.compile_pipeline(model), src, dest, method=method, keep=["id"],
                           device="cpu")
    out = pd.read_parquet(dest).sort_values("id")
    if method == "predict":
        assert_labels_match(out["prediction"].to_numpy(), model.predict(df))
    else:
        assert_values_close(out[[f"proba_{c}" for c in "abc"]].to_numpy(), model.predict_proba(df))


def test_predict_to_parquet_names_a_nan_in_a_column_ordered_block(classification_data, tmp_path):
    """A compiled linear model gets column-ordered blocks; a NaN is still named by file, row
    group, row and column, and nothing is written."""
    X, y = classification_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df, y)
    df.loc[1234, "f3"] = np.nan
    df.to_parquet(tmp_path / "src.parquet", row_group_size=1000)
    with pytest.raises(ValueError, match=r"NaN in column 'f3' .* row 1234 of .*src.parquet "
                                         r"\(row group 1\)"):
        ooc.predict_to_parquet(ooc.compile_pipeline(model), tmp_path / "src.parquet",
                               tmp_path / "pred.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.parquet"]


@pytest.fixture
def small_tiles(monkeypatch):
    """predict_to_parquet gives compiled models 300 rows at a time (5 float32 features)."""
    from outofcore.prediction import to_parquet

    monkeypatch.setattr(to_parquet, "_MIN_TILE_ROWS", 1)
    monkeypatch.setattr(to_parquet, "_TILE_BYTES", 300 * 5 * 4)


@pytest.mark.parametrize("name, method", [
    ("logistic", "predict"), ("logistic", "predict_proba"), ("logistic", "decision_function"),
    ("forest", "predict"), ("forest", "predict_proba")])  # a forest has no decision_function
def test_predict_to_parquet_in_tiles_matches_sklearn(name, method, classification_data,
                                                     tmp_path, small_tiles):
    """A compiled model predicting slices a tile of rows at a time (column-ordered tiles for the
    linear head, row-ordered for the forest; uneven last tiles; string labels) writes
    scikit-learn's outputs, in output row groups that mirror the input's."""
    X, y = classification_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = np.array(["a", "b", "c"])[y]
    estimator = LogisticRegression() if name == "logistic" else RandomForestClassifier(
        n_estimators=5, max_depth=4, random_state=0)
    model = make_pipeline(StandardScaler(), estimator).fit(df, labels)
    df.assign(id=np.arange(len(df))).to_parquet(tmp_path / "src.parquet", row_group_size=1000)
    ooc.predict_to_parquet(ooc.compile_pipeline(model), tmp_path / "src.parquet",
                           tmp_path / "pred.parquet", method=method, keep=["id"], block_rows=700)
    out = pd.read_parquet(tmp_path / "pred.parquet")
    assert_array_equal(out["id"], np.arange(len(df)))
    meta = pq.ParquetFile(tmp_path / "pred.parquet").metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [1000, 1000]
    if method == "predict":
        assert_labels_match(out["prediction"].to_numpy(), model.predict(df))
    elif method == "predict_proba":
        assert_values_close(out[[f"proba_{c}" for c in "abc"]].to_numpy(), model.predict_proba(df))
    else:
        assert_values_close(out[[f"decision_{c}" for c in "abc"]].to_numpy(),
                            model.decision_function(df))


@pytest.mark.parametrize("estimator", [LogisticRegression(), GaussianNB()])
def test_predict_to_parquet_names_a_nan_in_a_later_tile(estimator, classification_data, tmp_path,
                                                       small_tiles):
    """A NaN in the third tile of a slice (column-ordered for the linear head, row-ordered for
    naive Bayes) is named by its own row of the file, its row group and its column, and nothing
    is written."""
    X, y = classification_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = make_pipeline(StandardScaler(), estimator).fit(df, y)
    df.loc[1634, "f3"] = np.nan
    df.to_parquet(tmp_path / "src.parquet", row_group_size=1000)
    with pytest.raises(ValueError, match=r"NaN in column 'f3' .* row 1634 of .*src.parquet "
                                         r"\(row group 1\)"):
        ooc.predict_to_parquet(ooc.compile_pipeline(model), tmp_path / "src.parquet",
                               tmp_path / "pred.parquet", block_rows=700)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.parquet"]


def test_pickled_for_distributed_workers(classification_data):
    """A compiled model survives the pickling dask.distributed uses to ship tasks, rebuilt from its
    arrays (not from pickled torch modules), with identical outputs."""
    import pickle

    X, y = classification_data
    model = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    compiled = ooc.compile_pipeline(model, cpu_kernels=False)
    clone = pickle.loads(pickle.dumps(compiled))
    assert clone is not compiled and clone.cpu_kernels is False
    np.testing.assert_array_equal(clone.predict_proba(X), compiled.predict_proba(X))


def test_tree_heads_saved_without_ravel_give_dask_decision_scores(classification_data):
    """Files written before every head recorded ``ravel`` (tree classifiers did not) still give
    one decision score per row on dask input."""
    X, y = classification_data
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y > 0)
    graph = ooc.compile_pipeline(model).graph
    del graph.head.attrs["ravel"]
    scores = CompiledPipeline(graph).decision_function(da.from_array(X, chunks=(300, -1)))
    assert scores.ndim == 1
    assert_values_close(scores.compute(), model.decision_function(X))
