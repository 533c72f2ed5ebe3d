"""Compiled multi-layer perceptrons agree with scikit-learn for every activation and output."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import outofcore as ooc
from outofcore.compiled._testing import assert_labels_match, assert_values_close

# A few epochs are enough for parity (the weights only need to be non-trivial), not convergence.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_mlp_classifier_parity(activation, n_classes, classification_data):
    """Labels and probabilities (logistic output for 2 classes, softmax for 3) match."""
    X, y = classification_data
    y = y if n_classes == 3 else (y > 0).astype(np.int64)
    mlp = MLPClassifier(hidden_layer_sizes=(16, 8), activation=activation, max_iter=30, random_state=0)
    model = make_pipeline(StandardScaler(), mlp).fit(X[:1500], y[:1500])
    compiled = ooc.compile_pipeline(model)
    assert mlp.out_activation_ == ("logistic" if n_classes == 2 else "softmax")
    assert_labels_match(compiled.predict(X[1500:]), model.predict(X[1500:]))
    assert_values_close(compiled.predict_proba(X[1500:]), model.predict_proba(X[1500:]))
    assert compiled.score(X[1500:], y[1500:]) == pytest.approx(model.score(X[1500:], y[1500:]))


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("n_targets", [1, 2])
def test_mlp_regressor_parity(activation, n_targets, regression_data):
    """Values (1-D for one target, 2-D for two) match with the identity output."""
    X, y = regression_data
    Y = y if n_targets == 1 else np.column_stack([y, np.sin(y)])
    mlp = MLPRegressor(hidden_layer_sizes=(12,), activation=activation, max_iter=30, random_state=0)
    model = make_pipeline(StandardScaler(), mlp).fit(X[:1500], Y[:1500])
    ours = ooc.compile_pipeline(model).predict(X[1500:])
    assert ours.shape == model.predict(X[1500:]).shape
    assert_values_close(ours, model.predict(X[1500:]))


def test_mlp_string_labels_float64(classification_data):
    """String classes map back to strings; float64 compute tracks sklearn to 1e-9."""
    X, y = classification_data
    labels = np.array(["low", "mid", "high"], dtype=object)[y]
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=20,
                                                          random_state=0))
    model.fit(X.astype(np.float64), labels)
    compiled = ooc.compile_pipeline(model, dtype="float64")
    X64 = X.astype(np.float64)
    assert_labels_match(compiled.predict(X64), model.predict(X64))
    np.testing.assert_allclose(compiled.predict_proba(X64), model.predict_proba(X64), rtol=1e-9,
                               atol=1e-12)


def test_multilabel_mlp_is_refused(classification_data):
    """A multi-label MLPClassifier raises an error that says what is supported."""
    X, y = classification_data
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="multi-label"):
        ooc.compile_pipeline(model)


def test_convergence_warning_is_sklearns(classification_data):
    """The warning filter above only hides sklearn's ConvergenceWarning (fitting emits it)."""
    X, y = classification_data
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0).fit(X[:100], y[:100])


@pytest.mark.gpu
def test_mlp_on_gpu(classification_data):
    """On CUDA an MLP classifier reproduces sklearn's probabilities."""
    X, y = classification_data
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=20,
                                                          random_state=0)).fit(X, y)
    compiled = ooc.compile_pipeline(model, device="cuda")
    assert_values_close(compiled.predict_proba(X), model.predict_proba(X))
    assert_labels_match(compiled.predict(X), model.predict(X))
