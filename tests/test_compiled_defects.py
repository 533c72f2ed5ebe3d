"""Defects found by trying compiled models as a new user would; each compares with scikit-learn."""

import numpy as np
import pytest
import sklearn.linear_model
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier,
                              HistGradientBoostingRegressor)
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

import outofcore as ooc
from _parity import assert_labels_match, assert_values_close


@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def test_hist_gradient_boosting_on_float64_data_takes_sklearns_branches(diabetes):
    """HGB compares float64 input with float64 thresholds: the float32 compiled model must take
    the same branch on every row (a plain cast to float32 flipped 30 of 442 rows by up to 14)."""
    X, y = diabetes
    model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    np.testing.assert_allclose(compiled.predict(X), model.predict(X), rtol=1e-5, atol=1e-3)


def test_hist_gradient_boosting_probabilities_on_float64_data(diabetes):
    """Binary HGB probabilities on float64 data equal sklearn's to float32 rounding."""
    X, y = diabetes
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0).fit(X, y > 140)
    compiled = ooc.compile_pipeline(model)
    np.testing.assert_allclose(compiled.predict_proba(X), model.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("fused", [False, True])
def test_maxabs_scaler_clip_is_applied(fused, diabetes):
    """MaxAbsScaler(clip=True) clips out-of-range values to [-1, 1], alone and before a model."""
    X, y = diabetes
    X_out = X * 5.0
    if fused:
        model = make_pipeline(MaxAbsScaler(clip=True), LogisticRegression()).fit(X, y > 140)
        compiled = ooc.compile_pipeline(model)
        np.testing.assert_allclose(compiled.decision_function(X_out), model.decision_function(X_out),
                                   rtol=1e-4, atol=1e-4)
    else:
        model = MaxAbsScaler(clip=True).fit(X)
        compiled = ooc.compile_pipeline(model)
        np.testing.assert_allclose(compiled.transform(X_out), model.transform(X_out), atol=1e-6)


REFUSING_NAN = {
    "logistic": lambda: LogisticRegression(),
    "scaler+sgd": lambda: make_pipeline(StandardScaler(), SGDClassifier(random_state=0)),
    "kmeans": lambda: KMeans(n_clusters=3, n_init=1, random_state=0),
    "mlp": lambda: MLPClassifier(hidden_layer_sizes=(4,), max_iter=300, random_state=0),
    "gaussian-nb": lambda: GaussianNB(),
    "gradient-boosting": lambda: GradientBoostingClassifier(n_estimators=3, random_state=0),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", REFUSING_NAN)
@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("rows", [1, 3000])
def test_non_finite_input_raises_where_sklearn_raises(name, value, rows, diabetes):
    """A NaN or infinite feature raises ValueError where scikit-learn raises, at any batch size."""
    X, y = diabetes
    model = REFUSING_NAN[name]().fit(X, y > 140)
    bad = np.resize(X, (rows, X.shape[1])).astype(np.float32)
    bad[rows // 2, 3] = value
    with pytest.raises(ValueError):
        model.predict(bad)
    compiled = ooc.compile_pipeline(model)
    with pytest.raises(ValueError, match="(?i)nan|infinit"):
        compiled.predict(bad)


@pytest.mark.parametrize("path", ["kernel", "tensor"])
@pytest.mark.parametrize("value, dtype", [(np.inf, np.float32), (-np.inf, np.float64), (1e39, np.float64)])
@pytest.mark.parametrize("rows", [1, 3000])
def test_trees_route_nan_but_refuse_infinity_as_sklearn_does(path, value, dtype, rows, diabetes):
    """A forest takes NaN where its nodes say and refuses infinity, or a float64 value past
    float32's range, as scikit-learn does; the compiled model finds them as it walks the trees."""
    X, y = diabetes
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y > 140)
    rows_in = np.resize(X, (rows, X.shape[1])).astype(dtype)
    rows_in[rows // 2, 2] = np.nan
    compiled = ooc.compile_pipeline(model, cpu_kernels=path == "kernel")
    assert_labels_match(compiled.predict(rows_in), model.predict(rows_in))
    rows_in[(rows - 1) // 3, 5] = value
    with pytest.raises(ValueError), np.errstate(over="ignore"):  # scikit-learn's cast warns first
        model.predict(rows_in)
    with pytest.raises(ValueError, match=r"(?i)infinity in column 5|too large for float32 in column 5"):
        compiled.predict(rows_in)


def test_kmeans_predict_is_the_nearest_of_transform(rng):
    """k-means predict and transform use one distance: the label is the arg-min of the distances
    on every row, near-ties included (data far from the origin, points between two centres)."""
    centres = np.zeros((2, 8))
    centres[:, 0] = [-1.0, 1.0]
    X = np.vstack([centres + rng.normal(scale=0.1, size=(2, 8)) for _ in range(200)]) + 1000.0
    model = KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    mid = model.cluster_centers_.mean(axis=0)
    near = (mid + rng.normal(scale=1e-3, size=(5000, 8))).astype(np.float32)
    compiled = ooc.compile_pipeline(model)
    np.testing.assert_array_equal(compiled.predict(near), compiled.transform(near).argmin(axis=1))


@pytest.mark.parametrize("path", ["kernel", "tensor"])
def test_kmeans_far_from_the_origin_matches_sklearn(path, rng):
    """Features 1000 from zero, compiled in float32: labels, distances and score equal scikit-learn's
    (in float64 on the same values); the expansion |x|^2 - 2x.c + |c|^2 cancels there in float32."""
    X = rng.normal(size=(4000, 8)) * rng.uniform(0.5, 3.0, size=8) + 1000.0
    model = KMeans(n_clusters=6, n_init=1, random_state=0).fit(X)
    rows = (X[:3000] + rng.normal(scale=0.5, size=(3000, 8))).astype(np.float32)
    compiled = ooc.compile_pipeline(model, cpu_kernels=path == "kernel")
    assert_labels_match(compiled.predict(rows), model.predict(rows.astype(np.float64)))
    assert_values_close(compiled.transform(rows), model.transform(rows.astype(np.float64)))
    assert compiled.score(rows) == pytest.approx(model.score(rows.astype(np.float64)), rel=1e-4)


def test_compiles_after_sklearn_removes_passive_aggressive(monkeypatch, diabetes):
    """Compiling works in a scikit-learn without PassiveAggressive* (announced for 1.10)."""
    from outofcore.compiled import _registry

    for name in ("PassiveAggressiveClassifier", "PassiveAggressiveRegressor"):
        monkeypatch.delattr(sklearn.linear_model, name, raising=False)
    monkeypatch.setattr(_registry, "_REGISTRY", {})
    X, y = diabetes
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y > 140)
    np.testing.assert_array_equal(ooc.compile_pipeline(model).predict(X), model.predict(X))
