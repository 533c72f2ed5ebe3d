"""Incremental against partial_fit called by hand on the same blocks, in the same order."""

import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import IncrementalPCA
from sklearn.linear_model import PassiveAggressiveClassifier, Perceptron, SGDClassifier, SGDRegressor
from sklearn.naive_bayes import MultinomialNB
from sklearn.neural_network import MLPClassifier, MLPRegressor

from outofcore import Incremental

CHUNKINGS = {
    "even": 500,
    "uneven": ((1, 700, 299, 1000),),
    "one-row-blocks-and-empty": ((1, 1, 0, 998, 1000),),
    "larger-than-data": 5000,
}


def _learned(est):
    for attr in ("coef_", "coefs_", "cluster_centers_", "components_", "feature_log_prob_"):
        if hasattr(est, attr):
            value = getattr(est, attr)
            return value if not isinstance(value, list) else np.concatenate([v.ravel() for v in value])
    raise AssertionError(f"{type(est).__name__} has no learned array")


def _by_hand(estimator, blocks, classes=None, sample_weight_blocks=None):
    est = clone(estimator)
    for i, (Xb, yb) in enumerate(blocks):
        if Xb.shape[0] == 0:
            continue
        kwargs = {} if classes is None else {"classes": classes}
        if sample_weight_blocks is not None:
            kwargs["sample_weight"] = sample_weight_blocks[i]
        est.partial_fit(Xb, yb, **kwargs)
    return est


def _standardized(data):
    X, y = data
    return (X - X.mean(axis=0)) / X.std(axis=0), y


