"""Ordinary sklearn Pipelines of outofcore steps, on files, against in-memory scikit-learn."""

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
from dask.callbacks import Callback
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import IncrementalPCA
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.preprocessing import StandardScaler as SkStandardScaler

import outofcore as ooc

FEATURES = [f"f{i}" for i in range(6)]


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Three parquet parts (one empty) and the same rows as CSV parts, with an id column."""
    rng = np.random.default_rng(3)
    root = tmp_path_factory.mktemp("parts")
    frames = []
    for i, n in enumerate([700, 0, 1300]):
        X = rng.normal(size=(n, 6)) * [1, 5, 0.2, 30, 2, 1] + [0, 3, -1, 50, 0, 7]
        frame = pd.DataFrame(X, columns=FEATURES)
        frame.insert(0, "id", np.arange(n) + 10_000 * i)
        frame["target"] = ((X[:, 0] + X[:, 1] / 5 - X[:, 3] / 30 + rng.normal(size=n)) > 0).astype("int64")
        frame.to_parquet(root / f"part-{i}.parquet", row_group_size=400)
        (root / "csv").mkdir(exist_ok=True)
        frame.to_csv(root / "csv" / f"part-{i}.csv", index=False)
        frames.append(frame)
    return root, pd.concat(frames, ignore_index=True)


def _hand_fit(frame, chunks, estimator):
    """sklearn in memory: a scaler fitted on every row, then partial_fit over the same blocks."""
    X = frame[FEATURES].to_numpy(np.float32)
    y = frame["target"].to_numpy()
    scaler = SkStandardScaler().fit(X)
    est = estimator
    start = 0
    for n in chunks:
        if n:
            est.partial_fit(scaler.transform(X[start:start + n]), y[start:start + n],
                            classes=np.unique(y))
        start += n
    return scaler, est


@pytest.mark.parametrize("reader", ["parquet", "csv"])
def test_pipeline_on_files_equals_sklearn_in_memory(parts, reader):
    """Scaler + Incremental(SGD) fitted on files equals sklearn on the same rows and block order."""
    root, frame = parts
    if reader == "parquet":
        X, y = ooc.read_parquet(root, target="target", exclude=["id"])
    else:
        X, y = ooc.read_csv(root / "csv", target="target", exclude=["id"])
    pipe = make_pipeline(ooc.StandardScaler(),
                         ooc.Incremental(SGDClassifier(random_state=0), shuffle_blocks=False,
                                         shuffle_rows=False))
    pipe.fit(X, y)
    scaler, expected = _hand_fit(frame, X.chunks[0], SGDClassifier(random_state=0))
    assert_allclose(pipe[0].mean_, scaler.mean_, rtol=1e-6)
    assert_allclose(pipe[0].scale_, scaler.scale_, rtol=1e-6)
    assert_allclose(pipe[-1].estimator_.coef_, expected.coef_, rtol=1e-5)
    labels = pipe.predict(X)
    assert isinstance(labels, da.Array)
    X_mem = frame[FEATURES].to_numpy(np.float32)
    assert_array_equal(labels.compute(), expected.predict(scaler.transform(X_mem)))
    assert list(pipe.feature_names_in_) == FEATURES


def test_pipeline_never_materialises_the_data(parts):
    """No task of fit or of a reduction over predictions returns more rows than a block."""
    root, _ = parts
    X, y = ooc.read_parquet(root, target="target", exclude=["id"], block_rows=400)
    sizes = []

    class Watch(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            for r in result if isinstance(result, tuple) else (result,):
                if getattr(r, "ndim", 0) >= 1:
                    sizes.append(r.shape[0])

    pipe = make_pipeline(ooc.StandardScaler(), ooc.Incremental(SGDClassifier(), random_state=0))
    with Watch(), dask.config.set(scheduler="threads"):
        pipe.fit(X, y)
        pipe.predict(X).sum().compute()
    assert sizes and max(sizes) <= 400


def test_stateless_step_and_transformer_step_in_one_pipeline(parts):
    """A FunctionTransformer and Incremental(IncrementalPCA) run lazily inside the pipeline."""
    root, frame = parts
    X, y = ooc.read_parquet(root, target="target", exclude=["id"])
    pipe = make_pipeline(
        ooc.StandardScaler(),
        FunctionTransformer(np.tanh),
        ooc.Incremental(IncrementalPCA(n_components=3), shuffle_blocks=False, shuffle_rows=False),
        ooc.Incremental(SGDRegressor(random_state=0), shuffle_blocks=False, shuffle_rows=False),
    )
    pipe.fit(X, y.astype("float64"))
    X_mem = frame[FEATURES].to_numpy(np.float32)
    scaled = np.tanh(SkStandardScaler().fit(X_mem).transform(X_mem))
    pca = IncrementalPCA(n_components=3)
    start = 0
    for n in X.chunks[0]:
        if n:
            pca.partial_fit(scaled[start:start + n])
        start += n
    assert_allclose(np.abs(pipe[2].estimator_.components_), np.abs(pca.components_), atol=1e-4)
    out = pipe[:-1].transform(X)
    assert isinstance(out, da.Array) and out.shape == (len(frame), 3)
    assert np.isfinite(pipe.predict(X).compute()).all()


def test_predict_to_parquet_of_a_fitted_pipeline(parts, tmp_path):
    """predict_to_parquet writes what the lazy predict computes, with the ids kept, in input order."""
    root, frame = parts
    X, y = ooc.read_parquet(root, target="target", exclude=["id"])
    pipe = make_pipeline(ooc.StandardScaler(), ooc.Incremental(SGDClassifier(loss="log_loss"),
                                                                 random_state=0)).fit(X, y)
    ooc.predict_to_parquet(pipe, root, tmp_path / "preds", keep=["id"])
    written = pd.read_parquet(tmp_path / "preds")
    assert_array_equal(written["id"], frame["id"])
    assert_array_equal(written["prediction"], pipe.predict(X).compute())
    ooc.predict_to_parquet(pipe, root, tmp_path / "proba", method="predict_proba")
    proba = pd.read_parquet(tmp_path / "proba").to_numpy()
    assert_allclose(proba, pipe.predict_proba(X).compute(), rtol=1e-6, atol=1e-12)
