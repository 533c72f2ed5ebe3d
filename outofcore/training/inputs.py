"""What ``Incremental`` does first with what it is given: X, y and weights as row-aligned arrays,
the features checked, the labels found."""

import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import get_tags
from sklearn.utils.validation import validate_data

from outofcore.io.inputs import align_to, as_array, feature_names, is_dask_collection
from outofcore.runtime.scheduler import compute


def fit_inputs(model, X, y, weights, first_call):
    """X, y and weights as row-aligned arrays (dask, or NumPy for in-memory X), X's features
    set (first call) or checked on ``model``."""
    sparse_ok = learns_from_sparse(model.estimator)
    if is_dask_collection(X):
        names = feature_names(X)
        X = as_array(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (rows, features); got shape {X.shape}.")
        if hasattr(X._meta, "tocsr") and not sparse_ok:
            raise TypeError(
                f"{type(model.estimator).__name__} cannot learn from sparse input, and X has "
                f"sparse blocks (from OneHotEncoder(sparse_output=True)?). Pass "
                f"sparse_output=False, or use an estimator that takes sparse input (SGD*, "
                f"Perceptron, naive Bayes)."
            )
        check_features(model, X.shape[1], names, reset=first_call)
    else:
        X = validate_data(model, X, reset=first_call, dtype=None, ensure_all_finite=False,
                          accept_sparse="csr" if sparse_ok else False)
    if y is None and get_tags(model.estimator).target_tags.required:
        raise ValueError(f"{type(model).__name__}({type(model.estimator).__name__}) requires "
                         f"y to be passed, but the target y is None.")
    if y is not None:
        y = align_to(X, y, name="y")
        if y.ndim == 2 and y.shape[1] == 1 and \
                not get_tags(model.estimator).target_tags.multi_output:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning, stacklevel=4)
            y = y[:, 0]
        if is_classifier(model.estimator) and y.ndim != 1:
            raise ValueError(
                f"y has shape {y.shape}; Incremental classifiers take one label per row "
                f"(1-D y). Multi-label and multi-output targets are not supported.")
    if weights is not None:
        weights = align_to(X, weights, name="sample_weight")
    return X, y, weights

def check_features(model, n_features, names, *, reset):
    """Set (``reset``) or check ``n_features_in_`` and ``feature_names_in_`` of ``model``."""
    if reset:
        model.n_features_in_ = n_features
        if names is not None:
            model.feature_names_in_ = names
        elif "feature_names_in_" in model.__dict__:
            del model.feature_names_in_
        return
    if n_features != model.n_features_in_:
        raise ValueError(f"X has {n_features} features, but {type(model).__name__} is "
                         f"expecting {model.n_features_in_} features as input.")
    expected = model.__dict__.get("feature_names_in_")
    if expected is not None and names is not None and list(names) != list(expected):
        raise ValueError(f"X has columns {list(names)} but the model was fitted on "
                         f"{list(expected)}; select the same columns in the same order.")


def find_classes(y, classes):
    """A classifier's labels: ``classes`` when given (in y's dtype), else the distinct values
    of y (one pass; a parquet target is read alone for it)."""
    if classes is not None:
        classes = np.asarray(classes)
        unique = np.unique(classes)
        if len(unique) != len(classes):
            raise ValueError(f"classes={classes.tolist()} repeats a label")
        return unique if y is None or y.dtype == object else unique.astype(y.dtype,
                                                                           copy=False)
    if isinstance(y, np.ndarray):
        return np.unique(y)
    import dask.array as da

    return np.asarray(compute(da.unique(y))[0], dtype=y.dtype)


def learns_from_sparse(estimator):
    """Whether ``partial_fit`` takes sparse input: the sparse tag, which speaks for ``fit``, but
    IncrementalPCA's ``partial_fit`` refuses it (only its ``fit`` densifies batches)."""
    names = {cls.__name__ for cls in type(estimator).__mro__}
    return get_tags(estimator).input_tags.sparse and "IncrementalPCA" not in names
