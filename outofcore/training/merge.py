"""Merge replicas of one estimator, fitted data-parallel on disjoint rows, into one estimator.

A data-parallel fit runs K replicas of an estimator, each folding ``partial_fit`` over its own
share of the blocks, and merges them every few blocks and at the end of every epoch. How to merge
depends on the family of the estimator (:func:`merge_family`):

``"statistics"`` (exact)
    MultinomialNB, BernoulliNB, ComplementNB, CategoricalNB, GaussianNB, IncrementalPCA: the model
    is a sum of statistics over rows, and the merge adds them up. Merging replicas fitted on
    disjoint blocks gives the model one ``partial_fit`` loop over all the blocks gives (to
    rounding; IncrementalPCA only when it keeps every component). ``weights`` is not used: the
    statistics carry their own counts.
``"parameters"`` (averaged)
    SGDClassifier, SGDRegressor, Perceptron, PassiveAggressiveClassifier/Regressor,
    MLPClassifier, MLPRegressor: the parameters are averaged, weighted by the rows each replica
    learned from since the replicas last started from one state (Zinkevich et al. 2010, McDonald
    et al. 2010). Not equal to a sequential fit: an approximation whose cost in accuracy
    ``benchmarks/bench_replicas.py`` measures.
``"centres"`` (averaged per centre)
    MiniBatchKMeans: each centre is the average of the replicas' centres weighted by the rows
    each assigned to it (:func:`center_counts`). Replicas must start from the same centres
    (``init`` an array) and not reassign centres (``reassignment_ratio=0``).

The fold that drives replicas, for every family::

    family = merge_family(estimator)                 # fails early on what cannot be merged
    replicas = [clone(estimator) for _ in range(K)]
    merged, carried = None, None
    for each round:                                  # merge_every blocks per replica
        fit replica k on its blocks; weights[k] = its rows (centres: sum of center_counts)
        replicas, weights = those that saw rows this round, in replica order
        if family != "parameters" and merged is not None:
            # these replicas restarted empty: the merged model holds everything before them
            merged = merge_replicas([merged, *replicas], [carried, *weights])
        else:
            merged = merge_replicas(replicas, weights)
        carried = sum of the weights so far          # centres only
        replicas = restart_replicas(merged, K)

The replicas' order is part of the result (sums and averages run in that order): the same
replicas in the same order give bit-identical models. Pass them in block order (replica k holds
the k-th share) so that GaussianNB's smoothing comes from the latest block, as in a sequential
fit.

References
----------
M. Zinkevich, M. Weimer, A. Smola and L. Li, "Parallelized stochastic gradient descent",
NeurIPS 2010.
R. McDonald, K. Hall and G. Mann, "Distributed training strategies for the structured
perceptron", NAACL 2010.
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise algorithm for
computing sample variances", Stanford CS tech report STAN-CS-79-773, 1979.
"""

import copy
from collections import namedtuple

import numpy as np
from sklearn import cluster, decomposition, linear_model, naive_bayes, neural_network
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import pairwise_distances_argmin
from sklearn.utils.validation import check_is_fitted

from . import _merge_parameters as params
from . import _merge_statistics as stats

__all__ = ["center_counts", "merge_family", "merge_replicas", "restart_replicas",
           "supported_estimators"]

_Rule = namedtuple("_Rule", "family merge check")

