"""Exact merges of models that are sums of statistics: naive Bayes counts and moments, IPCA.

Each ``merge_*`` function takes replicas already checked by :mod:`outofcore.training.merge` (same
class, same configuration, fitted, same features and classes), whose statistics cover disjoint
rows, and returns a new fitted estimator holding the statistics of all their rows. Sums run in the
order of the replicas, in float64, so the same replicas in the same order give the same bits.
Derived attributes are recomputed by the formulas scikit-learn documents for each class, written
as scikit-learn writes them so that equal counts give equal log-probabilities.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Updating formulae and a pairwise algorithm for
computing sample variances", Stanford CS tech report STAN-CS-79-773, 1979.
D. A. Ross, J. Lim, R.-S. Lin and M.-H. Yang, "Incremental learning for robust visual tracking",
International Journal of Computer Vision 77, 125-141, 2008.
"""

import copy
from numbers import Real

import numpy as np
from scipy import linalg

# scikit-learn raises alpha to this floor when force_alpha=False (its `force_alpha` docs).
_ALPHA_FLOOR = 1e-10


def _summed(arrays):
    """Element-wise sum in float64, in the order given."""
    total = np.array(arrays[0], dtype=np.float64)
    for array in arrays[1:]:
        total += array
    return total


def _alpha(estimator):
    alpha = estimator.alpha
    alpha = alpha if isinstance(alpha, Real) else np.asarray(alpha)
    # The replicas already warned about a tiny alpha while they were fitted; no second warning.
    if not estimator.force_alpha and np.min(alpha) < _ALPHA_FLOOR:
        alpha = np.maximum(alpha, _ALPHA_FLOOR)
    return alpha


def _class_log_prior(estimator, class_count):
    n_classes = len(class_count)
    if estimator.class_prior is not None:
        return np.log(estimator.class_prior)
    if estimator.fit_prior:
        # A class that no row had gets log(0) = -inf, as scikit-learn gives it.
        with np.errstate(divide="ignore"):
            log_count = np.log(class_count)
        return log_count - np.log(class_count.sum())
    return np.full(n_classes, -np.log(n_classes))


def _merge_discrete_nb(replicas, feature_log_prob):
    merged = copy.deepcopy(replicas[0])
    merged.feature_count_ = _summed([r.feature_count_ for r in replicas])
    merged.class_count_ = _summed([r.class_count_ for r in replicas])
    if hasattr(merged, "feature_all_"):  # ComplementNB's per-feature total over classes
        merged.feature_all_ = merged.feature_count_.sum(axis=0)
    merged.feature_log_prob_ = feature_log_prob(merged, _alpha(merged))
    merged.class_log_prior_ = _class_log_prior(merged, merged.class_count_)
    return merged


def _multinomial_log_prob(nb, alpha):
    smoothed_fc = nb.feature_count_ + alpha
    smoothed_cc = smoothed_fc.sum(axis=1)
    return np.log(smoothed_fc) - np.log(smoothed_cc.reshape(-1, 1))


def _bernoulli_log_prob(nb, alpha):
    smoothed_fc = nb.feature_count_ + alpha
    smoothed_cc = nb.class_count_ + alpha * 2
    return np.log(smoothed_fc) - np.log(smoothed_cc.reshape(-1, 1))


def _complement_log_prob(nb, alpha):
    comp_count = nb.feature_all_ + alpha - nb.feature_count_
    logged = np.log(comp_count / comp_count.sum(axis=1, keepdims=True))
    return logged / logged.sum(axis=1, keepdims=True) if nb.norm else -logged


def merge_multinomial_nb(replicas, weights):
    """MultinomialNB: feature and class counts add up."""
    return _merge_discrete_nb(replicas, _multinomial_log_prob)


def merge_bernoulli_nb(replicas, weights):
    """BernoulliNB: counts of ones per class add up."""
    return _merge_discrete_nb(replicas, _bernoulli_log_prob)


def merge_complement_nb(replicas, weights):
    """ComplementNB: feature counts add up; ``feature_all_`` is their sum over classes."""
    return _merge_discrete_nb(replicas, _complement_log_prob)


def merge_categorical_nb(replicas, weights):
    """CategoricalNB: per-feature category counts add up, padded to the widest replica.

    ``n_categories_`` becomes the width of each merged count table: the number of categories
    seen by any replica. A sequential ``partial_fit`` loop sets it from the last block alone
    (its count tables still keep every category), so the two may differ there, and only there.
    """
    merged = copy.deepcopy(replicas[0])
    n_classes = len(merged.classes_)
    category_count = []
    for i in range(merged.n_features_in_):
        width = max(r.category_count_[i].shape[1] for r in replicas)
        total = np.zeros((n_classes, width))
        for r in replicas:
            counts = r.category_count_[i]
            total[:, :counts.shape[1]] += counts
        category_count.append(total)
    merged.category_count_ = category_count
    merged.class_count_ = _summed([r.class_count_ for r in replicas])
    merged.n_categories_ = np.array([c.shape[1] for c in category_count], dtype=np.int64)
    alpha = _alpha(merged)
    log_prob = []
    for counts in category_count:
        smoothed_cat_count = counts + alpha
        smoothed_class_count = smoothed_cat_count.sum(axis=1)
        log_prob.append(np.log(smoothed_cat_count) - np.log(smoothed_class_count.reshape(-1, 1)))
    merged.feature_log_prob_ = log_prob
    merged.class_log_prior_ = _class_log_prior(merged, merged.class_count_)
    return merged


