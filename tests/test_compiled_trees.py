"""Compiled decision trees and ensembles agree with scikit-learn under every tree strategy."""

import numpy as np
import pytest
from sklearn import ensemble, tree

import outofcore as ooc
from outofcore.compiled._testing import assert_labels_match, assert_values_close
from outofcore.compiled._tree_modules import auto_strategy, native_available

STRATEGIES = ["native", "gemm", "perfect", "traversal"]
if not native_available():
    STRATEGIES[0] = pytest.param("native", marks=pytest.mark.skip(reason="numba is not installed"))

CLASSIFIERS = {
    "tree": lambda: tree.DecisionTreeClassifier(max_depth=6, random_state=0),
    "forest": lambda: ensemble.RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0),
    "extra": lambda: ensemble.ExtraTreesClassifier(n_estimators=8, max_depth=5, random_state=0),
    "gb": lambda: ensemble.GradientBoostingClassifier(n_estimators=8, max_depth=3, learning_rate=0.3,
                                                      random_state=0),
    "hgb": lambda: ensemble.HistGradientBoostingClassifier(max_iter=8, max_depth=4, random_state=0),
}
REGRESSORS = {
    "tree": lambda: tree.DecisionTreeRegressor(max_depth=6, random_state=0),
    "forest": lambda: ensemble.RandomForestRegressor(n_estimators=8, max_depth=5, random_state=0),
    "extra": lambda: ensemble.ExtraTreesRegressor(n_estimators=8, max_depth=5, random_state=0),
    "gb": lambda: ensemble.GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0),
    "hgb": lambda: ensemble.HistGradientBoostingRegressor(max_iter=8, max_depth=4, random_state=0),
}


def _classification(classification_data, n_classes):
    X, y = classification_data
    return X, (y if n_classes == 3 else (y > 0).astype(np.int64))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_tree_classifier_parity(strategy, name, n_classes, classification_data):
    """Labels, probabilities and decision scores match for each strategy."""
    X, y = _classification(classification_data, n_classes)
    model = CLASSIFIERS[name]().fit(X[:1500], y[:1500])
    compiled = ooc.compile_pipeline(model, tree_strategy=strategy)
    Xte = X[1500:]
    assert_labels_match(compiled.predict(Xte), model.predict(Xte))
    assert_values_close(compiled.predict_proba(Xte), model.predict_proba(Xte))
    if hasattr(model, "decision_function"):
        assert_values_close(compiled.decision_function(Xte), model.decision_function(Xte))
    else:
        assert not hasattr(compiled, "decision_function")


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", REGRESSORS)
def test_tree_regressor_parity(strategy, name, regression_data):
    """Regression values match for each strategy."""
    X, y = regression_data
    model = REGRESSORS[name]().fit(X[:1500], y[:1500])
    compiled = ooc.compile_pipeline(model, tree_strategy=strategy)
    assert_values_close(compiled.predict(X[1500:]), model.predict(X[1500:]))


def test_multi_output_forest_regressor(regression_data):
    """A two-target forest predicts both columns."""
    X, y = regression_data
    Y = np.column_stack([y, y ** 2])
    model = ensemble.RandomForestRegressor(n_estimators=5, max_depth=4, random_state=0).fit(X, Y)
    assert_values_close(ooc.compile_pipeline(model).predict(X), model.predict(X))


@pytest.mark.parametrize("loss", ["exponential", "log_loss"])
@pytest.mark.parametrize("init", [None, "zero"])
def test_gradient_boosting_init_and_loss(loss, init, classification_data):
    """GradientBoosting with the default or zero init, log-loss or exponential loss, matches."""
    X, y = _classification(classification_data, 2)
    model = ensemble.GradientBoostingClassifier(n_estimators=10, max_depth=2, learning_rate=0.5,
                                                loss=loss, init=init, random_state=0).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert_values_close(compiled.decision_function(X), model.decision_function(X))
    assert_values_close(compiled.predict_proba(X), model.predict_proba(X))
    assert_labels_match(compiled.predict(X), model.predict(X))


