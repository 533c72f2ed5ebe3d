"""Model-specific behaviour of compiled models, beyond the catalogue: exact tree thresholds,
categorical and missing-value splits, float64, labels, refusals, and the GPU."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import ensemble, linear_model, preprocessing, tree
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline

import outofcore as ooc

from _parity import assert_labels_match, assert_values_close

PATHS = [True, False]  # cpu_kernels: the CPU kernel, then the tensor program


@pytest.mark.parametrize("cpu_kernels", PATHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_thresholds_between_float32_values(dtype, cpu_kernels, rng):
    """Inputs just below, at and above a float64 threshold route exactly like sklearn's float32 cast,
    one row and in a batch (where the kernel compares the bits of x as ordered keys); so do signed
    zeros and the smallest subnormals against a threshold of +0.0 or -0.0."""
    X = rng.normal(size=(400, 2)).astype(np.float32)
    for split in (0.1, 0.0, -0.0):
        model = tree.DecisionTreeClassifier(max_depth=1).fit(X, (X[:, 0] > split).astype(int))
        if split == 0.0:
            model.tree_.threshold[0] = split  # exactly a (signed) zero, not sklearn's midpoint
        t = np.float32(model.tree_.threshold[0])
        assert split != 0.0 or (t == 0 and np.signbit(t) == np.signbit(split))
        tiny = np.float32(1e-45)
        near = np.array([np.nextafter(t, -np.inf), t, np.nextafter(t, np.inf), -0.0, 0.0, tiny, -tiny, -t],
                        dtype=np.float32)
        Xn = np.column_stack([near, np.zeros(len(near), np.float32)])
        compiled = ooc.compile_pipeline(model, dtype=dtype, cpu_kernels=cpu_kernels)
        np.testing.assert_array_equal(compiled.predict(Xn[:1]), model.predict(Xn[:1]))
        np.testing.assert_array_equal(compiled.predict(np.tile(Xn, (5, 1))), model.predict(np.tile(Xn, (5, 1))))


@pytest.mark.parametrize("cpu_kernels", PATHS)
def test_hist_boosting_float64_thresholds_are_compared_in_float64(cpu_kernels, rng):
    """float64 values on both sides of an HGB threshold, closer than float32 can tell, go where
    sklearn sends them."""
    X = rng.normal(size=(2000, 1))
    model = ensemble.HistGradientBoostingRegressor(max_iter=1, max_depth=1, learning_rate=1.0)
    model.fit(X, (X[:, 0] > 0.3).astype(float))
    t = model._predictors[0][0].nodes["num_threshold"][0]
    near = np.array([[np.nextafter(t, -np.inf)], [t], [np.nextafter(t, np.inf)]])
    compiled = ooc.compile_pipeline(model, cpu_kernels=cpu_kernels)
    np.testing.assert_allclose(compiled.predict(near), model.predict(near), atol=1e-6)
    assert model.predict(near)[1] < 0.5 < model.predict(near)[2]  # the two sides differ


@pytest.mark.parametrize("cpu_kernels", PATHS)
@pytest.mark.parametrize("name", ["tree", "forest", "hgb"])
def test_missing_values_follow_training(name, cpu_kernels, rng):
    """NaN goes where sklearn sends it, also in a column that never had NaN in training."""
    X = rng.normal(size=(1500, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 1] = np.where(np.isnan(X[:, 1]), 0.0, X[:, 1])
    model = {"tree": tree.DecisionTreeClassifier(max_depth=6, random_state=0),
             "forest": ensemble.RandomForestClassifier(n_estimators=6, max_depth=5, random_state=0),
             "hgb": ensemble.HistGradientBoostingClassifier(max_iter=6, random_state=0)}[name].fit(X, y)
    X_test = X[:300].copy()
    X_test[:, 1] = np.nan
    compiled = ooc.compile_pipeline(model, cpu_kernels=cpu_kernels)
    assert_values_close(compiled.predict_proba(X_test), model.predict_proba(X_test))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["shallow forest", "deep forest", "deep hgb"])
def test_trees_of_every_depth_in_blocks_with_and_without_nan(name, dtype, rng):
    """The CPU kernel walks a tree's top levels without child pointers in blocks free of NaN and
    node by node elsewhere: trees shallower and deeper than those levels, NaN in some 256-row
    blocks only, and a batch that is not a multiple of eight rows all give scikit-learn's output."""
    X = rng.normal(size=(3000, 5))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + 0.3 * rng.normal(size=len(X)) > 0).astype(int)
    X[rng.random(X.shape) < 0.02] = np.nan
    model = {"shallow forest": ensemble.RandomForestClassifier(n_estimators=9, max_depth=4, random_state=0),
             "deep forest": ensemble.ExtraTreesClassifier(n_estimators=5, random_state=0),
             "deep hgb": ensemble.HistGradientBoostingClassifier(max_iter=10, max_leaf_nodes=63,
                                                                 random_state=0)}[name].fit(X, y)
    if name.endswith("hgb"):
        depth = max(p.get_max_depth() for stage in model._predictors for p in stage)
    else:
        depth = max(m.tree_.max_depth for m in model.estimators_)
    assert (depth > 8) == name.startswith("deep")
    X_test = rng.normal(size=(1027, 5)).astype(dtype)
    X_test[300:310, 2] = np.nan  # the second block of 256 rows only
    compiled = ooc.compile_pipeline(model)
    assert_values_close(compiled.predict_proba(X_test), model.predict_proba(X_test.astype(np.float64)))


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # its bin edges: inf - inf
@pytest.mark.parametrize("cpu_kernels", PATHS)
def test_hist_boosting_nan_threshold_sends_every_number_right(cpu_kernels):
    """Trained on many infinities, HistGradientBoosting can store a NaN threshold (a bin edge
    interpolated between -inf and inf); scikit-learn then sends every number right (``x <= nan`` is
    false) and NaN where the node says."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(800)
    for share, value in ((0.1, np.nan), (0.05, np.inf), (0.05, -np.inf)):
        x[rng.random(800) < share] = value
    y = np.nan_to_num(x, nan=2, posinf=5, neginf=-5)
    model = ensemble.HistGradientBoostingRegressor(max_iter=1, max_leaf_nodes=40, random_state=0)
    model.fit(x[:, None], y)
    nodes = model._predictors[0][0].nodes
    assert np.isnan(nodes["num_threshold"][~nodes["is_leaf"].astype(bool)]).any()
    X_test = np.concatenate([x, np.linspace(-4, 4, 81), [np.inf, -np.inf, np.nan]])[:, None]
    compiled = ooc.compile_pipeline(model, cpu_kernels=cpu_kernels, dtype="float64")
    assert_values_close(compiled.predict(X_test), model.predict(X_test))


@pytest.mark.parametrize("cpu_kernels", PATHS)
def test_hist_boosting_categorical_features(cpu_kernels, rng):
    """HGB with integer-coded categorical features: seen, unseen, negative and missing categories
    go where sklearn sends them."""
    n = 1500
    X = np.column_stack([rng.integers(0, 12, n), rng.integers(0, 3, n), rng.normal(size=n)]).astype(float)
    y = np.isin(X[:, 0], [1, 4, 5, 9]) * 2 + X[:, 1] + X[:, 2] + rng.normal(scale=0.1, size=n)
    X[rng.random(n) < 0.05, 0] = np.nan
    model = ensemble.HistGradientBoostingRegressor(max_iter=8, categorical_features=[0, 1],
                                                   random_state=0).fit(X, y)
    X_test = X[:500].copy()
    X_test[:20, 0] = [12, 40, -1, np.nan, 3.0] * 4  # unseen, unseen, negative, missing, seen
    compiled = ooc.compile_pipeline(model, cpu_kernels=cpu_kernels)
    assert_values_close(compiled.predict(X_test), model.predict(X_test))


@pytest.mark.parametrize("marker", [np.nan, np.float32("nan"), np.float16("nan")])
def test_imputer_missing_values_nan_of_any_float_type(marker, rng):
    """SimpleImputer(missing_values=...) given NaN as a NumPy float32 or float16 imputes NaN, as in
    scikit-learn."""
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] > 0).astype(int)
    X[rng.random(X.shape) < 0.2] = np.nan
    from sklearn.impute import SimpleImputer

    model = make_pipeline(SimpleImputer(missing_values=marker), linear_model.LogisticRegression()).fit(X, y)
    assert_values_close(ooc.compile_pipeline(model).predict_proba(X), model.predict_proba(X))


def test_gradient_boosting_custom_init_is_refused(regression_data):
    """A non-constant init estimator raises an error naming it."""
    X, y = regression_data
    model = ensemble.GradientBoostingRegressor(n_estimators=3, init=linear_model.LinearRegression())
    with pytest.raises(ValueError, match="LinearRegression"):
        ooc.compile_pipeline(model.fit(X, y))


@pytest.mark.parametrize("source", ["sklearn", "outofcore"])
@pytest.mark.parametrize("kind", ["StandardScaler", "MinMaxScaler", "MaxAbsScaler"])
def test_scaler_transform_parity(source, kind, classification_data):
    """Each scaler's compiled transform equals its own transform, a constant column included."""
    X, _ = classification_data
    X = X.copy()
    X[:, 2] = 3.0
    scaler = getattr(preprocessing if source == "sklearn" else ooc, kind)().fit(X)
    assert_values_close(ooc.compile_pipeline(scaler).transform(X), np.asarray(scaler.transform(X)))


