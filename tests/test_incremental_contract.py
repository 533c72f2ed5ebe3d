"""Incremental keeps scikit-learn's contract: fit resets, passed classes win, seeds reach the
wrapped estimator, bad settings fail before the first block, callbacks survive clone, sparse
blocks learn, fitted attributes are readable on the wrapper."""

import copy

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import IncrementalPCA
from sklearn.linear_model import Perceptron, SGDClassifier, SGDRegressor
from sklearn.naive_bayes import BernoulliNB, MultinomialNB
from sklearn.neural_network import MLPClassifier, MLPRegressor

from outofcore import Incremental
from outofcore.cli.monitor import FitMonitor


def _learned(est):
    for attr in ("coef_", "coefs_", "cluster_centers_", "components_", "feature_log_prob_"):
        if hasattr(est, attr):
            value = getattr(est, attr)
            return np.concatenate([v.ravel() for v in value]) if isinstance(value, list) else value
    raise AssertionError(f"{type(est).__name__} has no learned array")


@pytest.mark.parametrize("shrink", [False, True])
def test_fit_is_a_reset(classification_data, shrink):
    """A second fit equals a fresh clone's fit, also on fewer blocks than the first."""
    X, y = classification_data
    Xd, yd = da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    model = Incremental(SGDClassifier(random_state=0), epochs=2, early_stopping=True,
                        random_state=3).fit(Xd, yd)
    again = (Xd[:600], yd[:600]) if shrink else (Xd, yd)
    refit = model.fit(*again)
    fresh = clone(model).fit(*again)
    assert_array_equal(refit.coef_, fresh.coef_)
    assert refit.history_ == [{**h, "seconds": r["seconds"], "wait_seconds": r["wait_seconds"],
                               "learn_seconds": r["learn_seconds"]}
                              for h, r in zip(fresh.history_, refit.history_, strict=True)]


def test_passed_classes_win_and_are_checked():
    """classes= passed to fit is used even when y holds fewer labels; a label outside it is
    named."""
    model = Incremental(SGDClassifier()).fit(np.ones((10, 5)), np.ones(10), classes=[0, 1])
    assert_array_equal(model.classes_, [0, 1])
    model = Incremental(SGDClassifier(), classes=[0, 1]).fit(np.ones((10, 5)), np.ones(10),
                                                               classes=[0, 1, 2])
    assert_array_equal(model.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match=r"label 5 at row 3 .*classes=\[0, 1\]"):
        Incremental(SGDClassifier()).fit(np.ones((4, 2)), [0, 1, 0, 5], classes=[0, 1])