def test_gradient_boosting_custom_init_is_refused(regression_data):
    """A non-constant init estimator raises an error naming it."""
    from sklearn.linear_model import LinearRegression

    X, y = regression_data
    model = ensemble.GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(X, y)
    with pytest.raises(ValueError, match="LinearRegression"):
        ooc.compile_pipeline(model)


@pytest.mark.parametrize("loss", ["poisson", "absolute_error"])
def test_hist_gradient_boosting_links(loss, regression_data):
    """HGB regressors with a log link (poisson) or identity link predict the same values."""
    X, y = regression_data
    target = np.exp(y / 4) if loss == "poisson" else y
    model = ensemble.HistGradientBoostingRegressor(loss=loss, max_iter=10, random_state=0).fit(X, target)
    assert_values_close(ooc.compile_pipeline(model).predict(X), model.predict(X))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", ["tree", "forest", "hgb"])
def test_missing_values_follow_training(strategy, name, classification_data, rng):
    """NaN rows go where sklearn sends them (learned direction, or the larger child)."""
    X, y = _classification(classification_data, 3)
    X = X.copy()
    X[rng.random(X.shape) < 0.1] = np.nan
    model = CLASSIFIERS[name]().fit(X[:1500], y[:1500])
    compiled = ooc.compile_pipeline(model, tree_strategy=strategy)
    Xte = X[1500:].copy()
    Xte[:, 1] = np.nan  # a whole column missing, also where training never saw it missing
    assert_values_close(compiled.predict_proba(Xte), model.predict_proba(Xte))


# Tree counts that are not multiples of four (7, and 21 for HGB's three classes).
ODD_ENSEMBLES = {
    "tree": lambda: tree.DecisionTreeClassifier(max_depth=6, random_state=0),
    "forest": lambda: ensemble.RandomForestClassifier(n_estimators=7, max_depth=5, random_state=0),
    "hgb": lambda: ensemble.HistGradientBoostingClassifier(max_iter=7, max_depth=4, random_state=0),
}


@pytest.mark.skipif(not native_available(), reason="numba is not installed")
@pytest.mark.parametrize("name", ODD_ENSEMBLES)
@pytest.mark.parametrize("train_nan", [False, True])
def test_few_rows_walk_like_the_block_kernel(name, train_nan, classification_data, rng):
    """Up to four rows are walked a row at a time, four trees side by side: the same sums as the
    block kernel, bit for bit, rows with NaN included."""
    X, y = _classification(classification_data, 3)
    X = X.copy()
    if train_nan:
        X[rng.random(X.shape) < 0.1] = np.nan
    model = ODD_ENSEMBLES[name]().fit(X[:1500], y[:1500])
    compiled = ooc.compile_pipeline(model)
    Xte = X[1500:1800].copy()
    Xte[1, 2] = Xte[3, 0] = np.nan
    block = compiled.predict_proba(Xte)
    for k in (1, 2, 3, 4):
        np.testing.assert_array_equal(compiled.predict_proba(Xte[:k]), block[:k])
        np.testing.assert_array_equal(compiled.predict(Xte[:k]), model.predict(Xte[:k]))
    assert_values_close(block, model.predict_proba(Xte))


def test_thresholds_between_float32_values(rng):
    """Inputs just below, at and above a float64 threshold route exactly like sklearn's float32 cast."""
    X = rng.normal(size=(400, 2)).astype(np.float32)
    y = (X[:, 0] > 0.1).astype(int)
    model = tree.DecisionTreeClassifier(max_depth=1).fit(X, y)
    t = np.float32(model.tree_.threshold[0])
    near = np.array([np.nextafter(t, -np.inf), t, np.nextafter(t, np.inf)], dtype=np.float32)
    Xn = np.column_stack([near, np.zeros(3, np.float32)])
    for dtype in ("float32", "float64"):
        assert_labels_match(ooc.compile_pipeline(model, dtype=dtype).predict(Xn), model.predict(Xn), 1.0)