def _blocks(X, y, chunks):
    Xd = da.from_array(X, chunks=(chunks if isinstance(chunks, int) else chunks[0], -1))
    bounds = np.cumsum((0,) + Xd.chunks[0])
    return Xd, [(X[a:b], None if y is None else y[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


SUPERVISED = [
    SGDClassifier(random_state=0),
    Perceptron(random_state=0),
    SGDClassifier(loss="hinge", penalty=None, learning_rate="pa1", eta0=1.0, random_state=0),
    MLPClassifier(hidden_layer_sizes=(7,), random_state=0),
    MultinomialNB(),
]


@pytest.mark.parametrize("chunks", CHUNKINGS.values(), ids=CHUNKINGS.keys())
@pytest.mark.parametrize("estimator", SUPERVISED, ids=lambda e: type(e).__name__)
def test_one_epoch_in_order_equals_partial_fit_by_hand(classification_data, estimator, chunks):
    """One unshuffled epoch learns exactly what partial_fit over the same blocks learns by hand."""
    X, y = classification_data
    if isinstance(estimator, MultinomialNB):
        X = X - X.min(axis=0)
    Xd, blocks = _blocks(X, y, chunks)
    yd = da.from_array(y, chunks=Xd.chunks[0])
    model = Incremental(estimator, shuffle_blocks=False, shuffle_rows=False).fit(Xd, yd)
    expected = _by_hand(estimator, blocks, classes=np.unique(y))
    assert_allclose(_learned(model.estimator_), _learned(expected), rtol=1e-12)
    assert_array_equal(model.classes_, np.unique(y))
    assert_array_equal(model.predict(Xd).compute(), expected.predict(X))


@pytest.mark.parametrize(
    "estimator",
    [SGDRegressor(random_state=0), MLPRegressor(hidden_layer_sizes=(5,), random_state=0)],
    ids=lambda e: type(e).__name__,
)
def test_regressors_equal_partial_fit_by_hand(regression_data, estimator):
    """Regressors and their lazy predictions match the hand loop."""
    X, y = regression_data
    Xd, blocks = _blocks(X, y, 300)
    model = Incremental(estimator, shuffle_blocks=False, shuffle_rows=False).fit(
        Xd, da.from_array(y, chunks=300))
    expected = _by_hand(estimator, blocks)
    assert_allclose(_learned(model.estimator_), _learned(expected), rtol=1e-12)
    assert_allclose(model.predict(Xd).compute(), expected.predict(X), rtol=1e-6)


@pytest.mark.parametrize(
    "estimator",
    [MiniBatchKMeans(n_clusters=4, n_init=1, random_state=0), IncrementalPCA(n_components=3)],
    ids=lambda e: type(e).__name__,
)
def test_unsupervised_equal_partial_fit_by_hand(classification_data, estimator):
    """Clusterers and transformers fold without y and transform lazily like the hand loop."""
    X, _ = classification_data
    Xd, blocks = _blocks(X, None, 400)
    model = Incremental(estimator, shuffle_blocks=False, shuffle_rows=False).fit(Xd)
    expected = _by_hand(estimator, blocks)
    assert_allclose(_learned(model.estimator_), _learned(expected), rtol=1e-6)
    out = model.transform(Xd)
    assert isinstance(out, da.Array)
    assert_allclose(out.compute(), expected.transform(X), rtol=1e-4, atol=1e-4)
    assert out.dtype == expected.transform(X[:5]).dtype


def test_passive_aggressive_still_supported(classification_data):
    """The deprecated PassiveAggressiveClassifier folds like its hand loop while sklearn has it."""
    X, y = classification_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        estimator = PassiveAggressiveClassifier(random_state=0)
        Xd, blocks = _blocks(X, y, 500)
        model = Incremental(estimator, shuffle_blocks=False, shuffle_rows=False).fit(
            Xd, da.from_array(y, chunks=500))
        expected = _by_hand(estimator, blocks, classes=np.unique(y))
    assert_allclose(model.estimator_.coef_, expected.coef_, rtol=1e-12)


@pytest.mark.parametrize("prefetch", [0, 1, 2])
@pytest.mark.parametrize(
    "estimator",
    [SGDClassifier(random_state=0), MLPClassifier(hidden_layer_sizes=(7,), random_state=0)],
    ids=lambda e: type(e).__name__,
)
def test_shuffled_epochs_follow_the_documented_draws(classification_data, estimator, prefetch):
    """With shuffling, the fold equals a hand loop replaying the random_state's block and row draws,
    whether blocks are checked and shuffled in the prefetch thread or inline (prefetch=0). The rows
    are permuted once: the estimator's own shuffle is off while it learns and back on after."""
    X, y = classification_data
    Xd, blocks = _blocks(X, y, 300)
    model = Incremental(estimator, epochs=3, random_state=7,
                        prefetch=prefetch).fit(Xd, da.from_array(y, chunks=300))
    rng = np.random.RandomState(7)
    rng.randint(np.iinfo(np.int32).max)  # the wrapped estimator's seed, drawn first
    est = clone(estimator).set_params(shuffle=False)
    for _ in range(3):
        order = rng.permutation(len(blocks))
        seeds = rng.randint(np.iinfo(np.int32).max, size=len(order))
        for index, seed in zip(order, seeds):
            Xb, yb = blocks[index]
            perm = np.random.default_rng(int(seed)).permutation(len(yb))
            est.partial_fit(Xb[perm], yb[perm], classes=np.unique(y))
    assert_allclose(_learned(model.estimator_), _learned(est), rtol=1e-12)
    assert model.n_epochs_ == 3 and model.n_samples_seen_ == 3 * len(y)
    assert model.estimator_.shuffle is True and estimator.shuffle is True


def test_own_shuffle_comes_back_when_the_fit_fails(classification_data):
    """A fit that stops on a bad block still leaves estimator_ with the shuffle it was given."""
    X, y = classification_data
    X = X.copy()
    X[700, 2] = np.nan
    model = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, prefetch=0)
    with pytest.raises(ValueError, match="block 2"):
        model.fit(da.from_array(X, chunks=300), da.from_array(y, chunks=300))
    assert model.estimator_.shuffle is True


@pytest.mark.parametrize("estimator, expected", [
    (SGDClassifier(), True), (SGDRegressor(), True), (Perceptron(), True),
    (MLPRegressor(), True), (SGDClassifier(shuffle=False), False),
    (MiniBatchKMeans(), False), (MultinomialNB(), False),
], ids=lambda v: type(v).__name__ if not isinstance(v, bool) else str(v))
def test_which_estimators_shuffle_inside_partial_fit(estimator, expected):
    """Only sklearn's SGD family and MLPs with shuffle=True are known to permute their input."""
    from outofcore.training.steps import shuffles_each_call

    assert shuffles_each_call(estimator) is expected


def test_a_shuffle_parameter_of_another_estimator_is_left_alone(classification_data):
    """An estimator outside the known families keeps its shuffle parameter during the fit."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    seen = []

    class ShuffleParam(ClassifierMixin, BaseEstimator):
        def __init__(self, shuffle=True):
            self.shuffle = shuffle

        def partial_fit(self, X, y, classes=None):
            seen.append(self.shuffle)
            self.classes_ = classes
            return self

    X, y = classification_data
    Incremental(ShuffleParam(), random_state=0).fit(da.from_array(X, chunks=500),
                                                    da.from_array(y, chunks=500))
    assert seen and all(seen)


def test_same_random_state_same_model_and_different_state_differs(classification_data):
    """Equal random_state gives identical models; another random_state gives another model."""
    X, y = classification_data
    Xd, yd = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    fit = lambda rs: Incremental(SGDClassifier(random_state=0), epochs=2, random_state=rs).fit(Xd, yd)
    a, b, c = fit(3), fit(3), fit(4)
    assert_array_equal(a.estimator_.coef_, b.estimator_.coef_)
    assert not np.allclose(a.estimator_.coef_, c.estimator_.coef_)


def test_partial_fit_continues_training(classification_data):
    """Two partial_fit calls equal one hand loop over both data sets."""
    X, y = classification_data
    first, second = slice(0, 1000), slice(1000, None)
    model = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, shuffle_rows=False,
                        classes=np.unique(y))
    model.partial_fit(da.from_array(X[first], chunks=500), da.from_array(y[first], chunks=500))
    model.partial_fit(da.from_array(X[second], chunks=500), da.from_array(y[second], chunks=500))
    expected = _by_hand(SGDClassifier(random_state=0), _blocks(X, y, 500)[1], classes=np.unique(y))
    assert_allclose(model.estimator_.coef_, expected.coef_, rtol=1e-12)
    assert model.n_samples_seen_ == len(y)


def test_sample_weight_is_chunked_alongside_x(classification_data):
    """sample_weight chunked differently from X is realigned to X's blocks before partial_fit."""
    X, y = classification_data
    w = np.random.default_rng(1).uniform(0.1, 2.0, size=len(y))
    Xd, blocks = _blocks(X, y, 400)
    model = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, shuffle_rows=False).fit(
        Xd, da.from_array(y, chunks=400), sample_weight=da.from_array(w, chunks=333))
    w_blocks = [w[i * 400:(i + 1) * 400] for i in range(len(blocks))]
    expected = _by_hand(SGDClassifier(random_state=0), blocks, np.unique(y), w_blocks)
    assert_allclose(model.estimator_.coef_, expected.coef_, rtol=1e-12)


def test_dask_dataframe_numpy_and_pandas_inputs_agree(classification_data):
    """A dask DataFrame, a pandas DataFrame and numpy give the same model; names are recorded."""
    X, y = classification_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    ddf = dd.from_pandas(frame, npartitions=1)
    kwargs = dict(shuffle_blocks=False, shuffle_rows=False)
    from_dask = Incremental(SGDClassifier(random_state=0), **kwargs).fit(
        ddf, dd.from_pandas(pd.Series(y), npartitions=1))
    from_pandas = Incremental(SGDClassifier(random_state=0), **kwargs).fit(frame, y)
    from_numpy = Incremental(SGDClassifier(random_state=0), **kwargs).fit(X, y)
    assert_allclose(from_dask.estimator_.coef_, from_numpy.estimator_.coef_, rtol=1e-12)
    assert_allclose(from_pandas.estimator_.coef_, from_numpy.estimator_.coef_, rtol=1e-12)
    assert list(from_dask.feature_names_in_) == list(frame.columns)
    assert list(from_pandas.feature_names_in_) == list(frame.columns)
    assert not hasattr(from_numpy, "feature_names_in_")
    assert_array_equal(from_dask.predict(ddf).compute(), from_numpy.predict(X))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_log_proba",
                                    "decision_function"])
