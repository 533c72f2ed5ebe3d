"""Compiled scalers, linear models and naive Bayes agree with scikit-learn."""

import numpy as np
import pytest
from sklearn import linear_model, naive_bayes, preprocessing, svm
from sklearn.pipeline import make_pipeline

import outofcore as ooc
from outofcore.compiled._testing import assert_labels_match, assert_values_close


def _split(X, y, n_test=500):
    return X[:-n_test], y[:-n_test], X[-n_test:]


def _check_methods(model, compiled, X, methods=("predict", "predict_proba", "decision_function")):
    checked = 0
    for method in methods:
        if not hasattr(model, method):
            assert not hasattr(compiled, method)
            continue
        ours, ref = getattr(compiled, method)(X), getattr(model, method)(X)
        if method == "predict" and hasattr(model, "classes_"):
            assert_labels_match(ours, ref)
        else:
            assert_values_close(ours, ref)
        checked += 1
    return checked


CLASSIFIERS = {
    "sgd-log": lambda: linear_model.SGDClassifier(loss="log_loss", random_state=0),
    "sgd-huber": lambda: linear_model.SGDClassifier(loss="modified_huber", random_state=0),
    "sgd-hinge": lambda: linear_model.SGDClassifier(loss="hinge", random_state=0),
    "perceptron": lambda: linear_model.Perceptron(random_state=0),
    "logistic": lambda: linear_model.LogisticRegression(),
    "ridge": lambda: linear_model.RidgeClassifier(),
    "linear-svc": lambda: svm.LinearSVC(),
}


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_linear_classifier_parity(name, n_classes, classification_data):
    """predict, predict_proba and decision_function of scaled linear classifiers match sklearn."""
    X, y = classification_data
    y = y if n_classes == 3 else (y > 0).astype(np.int64)
    Xtr, ytr, Xte = _split(X, y)
    model = make_pipeline(preprocessing.StandardScaler(), CLASSIFIERS[name]()).fit(Xtr, ytr)
    compiled = ooc.compile_pipeline(model)
    assert _check_methods(model, compiled, Xte) >= 2


@pytest.mark.filterwarnings("ignore:Class PassiveAggressive.*deprecated:FutureWarning")
@pytest.mark.parametrize("name", ["PassiveAggressiveClassifier", "PassiveAggressiveRegressor"])
def test_passive_aggressive_parity(name, classification_data):
    """The deprecated PassiveAggressive estimators still compile to the same predictions."""
    X, y = classification_data
    Xtr, ytr, Xte = _split(X, y)
    model = make_pipeline(preprocessing.StandardScaler(), getattr(linear_model, name)(random_state=0))
    model.fit(Xtr, ytr.astype(np.float64) if name.endswith("Regressor") else ytr)
    compiled = ooc.compile_pipeline(model)
    assert _check_methods(model, compiled, Xte) >= 1


REGRESSORS = {
    "sgd": lambda: linear_model.SGDRegressor(random_state=0),
    "ols": lambda: linear_model.LinearRegression(),
    "ridge": lambda: linear_model.Ridge(alpha=2.0),
    "lasso": lambda: linear_model.Lasso(alpha=0.01),
    "elastic-net": lambda: linear_model.ElasticNet(alpha=0.01),
    "linear-svr": lambda: svm.LinearSVR(loss="squared_epsilon_insensitive", dual=False),
}


@pytest.mark.parametrize("name", REGRESSORS)
def test_linear_regressor_parity(name, regression_data):
    """Scaled linear regressors predict the same values and score the same R^2."""
    X, y = regression_data
    Xtr, ytr, Xte = _split(X, y)
    model = make_pipeline(preprocessing.StandardScaler(), REGRESSORS[name]()).fit(Xtr, ytr)
    compiled = ooc.compile_pipeline(model)
    assert_values_close(compiled.predict(Xte), model.predict(Xte))
    assert compiled.score(Xte, y[-500:]) == pytest.approx(model.score(Xte, y[-500:]), rel=1e-4)


def test_multi_output_ridge(regression_data):
    """A two-target Ridge predicts a 2-column array like sklearn."""
    X, y = regression_data
    Y = np.column_stack([y, -2 * y + 1])
    model = linear_model.Ridge().fit(X, Y)
    compiled = ooc.compile_pipeline(model)
    assert compiled.predict(X).shape == (len(X), 2)
    assert_values_close(compiled.predict(X), model.predict(X))
    assert compiled.score(X, Y) == pytest.approx(model.score(X, Y), rel=1e-4)


@pytest.mark.parametrize("source", ["sklearn", "outofcore"])
@pytest.mark.parametrize("kind", ["StandardScaler", "MinMaxScaler", "MaxAbsScaler"])
def test_scaler_transform_parity(source, kind, classification_data):
    """Each scaler's compiled transform equals its own transform, including a constant column."""
    X, _ = classification_data
    X = X.copy()
    X[:, 2] = 3.0
    module = preprocessing if source == "sklearn" else ooc
    scaler = getattr(module, kind)().fit(X)
    compiled = ooc.compile_pipeline(scaler)
    assert_values_close(compiled.transform(X), np.asarray(scaler.transform(X)))