def test_categorical_hgb_is_refused(rng):
    """HGB fitted with categorical features raises an error that names the columns."""
    X = np.column_stack([rng.integers(0, 4, 300), rng.normal(size=300)])
    y = (X[:, 0] > 1).astype(int)
    model = ensemble.HistGradientBoostingClassifier(max_iter=3, categorical_features=[0]).fit(X, y)
    with pytest.raises(ValueError, match=r"categorical features \(columns \[0\]\)"):
        ooc.compile_pipeline(model)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_chunked_batches_match(strategy, classification_data):
    """batch_size=7 (uneven chunks) gives the same result as one batch."""
    X, y = _classification(classification_data, 3)
    model = CLASSIFIERS["forest"]().fit(X, y)
    whole = ooc.compile_pipeline(model, tree_strategy=strategy).predict_proba(X[:100])
    chunked = ooc.compile_pipeline(model, tree_strategy=strategy, batch_size=7).predict_proba(X[:100])
    np.testing.assert_allclose(chunked, whole, rtol=1e-6)
    assert_values_close(chunked, model.predict_proba(X[:100]))


def test_deep_tree_uses_traversal(regression_data):
    """An unbounded-depth tree past the padding budget is walked with the general traversal."""
    X, y = regression_data
    model = ensemble.RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)
    depth = max(e.tree_.max_depth for e in model.estimators_)
    assert auto_strategy(depth, 3 * 2 ** depth, "cpu", 10_000) == "traversal"
    assert auto_strategy(depth, 3 * 2 ** depth, "cuda", 10_000) == "traversal"
    compiled = ooc.compile_pipeline(model)
    assert_values_close(compiled.predict(X), model.predict(X))
    with pytest.raises(ValueError, match="would pad"):
        ooc.compile_pipeline(model, tree_strategy="perfect").predict(X)


@pytest.mark.parametrize("device, rows, depth, native, expected", [
    ("cpu", 100_000, 3, False, "gemm"), ("cpu", 100_000, 8, False, "perfect"),
    ("cpu", 1, 4, False, "gemm"), ("cpu", 1, 4, True, "native"), ("cpu", 100_000, 30, True, "native"),
    ("cuda", 100_000, 4, True, "gemm"), ("cuda", 100_000, 8, True, "perfect"),
])
def test_auto_strategy_depends_on_depth_device_rows(device, rows, depth, native, expected):
    """auto picks the numba walk on CPU when it exists; otherwise GEMM for shallow trees (one level
    deeper on GPU or for tiny batches), else the perfect walk."""
    assert auto_strategy(depth, 100 * 2 ** depth, device, rows, native=native) == expected


def test_unknown_strategy_is_refused(classification_data):
    """An unknown tree_strategy raises an error listing the valid ones."""
    X, y = classification_data
    model = tree.DecisionTreeClassifier(max_depth=2).fit(X, y)
    with pytest.raises(ValueError, match="gemm"):
        ooc.compile_pipeline(model, tree_strategy="fastest")


@pytest.mark.gpu
@pytest.mark.parametrize("strategy", ["gemm", "perfect", "traversal"])
def test_forest_on_gpu(strategy, classification_data):
    """On CUDA every strategy reproduces sklearn's probabilities; torch input stays on the GPU."""
    import torch

    X, y = _classification(classification_data, 3)
    model = ensemble.RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0).fit(X, y)
    compiled = ooc.compile_pipeline(model, device="cuda", tree_strategy=strategy)
    assert_values_close(compiled.predict_proba(X), model.predict_proba(X))
    out = compiled.predict_proba(torch.as_tensor(X, device="cuda"))
    assert out.device.type == "cuda"
