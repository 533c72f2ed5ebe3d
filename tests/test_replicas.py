"""Incremental(n_replicas=K): replicas learn shares of every epoch and merge in rounds; exact
where the model is a sum of statistics, seeded, resumable, and refused where nothing merges."""

import dask.array as da
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import IncrementalPCA
from sklearn.linear_model import SGDClassifier
from sklearn.naive_bayes import GaussianNB, MultinomialNB
from sklearn.svm import OneClassSVM

from outofcore import Incremental


def _data(n=3000, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k)) * [1, 3, 0.5, 2] + [0, 1, -2, 4]
    y = (X[:, 0] - X[:, 1] / 3 + rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize("n_replicas, merge_every", [(2, 1), (3, 2), (4, None)])
@pytest.mark.parametrize("estimator, positive", [
    (MultinomialNB(), True), (GaussianNB(), False), (IncrementalPCA(n_components=4), False),
], ids=["MultinomialNB", "GaussianNB", "IncrementalPCA"])
def test_statistics_merge_to_the_sequential_model(estimator, positive, n_replicas,
                                                  merge_every):
    """Naive Bayes and full-rank IncrementalPCA with replicas equal scikit-learn's partial_fit
    over every block (their statistics add up, whoever saw which block)."""
    X, y = _data()
    X = np.abs(X) if positive else X
    Xd, yd = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    target = None if isinstance(estimator, IncrementalPCA) else yd
    model = Incremental(estimator, n_replicas=n_replicas, merge_every=merge_every, epochs=1,
                        random_state=0).fit(Xd, target)
    expected = clone(estimator)
    for i in range(0, len(X), 250):
        if target is None:
            expected.partial_fit(X[i:i + 250])
        else:
            expected.partial_fit(X[i:i + 250], y[i:i + 250], classes=[0, 1])
    if isinstance(estimator, IncrementalPCA):
        assert_allclose(np.abs(model.components_), np.abs(expected.components_), atol=1e-8)
        assert_allclose(model.explained_variance_, expected.explained_variance_, rtol=1e-9)
    elif isinstance(estimator, GaussianNB):
        assert_allclose(model.theta_, expected.theta_, rtol=1e-10)
        assert_array_equal(model.class_count_, expected.class_count_)
    else:
        assert_allclose(model.feature_count_, expected.feature_count_, rtol=1e-12)
        assert_allclose(model.feature_log_prob_, expected.feature_log_prob_, rtol=1e-12)
    assert model.n_samples_seen_ == len(X)


def test_averaged_replicas_are_seeded_and_close_to_the_sequential_fold():
    """SGD replicas: the same seed gives the same model; its accuracy is close to the
    sequential fold's; a 1-replica fit is the sequential fold itself."""
    X, y = _data(6000)
    Xd, yd = da.from_array(X[:5000], chunks=500), da.from_array(y[:5000], chunks=500)

    def fit(k, seed=0):
        return Incremental(SGDClassifier(random_state=0), n_replicas=k, epochs=3,
                           random_state=seed).fit(Xd, yd)

    sequential, two, again = fit(1), fit(2), fit(2)
    assert_array_equal(two.coef_, again.coef_)
    assert not np.array_equal(fit(2, seed=1).coef_, two.coef_)
    assert abs(two.score(X[5000:], y[5000:]) - sequential.score(X[5000:], y[5000:])) < 0.02
    plain = Incremental(SGDClassifier(random_state=0), epochs=3, random_state=0).fit(Xd, yd)
    assert_array_equal(sequential.coef_, plain.coef_)


def test_kmeans_replicas_need_shared_centres():
    """k-means replicas merge centres started from one init array; without one the fit says
    what to set, before reading a block."""
    X, _ = _data()
    Xd = da.from_array(X, chunks=300)
    with pytest.raises(ValueError, match="init"):
        Incremental(MiniBatchKMeans(n_clusters=3, n_init=1), n_replicas=2).fit(Xd)
    init = X[:3].copy()
    km = MiniBatchKMeans(n_clusters=3, init=init, n_init=1, reassignment_ratio=0,
                         compute_labels=False, random_state=0)
    model = Incremental(km, n_replicas=2, epochs=2, random_state=0).fit(Xd)
    sequential = Incremental(km, epochs=2, random_state=0).fit(Xd)
    assert abs(model.score(X) / sequential.score(X) - 1) < 0.05


def test_an_estimator_without_a_merge_rule_is_refused_before_any_block():
    """n_replicas > 1 for an estimator with no merge rule names it and the supported ones."""

    class Learner(OneClassSVM):
        def partial_fit(self, X, y=None):
            return self

    reads = []
    X = da.from_array(np.ones((10, 2)), chunks=5).map_blocks(
        lambda b: reads.append(1) or b, meta=np.empty((0, 0)))
    with pytest.raises(TypeError, match="Learner has no merge rule.*SGDClassifier"):
        Incremental(Learner(), n_replicas=2).fit(X)
    assert reads == []


@pytest.mark.parametrize("bad", [0, 1.5, True])
def test_bad_replica_settings_are_named(bad):
    """n_replicas and merge_every are positive integers."""
    with pytest.raises(ValueError, match="n_replicas must be an integer"):
        Incremental(SGDClassifier(), n_replicas=bad).fit(np.ones((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="merge_every must be an integer"):
        Incremental(SGDClassifier(), n_replicas=2, merge_every=bad).fit(np.ones((4, 2)),
                                                                         [0, 1, 0, 1])


def test_a_replicated_fit_resumes_from_its_checkpoint(tmp_path):
    """Interrupted after a round and fitted again, a replicated fit gives the uninterrupted
    model (checkpoints are taken at merges)."""
    X, y = _data()
    Xd, yd = da.from_array(X, chunks=250), da.from_array(y, chunks=250)
    params = dict(n_replicas=2, merge_every=2, epochs=2, random_state=0)
    seen = []

    def stop(info):
        seen.append(info)
        if len(seen) == 9:
            raise KeyboardInterrupt

    path = tmp_path / "fit.skops"
    model = Incremental(SGDClassifier(random_state=0), checkpoint=path, checkpoint_every=1,
                        callback=stop, **params)
    with pytest.raises(KeyboardInterrupt):
        model.fit(Xd, yd)
    resumed = model.set_params(callback=None).fit(Xd, yd)
    whole = Incremental(SGDClassifier(random_state=0), **params).fit(Xd, yd)
    assert_array_equal(resumed.coef_, whole.coef_)
    assert resumed.n_samples_seen_ == whole.n_samples_seen_ == 2 * len(X)