def test_clipping_scaler_stays_a_step(classification_data):
    """A clipping MinMaxScaler is not folded into the model, so out-of-range inputs clip first."""
    X, y = classification_data
    model = make_pipeline(preprocessing.MinMaxScaler(clip=True), linear_model.LogisticRegression())
    model.fit(X[:1000], y[:1000])
    compiled = ooc.compile_pipeline(model)
    assert [n.op for n in compiled.graph.steps] == ["affine"]
    assert_values_close(compiled.predict_proba(X[1000:] * 3.0), model.predict_proba(X[1000:] * 3.0))


@pytest.mark.parametrize("cpu_kernels", PATHS)
@pytest.mark.parametrize("model", [
    make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()),
    make_pipeline(preprocessing.StandardScaler(), MLPClassifier(hidden_layer_sizes=(8,), max_iter=300,
                                                                random_state=0)),
], ids=["logistic", "mlp"])
def test_float64_is_tighter(model, cpu_kernels, classification_data):
    """dtype='float64' reproduces sklearn's float64 probabilities to 1e-9."""
    X, y = classification_data
    X64 = X.astype(np.float64)
    model.fit(X64, np.array(["low", "mid", "high"], dtype=object)[y])
    compiled = ooc.compile_pipeline(model, dtype="float64", cpu_kernels=cpu_kernels)
    np.testing.assert_allclose(compiled.predict_proba(X64), model.predict_proba(X64), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(compiled.predict(X64), model.predict(X64))


def test_float_class_labels_are_mapped(classification_data):
    """Float class labels come back as the same labels, not indices."""
    X, y = classification_data
    labels = np.array([-1.0, 0.0, 7.0])
    model = make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression())
    pred = ooc.compile_pipeline(model.fit(X, labels[y])).predict(X)
    assert pred.dtype == model.predict(X).dtype
    assert_labels_match(pred, model.predict(X))


