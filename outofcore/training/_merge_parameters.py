"""Weighted averages: linear models and MLPs learned by SGD, and mini-batch k-means centres.

Each ``merge_*`` function takes replicas already checked by :mod:`outofcore.training.merge` and
the weights it validated, and returns a new fitted estimator. Averages accumulate in float64 in
the order of the replicas and are cast back to the replicas' dtype, so the same replicas in the
same order give the same bits.

References
----------
R. McDonald, K. Hall and G. Mann, "Distributed training strategies for the structured
perceptron", NAACL 2010.
M. Zinkevich, M. Weimer, A. Smola and L. Li, "Parallelized stochastic gradient descent",
NeurIPS 2010.
D. Sculley, "Web-scale k-means clustering", WWW 2010.
"""

import copy

import numpy as np


def _weighted_mean(arrays, weights):
    # Shares first, so that one replica (a share of exactly 1.0) comes back bit for bit.
    shares = weights / weights.sum()
    total = np.zeros(np.shape(arrays[0]))
    for array, share in zip(arrays, shares):
        total += share * np.asarray(array, dtype=np.float64)
    return total.astype(np.asarray(arrays[0]).dtype)


def _check_finite(replicas, attribute):
    for i, r in enumerate(replicas):
        values = getattr(r, attribute)
        for array in values if isinstance(values, list) else [values]:
            if not np.all(np.isfinite(array)):
                raise ValueError(
                    f"replica {i}'s {attribute} holds NaN or infinity: it diverged, and an average "
                    "with it would too. Lower the learning rate (eta0 / learning_rate_init) or "
                    "scale the features, and fit again.")


def _steps_after_merge(replicas, weights):
    """The learning-rate counter ``t_`` of the merged model: the steps of all replicas.

    One ``partial_fit`` call adds its rows to ``t_``, so ``t_ - weights`` is the counter the
    replicas started from, the same for all of them when they started together and the weights
    are their rows since. The merged model continues from that start plus every replica's steps,
    so the ``optimal`` and ``invscaling`` schedules decay as in one sequential pass over the same
    rows. The alternative, the start plus the largest replica's steps (the schedule of one
    replica alone), kept steps larger and scored lower on held-out rows in
    ``benchmarks/bench_replicas.py --t-rule``.
    """
    starts = [float(r.t_) - w for r, w in zip(replicas, weights)]
    if any(start != starts[0] for start in starts):
        seen = ", ".join(f"t_={float(r.t_):g} with weight {w:g}" for r, w in zip(replicas, weights))
        raise ValueError(
            f"{type(replicas[0]).__name__} replicas did not start from one state, or weights are "
            f"not the rows each learned from since then ({seen}): restart every replica from the "
            "last merged model (restart_replicas) and pass as weights the rows each one's "
            "partial_fit calls saw since.")
    return type(replicas[0].t_)(starts[0] + weights.sum())


def merge_sgd_linear(replicas, weights):
    """SGDClassifier, SGDRegressor, Perceptron, PassiveAggressive*: ``coef_`` and ``intercept_``.

    Averaged with the rows each replica learned from since they started from one state; ``t_`` as
    :func:`_steps_after_merge` says. Other fitted state is the first replica's.
    """
    for name in ("coef_", "intercept_"):
        _check_finite(replicas, name)
    merged = copy.deepcopy(replicas[0])
    merged.t_ = _steps_after_merge(replicas, weights)
    merged.coef_ = _weighted_mean([r.coef_ for r in replicas], weights)
    merged.intercept_ = _weighted_mean([r.intercept_ for r in replicas], weights)
    return merged


def check_sgd_linear(estimator):
    if getattr(estimator, "average", False):
        raise ValueError(
            f"{type(estimator).__name__}(average={estimator.average!r}) keeps its running average "
            "and the plain iterate in private attributes that a merge cannot set, so a merged "
            "model would go on learning from the wrong iterate: use average=False with replicas "
            "(averaging the replicas already smooths the iterate), or fit sequentially.")


def merge_mlp(replicas, weights):
    """MLPClassifier, MLPRegressor: every layer's ``coefs_`` and ``intercepts_``, averaged.

    The optimizer's state (Adam's moment estimates, SGD's velocities) is private to scikit-learn
    and not averaged: the merged model carries the first replica's, so training that goes on from
    it goes on with that replica's moments. So do ``loss_``, ``loss_curve_``, ``best_loss_`` and
    ``n_iter_``, which describe that replica's fit. ``t_`` as :func:`_steps_after_merge` says.
    """
    for name in ("coefs_", "intercepts_"):
        _check_finite(replicas, name)
    merged = copy.deepcopy(replicas[0])
    merged.t_ = _steps_after_merge(replicas, weights)
    for name in ("coefs_", "intercepts_"):
        layers = zip(*(getattr(r, name) for r in replicas))
        setattr(merged, name, [_weighted_mean(list(layer), weights) for layer in layers])
    return merged


def merge_kmeans_centres(replicas, weights):
    """MiniBatchKMeans: each centre is the mean of the replicas' centres, weighted per centre.

    ``weights[k, j]`` is the weight of the rows replica ``k`` assigned to centre ``j`` since it
    started (:func:`outofcore.training.merge.center_counts`). A centre that no row went to keeps
    the first replica's position. ``labels_`` and ``inertia_``, which described one replica's
    last block, are removed: score the merged model on the rows you care about instead.
    """
    merged = copy.deepcopy(replicas[0])
    total = np.zeros(replicas[0].cluster_centers_.shape)
    weight = np.zeros(len(total))
    for r, w in zip(replicas, weights):
        total += w[:, None] * np.asarray(r.cluster_centers_, dtype=np.float64)
        weight += w
    centres = np.array(replicas[0].cluster_centers_, dtype=np.float64)
    seen = weight > 0
    centres[seen] = total[seen] / weight[seen, None]
    merged.cluster_centers_ = centres.astype(replicas[0].cluster_centers_.dtype)
    for name in ("labels_", "inertia_"):
        if hasattr(merged, name):
            delattr(merged, name)
    return merged


def check_kmeans(estimator):
    if isinstance(estimator.init, str) or callable(estimator.init):
        raise ValueError(
            f"MiniBatchKMeans(init={estimator.init!r}) lets each replica pick its own centres, so "
            "centre j of one replica has nothing to do with centre j of another: give every "
            "replica the same init=<array of shape (n_clusters, n_features)>, e.g. the centres "
            "of a k-means++ run on the first block.")
    if estimator.reassignment_ratio != 0:
        raise ValueError(
            f"MiniBatchKMeans(reassignment_ratio={estimator.reassignment_ratio!r}) moves a centre "
            "with few rows to a random row of the block, independently in each replica, which "
            "breaks the correspondence of centres between replicas (and replicas restart with no "
            "counts after every merge, so it would fire often): set reassignment_ratio=0.")


def check_kmeans_starts(replicas):
    """Replicas that started together share ``init``; after a merge, the merged centres."""
    inits = [np.asarray(r.init) for r in replicas]
    same = all(np.array_equal(inits[0], init) for init in inits[1:])
    restarted = len(replicas) > 1 and all(
        np.array_equal(replicas[0].cluster_centers_, init) for init in inits[1:])
    if not (same or restarted):
        raise ValueError(
            "MiniBatchKMeans replicas did not start from the same centres: give every replica "
            "the same init array, and after a merge restart them at the merged centres "
            "(restart_replicas) and pass the merged model first.")
