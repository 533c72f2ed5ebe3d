"""A few rows on the CPU run the head's NumPy twin: the same predictions as the tensor program."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import MiniBatchKMeans
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import outofcore as ooc
from outofcore.compiled._native import AVAILABLE as NUMBA
from outofcore.compiled._testing import assert_labels_match, assert_values_close

CLASSIFIERS = {
    "sgd-binary": lambda: make_pipeline(StandardScaler(), SGDClassifier(random_state=0)),
    "logistic-3-classes": lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    "mlp-relu-3-classes": lambda: make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=50, random_state=0)),
    "mlp-logistic-3-classes": lambda: make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), activation="logistic",
                                        max_iter=50, random_state=0)),
    "mlp-tanh-binary": lambda: make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), activation="tanh", max_iter=50,
                                        random_state=0)),
    "forest": lambda: RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
    "boosting-binary": lambda: GradientBoostingClassifier(n_estimators=10, random_state=0),
}
REGRESSORS = {
    "ridge": lambda: make_pipeline(StandardScaler(), Ridge()),
    "mlp-identity": lambda: make_pipeline(
        StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,), activation="identity",
                                       max_iter=50, random_state=0)),
    "forest": lambda: RandomForestRegressor(n_estimators=10, max_depth=6, random_state=0),
    "hist-boosting": lambda: HistGradientBoostingRegressor(max_iter=10, random_state=0),
}
TREES = {"forest", "boosting-binary", "hist-boosting"}
# Twins that are numba kernels: trees, and MLPs with a logistic activation (NumPy's exp would
# warn on overflow where torch's does not, so there is no NumPy twin for them).
NUMBA_ONLY = TREES | {"mlp-logistic-3-classes"}


def _fit(make, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make().fit(X, y)


def _numpy_path(compiled, name):
    if name in NUMBA_ONLY and not NUMBA:
        pytest.skip("this model's twin is a numba kernel; numba cannot run here")
    assert compiled._numpy_predict is not None


def _both_paths(compiled, X, rows):
    """(part, NumPy-twin predict, tensor-program predict) for ``X`` in parts of ``rows`` rows;
    torch input takes the tensor program."""
    for start in range(0, len(X), rows):
        part = X[start:start + rows]
        yield part, compiled.predict(part), compiled.predict(torch.from_numpy(part)).numpy()


@pytest.mark.parametrize("rows", [1, 5, 16])
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_few_rows_give_the_labels_of_the_tensor_program(name, rows, classification_data):
    """Labels of 1 to 16 rows from the NumPy twin equal the tensor program's and sklearn's."""
    X, y = classification_data
    if name.endswith("binary"):
        y = (y == 0).astype(np.int64)
    model = _fit(CLASSIFIERS[name], X, y)
    compiled = ooc.compile_pipeline(model)
    _numpy_path(compiled, name)
    for part, labels, tensor in _both_paths(compiled, X[:200], rows):
        assert labels.dtype == tensor.dtype and labels.shape == (len(part),)
        np.testing.assert_array_equal(labels, tensor)
        assert_labels_match(labels, model.predict(part))


@pytest.mark.parametrize("rows", [1, 16])
@pytest.mark.parametrize("name", REGRESSORS)
def test_few_rows_give_the_values_of_the_tensor_program(name, rows, regression_data):
    """Values of 1 to 16 rows from the NumPy twin match the tensor program's and sklearn's."""
    X, y = regression_data
    model = _fit(REGRESSORS[name], X, y)
    compiled = ooc.compile_pipeline(model)
    _numpy_path(compiled, name)
    for part, values, tensor in _both_paths(compiled, X[:64], rows):
        assert values.dtype == tensor.dtype and values.shape == tensor.shape
        np.testing.assert_allclose(values, tensor, rtol=1e-5, atol=1e-5)
        assert_values_close(values, model.predict(part))


def test_few_rows_of_kmeans_give_its_clusters(classification_data):
    """Nearest centres of a few rows, int32 as sklearn's, from the NumPy twin."""
    X, _ = classification_data
    model = MiniBatchKMeans(n_clusters=5, n_init=1, random_state=0).fit(X)
    compiled = ooc.compile_pipeline(model)
    assert compiled._numpy_predict is not None
    for start in range(0, 160, 16):
        part = X[start:start + 16]
        labels = compiled.predict(part)
        assert labels.dtype == np.int32
        np.testing.assert_array_equal(labels, model.predict(part))


@pytest.mark.parametrize("name", ["mlp-relu-3-classes", "mlp-tanh-binary", "mlp-identity"])
def test_mlp_numpy_twin_without_numba(name, monkeypatch, classification_data, regression_data):
    """Without numba an MLP's twin is NumPy's products, with the labels and values of the tensor
    program."""
    import outofcore.compiled._tree_modules as tree_modules

    X, y = regression_data if name in REGRESSORS else classification_data
    if name.endswith("binary"):
        y = (y == 0).astype(np.int64)
    model = _fit({**CLASSIFIERS, **REGRESSORS}[name], X, y)
    monkeypatch.setattr(tree_modules, "native_available", lambda: False)
    compiled = ooc.compile_pipeline(model)
    assert compiled._numpy_predict is not None
    for part, ours, tensor in _both_paths(compiled, X[:48], 16):
        np.testing.assert_allclose(ours, tensor, rtol=1e-5, atol=1e-5)


def test_no_twin_where_numpy_would_differ(classification_data, monkeypatch):
    """Without numba a logistic MLP has no twin (NumPy's exp warns on overflow where torch's does
    not); float64 input to a float32 model and 17 rows take the tensor program."""
    import outofcore.compiled._tree_modules as tree_modules

    X, y = classification_data
    model = _fit(CLASSIFIERS["mlp-logistic-3-classes"], X, y)
    monkeypatch.setattr(tree_modules, "native_available", lambda: False)
    compiled = ooc.compile_pipeline(model)
    monkeypatch.undo()
    assert compiled._numpy_predict is None
    assert_labels_match(compiled.predict(X[:3]), model.predict(X[:3]))
    linear = ooc.compile_pipeline(_fit(CLASSIFIERS["logistic-3-classes"], X, y))
    calls = []
    twin = linear._numpy_predict
    linear._numpy_predict = lambda x: calls.append(len(x)) or twin(x)
    linear.predict(X[:16])
    linear.predict(X[:17])
    linear.predict(X[:3].astype(np.float64))
    assert calls == [16]