FAMILIES = {
    "sgd": SGDClassifier(), "sgd-regressor": SGDRegressor(), "perceptron": Perceptron(),
    "kmeans": MiniBatchKMeans(n_clusters=3, n_init=1), "mlp": MLPClassifier(hidden_layer_sizes=(4,)),
    "mlp-regressor": MLPRegressor(hidden_layer_sizes=(4,)), "nb": MultinomialNB(),
    "bernoulli": BernoulliNB(), "ipca": IncrementalPCA(n_components=2),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_the_same_random_state_gives_the_same_model(classification_data, name):
    """For every family, an estimator whose own random_state is None gets one drawn from the
    wrapper's: equal wrapper seeds give equal models; the estimator's own seed is kept."""
    X, y = classification_data
    X = np.abs(X) if name in ("nb", "bernoulli") else X
    target = None if name in ("kmeans", "ipca") else (y.astype(float) if "regressor" in name
                                                      else y)
    estimator = FAMILIES[name]
    fits = [Incremental(estimator, random_state=11).fit(da.from_array(X, chunks=500), target)
            for _ in range(2)]
    assert_array_equal(_learned(fits[0].estimator_), _learned(fits[1].estimator_))
    if estimator.get_params().get("random_state", 0) is None:
        drawn = np.random.RandomState(11).randint(np.iinfo(np.int32).max)
        assert fits[0].estimator_.random_state == drawn
        assert estimator.random_state is None
        own = Incremental(clone(estimator).set_params(random_state=5), random_state=11).fit(
            da.from_array(X, chunks=500), target)
        assert own.estimator_.random_state == 5


def test_bad_scoring_fails_before_any_block(classification_data):
    """An unknown scorer name is refused before the first block is read."""
    X, y = classification_data
    reads = []
    Xd = da.from_array(X, chunks=500).map_blocks(lambda b: reads.append(1) or b, dtype=X.dtype,
                                                 meta=np.empty((0, 0), X.dtype))
    with pytest.raises(ValueError, match="not_a_scorer"):
        Incremental(SGDClassifier(), early_stopping=True, scoring="not_a_scorer").fit(Xd, y)
    assert reads == []


def test_sample_weight_is_routed_only_where_partial_fit_takes_it(classification_data):
    """fit does not advertise sample_weight; given one, an estimator without it is named."""
    import inspect

    assert "sample_weight" not in inspect.signature(Incremental.fit).parameters
    X, y = classification_data
    w = np.linspace(0.5, 2, len(y))
    model = Incremental(SGDClassifier(random_state=0), shuffle_rows=False).fit(X, y,
                                                                               sample_weight=w)
    expected = SGDClassifier(random_state=0)
    expected.partial_fit(X, y, classes=np.unique(y), sample_weight=w)
    assert_allclose(model.coef_, expected.coef_)
    with pytest.raises(TypeError, match="IncrementalPCA.partial_fit does not accept sample_weight"):
        Incremental(IncrementalPCA(n_components=2)).fit(X, sample_weight=w)


def test_a_callback_object_survives_clone_and_sees_the_fit(classification_data):
    """A report monitor given as callback= is deep-copied by clone, and the copy records."""
    X, y = classification_data
    monitor = FitMonitor()
    model = Incremental(SGDClassifier(), callback=monitor)
    copied = clone(model)
    assert copied.callback is not monitor and isinstance(copied.callback, FitMonitor)
    copy.deepcopy(model)
    copied.fit(da.from_array(X, chunks=500), y)
    assert [b["rows"] for b in copied.callback.blocks] == [500, 1000, 1500, 2000]


@pytest.mark.parametrize("estimator", [SGDClassifier(random_state=0), MultinomialNB()],
                         ids=lambda e: type(e).__name__)
def test_sparse_blocks_learn_like_sklearn(classification_data, estimator):
    """Sparse blocks (from a one-hot) feed partial_fit as they are and learn what scikit-learn
    learns from the same sparse blocks."""
    X, y = classification_data
    Xs = sp.csr_matrix(np.where(X > np.median(X, axis=0), X, 0.0) if isinstance(
        estimator, SGDClassifier) else (X > np.median(X, axis=0)).astype(float))
    blocks = [Xs[i:i + 500] for i in range(0, 2000, 500)]
    Xd = da.concatenate([da.from_array(b, chunks=b.shape, asarray=False) for b in blocks])
    model = Incremental(estimator, shuffle_blocks=False, shuffle_rows=False).fit(
        Xd, da.from_array(y, chunks=500))
    expected = clone(estimator)
    for i, b in enumerate(blocks):
        expected.partial_fit(b, y[500 * i:500 * (i + 1)], classes=np.unique(y))
    assert_allclose(_learned(model.estimator_), _learned(expected), rtol=1e-12)
    assert_array_equal(model.predict(Xd).compute(), expected.predict(Xs))


def test_sparse_blocks_for_an_estimator_without_sparse_support(classification_data):
    """An estimator whose partial_fit cannot take sparse blocks is named with what to do."""
    X, _ = classification_data
    Xd = da.from_array(sp.csr_matrix(X), chunks=(500, 5), asarray=False)
    with pytest.raises(TypeError, match=r"IncrementalPCA cannot learn from sparse input.*"
                                        r"sparse_output=False"):
        Incremental(IncrementalPCA(n_components=2)).fit(Xd)


def test_fitted_attributes_read_through_the_wrapper(classification_data):
    """coef_, intercept_, cluster_centers_ and friends are those of estimator_."""
    X, y = classification_data
    model = Incremental(SGDClassifier()).fit(X, y)
    assert model.coef_ is model.estimator_.coef_
    assert model.intercept_ is model.estimator_.intercept_
    km = Incremental(MiniBatchKMeans(n_clusters=2, n_init=1)).fit(X)
    assert km.cluster_centers_ is km.estimator_.cluster_centers_
    with pytest.raises(AttributeError, match="no attribute 'coef_'"):
        Incremental(SGDClassifier()).coef_


def test_sparse_blocks_are_shuffled_by_the_estimator_itself(classification_data):
    """With sparse blocks an SGD estimator keeps its own shuffle (by index, no copy): the fold
    equals scikit-learn's partial_fit loop with the estimator's seed drawn from the wrapper's."""
    X, y = classification_data
    Xs = sp.csr_matrix(np.where(X > np.median(X, axis=0), X, 0.0))
    Xd = da.from_array(Xs, chunks=(500, 5), asarray=False)
    model = Incremental(SGDClassifier(), shuffle_blocks=False, random_state=4).fit(
        Xd, da.from_array(y, chunks=500))
    seed = np.random.RandomState(4).randint(np.iinfo(np.int32).max)
    expected = SGDClassifier(random_state=seed)
    for i in range(0, 2000, 500):
        expected.partial_fit(Xs[i:i + 500], y[i:i + 500], classes=np.unique(y))
    assert_allclose(model.coef_, expected.coef_, rtol=1e-12)
    assert model.estimator_.shuffle is True