# Classes are looked up by name, so that a class scikit-learn removes (PassiveAggressive* go in
# 1.10) drops out of the registry instead of breaking the import.
_RULES_BY_NAME = [
    (naive_bayes, "MultinomialNB", _Rule("statistics", stats.merge_multinomial_nb, None)),
    (naive_bayes, "BernoulliNB", _Rule("statistics", stats.merge_bernoulli_nb, None)),
    (naive_bayes, "ComplementNB", _Rule("statistics", stats.merge_complement_nb, None)),
    (naive_bayes, "CategoricalNB", _Rule("statistics", stats.merge_categorical_nb, None)),
    (naive_bayes, "GaussianNB", _Rule("statistics", stats.merge_gaussian_nb, None)),
    (decomposition, "IncrementalPCA", _Rule("statistics", stats.merge_incremental_pca, None)),
    (linear_model, "SGDClassifier",
     _Rule("parameters", params.merge_sgd_linear, params.check_sgd_linear)),
    (linear_model, "SGDRegressor",
     _Rule("parameters", params.merge_sgd_linear, params.check_sgd_linear)),
    (linear_model, "Perceptron",
     _Rule("parameters", params.merge_sgd_linear, params.check_sgd_linear)),
    (linear_model, "PassiveAggressiveClassifier",
     _Rule("parameters", params.merge_sgd_linear, params.check_sgd_linear)),
    (linear_model, "PassiveAggressiveRegressor",
     _Rule("parameters", params.merge_sgd_linear, params.check_sgd_linear)),
    (neural_network, "MLPClassifier", _Rule("parameters", params.merge_mlp, None)),
    (neural_network, "MLPRegressor", _Rule("parameters", params.merge_mlp, None)),
    (cluster, "MiniBatchKMeans",
     _Rule("centres", params.merge_kmeans_centres, params.check_kmeans)),
]
_RULES = {getattr(module, name): rule for module, name, rule in _RULES_BY_NAME
          if getattr(module, name, None) is not None}

# Parameters that replicas may hold differently without their models meaning different things.
_FREE_PARAMETERS = frozenset({"random_state", "verbose", "n_jobs"})


def supported_estimators():
    """Names of the estimator classes :func:`merge_replicas` can merge, sorted.

    Examples
    --------
    >>> from outofcore.training.merge import supported_estimators
    >>> "SGDClassifier" in supported_estimators()
    True
    """
    return sorted(cls.__name__ for cls in _RULES)


def _rule(estimator):
    # The nearest registered class in the MRO, so that a subclass merges as its parent does.
    for cls in type(estimator).__mro__:
        if cls in _RULES:
            return _RULES[cls]
    raise TypeError(
        f"{type(estimator).__name__} has no merge rule, so its replicas cannot be merged; fit it "
        f"sequentially. Supported: {', '.join(supported_estimators())}.")


def merge_family(estimator):
    """How replicas of ``estimator`` merge: ``"statistics"``, ``"parameters"`` or ``"centres"``.

    Also checks that the configuration can be merged at all (SGD with ``average``, k-means
    without a shared ``init`` array or with reassignment cannot), so that a fit fails before it
    spends an epoch.

    Parameters
    ----------
    estimator : estimator
        Fitted or not.

    Returns
    -------
    family : str
        ``"statistics"`` (exact: counts and moments add up), ``"parameters"`` (weighted average
        of the parameters) or ``"centres"`` (k-means centres averaged per centre).

    Raises
    ------
    TypeError
        When the class has no merge rule; the message lists the supported classes.
    ValueError
        When the configuration cannot be merged; the message says what to change.

    Examples
    --------
    >>> from sklearn.naive_bayes import GaussianNB
    >>> from outofcore.training.merge import merge_family
    >>> merge_family(GaussianNB())
    'statistics'
    """
    rule = _rule(estimator)
    if rule.check is not None:
        rule.check(estimator)
    return rule.family


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    try:
        return bool(a == b)
    except ValueError:  # sequences holding arrays
        return np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def _check_replicas(replicas, rule):
    first = replicas[0]
    name = type(first).__name__
    free = _FREE_PARAMETERS | ({"init", "n_init"} if rule.family == "centres" else set())
    reference = first.get_params(deep=False)
    for i, r in enumerate(replicas):
        if type(r) is not type(first):
            raise TypeError(f"replica {i} is a {type(r).__name__} but replica 0 is a {name}: "
                            "replicas must be clones of one estimator.")
        try:
            check_is_fitted(r)
        except NotFittedError:
            raise ValueError(f"replica {i} ({name}) is not fitted: leave out replicas that saw "
                             "no rows since they were restarted.") from None
        params_i = r.get_params(deep=False)
        differ = sorted(k for k in reference if k not in free
                        and not _same(reference[k], params_i.get(k)))
        if differ:
            raise ValueError(
                f"replica {i} differs from replica 0 in {', '.join(differ)}: replicas must be "
                f"clones of one {name} (only {', '.join(sorted(free))} may differ).")
        for attribute, fix in (
                ("n_features_in_", "feed every replica the same columns"),
                ("feature_names_in_", "feed every replica the same columns"),
                ("classes_", "pass classes=<every class> to each replica's first partial_fit")):
            mine, theirs = getattr(first, attribute, None), getattr(r, attribute, None)
            if not _same(mine, theirs):
                raise ValueError(f"replica {i} has {attribute}={theirs!r} but replica 0 has "
                                 f"{mine!r}: {fix}.")
    for attribute in ("components_", "coef_", "cluster_centers_"):
        shapes = [np.shape(getattr(r, attribute)) for r in replicas if hasattr(r, attribute)]
        if any(shape != shapes[0] for shape in shapes):
            raise ValueError(f"the replicas' {attribute} have shapes {shapes}: they learned "
                             "different model sizes; fix n_components / classes and fit again.")


