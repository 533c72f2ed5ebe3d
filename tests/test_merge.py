"""Merging data-parallel replicas: exact families equal scikit-learn's sequential fit, averaged
families equal an independently computed weighted average, and what cannot be merged is refused."""

import copy

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import linear_model
from sklearn.base import clone
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.linear_model import LinearRegression, Perceptron, SGDClassifier, SGDRegressor
from sklearn.naive_bayes import (BernoulliNB, CategoricalNB, ComplementNB, GaussianNB,
                                 MultinomialNB)
from sklearn.neural_network import MLPClassifier, MLPRegressor

from outofcore.training.merge import (center_counts, merge_family, merge_replicas,
                                      restart_replicas, supported_estimators)

# Uneven blocks, one of a single row; replicas take consecutive runs of them, in block order.
BLOCK_SIZES = [70, 1, 130, 95, 100, 60, 44]
_PA = pytest.mark.filterwarnings("ignore:Class PassiveAggressive.* is deprecated:FutureWarning")


def _blocks(X, y=None, sizes=BLOCK_SIZES):
    edges = np.cumsum([0] + list(sizes))
    assert edges[-1] == len(X)
    return [(X[a:b], None if y is None else y[a:b]) for a, b in zip(edges[:-1], edges[1:])]


def _shares(blocks, n_replicas):
    """Consecutive runs of blocks, one per replica, in block order."""
    bounds = np.linspace(0, len(blocks), n_replicas + 1).round().astype(int)
    return [blocks[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _fold(estimator, blocks, **kwargs):
    for X, y in blocks:
        if y is None:
            estimator.partial_fit(X, **kwargs)
        else:
            estimator.partial_fit(X, y, **kwargs)
    return estimator


def _replicas(estimator, blocks, n_replicas, **kwargs):
    return [_fold(clone(estimator), share, **kwargs) for share in _shares(blocks, n_replicas)]


def _counts_data(rng, n_classes=3, n=500, p=6):
    X = rng.poisson(rng.uniform(0.5, 4, size=p), size=(n, p)).astype(np.float64)
    y = (X[:, 0] + X[:, 1] + rng.integers(0, 3, n)) % n_classes
    return X, y


def _gaussian_data(rng, n=500, p=5, n_classes=3):
    y = rng.integers(0, n_classes, n)
    X = rng.normal(size=(n, p)) * rng.uniform(0.1, 10, p) + y[:, None] * rng.normal(size=p) + 50
    return X, y


# ------------------------------------------------------------------------ exact: naive Bayes
@pytest.mark.parametrize("estimator", [
    MultinomialNB(), MultinomialNB(alpha=np.linspace(0.1, 2, 6), fit_prior=False),
    MultinomialNB(class_prior=[0.2, 0.3, 0.5]), BernoulliNB(binarize=1.5), BernoulliNB(alpha=0.3),
    ComplementNB(), ComplementNB(norm=True, alpha=0.5)], ids=repr)
@pytest.mark.parametrize("n_replicas", [2, 3, 7])
def test_discrete_nb_merge_equals_sequential_fit(estimator, n_replicas):
    """Naive Bayes count replicas merge to scikit-learn's sequential fit: counts bit for bit."""
    X, y = _counts_data(np.random.default_rng(0))
    blocks = _blocks(X, y)
    expected = _fold(clone(estimator), blocks, classes=[0, 1, 2])
    merged = merge_replicas(_replicas(estimator, blocks, n_replicas, classes=[0, 1, 2]))
    assert_array_equal(merged.feature_count_, expected.feature_count_)
    assert_array_equal(merged.class_count_, expected.class_count_)
    assert_allclose(merged.feature_log_prob_, expected.feature_log_prob_, rtol=1e-13)
    assert_allclose(merged.class_log_prior_, expected.class_log_prior_, rtol=1e-13)
    assert_allclose(merged.predict_proba(X), expected.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert_array_equal(merged.predict(X), expected.predict(X))


def test_weighted_nb_counts_match_sequential_fit():
    """With sample weights the summed counts equal the sequential fit's to rounding (1e-14)."""
    rng = np.random.default_rng(1)
    X, y = _counts_data(rng)
    w = rng.uniform(0, 3, len(y))
    expected = MultinomialNB()
    replicas = [MultinomialNB(), MultinomialNB()]
    for i, (a, b) in enumerate([(0, 150), (150, 300), (300, 420), (420, 500)]):
        expected.partial_fit(X[a:b], y[a:b], classes=[0, 1, 2], sample_weight=w[a:b])
        replicas[i // 2].partial_fit(X[a:b], y[a:b], classes=[0, 1, 2], sample_weight=w[a:b])
    merged = merge_replicas(replicas)
    assert_allclose(merged.feature_count_, expected.feature_count_, rtol=1e-14)
    assert_allclose(merged.predict_proba(X), expected.predict_proba(X), rtol=1e-12)


def test_categorical_nb_merges_replicas_that_saw_different_categories():
    """CategoricalNB replicas with different category ranges merge to the sequential counts."""
    rng = np.random.default_rng(2)
    X = np.column_stack([rng.integers(0, 3, 500), rng.integers(0, 6, 500)])
    X[:200, 1] = np.minimum(X[:200, 1], 2)  # the first replica never sees categories 3-5
    y = (X[:, 0] + (X[:, 1] > 2) + rng.integers(0, 2, 500)) % 3
    blocks = _blocks(X, y, [100, 100, 150, 150])
    expected = _fold(CategoricalNB(), blocks, classes=[0, 1, 2])
    merged = merge_replicas(_replicas(CategoricalNB(), blocks, 2, classes=[0, 1, 2]))
    for got, want in zip(merged.category_count_, expected.category_count_):
        assert_array_equal(got, want)
    for got, want in zip(merged.feature_log_prob_, expected.feature_log_prob_):
        assert_allclose(got, want, rtol=1e-13)
    assert_array_equal(merged.n_categories_, [3, 6])
    assert_allclose(merged.predict_proba(X), expected.predict_proba(X), rtol=1e-12)


@pytest.mark.parametrize("estimator", [
    GaussianNB(var_smoothing=0.0), GaussianNB(priors=[0.5, 0.25, 0.25], var_smoothing=0.0),
    GaussianNB(), GaussianNB(var_smoothing=1e-3)], ids=repr)
@pytest.mark.parametrize("n_replicas", [2, 3, 7])
def test_gaussian_nb_merge_equals_sequential_fit(estimator, n_replicas):
    """GaussianNB replicas merge (Chan) to the sequential fit, var_ to sklearn's epsilon_ drift."""
    # theta_ to 1e-10 relative; var_ also within 2 var_smoothing x the largest block variance,
    # the drift of scikit-learn's own partial_fit (see merge_gaussian_nb).
    X, y = _gaussian_data(np.random.default_rng(3))
    y[:201] = np.where(y[:201] == 2, 0, y[:201])  # the first blocks never show class 2
    blocks = _blocks(X, y)
    expected = _fold(clone(estimator), blocks, classes=[0, 1, 2])
    merged = merge_replicas(_replicas(estimator, blocks, n_replicas, classes=[0, 1, 2]))
    assert_array_equal(merged.class_count_, expected.class_count_)
    assert merged.epsilon_ == expected.epsilon_
    assert_allclose(merged.theta_, expected.theta_, rtol=1e-10)
    assert_allclose(merged.class_prior_, expected.class_prior_, rtol=1e-10)
    drift = 2 * estimator.var_smoothing * max(b.var(axis=0).max() for b, _ in blocks)
    assert_allclose(merged.var_, expected.var_, rtol=1e-10, atol=drift)
    true_var = np.array([X[y == c].var(axis=0) for c in range(3)])
    assert_allclose(merged.var_ - merged.epsilon_, true_var, rtol=1e-10, atol=drift)
    assert_array_equal(merged.predict(X), expected.predict(X))


# -------------------------------------------------------------------- exact: IncrementalPCA
@pytest.mark.parametrize("n_components", [None, 6])
@pytest.mark.parametrize("n_replicas", [2, 3])
def test_full_rank_ipca_merge_equals_sequential_fit(n_components, n_replicas):
    """Full-rank IncrementalPCA replicas merge to the sequential fit within 1e-10 relative."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + rng.normal(size=6) * 100
    X[200:] += 3.0  # the blocks' means differ: the mean correction matters
    blocks = _blocks(X, sizes=[100, 100, 150, 150])
    estimator = IncrementalPCA(n_components=n_components)
    expected = _fold(clone(estimator), blocks)
    merged = merge_replicas(_replicas(estimator, blocks, n_replicas))
    assert merged.n_samples_seen_ == expected.n_samples_seen_ == 500
    for name in ("components_", "singular_values_", "mean_", "var_", "explained_variance_",
                 "explained_variance_ratio_"):
        assert_allclose(getattr(merged, name), getattr(expected, name), rtol=1e-10,
                        atol=1e-12 * np.abs(getattr(expected, name)).max(), err_msg=name)
    assert merged.noise_variance_ == 0.0
    assert_allclose(merged.transform(X), expected.transform(X), rtol=1e-9, atol=1e-9)


def _aligned(components, reference):
    signs = np.sign(np.sum(components * reference, axis=1))
    return components * signs[:, None]


def test_truncated_ipca_is_exact_on_data_of_that_rank():
    """Truncated IPCA merges exactly (vs PCA on all rows, 1e-9) when the data has that rank."""
    rng = np.random.default_rng(5)
    basis = rng.normal(size=(3, 8))
    X = (rng.normal(size=(600, 3)) * [5, 2, 1]) @ basis + rng.normal(size=8)
    X[300:] += 2 * basis[0]  # a mean shift inside the subspace keeps the rank 3
    blocks = _blocks(X, sizes=[150, 150, 150, 150])
    merged = merge_replicas(_replicas(IncrementalPCA(n_components=3), blocks, 2))
    pca = PCA(n_components=3, svd_solver="full").fit(X)
    assert_allclose(_aligned(merged.components_, pca.components_), pca.components_, atol=1e-9)
    assert_allclose(merged.explained_variance_, pca.explained_variance_, rtol=1e-9)
    assert_allclose(merged.explained_variance_ratio_, pca.explained_variance_ratio_, rtol=1e-9)
    assert merged.noise_variance_ < 1e-9 * pca.explained_variance_[0]


def test_truncated_ipca_stays_within_a_stated_bound_of_pca():
    """Truncated IPCA on noisy rank-3 data: merged and sequential within 1e-5 of PCA (variances)."""
    rng = np.random.default_rng(6)
    X = (rng.normal(size=(800, 3)) * [6, 4, 3]) @ rng.normal(size=(3, 10))
    X += rng.normal(scale=0.3, size=X.shape)
    blocks = _blocks(X, sizes=[200] * 4)
    merged = merge_replicas(_replicas(IncrementalPCA(n_components=3), blocks, 4))
    sequential = _fold(IncrementalPCA(n_components=3), blocks)
    pca = PCA(n_components=3, svd_solver="full").fit(X)
    for model in (merged, sequential):
        assert_allclose(model.explained_variance_, pca.explained_variance_, rtol=1e-5)
        # Largest sine of the principal angles between the two 3-d subspaces.
        cosines = np.linalg.svd(model.components_ @ pca.components_.T, compute_uv=False)
        assert np.sqrt(max(0.0, 1 - cosines.min() ** 2)) < 1e-4
    # The discarded variance comes from exact per-feature variances, so it matches PCA's
    # (scikit-learn's sequential estimate, from the last batch's residual, is 4x too small here).
    assert_allclose(merged.noise_variance_, pca.noise_variance_, rtol=1e-3)


# -------------------------------------------------------------------- centres: MiniBatchKMeans
def _kmeans_data(rng, n=600):
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0], [6.0, 6.0]])
    return centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 2)), centres


def test_center_counts_are_the_nearest_centre_counts():
    """center_counts equals a brute-force nearest-centre count, unfitted and fitted."""
    rng = np.random.default_rng(7)
    X, centres = _kmeans_data(rng)
    init = centres + rng.normal(scale=0.5, size=centres.shape)
    km = MiniBatchKMeans(4, init=init, reassignment_ratio=0, compute_labels=False)

    def brute(c):
        d = ((X[:, None, :] - c[None]) ** 2).sum(axis=2)
        return np.bincount(d.argmin(axis=1), minlength=4)

    assert_array_equal(center_counts(km, X), brute(init))
    km.partial_fit(X[:300])
    assert_array_equal(center_counts(km, X), brute(km.cluster_centers_))


@pytest.mark.parametrize("n_replicas", [2, 4])
def test_kmeans_one_step_merge_equals_one_step_on_all_rows(n_replicas):
    """Replicas taking one step each from shared centres merge to one step on all rows (1e-12)."""
    rng = np.random.default_rng(8)
    X, centres = _kmeans_data(rng)
    init = centres + rng.normal(scale=0.5, size=centres.shape)
    km = MiniBatchKMeans(4, init=init, reassignment_ratio=0)
    shares = np.array_split(X, n_replicas)
    weights = [center_counts(km, share) for share in shares]
    replicas = [clone(km).partial_fit(share) for share in shares]
    merged = merge_replicas(replicas, weights)
    expected = clone(km).partial_fit(X)
    assert_allclose(merged.cluster_centers_, expected.cluster_centers_, rtol=1e-12)
    assert not hasattr(merged, "labels_")
    assert_array_equal(merged.predict(X), expected.predict(X))


def test_kmeans_rounds_with_restarts_stay_near_the_sequential_fit():
    """Four rounds of 2 replicas with restarts: inertia within 1% of the sequential fit's."""
    rng = np.random.default_rng(9)
    X, centres = _kmeans_data(rng, n=1600)
    init = centres + rng.normal(scale=1.0, size=centres.shape)
    km = MiniBatchKMeans(4, init=init, reassignment_ratio=0, compute_labels=False)
    blocks = np.array_split(X, 8)
    sequential = _fold(clone(km), [(b, None) for b in blocks])
    replicas, merged, carried = [clone(km), clone(km)], None, None
    for r in range(4):
        weights = []
        for replica, block in zip(replicas, blocks[2 * r:2 * r + 2]):
            weights.append(center_counts(replica, block))
            replica.partial_fit(block)
        if merged is None:
            merged, carried = merge_replicas(replicas, weights), np.sum(weights, axis=0)
        else:
            merged = merge_replicas([merged, *replicas], [carried, *weights])
            carried = carried + np.sum(weights, axis=0)
        replicas = restart_replicas(merged, 2)
    assert carried.sum() == len(X)
    assert -merged.score(X) <= 1.01 * -sequential.score(X)


# ----------------------------------------------------------------------------- averaged families
def _classification(rng, n=500, p=4, n_classes=2):
    X = rng.normal(size=(n, p))
    y = np.argmax(X @ rng.normal(size=(p, n_classes)) + rng.normal(scale=0.3, size=(n, n_classes)),
                  axis=1)
    return X, y


def _regression(rng, n=500, p=4):
    X = rng.normal(size=(n, p))
    return X, X @ rng.normal(size=p) + 0.1 * rng.normal(size=n)


AVERAGED = [
    (SGDClassifier(random_state=0), "binary"),
    (SGDClassifier(loss="log_loss", random_state=0), "multiclass"),
    (SGDRegressor(random_state=0), "regression"),
    (Perceptron(random_state=0), "multiclass"),
    (SGDClassifier(loss="hinge", penalty=None, learning_rate="pa1", eta0=1.0, random_state=0),
     "binary"),
    (MLPClassifier(hidden_layer_sizes=(5,), random_state=0), "multiclass"),
    (MLPRegressor(hidden_layer_sizes=(4, 3), random_state=0), "regression"),
]
for _name, _task in (("PassiveAggressiveClassifier", "binary"),
                     ("PassiveAggressiveRegressor", "regression")):
    if hasattr(linear_model, _name):
        AVERAGED.append(pytest.param(_name, _task, marks=_PA, id=_name))


def _make(estimator):
    if isinstance(estimator, str):
        return getattr(linear_model, estimator)(random_state=0)
    return clone(estimator)


def _averaged_setup(estimator, task, n_replicas, seed=10):
    rng = np.random.default_rng(seed)
    if task == "regression":
        X, y = _regression(rng)
        kwargs = {}
    else:
        X, y = _classification(rng, n_classes=2 if task == "binary" else 3)
        kwargs = {"classes": np.unique(y)}
    blocks = _blocks(X, y)
    shares = _shares(blocks, n_replicas)
    replicas = [_fold(_make(estimator), share, **kwargs) for share in shares]
    rows = [sum(len(b[0]) for b in share) for share in shares]
    return X, y, blocks, kwargs, replicas, rows


def _parameters(model):
    if hasattr(model, "coefs_"):
        return list(model.coefs_) + list(model.intercepts_)
    return [model.coef_, model.intercept_]


@pytest.mark.parametrize("estimator, task", AVERAGED)
@pytest.mark.parametrize("n_replicas", [1, 2, 3])
def test_averaged_parameters_equal_the_weighted_average(estimator, task, n_replicas):
    """Averaged families: parameters are the rows-weighted mean; t_ counts every row learned."""
    X, y, blocks, kwargs, replicas, rows = _averaged_setup(estimator, task, n_replicas)
    merged = merge_replicas(replicas, rows)
    for i, got in enumerate(_parameters(merged)):
        want = np.average([_parameters(r)[i] for r in replicas], axis=0, weights=rows)
        assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    sequential = _fold(_make(estimator), blocks, **kwargs)
    assert merged.t_ == sequential.t_  # the schedule goes on as after one pass over all rows
    if n_replicas == 1:
        for got, want in zip(_parameters(merged), _parameters(sequential)):
            assert_array_equal(got, want)
    # The merged model predicts and scores with its public methods. A linear model also beats
    # one that knows nothing (the majority class; R^2 = 0); an MLP learns too little in one
    # pass over 500 rows for that to say anything.
    assert merged.predict(X).shape == y.shape
    score = merged.score(X, y)
    if hasattr(merged, "coefs_"):
        assert np.isfinite(score)
    else:
        assert score > (0.0 if task == "regression" else np.bincount(y).max() / len(y))


@pytest.mark.parametrize("estimator, task", AVERAGED[:2] + AVERAGED[5:6])
def test_training_goes_on_from_restarted_replicas(estimator, task):
    """After restart_replicas, rows since the restart are the weights; total rows are refused."""
    X, y, blocks, kwargs, replicas, rows = _averaged_setup(estimator, task, 2)
    merged = merge_replicas(replicas, rows)
    replicas = restart_replicas(merged, 2)
    for replica in replicas:
        for got, want in zip(_parameters(replica), _parameters(merged)):
            assert_array_equal(got, want)
    replicas[0].partial_fit(X[:50], y[:50])
    replicas[1].partial_fit(X[50:80], y[50:80])
    second = merge_replicas(replicas, [50, 30])
    assert second.t_ == merged.t_ + 80
    with pytest.raises(ValueError, match="did not start from one state"):
        merge_replicas(replicas, [rows[0] + 50, rows[1] + 30])


def test_statistics_rounds_with_restarts_equal_the_sequential_fit():
    """GaussianNB over two rounds of restarted replicas, merged with the last model: 1e-10."""
    X, y = _gaussian_data(np.random.default_rng(11))
    blocks = _blocks(X, y, [100, 100, 100, 100, 100])
    # No smoothing: scikit-learn's epsilon_ drift (see above) is not what this test is about.
    nb = GaussianNB(var_smoothing=0.0)
    expected = _fold(clone(nb), blocks, classes=[0, 1, 2])
    replicas = [_fold(clone(nb), [b], classes=[0, 1, 2]) for b in blocks[:2]]
    merged = merge_replicas(replicas)
    replicas = restart_replicas(merged, 3)
    assert not any(hasattr(r, "theta_") for r in replicas)
    replicas = [_fold(r, [b], classes=[0, 1, 2]) for r, b in zip(replicas, blocks[2:])]
    merged = merge_replicas([merged, *replicas])
    assert_allclose(merged.theta_, expected.theta_, rtol=1e-10)
    assert_allclose(merged.var_, expected.var_, rtol=1e-10)


# ------------------------------------------------------------------------------- determinism
def _fresh_replicas(kind):
    rng = np.random.default_rng(12)
    if kind in ("sgd", "mlp"):
        X, y = _classification(rng)
        model = SGDClassifier(random_state=0) if kind == "sgd" else MLPClassifier(
            (4,), random_state=0)
        shares = _shares(_blocks(X, y), 3)
        rows = [sum(len(b[0]) for b in share) for share in shares]
        return [_fold(clone(model), share, classes=[0, 1]) for share in shares], rows
    if kind == "gnb":
        X, y = _gaussian_data(rng)
        return _replicas(GaussianNB(), _blocks(X, y), 3, classes=[0, 1, 2]), None
    if kind == "ipca":
        X = rng.normal(size=(500, 6))
        return _replicas(IncrementalPCA(n_components=2), _blocks(X), 3), None
    X, centres = _kmeans_data(rng)
    km = MiniBatchKMeans(4, init=centres + 0.3, reassignment_ratio=0)
    shares = np.array_split(X, 3)
    return ([clone(km).partial_fit(s) for s in shares], [center_counts(km, s) for s in shares])


@pytest.mark.parametrize("kind", ["sgd", "mlp", "gnb", "ipca", "kmeans"])
def test_merging_is_bit_for_bit_deterministic(kind):
    """Replicas built twice from the same seeds merge to bit-identical models."""
    first = merge_replicas(*_fresh_replicas(kind))
    second = merge_replicas(*_fresh_replicas(kind))
    names = [k for k, v in vars(first).items() if k.endswith("_") and not k.startswith("_")]
    assert names
    for name in names:
        a, b = getattr(first, name), getattr(second, name)
        for x, z in zip(a, b) if isinstance(a, list) else [(a, b)]:
            assert_array_equal(x, z, err_msg=name)


# ------------------------------------------------------------------------------------ refusals
def test_unsupported_estimator_is_named_with_the_supported_list():
    """An estimator with no merge rule is refused by name, listing what is supported."""
    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(TypeError, match=r"LinearRegression has no merge rule.*SGDClassifier"):
        merge_replicas([model, model])
    with pytest.raises(TypeError, match="LinearRegression"):
        merge_family(LinearRegression())
    assert {"GaussianNB", "IncrementalPCA", "MiniBatchKMeans", "MLPRegressor"} <= set(
        supported_estimators())


def test_subclass_merges_as_its_parent():
    """A subclass of a supported class finds its parent's rule."""
    class MyNB(MultinomialNB):
        pass

    X, y = _counts_data(np.random.default_rng(13))
    merged = merge_replicas([MyNB().partial_fit(X[:250], y[:250], classes=[0, 1, 2]),
                             MyNB().partial_fit(X[250:], y[250:], classes=[0, 1, 2])])
    assert_array_equal(merged.feature_count_, MultinomialNB().fit(X, y).feature_count_)


@pytest.mark.parametrize("estimator", [GaussianNB(), SGDClassifier(random_state=0)], ids=repr)
def test_replicas_with_different_classes_are_refused(estimator):
    """Replicas that learned different classes_ are refused, telling to pass classes=."""
    X, y = _classification(np.random.default_rng(14), n_classes=3)
    a = clone(estimator).partial_fit(X, y, classes=[0, 1, 2])
    b = clone(estimator).partial_fit(X[y < 2], y[y < 2], classes=[0, 1])
    with pytest.raises(ValueError, match=r"classes_.*pass classes="):
        merge_replicas([a, b], [len(y), int((y < 2).sum())])


@pytest.mark.parametrize("replicas, weights, match", [
    ([MultinomialNB(alpha=1.0), MultinomialNB(alpha=2.0)], None, "differs from replica 0 in alpha"),
    ([SGDClassifier(), SGDClassifier()], None, "pass weights="),
    ([SGDClassifier(), SGDClassifier()], [1.0], r"shape \(2,\)"),
    ([SGDClassifier(), SGDClassifier()], [0.0, 0.0], "not all zero"),
    ([SGDClassifier(), SGDClassifier()], [100, -1], "non-negative"),
    ([SGDClassifier(), Perceptron()], [1, 1], "replicas must be clones"),
    ([SGDClassifier(average=True), SGDClassifier(average=True)], [100, 100], "average=True"),
], ids=["config", "no-weights", "weights-shape", "zero-weights", "negative", "types", "average"])
def test_replicas_that_cannot_be_one_model_are_refused(replicas, weights, match):
    """Differently configured replicas, replicas of two classes and bad weights are refused."""
    X, y = _counts_data(np.random.default_rng(15), n_classes=2, n=100)
    fitted = [r.partial_fit(X, y, classes=[0, 1]) for r in replicas]
    with pytest.raises((ValueError, TypeError), match=match):
        merge_replicas(fitted, weights)


def test_unfitted_and_diverged_replicas_are_refused():
    """An unfitted replica and one whose parameters hold NaN are refused with the fix."""
    X, y = _classification(np.random.default_rng(16))
    fitted = SGDClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="replica 1 .* is not fitted"):
        merge_replicas([fitted, SGDClassifier()], [500, 0])
    broken = copy.deepcopy(fitted)
    broken.coef_ = np.full_like(fitted.coef_, np.nan)
    with pytest.raises(ValueError, match="diverged"):
        merge_replicas([fitted, broken], [500, 500])


@pytest.mark.parametrize("kwargs, match", [
    ({"init": "k-means++"}, "same init="),
    ({"reassignment_ratio": 0.01}, "reassignment_ratio=0"),
])
def test_kmeans_configurations_without_corresponding_centres_are_refused(kwargs, match):
    """k-means replicas that could not keep centre j meaning the same centre are refused."""
    params = {"init": np.zeros((2, 2)), "reassignment_ratio": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        merge_family(MiniBatchKMeans(2, **params))


def test_kmeans_replicas_from_different_centres_or_without_counts_are_refused():
    """k-means replicas started from different centres, or merged without counts, are refused."""
    X, _ = _kmeans_data(np.random.default_rng(17))
    a = MiniBatchKMeans(2, init=np.zeros((2, 2)) + [[0], [5]], reassignment_ratio=0).partial_fit(X)
    b = MiniBatchKMeans(2, init=np.zeros((2, 2)) + [[1], [5]], reassignment_ratio=0).partial_fit(X)
    with pytest.raises(ValueError, match="same centres"):
        merge_replicas([a, b], np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        merge_replicas([a, clone(a).partial_fit(X)], [1, 1])


def test_restart_replicas_by_family():
    """Restarts: averaged families copy the model, statistics restart empty, k-means at centres."""
    X, centres = _kmeans_data(np.random.default_rng(18))
    km = MiniBatchKMeans(4, init=centres, reassignment_ratio=0).partial_fit(X)
    for replica in restart_replicas(km, 2):
        assert_array_equal(replica.init, km.cluster_centers_)
        assert not hasattr(replica, "cluster_centers_")
    nb = GaussianNB().fit(X, X[:, 0] > 3)
    assert [merge_family(r) for r in restart_replicas(nb, 2)] == ["statistics"] * 2
    assert merge_family(SGDRegressor()) == "parameters"
    assert merge_family(km) == "centres"
