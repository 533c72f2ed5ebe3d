"""What a fitted model's outputs look like, read from the model, never by running it on made-up
rows: dtype and width (:func:`output_spec`), column names (:func:`output_names`) and the parquet
schema of a file without rows (:func:`empty_schema`)."""

import numpy as np
import pyarrow as pa
from sklearn.utils import get_tags

_PREFIX = {"predict": "prediction", "predict_proba": "proba", "decision_function": "decision",
           "transform": "component"}

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


def output_names(model, method, width, names_out=None):
    """Column names for a model output with ``width`` columns (None for a 1-D output)."""
    prefix = _PREFIX[method]
    if width is None:
        return [prefix]
    labels = names_out if method == "transform" else getattr(model, "classes_", None)
    if method == "predict" or labels is None or len(labels) != width:
        return [f"{prefix}_{i}" for i in range(width)]
    return [str(c) if method == "transform" else f"{prefix}_{c}" for c in labels]


def empty_schema(model, method, keep, names_out=None):
    """The output schema of a file without rows (``keep`` fields first), from the model's
    classes or output names; None when they cannot be known without rows."""
    classes = getattr(model, "classes_", None)
    if method == "predict":
        kind = pa.float64() if classes is None else (
            pa.string() if np.asarray(classes).dtype.kind in "OU" else
            pa.from_numpy_dtype(np.asarray(classes).dtype))
        outputs = [("prediction", kind)]
    elif method == "transform" and names_out is not None:
        outputs = [(str(c), pa.float64()) for c in names_out]
    elif method == "decision_function" and classes is not None and len(classes) == 2:
        outputs = [("decision", pa.float64())]
    elif classes is not None and method != "transform":
        outputs = [(n, pa.float64()) for n in output_names(model, method, len(classes))]
    else:
        return None
    return pa.schema(list(keep) + outputs)