def test_lazy_methods_declare_the_dtype_and_shape_they_compute(classification_data, method):
    """Lazy outputs are dask arrays whose declared dtype/shape equal the computed ones and sklearn's."""
    X, y = _standardized(classification_data)
    Xd = da.from_array(X, chunks=700)
    model = Incremental(SGDClassifier(loss="log_loss", alpha=0.01, random_state=0), random_state=0).fit(
        Xd, da.from_array(y, chunks=700))
    lazy = getattr(model, method)(Xd)
    eager = getattr(model.estimator_, method)(X)
    computed = lazy.compute()
    assert isinstance(lazy, da.Array)
    assert lazy.dtype == computed.dtype == eager.dtype
    assert lazy.shape == computed.shape == eager.shape
    assert_allclose(computed, eager, rtol=1e-6)


@pytest.mark.parametrize("estimator,kind", [(SGDClassifier(random_state=0), "classification"),
                                            (SGDRegressor(random_state=0), "regression")])
def test_score_over_all_rows_equals_sklearn(classification_data, regression_data, estimator, kind):
    """score on dask blocks equals the estimator's score on the whole data (accuracy / R^2)."""
    X, y = _standardized(classification_data if kind == "classification" else regression_data)
    Xd, yd = da.from_array(X, chunks=(333, -1)), da.from_array(y, chunks=333)
    model = Incremental(estimator, random_state=0).fit(Xd, yd)
    assert_allclose(model.score(Xd, yd), model.estimator_.score(X, y), rtol=1e-10)


