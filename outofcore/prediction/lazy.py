"""A fitted model's outputs on dask input, built lazily over the row blocks.

:func:`lazy_method` maps one method of a fitted estimator over the blocks of X with
``map_blocks``, its output dtype and width read from the fitted model (:func:`output_spec`),
never by running it on made-up rows. Every block runs under the BLAS thread guard.
"""

from functools import partial

import numpy as np
from sklearn.utils import get_tags

from outofcore.runtime.threads import guarded

_FLOAT_ATTRIBUTES = ("coef_", "coefs_", "cluster_centers_", "components_", "feature_log_prob_")


def _learned_float_dtype(estimator):
    for attr in _FLOAT_ATTRIBUTES:
        value = getattr(estimator, attr, None)
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            return value.dtype
    return np.dtype(np.float64)


def output_spec(estimator, method, X_dtype=np.float64):
    """(dtype, width) of ``estimator.<method>`` on a block; width None for 1-D output.

    Read from the fitted estimator (classes, learned coefficients, output feature names).
    """
    kind = get_tags(estimator).estimator_type
    floating = _learned_float_dtype(estimator)
    if method == "predict":
        if kind == "classifier":
            return np.asarray(estimator.classes_).dtype, None
        if kind == "clusterer":
            return np.dtype(np.int32), None
        n_outputs = getattr(estimator, "n_outputs_", 1)
        return floating, (None if n_outputs == 1 else n_outputs)
    if method in ("predict_proba", "predict_log_proba"):
        return floating, len(estimator.classes_)
    if method == "decision_function":
        n_classes = len(estimator.classes_)
        return floating, (None if n_classes == 2 else n_classes)
    if method == "transform":
        # scikit-learn transformers keep float32 input in float32 when they learned in float32;
        # their preserves_dtype tags do not always say so (MiniBatchKMeans), the learned arrays do.
        x_float = np.dtype(X_dtype) if np.dtype(X_dtype).kind == "f" else np.dtype(np.float64)
        return np.result_type(x_float, floating), len(estimator.get_feature_names_out())
    raise ValueError(f"unknown method {method!r}")


def apply_block(estimator, method, dtype, block):
    """``estimator.<method>(block)`` cast to the declared dtype; empty blocks give empty output."""
    if block.shape[0] == 0:
        width = output_spec(estimator, method, block.dtype)[1]
        return np.empty((0,) if width is None else (0, width), dtype=dtype)
    return np.asarray(getattr(estimator, method)(block)).astype(dtype, copy=False)


def lazy_method(estimator, method, X):
    """``estimator.<method>`` of every row block of the 2-D dask array X, as a lazy dask array."""
    dtype, width = output_spec(estimator, method, X.dtype)
    func = guarded(partial(apply_block, estimator, method, dtype))
    if width is None:
        return X.map_blocks(func, dtype=dtype, drop_axis=1, chunks=(X.chunks[0],), token=method,
                            meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(func, dtype=dtype, chunks=(X.chunks[0], (width,)), token=method,
                        meta=np.empty((0, 0), dtype=dtype))
