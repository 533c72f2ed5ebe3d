"""Converters for scalers, linear models, naive Bayes, PCA and k-means.

Each converter reads the fitted attributes of one estimator into NumPy (float64) and returns a
:class:`~outofcore.compiled._spec.Node`. No torch here: the modules that run these records live in
``_modules.py``. Formulas follow scikit-learn's ``transform``/``predict`` so results agree to rounding.
"""

import numpy as np

from ._spec import Node, labels_to_json


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _methods(est, names):
    # sklearn hides methods that a setting makes meaningless (predict_proba of a hinge-loss SGD)
    # behind ``available_if``; hasattr honours that, so the compiled model offers the same set.
    return [m for m in names if hasattr(est, m)]


def standard_scaler(est, final=False):
    """StandardScaler (sklearn's or ours): ``(x - mean_) / scale_``."""
    n = est.n_features_in_
    scale = _f64(est.scale_) if getattr(est, "scale_", None) is not None else np.ones(n)
    mean = _f64(est.mean_) if est.with_mean and getattr(est, "mean_", None) is not None else np.zeros(n)
    return Node("affine", {"clip": None}, {"scale": 1.0 / scale, "offset": -mean / scale})


def minmax_scaler(est, final=False):
    """MinMaxScaler (sklearn's or ours): ``x * scale_ + min_``, then the optional clip."""
    lo, hi = est.feature_range
    clip = [float(lo), float(hi)] if getattr(est, "clip", False) else None
    return Node("affine", {"clip": clip}, {"scale": _f64(est.scale_), "offset": _f64(est.min_)})


def maxabs_scaler(est, final=False):
    """MaxAbsScaler (sklearn's or ours): ``x / scale_``."""
    scale = _f64(est.scale_)
    return Node("affine", {"clip": None}, {"scale": 1.0 / scale, "offset": np.zeros_like(scale)})


def function_transformer(est, final=False):
    """FunctionTransformer without a function: the identity (what 'passthrough' becomes when fitted)."""
    if est.func is not None:
        raise TypeError(
            f"FunctionTransformer(func={getattr(est.func, '__name__', est.func)!r}) cannot be compiled: "
            "only the identity (func=None, what 'passthrough' becomes) is supported"
        )
    return [], None


def pca(est, final=False):
    """PCA and IncrementalPCA: ``(x - mean_) @ components_.T``, divided by the whitening scale."""
    components = _f64(est.components_)
    weight = components.T.copy()
    bias = -_f64(est.mean_) @ components.T
    if est.whiten:
        scale = np.sqrt(_f64(est.explained_variance_))
        # sklearn floors the whitening scale at machine epsilon to avoid dividing by zero.
        scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
        weight /= scale
        bias /= scale
    return Node("linear", {}, {"weight": weight, "bias": bias})


def _linear_head(est, task, proba, methods, weight, bias):
    weight = _f64(weight)
    ravel = weight.ndim == 1 or (task == "classifier" and weight.shape[0] == 1)
    weight = np.atleast_2d(weight).T.copy()
    bias = np.broadcast_to(_f64(bias), (weight.shape[1],)).copy()
    attrs = {"task": task, "proba": proba, "ravel": bool(ravel), "methods": methods}
    if task == "classifier":
        attrs["classes"] = labels_to_json(est.classes_)
    return Node("linear_model", attrs, {"weight": weight, "bias": bias})


def linear_classifier(est, final=True):
    """Linear classifiers: SGD, Perceptron, PassiveAggressive, Ridge, LinearSVC, LogisticRegression.

    ``predict`` is ``decision > 0`` for two classes and the arg-max otherwise, as in sklearn's
    ``LinearClassifierMixin``; the probability link depends on the estimator and its loss.
    """
    methods = _methods(est, ["predict", "decision_function", "predict_proba", "score"])
    proba = None
    if "predict_proba" in methods:
        name = type(est).__name__
        if name.startswith("LogisticRegression") and len(est.classes_) > 2:
            proba = "softmax"
        elif getattr(est, "loss", None) == "modified_huber":
            proba = "modified_huber"
        else:
            # log-loss SGD and binary logistic regression: sigmoid, one-vs-rest normalised.
            proba = "logistic_ovr"
    return _linear_head(est, "classifier", proba, methods, est.coef_, est.intercept_)


def linear_regressor(est, final=True):
    """Linear regressors: LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor, LinearSVR."""
    methods = _methods(est, ["predict", "score"])
    return _linear_head(est, "regressor", None, methods, est.coef_, est.intercept_)


def multinomial_nb(est, final=True):
    """MultinomialNB: joint log-likelihood ``x @ feature_log_prob_.T + class_log_prior_``."""
    methods = _methods(est, ["predict", "predict_proba", "score"])
    node = _linear_head(est, "classifier", "softmax", methods, est.feature_log_prob_,
                        est.class_log_prior_)
    # Two-class naive Bayes keeps one column per class: predict is the arg-max, never a sign test.
    node.attrs["ravel"] = False
    return node


def gaussian_nb(est, final=True):
    """GaussianNB: per-class Gaussian log-likelihood plus the log prior.

    Kept in its ``(x - theta)^2 / var`` form rather than expanded into a quadratic in x: the
    expansion cancels catastrophically in float32 when features sit far from zero.
    """
    var = _f64(est.var_)
    const = np.log(_f64(est.class_prior_)) - 0.5 * np.sum(np.log(2.0 * np.pi * var), axis=1)
    attrs = {
        "task": "classifier",
        "classes": labels_to_json(est.classes_),
        "methods": _methods(est, ["predict", "predict_proba", "score"]),
    }
    return Node("gaussian_nb", attrs, {"theta": _f64(est.theta_), "inv_var": 1.0 / var, "const": const})


def kmeans(est, final=True):
    """KMeans and MiniBatchKMeans: nearest centre (predict), distances (transform), -inertia (score)."""
    centers = _f64(est.cluster_centers_)
    if not final:
        return Node("distances", {"n_out": int(centers.shape[0])}, {"centers": centers})
    attrs = {"task": "clusterer", "methods": ["predict", "transform", "score"]}
    return Node("kmeans", attrs, {"centers": centers})