def test_r2_of_a_target_far_from_zero_equals_sklearn(regression_data):
    """R^2 over blocks keeps its digits where the target's mean is far larger than its spread."""
    X, y = _standardized(regression_data)
    Xd = da.from_array(X, chunks=(333, -1))
    model = Incremental(SGDRegressor(random_state=0), random_state=0).fit(Xd, da.from_array(y, chunks=333))
    model.estimator_.intercept_ += 1e9  # the same fit, for the target moved by 1e9
    far = y + 1e9
    assert_allclose(model.score(Xd, da.from_array(far, chunks=333)), model.estimator_.score(X, far), rtol=1e-9)
    # Signed weights (scikit-learn accepts them), with blocks whose weights sum to zero or less.
    w = np.where(np.arange(len(y)) % 3 == 0, -2.0, 1.0)
    w[333:666] = np.where(np.arange(333) % 2 == 0, -1.0, 1.0) * (1 + (np.arange(333) == 0))
    assert w[333:666].sum() <= 0
    assert_allclose(model.score(Xd, da.from_array(far, chunks=333), sample_weight=da.from_array(w, chunks=333)),
                    model.estimator_.score(X, far, sample_weight=w), rtol=1e-9)


def test_classes_are_found_once_and_unknown_labels_are_named(classification_data):
    """Labels are discovered from y; with classes= given, an unseen label is reported with its block."""
    X, y = classification_data
    Xd, yd = da.from_array(X, chunks=500), da.from_array(y, chunks=500)
    assert_array_equal(Incremental(SGDClassifier()).fit(Xd, yd).classes_, [0, 1, 2])
    with pytest.raises(ValueError, match=r"label 2 at row (\d+) \(row \d+ of block \d+\), which is "
                                         r"not in classes=\[0, 1\]"):
        Incremental(SGDClassifier(), classes=[0, 1]).fit(Xd, yd)
    # String labels too: the error names the label, not an AttributeError.
    labels = da.from_array(np.array(["cat", "dog", "eel"], dtype=object)[y], chunks=500)
    with pytest.raises(ValueError, match=r"label 'eel' at row \d+ .* classes=\['cat', 'dog'\]"):
        Incremental(SGDClassifier(), classes=["cat", "dog"]).fit(Xd, labels)


def test_string_labels(classification_data):
    """Object-dtype string labels are found, learned and predicted with their own dtype."""
    X, y = classification_data
    labels = np.array(["cat", "dog", "eel"], dtype=object)[y]
    Xd, yd = da.from_array(X, chunks=500), da.from_array(labels, chunks=500)
    model = Incremental(SGDClassifier(random_state=0), random_state=0).fit(Xd, yd)
    assert_array_equal(model.classes_, ["cat", "dog", "eel"])
    pred = model.predict(Xd)
    eager = model.estimator_.predict(X)
    assert pred.dtype == eager.dtype
    assert_array_equal(pred.compute(), eager)
    assert set(eager) <= {"cat", "dog", "eel"}


