"""Converters for feature transforms: scalers, imputer, normaliser, polynomial features, PCA.

Each reads public fitted attributes into float64 NumPy arrays and returns a list of
:class:`~outofcore.compiled._spec.Node` (``_steps.py`` runs them): a class with scikit-learn's
fitted attributes (outofcore's own scalers) converts the same way.
"""

import numpy as np

from ._convert_encoders import is_nan
from ._spec import Node


def f64(a):
    return np.asarray(a, dtype=np.float64)


def _affine(scale, offset, clip=None):
    # Element-wise: a NaN passes through to the next step, as in scikit-learn's scalers.
    return Node("affine", {"clip": clip, "accepts": "passthrough"}, {"scale": scale, "offset": offset})


def _centre_and_scale(est, center, scale, clip=None):
    """``(x - center) / scale``, optionally clipped; either may be None (switched off)."""
    center = np.zeros(est.n_features_in_) if center is None else f64(center)
    scale = np.ones(est.n_features_in_) if scale is None else f64(scale)
    return [_affine(1.0 / scale, -center / scale, clip)]


def standard_scaler(est, ctx):
    """StandardScaler: ``(x - mean_) / scale_``."""
    mean = getattr(est, "mean_", None) if est.with_mean else None
    return _centre_and_scale(est, mean, getattr(est, "scale_", None))


def minmax_scaler(est, ctx):
    """MinMaxScaler: ``x * scale_ + min_``, then the optional clip to ``feature_range``."""
    lo, hi = est.feature_range
    clip = [float(lo), float(hi)] if getattr(est, "clip", False) else None
    return [_affine(f64(est.scale_), f64(est.min_), clip)]


def maxabs_scaler(est, ctx):
    """MaxAbsScaler: ``x / scale_``, then the optional clip to [-1, 1]."""
    return _centre_and_scale(est, None, est.scale_, [-1.0, 1.0] if getattr(est, "clip", False) else None)


def robust_scaler(est, ctx):
    """RobustScaler: ``(x - center_) / scale_``."""
    return _centre_and_scale(est, getattr(est, "center_", None), getattr(est, "scale_", None))


def normalizer(est, ctx):
    """Normalizer: each row divided by its l1, l2 or max norm (rows of norm 0 left as they are)."""
    return [Node("normalize", {"norm": est.norm})]


def polynomial_features(est, ctx):
    """PolynomialFeatures: each output the product of the inputs named by a row of ``powers_``,
    stored as factor indices, ``(n_out, degree)``, padded with ``n_in`` (a column of ones)."""
    powers = np.asarray(est.powers_)
    n_out, n_in = powers.shape
    degree = max(1, int(powers.sum(axis=1).max()))
    factors = np.full((n_out, degree), n_in, dtype=np.int64)
    for j, row in enumerate(powers):
        idx = np.repeat(np.arange(n_in), row)
        factors[j, :len(idx)] = idx
    return [Node("poly", {"n_out": int(n_out), "n_in": int(n_in)}, {"factors": factors})]


def simple_imputer(est, ctx):
    """SimpleImputer on numbers: missing entries become ``statistics_``, plus the indicator columns.
    Features whose statistic is NaN (all missing at fit, ``keep_empty_features=False``) are dropped,
    as scikit-learn drops them. String columns are imputed by the categorical lookup when the
    imputer feeds an encoder (see ``_convert_encoders``)."""
    try:  # a constant fill value leaves statistics_ of object dtype even over numbers
        stats = np.asarray(est.statistics_, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{ctx.where}SimpleImputer(strategy={est.strategy!r}) imputes strings; compiled models "
            "impute strings only right before a OneHotEncoder or OrdinalEncoder") from None
    mv = est.missing_values
    nan_marker = mv is None or is_nan(mv)  # NaN of any float type, as scikit-learn's is_scalar_nan
    if not nan_marker and not isinstance(mv, (int, float, np.number)):
        raise TypeError(f"{ctx.where}SimpleImputer(missing_values={mv!r}) on numbers: use a number or NaN")
    keep = np.flatnonzero(~np.isnan(stats))
    indicator = getattr(est, "indicator_", None)
    features = [] if indicator is None else list(np.asarray(indicator.features_))
    attrs = {"n_out": len(keep) + len(features), "missing": None if nan_marker else float(mv),
             "accepts": "nan" if nan_marker else "finite"}
    arrays = {"keep": keep.astype(np.int64), "fill": stats[keep],
              "indicator": np.asarray(features, dtype=np.int64)}
    return [Node("impute", attrs, arrays)]


def date_time_features(est, ctx):
    """DateTimeFeatures: its fields are read from the input columns before the tensor program (one
    ``time`` input spec per output column, computed by the same code, ``timefields``); no step."""
    if ctx.raw is None:
        raise TypeError(f"{ctx.where}DateTimeFeatures after other steps sees numbers, not "
                        "timestamps; make it read input columns (first in the pipeline, or a "
                        "ColumnTransformer branch)")
    features = [est.features] if isinstance(est.features, str) else list(est.features)
    ctx.reads = [ctx.add({"source": int(column), "time": {"feature": feature, "unit": est.unit}})
                 for column in ctx.raw for feature in features]
    return []


def function_transformer(est, ctx):
    """FunctionTransformer without a function (what 'passthrough' becomes when fitted): nothing.
    scikit-learn's HistGradientBoosting wraps ``check_array`` in one to validate its numeric
    columns; that validation is the compiled model's own input check, so it converts to nothing too."""
    func = getattr(est.func, "func", est.func)  # a functools.partial holds the function it wraps
    if est.func is not None and getattr(func, "__name__", None) != "check_array":
        raise TypeError(
            f"{ctx.where}FunctionTransformer(func={getattr(est.func, '__name__', est.func)!r}) cannot "
            "be compiled: only the identity (func=None, what 'passthrough' becomes) is supported")
    return []


def pca(est, ctx):
    """PCA and IncrementalPCA: ``(x - mean_) @ components_.T``, divided by the whitening scale."""
    components = f64(est.components_)
    weight = components.T.copy()
    bias = -f64(est.mean_) @ components.T
    if est.whiten:
        # scikit-learn floors the whitening scale at machine epsilon to avoid dividing by zero.
        scale = np.maximum(np.sqrt(f64(est.explained_variance_)), np.finfo(np.float64).eps)
        weight /= scale
        bias /= scale
    return [Node("linear", {}, {"weight": weight, "bias": bias})]