def merge_gaussian_nb(replicas, weights):
    """GaussianNB: per-class means and variances merged with Chan et al.'s pairwise formula.

    scikit-learn stores ``var_`` plus ``epsilon_``, a smoothing it recomputes from each block
    (``var_smoothing`` times the largest feature variance of the latest block). Each replica's
    own ``epsilon_`` comes off before the merge; the merged model adds the last replica's, the one
    that saw the latest block when the replicas are passed in block order, so merging replicas
    fitted on consecutive runs of blocks equals one ``partial_fit`` loop over all of them.

    That equality holds to rounding with ``var_smoothing=0``. Otherwise it holds to about
    ``var_smoothing`` times the largest feature variance: scikit-learn 1.9's ``partial_fit``
    takes off the new block's ``epsilon_`` rather than the one it added before, so its
    ``var_`` drifts from the exact variance plus ``epsilon_`` by the change of ``epsilon_``
    between blocks, in the sequential fit and in each replica alike.
    """
    merged = copy.deepcopy(replicas[0])
    first = replicas[0]
    n = np.array(first.class_count_, dtype=np.float64)
    mu = np.array(first.theta_, dtype=np.float64)
    var = np.asarray(first.var_, dtype=np.float64) - first.epsilon_
    for r in replicas[1:]:
        n_new = np.asarray(r.class_count_, dtype=np.float64)
        mu_new = np.asarray(r.theta_, dtype=np.float64)
        var_new = np.asarray(r.var_, dtype=np.float64) - r.epsilon_
        n_total = n + n_new
        with np.errstate(divide="ignore", invalid="ignore"):
            total_mu = (n_new[:, None] * mu_new + n[:, None] * mu) / n_total[:, None]
            total_ssd = (n[:, None] * var + n_new[:, None] * var_new
                         + (n_new * n / n_total)[:, None] * (mu - mu_new) ** 2)
            total_var = total_ssd / n_total[:, None]
        # Where one side has no rows of a class, take the other side as it is, as scikit-learn
        # does: (n * mu) / n need not give back mu's last bit.
        past_empty, new_empty = (n == 0)[:, None], (n_new == 0)[:, None]
        mu = np.where(past_empty, mu_new, np.where(new_empty, mu, total_mu))
        var = np.where(past_empty, var_new, np.where(new_empty, var, total_var))
        n = n_total
    epsilon = replicas[-1].epsilon_
    dtype = first.theta_.dtype
    merged.theta_ = mu.astype(dtype)
    merged.var_ = (var + epsilon).astype(dtype)
    merged.class_count_ = n.astype(first.class_count_.dtype)
    merged.epsilon_ = epsilon
    if merged.priors is None:
        merged.class_prior_ = merged.class_count_ / merged.class_count_.sum()
    return merged


def merge_incremental_pca(replicas, weights):
    """IncrementalPCA: the replicas' low-rank scatters and the spread of their means, one SVD.

    The scatter of the union about its mean is the sum of each replica's scatter about its own
    mean (``components_.T @ diag(singular_values_**2) @ components_`` when it keeps every
    component) plus ``n_k (mean_k - mean) (mean_k - mean).T``. Stacking the scaled components and
    the rows ``sqrt(n_k) (mean_k - mean)`` and taking one SVD is how IncrementalPCA itself merges a
    batch; with every component kept it is exact. With fewer, each replica has already dropped its
    trailing directions, as the sequential fit drops them at every batch: both are approximations
    of the PCA of all rows and neither equals the other. ``noise_variance_`` is the mean of the
    discarded variance, from the exact per-feature variances (``var_``): what PCA reports for the
    same components.
    """
    merged = copy.deepcopy(replicas[0])
    counts = [int(r.n_samples_seen_) for r in replicas]
    n = sum(counts)
    n_features = replicas[0].components_.shape[1]
    mean = np.zeros(n_features)
    for count, r in zip(counts, replicas):
        mean += count * np.asarray(r.mean_, dtype=np.float64)
    mean /= n
    m2 = np.zeros(n_features)
    for count, r in zip(counts, replicas):
        m2 += count * np.asarray(r.var_, dtype=np.float64)
        m2 += count * (np.asarray(r.mean_, dtype=np.float64) - mean) ** 2
    rows = [np.asarray(r.singular_values_, dtype=np.float64)[:, None] * r.components_
            for r in replicas]
    rows += [np.sqrt(count) * (np.asarray(r.mean_, dtype=np.float64) - mean)[None, :]
             for count, r in zip(counts, replicas)]
    _, s, vt = linalg.svd(np.vstack(rows), full_matrices=False, check_finite=False)
    # IncrementalPCA's sign convention (svd_flip with u_based_decision=False): the largest
    # absolute entry of each component is positive.
    vt *= np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])[:, None]
    k = merged.n_components_
    dtype = replicas[0].components_.dtype
    explained = s[:k] ** 2 / (n - 1)
    merged.components_ = vt[:k].astype(dtype)
    merged.singular_values_ = s[:k].astype(dtype)
    merged.mean_ = mean.astype(dtype)
    merged.var_ = (m2 / n).astype(dtype)
    merged.n_samples_seen_ = type(replicas[0].n_samples_seen_)(n)
    merged.explained_variance_ = explained.astype(dtype)
    merged.explained_variance_ratio_ = (s[:k] ** 2 / m2.sum()).astype(dtype)
    if k < n_features:
        # Rounding can leave a hair below zero when the data has rank k or less.
        merged.noise_variance_ = max((m2.sum() / (n - 1) - explained.sum()) / (n_features - k), 0.0)
    else:
        merged.noise_variance_ = 0.0
    return merged