def _rows(weights, replicas):
    name = type(replicas[0]).__name__
    if weights is None:
        raise ValueError(f"{name} replicas are averaged by the rows each learned from since "
                         "they were last restarted: pass weights=<one row count per replica>.")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(replicas),):
        raise ValueError(f"weights has shape {w.shape}; {name} needs one row count per replica, "
                         f"shape ({len(replicas)},).")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() == 0:
        raise ValueError(f"weights must be finite, non-negative and not all zero; got {w}.")
    return w


def _centre_counts(weights, replicas):
    n_clusters = replicas[0].n_clusters
    if weights is None:
        raise ValueError("MiniBatchKMeans replicas are averaged centre by centre: pass "
                         f"weights=<array of shape ({len(replicas)}, {n_clusters})>, each row "
                         "the sum of center_counts over the blocks that replica learned from.")
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(replicas), n_clusters):
        raise ValueError(f"weights has shape {w.shape}; MiniBatchKMeans needs one count per "
                         f"replica and centre, shape ({len(replicas)}, {n_clusters}) "
                         "(center_counts gives one row).")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"weights must be finite and non-negative; got {w}.")
    return w


def merge_replicas(replicas, weights=None):
    """One fitted estimator from K fitted replicas of the same estimator.

    Parameters
    ----------
    replicas : sequence of fitted estimators
        Clones of one estimator (only ``random_state``, ``verbose`` and ``n_jobs`` may differ),
        each fitted with ``partial_fit`` on its own rows. Classifiers must all have been given
        the same ``classes=``. The order matters to the last bit (see the module docstring).
        For ``"statistics"`` and ``"centres"`` families the replicas must hold disjoint rows:
        a replica restarted from a merged model would count that model's rows twice, so
        :func:`restart_replicas` restarts them empty and the next merge takes the merged model
        as one more input.
    weights : array-like, optional
        ``"parameters"`` family: shape (K,), the rows each replica learned from since the
        replicas last started from one state (for SGD and MLP the counter ``t_`` checks it).
        ``"centres"``: shape (K, n_clusters), the weight each replica assigned to each centre
        since it started (:func:`center_counts`); for a merged model passed as an input, the
        sum of every count merged into it. ``"statistics"``: not used.

    Returns
    -------
    merged : estimator
        A new fitted estimator; the replicas are left as they were. Fitted state that a merge
        does not define (an MLP's optimizer state, its ``loss_curve_``, SGD's ``n_iter_``) is the
        first replica's.

    Raises
    ------
    TypeError
        For a class with no merge rule (the message lists the supported classes), or replicas
        of different classes.
    ValueError
        For replicas that cannot be one model: unfitted, configured differently, with different
        classes or features, diverged (NaN), started from different states, or bad weights.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import clone
    >>> from sklearn.linear_model import SGDClassifier
    >>> from outofcore.training.merge import merge_replicas
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 3)); y = (X[:, 0] > 0).astype(int)
    >>> replicas = [clone(SGDClassifier(random_state=0)) for _ in range(2)]
    >>> for replica, rows in zip(replicas, (slice(0, 300), slice(300, 400))):
    ...     _ = replica.partial_fit(X[rows], y[rows], classes=[0, 1])
    >>> merged = merge_replicas(replicas, weights=[300, 100])
    >>> bool(np.allclose(merged.coef_, (300 * replicas[0].coef_ + 100 * replicas[1].coef_) / 400))
    True

    References
    ----------
    Zinkevich et al. 2010, McDonald et al. 2010, Chan et al. 1979 (see the module docstring).
    """
    replicas = list(replicas)
    if not replicas:
        raise ValueError("merge_replicas needs at least one replica.")
    rule = _rule(replicas[0])
    _check_replicas(replicas, rule)
    for r in replicas:
        if rule.check is not None:
            rule.check(r)
    if rule.family == "parameters":
        weights = _rows(weights, replicas)
    elif rule.family == "centres":
        params.check_kmeans_starts(replicas)
        weights = _centre_counts(weights, replicas)
    return rule.merge(replicas, weights)


