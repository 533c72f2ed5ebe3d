"""Converters for linear models, naive Bayes, k-means and MLPs: fitted attributes to NumPy records.

Formulas follow scikit-learn's ``decision_function`` / ``predict_proba`` / ``predict`` so results
agree to rounding. No torch here: ``_heads.py`` runs the records.
"""

import numpy as np

from ._convert_preprocessing import f64
from ._spec import Node, labels_to_json


def head_attrs(est, methods, ravel, **attrs):
    """A head's ``attrs`` with ``ravel`` (one output column returned 1-D), those of ``methods`` that
    ``est`` offers, its task and a classifier's labels."""
    # scikit-learn hides methods that a setting makes meaningless (predict_proba of a hinge-loss
    # SGD) behind ``available_if``; hasattr honours that, so the compiled model offers the same set.
    attrs.update(ravel=bool(ravel), methods=[m for m in methods if hasattr(est, m)])
    if hasattr(est, "classes_"):
        return dict(attrs, task="classifier", classes=labels_to_json(est.classes_))
    return dict(attrs, task="regressor")


def linear_head(est, proba, weight, bias, ravel=None):
    """A ``linear_model`` head: scores ``x @ weight + bias``, then the link named by ``proba``."""
    weight = f64(weight)
    if ravel is None:
        ravel = weight.ndim == 1 or (hasattr(est, "classes_") and weight.shape[0] == 1)
    weight = np.atleast_2d(weight).T.copy()
    bias = np.broadcast_to(f64(bias), (weight.shape[1],)).copy()
    attrs = head_attrs(est, ["predict", "decision_function", "predict_proba", "score"], ravel, proba=proba)
    return Node("linear_model", attrs, {"weight": weight, "bias": bias})


def linear_model(est, ctx):
    """Linear classifiers (SGD, Perceptron, PassiveAggressive, Ridge, LinearSVC, LogisticRegression)
    and regressors (LinearRegression, Ridge, Lasso, ElasticNet, SGD, LinearSVR, PassiveAggressive).

    A classifier's ``predict`` is ``decision > 0`` for two classes and the arg-max otherwise, as in
    scikit-learn's ``LinearClassifierMixin``; the probability link depends on the estimator and its
    loss.
    """
    proba = None
    if hasattr(est, "predict_proba"):
        if type(est).__name__.startswith("LogisticRegression") and len(est.classes_) > 2:
            proba = "softmax"
        elif getattr(est, "loss", None) == "modified_huber":
            proba = "modified_huber"
        else:  # log-loss SGD and binary logistic regression: sigmoid, one-vs-rest normalised
            proba = "logistic_ovr"
    return [linear_head(est, proba, est.coef_, est.intercept_)]


def multinomial_nb(est, ctx):
    """MultinomialNB: joint log-likelihood ``x @ feature_log_prob_.T + class_log_prior_``."""
    # Two-class naive Bayes keeps one column per class: predict is the arg-max, never a sign test.
    return [linear_head(est, "softmax", est.feature_log_prob_, est.class_log_prior_, ravel=False)]


def bernoulli_nb(est, ctx):
    """BernoulliNB: binarise at ``binarize``, then a linear joint log-likelihood,
    ``jll = x @ (log p - log(1 - p)).T + sum(log(1 - p)) + class_log_prior_`` for binary x."""
    log_p = f64(est.feature_log_prob_)
    log_not_p = np.log1p(-np.exp(log_p))
    head = linear_head(est, "softmax", log_p - log_not_p,
                       f64(est.class_log_prior_) + log_not_p.sum(axis=1), ravel=False)
    if est.binarize is None:
        return [head]
    return [Node("binarize", {"threshold": float(est.binarize)}), head]


def gaussian_nb(est, ctx):
    """GaussianNB: per-class Gaussian log-likelihood plus the log prior, kept in its
    ``(x - theta)^2 / var`` form rather than expanded into a quadratic in x: the expansion cancels
    catastrophically in float32 when features sit far from zero."""
    var = f64(est.var_)
    const = np.log(f64(est.class_prior_)) - 0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
    attrs = head_attrs(est, ["predict", "predict_proba", "score"], False)
    return [Node("gaussian_nb", attrs, {"theta": f64(est.theta_), "inv_var": 1.0 / var, "const": const})]


def kmeans(est, ctx):
    """KMeans and MiniBatchKMeans: nearest centre (predict), distances (transform), -inertia (score);
    before the last step of a pipeline, a transform (the distances)."""
    centers = f64(est.cluster_centers_)
    if not ctx.final:
        return [Node("distances", {"n_out": len(centers)}, {"centers": centers})]
    return [Node("kmeans", {"task": "clusterer", "methods": ["predict", "transform", "score"]}, {"centers": centers})]


ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def mlp(est, ctx):
    """MLPClassifier and MLPRegressor: dense layers, ``activation`` between, ``out_activation_`` last.
    Multi-label classifiers (a logistic output per label) are refused: their ``predict`` returns an
    indicator matrix that no other compiled head produces."""
    if est.activation not in ACTIVATIONS:
        raise ValueError(f"{type(est).__name__} uses activation={est.activation!r}; compiled models "
                         f"support {ACTIVATIONS}")
    if hasattr(est, "classes_") and est.out_activation_ == "logistic" and est.n_outputs_ > 1:
        raise ValueError(f"{type(est).__name__} was fitted on multi-label targets ({est.n_outputs_} outputs); "
                         "compiled models support single-label classification only")
    arrays = {f"weight{i}": f64(w) for i, w in enumerate(est.coefs_)}
    arrays.update({f"bias{i}": f64(b) for i, b in enumerate(est.intercepts_)})
    attrs = head_attrs(est, ["predict", "predict_proba", "score"], est.n_outputs_ == 1,
                       activation=est.activation, out=est.out_activation_, n_layers=len(est.coefs_))
    return [Node("mlp", attrs, arrays)]
