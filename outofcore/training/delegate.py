"""What a wrapper of a fitted estimator (``Incremental``, ``IncrementalSearchCV``) predicts with:
``estimator_``'s own methods, eager on in-memory input and lazy (one dask task per block) on dask
input, offered only where the wrapped estimator has them."""

from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from outofcore.io.inputs import align_to, as_array, feature_names, is_dask_collection
from outofcore.runtime.threads import thread_guard
from outofcore.training.inputs import check_features
from outofcore.training.scoring import dask_score


def inner_has(attr, fitted="estimator_"):
    """available_if check: the fitted estimator (attribute ``fitted``) if present, else
    ``estimator``, what it will be fitted from, has attr."""

    def check(self):
        return hasattr(self.__dict__.get(fitted, self.estimator), attr)

    return check


def wrapper_tags(tags, estimator):
    """``tags`` of a wrapper that predicts as ``estimator`` does: its type, task and inputs."""
    inner = get_tags(estimator)
    tags.estimator_type = inner.estimator_type
    tags.classifier_tags = inner.classifier_tags
    tags.regressor_tags = inner.regressor_tags
    tags.target_tags = inner.target_tags
    tags.input_tags = inner.input_tags
    return tags


class Delegates:
    """Mixin: ``predict``, ``predict_proba``, ..., ``score`` through the fitted ``estimator_``."""

    def _call(self, method, X):
        check_is_fitted(self)
        if not is_dask_collection(X):
            # estimator_ learned from NumPy blocks: give it NumPy, checked against our features.
            X = validate_data(self, X, reset=False, dtype=None, ensure_all_finite=False,
                              accept_sparse=True)
            return getattr(self.estimator_, method)(X)
        from outofcore.prediction.lazy import lazy_method

        names = feature_names(X)
        X = as_array(X)
        check_features(self, X.shape[1], names, reset=False)
        return lazy_method(self.estimator_, method, X)

    @available_if(inner_has("predict"))
    def predict(self, X):
        """Predict with ``estimator_``: lazy (a dask array) on dask input, eager otherwise."""
        return self._call("predict", X)

    @available_if(inner_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities, one column per ``classes_``; lazy on dask input."""
        return self._call("predict_proba", X)

    @available_if(inner_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities; lazy on dask input."""
        return self._call("predict_log_proba", X)

    @available_if(inner_has("decision_function"))
    def decision_function(self, X):
        """Decision function of ``estimator_``; lazy on dask input."""
        return self._call("decision_function", X)

    @available_if(inner_has("transform"))
    def transform(self, X):
        """Transform with ``estimator_``; lazy on dask input."""
        return self._call("transform", X)

    @available_if(inner_has("transform"))
    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then transform X (lazily on dask input)."""
        return self.fit(X, y, **fit_params).transform(X)

    @available_if(inner_has("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """Output feature names of ``estimator_``."""
        check_is_fitted(self)
        return self.estimator_.get_feature_names_out(input_features)

    @available_if(inner_has("score"))
    def score(self, X, y=None, sample_weight=None):
        """Accuracy for classifiers and R^2 for regressors over every row, minus the inertia for
        clusterers, else the estimator's score averaged over rows.

        One parallel pass on dask input; ``estimator_.score`` on in-memory input.
        """
        check_is_fitted(self)
        if not is_dask_collection(X):
            X = validate_data(self, X, reset=False, dtype=None, ensure_all_finite=False,
                              accept_sparse=True)
            kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
            return self.estimator_.score(X, y, **kwargs)
        names = feature_names(X)
        X = as_array(X)
        check_features(self, X.shape[1], names, reset=False)
        y = None if y is None else align_to(X, y, name="y")
        w = None if sample_weight is None else align_to(X, sample_weight, name="sample_weight")
        with thread_guard():
            return dask_score(self.estimator_, X, y, w)