def restart_replicas(merged, n_replicas):
    """Replicas that go on learning after a merge.

    ``"parameters"``: copies of the merged model, which go on from its parameters.
    ``"statistics"``: empty clones, since a copy would count the merged rows again; merge them
    later together with ``merged``. ``"centres"``: empty clones whose ``init`` is the merged
    centres, so that centres still correspond; merge them later with ``merged`` and its counts.

    Parameters
    ----------
    merged : fitted estimator
        What :func:`merge_replicas` returned.
    n_replicas : int
        How many replicas to make.

    Returns
    -------
    replicas : list of estimators

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.naive_bayes import MultinomialNB
    >>> from outofcore.training.merge import restart_replicas
    >>> nb = MultinomialNB().fit(np.eye(3), [0, 1, 1])
    >>> [hasattr(r, "class_count_") for r in restart_replicas(nb, 2)]
    [False, False]
    """
    family = merge_family(merged)
    if family == "parameters":
        return [copy.deepcopy(merged) for _ in range(n_replicas)]
    if family == "centres":
        centres = np.array(merged.cluster_centers_)
        # An explicit init with n_init > 1 makes scikit-learn warn and run it once anyway.
        return [clone(merged).set_params(init=centres.copy(), n_init=1)
                for _ in range(n_replicas)]
    return [clone(merged) for _ in range(n_replicas)]


def center_counts(kmeans, X, sample_weight=None):
    """The weight ``kmeans.partial_fit(X)`` will add to each centre; call it just before.

    MiniBatchKMeans moves each centre to the mean of the rows assigned to it so far, assigning
    each block with the centres from before that block. Its own per-centre counts are private,
    so this computes them from public methods: the labels of ``X`` under the current centres
    (``predict``; for an unfitted estimator, the nearest row of its ``init`` array). It costs one
    more assignment pass per block, as ``compute_labels=True`` (the default) already does after
    each block; set ``compute_labels=False`` on replicas to pay for one pass, not two.

    Parameters
    ----------
    kmeans : MiniBatchKMeans
        Fitted, or unfitted with an array ``init``.
    X : array-like of shape (n_samples, n_features)
        The block about to be passed to ``partial_fit``.
    sample_weight : array-like of shape (n_samples,), optional
        The weights about to be passed with it.

    Returns
    -------
    counts : ndarray of shape (n_clusters,)
        Float64 weight per centre.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import MiniBatchKMeans
    >>> from outofcore.training.merge import center_counts
    >>> km = MiniBatchKMeans(2, init=np.array([[0.0], [10.0]]), reassignment_ratio=0)
    >>> center_counts(km, np.array([[1.0], [2.0], [9.0]]))
    array([2., 1.])
    """
    merge_family(kmeans)
    if hasattr(kmeans, "cluster_centers_"):
        labels = kmeans.predict(X)
    else:
        X = np.asarray(X)
        # The centres take the block's dtype inside partial_fit; so do they here.
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        labels = pairwise_distances_argmin(X.astype(dtype, copy=False),
                                           np.asarray(kmeans.init, dtype=dtype))
    return np.bincount(labels, weights=sample_weight, minlength=kmeans.n_clusters).astype(
        np.float64)