def test_kmeans_weighted_score(classification_data, rng):
    """score with sample_weight weights each row's squared distance."""
    X, _ = classification_data
    w = rng.uniform(0.1, 2.0, size=len(X))
    model = KMeans(n_clusters=3, n_init=1, random_state=0).fit(X)
    compiled = ooc.compile_pipeline(model)
    assert compiled.score(X, sample_weight=w) == pytest.approx(model.score(X, sample_weight=w), rel=1e-4)


def test_multilabel_mlp_is_refused(classification_data):
    """A multi-label MLPClassifier raises an error that says what is supported."""
    X, y = classification_data
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    model = MLPClassifier(hidden_layer_sizes=(4,), max_iter=300, random_state=0).fit(X, Y)
    with pytest.raises(ValueError, match="multi-label"):
        ooc.compile_pipeline(model)


@pytest.mark.gpu
@pytest.mark.parametrize("make", [
    lambda: ensemble.RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0),
    lambda: ensemble.HistGradientBoostingClassifier(max_iter=10, random_state=0),
    lambda: make_pipeline(preprocessing.StandardScaler(), linear_model.SGDClassifier(loss="log_loss")),
    lambda: make_pipeline(preprocessing.StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,),
                                                                        max_iter=300, random_state=0)),
    lambda: KMeans(n_clusters=5, n_init=1, random_state=0),
], ids=["forest", "hgb", "linear", "mlp", "kmeans"])
def test_on_gpu(make, classification_data):
    """On CUDA the tensor programs give sklearn's outputs; torch input stays on the GPU."""
    X, y = classification_data
    model = make().fit(X, y)
    compiled = ooc.compile_pipeline(model, device="cuda")
    assert_labels_match(compiled.predict(X), model.predict(X))
    method = "predict_proba" if hasattr(model, "predict_proba") else "transform"
    assert_values_close(getattr(compiled, method)(X), getattr(model, method)(X))
    out = getattr(compiled, method)(torch.as_tensor(X, device="cuda"))
    assert out.device.type == "cuda"