def test_nan_in_a_block_names_block_row_and_column(classification_data):
    """A NaN deep inside the data stops the fit with its block, row and column."""
    X, y = classification_data
    X = X.copy()
    X[1234, 3] = np.nan
    Xd, yd = da.from_array(X, chunks=500), da.from_array(y, chunks=500)
    with pytest.raises(ValueError, match=r"X holds NaN at row 1234 \(row 234 of block 2\), "
                                         r"column 3; impute it"):
        Incremental(SGDClassifier(), shuffle_blocks=False, shuffle_rows=False).fit(Xd, yd)


def test_x_and_y_of_different_lengths(classification_data):
    """Mismatched X and y lengths are refused before any block is read, naming both lengths."""
    X, y = classification_data
    with pytest.raises(ValueError, match="X has 2000 rows but y has 1999"):
        Incremental(SGDClassifier()).fit(da.from_array(X, chunks=500), da.from_array(y[:-1], 500))


def test_wrong_feature_count_at_predict(classification_data):
    """Predicting on a different number of features says how many were expected."""
    X, y = classification_data
    model = Incremental(SGDClassifier()).fit(da.from_array(X, chunks=500), y)
    with pytest.raises(ValueError, match="X has 4 features, but Incremental is expecting 5"):
        model.predict(da.from_array(X[:, :4], chunks=500))


def test_early_stopping_stops_and_records_history(classification_data):
    """Early stopping halts once the validation score stalls and records each epoch."""
    X, y = classification_data
    Xd, yd = da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    model = Incremental(SGDClassifier(random_state=0), epochs=50, early_stopping=True,
                        n_iter_no_change=2, tol=0.5, random_state=0).fit(Xd, yd)
    # tol=0.5 is unreachable after the first epoch, so exactly 1 + n_iter_no_change epochs run.
    assert model.n_epochs_ == 3
    assert [h["epoch"] for h in model.history_] == [1, 2, 3]
    assert all(0 <= h["score"] <= 1 and h["seconds"] > 0 for h in model.history_)
    valid_blocks, _ = model._held
    assert len(valid_blocks) == 1  # round(0.1 * 10 blocks)
    assert model.history_[-1]["rows"] == 3 * (len(y) - 200)


@pytest.mark.parametrize("chunks", [2000, 700])
def test_early_stopping_on_few_blocks_holds_out_rows(classification_data, chunks):
    """In-memory input (one block) and too few blocks to spare one hold out a seeded tenth of
    every block's rows: they never train, and the validation score is the score on them."""
    X, y = classification_data
    Xd = X if chunks == len(y) else da.from_array(X, chunks=chunks)
    model = Incremental(SGDClassifier(random_state=0), epochs=2, early_stopping=True,
                        random_state=0, shuffle_rows=False).fit(Xd, y)
    seed = model._held[1]
    blocks = [(0, len(y))] if chunks == len(y) else [(0, 700), (700, 1400), (1400, 2000)]
    held = np.zeros(len(y), bool)
    for i, (lo, hi) in enumerate(blocks):
        held[lo:hi] = np.random.default_rng([seed, i]).random(hi - lo) < 0.1
    assert 100 < held.sum() < 300
    assert model.n_samples_seen_ == 2 * (~held).sum()
    assert model.history_[-1]["score"] == model.estimator_.score(X[held], y[held])


def test_estimator_without_partial_fit_is_refused():
    """Wrapping an estimator without partial_fit fails with a pointer to the ones that work."""
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="LogisticRegression has no partial_fit"):
        Incremental(LogisticRegression()).fit(np.ones((4, 2)), [0, 1, 0, 1])


def test_fit_reads_each_block_once_per_epoch(classification_data):
    """The fold computes each block of X and y together, once per epoch (no extra passes)."""
    X, y = classification_data
    Xd, reads = _counted(X, 500)
    Incremental(SGDClassifier(), epochs=2, classes=[0, 1, 2], random_state=0).fit(
        Xd, da.from_array(y, chunks=500))
    assert sorted(reads) == sorted(list(range(4)) * 2)