@pytest.mark.parametrize("with_mean, with_std", [(False, True), (True, False), (False, False)])
def test_standard_scaler_options(with_mean, with_std, classification_data):
    """StandardScaler without centring and/or scaling compiles to the same transform."""
    X, _ = classification_data
    scaler = preprocessing.StandardScaler(with_mean=with_mean, with_std=with_std).fit(X)
    assert_values_close(ooc.compile_pipeline(scaler).transform(X), scaler.transform(X))


def test_minmax_clip_is_not_fused(classification_data):
    """A clipping MinMaxScaler stays a separate step, so out-of-range inputs are clipped first."""
    X, y = classification_data
    model = make_pipeline(preprocessing.MinMaxScaler(clip=True), linear_model.LogisticRegression())
    model.fit(X[:1000], y[:1000])
    X_out = X[1000:] * 3.0  # many values beyond the fitted range
    compiled = ooc.compile_pipeline(model)
    assert len(compiled.graph.steps) == 1
    assert_values_close(compiled.predict_proba(X_out), model.predict_proba(X_out))


@pytest.mark.parametrize("fuse", [True, False])
def test_fused_and_unfused_agree(fuse, classification_data):
    """Folding the scaler into the model changes neither labels nor probabilities."""
    X, y = classification_data
    model = make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()).fit(X, y)
    compiled = ooc.compile_pipeline(model, fuse=fuse)
    assert len(compiled.graph.steps) == (0 if fuse else 1)
    assert_labels_match(compiled.predict(X), model.predict(X))
    assert_values_close(compiled.predict_proba(X), model.predict_proba(X))


def test_float64_is_tighter(classification_data):
    """dtype='float64' reproduces sklearn's float64 decision values to 1e-9."""
    X, y = classification_data
    model = make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())
    model.fit(X.astype(np.float64), y)
    compiled = ooc.compile_pipeline(model, dtype="float64")
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(compiled.decision_function(X64), model.decision_function(X64), rtol=1e-9,
                               atol=1e-9)


@pytest.mark.parametrize("labels", [np.array(["no", "yes", "maybe"]), np.array([-1.0, 0.0, 7.0])])
def test_class_labels_are_mapped(labels, classification_data):
    """String and float class labels come back as the same labels, not indices."""
    X, y = classification_data
    model = make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())
    model.fit(X, labels[y])
    pred = ooc.compile_pipeline(model).predict(X)
    assert pred.dtype.kind == model.predict(X).dtype.kind
    assert_labels_match(pred, model.predict(X))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_gaussian_nb_parity(n_classes, classification_data):
    """GaussianNB labels and probabilities match, on features far from zero."""
    X, y = classification_data
    y = y if n_classes == 3 else (y > 0).astype(np.int64)
    Xtr, ytr, Xte = _split(X, y)
    model = naive_bayes.GaussianNB().fit(Xtr, ytr)
    compiled = ooc.compile_pipeline(model)
    assert _check_methods(model, compiled, Xte) == 2


@pytest.mark.parametrize("n_classes", [2, 3])
def test_multinomial_nb_parity(n_classes, rng):
    """MultinomialNB on count features: labels and probabilities match."""
    X = rng.poisson(lam=rng.uniform(0.5, 5, size=8), size=(1500, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > X[:, 2] + 2).astype(int) + (n_classes == 3) * (X[:, 3] > 3)
    model = naive_bayes.MultinomialNB().fit(X[:1000], y[:1000])
    compiled = ooc.compile_pipeline(model)
    assert _check_methods(model, compiled, X[1000:]) == 2


def test_single_row_and_empty_batch(classification_data):
    """One row gives a length-1 result; zero rows give an empty result of the right width."""
    X, y = classification_data
    model = make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert_labels_match(compiled.predict(X[:1]), model.predict(X[:1]))
    assert compiled.predict_proba(X[:0]).shape == (0, 3)


@pytest.mark.gpu
def test_linear_pipeline_on_gpu(classification_data):
    """On CUDA a scaled linear model predicts sklearn's labels; torch input gives CUDA output."""
    import torch

    X, y = classification_data
    model = make_pipeline(preprocessing.StandardScaler(), linear_model.SGDClassifier(random_state=0))
    model.fit(X, y)
    compiled = ooc.compile_pipeline(model, device="cuda")
    assert_labels_match(compiled.predict(X), model.predict(X))
    out = compiled.decision_function(torch.as_tensor(X, device="cuda"))
    assert out.device.type == "cuda"
    assert_values_close(out.cpu().numpy(), model.decision_function(X))