@pytest.mark.gpu
def test_table_model_on_gpu():
    """A ColumnTransformer with string categories runs on CUDA: lookups on the host, the rest there."""
    from _catalogue import catalogue, unseen_rows

    model, X, _ = catalogue()["onehot+logistic"]
    rows = unseen_rows(X)
    compiled = ooc.compile_pipeline(model, device="cuda")
    assert_values_close(compiled.predict_proba(rows), model.predict_proba(rows))


@pytest.mark.parametrize("rows", [1, 100])  # a few rows looked up one by one, many by a vectorised lookup
@pytest.mark.parametrize("missing", [None, np.nan])
def test_string_columns_of_every_kind_encode_like_sklearn(missing, rows):
    """A string column as object (None or NaN), category, str, string (pd.NA), arrow (null) or a
    NumPy object array encodes as sklearn encodes it (None and NaN are different categories to
    sklearn); arrow's null is the missing category the encoder saw, pd.NA is NaN (sklearn refuses
    pd.NA)."""
    import pyarrow as pa

    values = ["b", "a", None, "c", "a", "zz"] * rows
    train = pd.DataFrame({"s": pd.Series(["a", "b", "c", missing, "a"], dtype=object)})
    enc = preprocessing.OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train)
    compiled = ooc.compile_pipeline(enc)
    for dtype in (object, "category", "str"):
        frame = pd.DataFrame({"s": pd.Series(values, dtype=dtype)})
        np.testing.assert_array_equal(compiled.transform(frame), enc.transform(frame))
    as_objects = np.array(values, dtype=object)[:, None]
    unnamed = preprocessing.OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train.to_numpy())
    np.testing.assert_array_equal(ooc.compile_pipeline(unnamed).transform(as_objects),
                                  unnamed.transform(as_objects))
    as_nan = enc.transform(pd.DataFrame({"s": pd.Series(values, dtype=object).fillna(np.nan)}))
    string = pd.DataFrame({"s": pd.Series(values, dtype="string")})
    np.testing.assert_array_equal(compiled.transform(string), as_nan)
    seen = enc.transform(pd.DataFrame({"s": pd.Series(values, dtype=object).fillna(missing)}))
    table = pa.table({"s": pa.array(values)})
    np.testing.assert_array_equal(compiled.transform(table), seen)
    np.testing.assert_array_equal(compiled.transform(table.to_batches()[0]), seen)


def test_duplicated_column_names_are_refused_by_name():
    """A DataFrame holding a fitted column twice is refused, as scikit-learn refuses it, with the
    column named (a lookup by name cannot tell the copies apart)."""
    train = pd.DataFrame({"s": pd.Series(["a", "b", "a"], dtype=object), "x": [0.0, 1.0, 2.0]})
    model = make_pipeline(ColumnTransformer([("c", preprocessing.OneHotEncoder(), ["s"])], remainder="passthrough"),
                          linear_model.LogisticRegression()).fit(train, [0, 1, 0])
    twice = pd.concat([train, train[["x"]]], axis=1)
    with pytest.raises(Exception):
        model.predict(twice)
    with pytest.raises(ValueError, match=r"columns \['x'\] appear more than once"):
        ooc.compile_pipeline(model).predict(twice)