def _counted(X, chunks):
    """X as a dask array whose blocks append their index to the returned list when computed."""
    reads = []

    def load(block, block_info=None):
        reads.append(block_info[0]["chunk-location"][0])
        return block

    return da.from_array(X, chunks=(chunks, -1)).map_blocks(load, dtype=X.dtype), reads


def test_memory_stays_within_a_block(classification_data):
    """No task of a fit produces more rows than one block: the data set is never materialised."""
    from dask.callbacks import Callback

    X, y = classification_data
    largest = []

    class Watch(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if hasattr(result, "shape") and len(result.shape):
                largest.append(result.shape[0])

    with Watch(), dask.config.set(scheduler="threads"):
        Incremental(SGDClassifier(), epochs=2, random_state=0).fit(
            da.from_array(X, chunks=250), da.from_array(y, chunks=250))
    assert largest and max(largest) <= 250


def test_callback_reports_every_block_and_verbose_bar_goes_to_stderr(classification_data, capsys):
    """The callback sees each block with cumulative rows; verbose=True draws a bar on stderr."""
    X, y = classification_data
    seen = []
    Incremental(SGDClassifier(), epochs=2, random_state=0, verbose=True, callback=seen.append).fit(
        da.from_array(X, chunks=500), da.from_array(y, chunks=500))
    assert [s["rows"] for s in seen] == [500 * k for k in range(1, 9)]
    assert {s["epoch"] for s in seen} == {1, 2} and all(s["total"] == 4000 for s in seen)
    assert sorted(s["block"] for s in seen) == [0, 0, 1, 1, 2, 2, 3, 3]
    err = capsys.readouterr().err
    assert "fit SGDClassifier" in err and "4.00k/4.00k" in err


def _record_reads(monkeypatch):
    from outofcore.io import plan

    calls = []
    read = plan.Source.read
    monkeypatch.setattr(plan.Source, "read",
                        lambda self, i, columns, **kw: calls.append((i, tuple(columns)))
                        or read(self, i, columns, **kw))
    return calls


def test_x_and_y_of_a_parquet_read_are_read_once_per_epoch(tmp_path, monkeypatch):
    """Scaled X and y of a parquet read: each block's features and target are read once per
    epoch; with the read's cache, once in all."""
    import outofcore as ooc

    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    frame["t"] = (frame["a"] > 0).astype("int64")
    frame.to_parquet(tmp_path / "p.parquet", row_group_size=100)
    reads = _record_reads(monkeypatch)
    models = []
    for cache in (False, True):
        X, y = ooc.read_parquet(tmp_path, target="t", block_rows=100, cache=cache)
        Xs = ooc.StandardScaler().fit(X).transform(X)
        reads.clear()
        models.append(Incremental(SGDClassifier(), epochs=2, classes=[0, 1],
                                  random_state=0).fit(Xs, y))
        target = [(i, ("t",)) for i in range(4)]
        features = [(i, ("a", "b", "c")) for i in range(4)]
        # Cached: the scaler's pass decoded the features; the fit decodes only the target.
        assert sorted(reads) == sorted(target if cache else 2 * (features + target))
    assert_array_equal(models[0].estimator_.coef_, models[1].estimator_.coef_)


def test_labels_of_a_parquet_target_are_found_without_reading_the_features(tmp_path, monkeypatch):
    """Class discovery on read_parquet's y reads the target column alone, not X's blocks."""
    import outofcore as ooc

    rng = np.random.default_rng(0)
    for i in range(3):
        frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
        frame["target"] = rng.choice(np.array(["x", "y", "z"], dtype=object), size=300)
        frame.to_parquet(tmp_path / f"part-{i}.parquet")
    X, y = ooc.read_parquet(tmp_path, target="target")
    reads = _record_reads(monkeypatch)
    model = Incremental(SGDClassifier(), random_state=0)
    model._start(y, None)
    assert sorted(reads) == [(i, ("target",)) for i in range(3)]
    assert_array_equal(model.classes_, ["x", "y", "z"])
    model = Incremental(SGDClassifier(), random_state=0).fit(X, y)
    assert_array_equal(model.classes_, ["x", "y", "z"])
