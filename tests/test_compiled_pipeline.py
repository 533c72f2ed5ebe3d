"""Pipelines, ColumnTransformers, Incremental and the input types of compiled models."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import MiniBatchKMeans
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier, SGDRegressor
from sklearn.naive_bayes import MultinomialNB
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler
from sklearn.svm import SVC

import outofcore as ooc
from outofcore.compiled._pipeline import _STREAM_BYTES
from outofcore.compiled._testing import assert_labels_match, assert_values_close


def _frame(X):
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])


@pytest.mark.parametrize("remainder", ["drop", "passthrough"])
@pytest.mark.parametrize("by_name", [True, False])
def test_column_transformer_parity(remainder, by_name, classification_data):
    """ColumnTransformer over numeric columns (by name or index) + a model matches sklearn."""
    X, y = classification_data
    df = _frame(X)
    cols = (["f0", "f1"], ["f3"]) if by_name else ([0, 1], [3])
    ct = ColumnTransformer([("std", StandardScaler(), cols[0]),
                            ("mm", make_pipeline(MinMaxScaler(), PCA(n_components=1)), cols[1])],
                           remainder=remainder)
    model = make_pipeline(ct, LogisticRegression()).fit(df if by_name else X, y)
    compiled = ooc.compile_pipeline(model)
    data = df if by_name else X
    assert_values_close(compiled.predict_proba(data), model.predict_proba(data))
    assert_values_close(ooc.compile_pipeline(model[0]).transform(data), model[0].transform(data))


def test_column_transformer_slices_and_masks(classification_data):
    """Slices, boolean masks and a 'passthrough' transformer resolve to the same columns."""
    X, y = classification_data
    mask = np.array([False, True, False, True, False])
    ct = ColumnTransformer([("a", StandardScaler(), slice(0, 2)), ("b", "passthrough", mask),
                            ("c", "drop", [4])])
    ct.fit(X)
    assert_values_close(ooc.compile_pipeline(ct).transform(X), ct.transform(X))


def test_pandas_columns_are_reordered(classification_data):
    """A DataFrame with shuffled columns is reordered to the fitted names, like sklearn."""
    X, y = classification_data
    df = _frame(X)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df, y)
    shuffled = df[["f3", "f0", "f4", "f2", "f1"]]
    compiled = ooc.compile_pipeline(model)
    assert list(compiled.feature_names_in_) == list(df.columns)
    assert_labels_match(compiled.predict(shuffled), model.predict(df))
    with pytest.raises(ValueError, match=r"columns \['f4'\] are missing"):
        compiled.predict(df.drop(columns="f4"))


@pytest.mark.parametrize("device_input", ["numpy", "torch", "float64"])
def test_input_types(device_input, classification_data):
    """numpy, float64 numpy and torch inputs give the same labels; torch in gives torch out."""
    X, y = classification_data
    model = make_pipeline(StandardScaler(), SGDClassifier(random_state=0)).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    data = {"numpy": X, "torch": torch.from_numpy(X), "float64": X.astype(np.float64)}[device_input]
    pred = compiled.predict(data)
    assert isinstance(pred, torch.Tensor) == (device_input == "torch")
    assert_labels_match(np.asarray(pred), model.predict(X))


def test_wrong_shape_is_explained(classification_data):
    """Wrong feature counts and 1-D input raise errors that name the expected shape."""
    X, y = classification_data
    compiled = ooc.compile_pipeline(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
    with pytest.raises(ValueError, match="expects 2-D input with 5 features"):
        compiled.predict(X[:, :3])
    with pytest.raises(ValueError, match="reshape"):
        compiled.predict(X[0])


def test_unsupported_step_names_class_and_alternatives(classification_data):
    """An unsupported estimator raises TypeError naming it, its step, and the supported classes."""
    X, y = classification_data
    model = make_pipeline(StandardScaler(), SVC()).fit(X[:200], y[:200])
    expected = r"step 'svc'.*sklearn.svm._classes.SVC.*Supported:.*LogisticRegression"
    with pytest.raises(TypeError, match=expected):
        ooc.compile_pipeline(model)
    with pytest.raises(TypeError, match="OneHotEncoder"):
        ooc.compile_pipeline(OneHotEncoder().fit(X[:10]))


def test_predictor_in_the_middle_is_refused(classification_data):
    """A predictor that is not the last step cannot be compiled (it has no transform)."""
    X, y = classification_data
    Xs = StandardScaler().fit_transform(X)
    model = Pipeline([("lr", LogisticRegression().fit(Xs, y)),
                      ("nb", MultinomialNB().fit(np.abs(Xs), y))])
    with pytest.raises(TypeError, match="only be the last step"):
        ooc.compile_pipeline(model)


def test_unfitted_model_is_refused():
    """Compiling an unfitted estimator says to fit it first."""
    with pytest.raises(ValueError, match="not fitted"):
        ooc.compile_pipeline(LogisticRegression())


def test_passthrough_steps_and_methods(classification_data):
    """'passthrough' steps are skipped; methods the model lacks are absent on the compiled one."""
    X, y = classification_data
    model = Pipeline([("skip", "passthrough"), ("std", StandardScaler()),
                      ("sgd", SGDClassifier(loss="hinge", random_state=0))]).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert not hasattr(compiled, "predict_proba") and not hasattr(compiled, "transform")
    assert_values_close(compiled.decision_function(X), model.decision_function(X))
    with pytest.raises(AttributeError, match="offers predict, decision_function, score"):
        compiled.predict_proba(X)


def _incremental_models():
    return {
        "sgd": (SGDClassifier(loss="log_loss", random_state=0), "classifier"),
        "sgd-regressor": (SGDRegressor(random_state=0), "regressor"),
        "mlp": (MLPClassifier(hidden_layer_sizes=(8,), random_state=0), "classifier"),
        "kmeans": (MiniBatchKMeans(n_clusters=3, random_state=0, n_init=1), "clusterer"),
        "ipca": (IncrementalPCA(n_components=2), "transformer"),
    }


@pytest.mark.parametrize("name", list(_incremental_models()))
def test_incremental_is_unwrapped(name, classification_data):
    """Incremental(estimator) compiles to its fitted estimator_ with the same outputs."""
    X, y = classification_data
    est, task = _incremental_models()[name]
    target = y.astype(np.float64) if task == "regressor" else y
    model = ooc.Incremental(est, epochs=2, random_state=0).fit(StandardScaler().fit_transform(X), target)
    compiled = ooc.compile_pipeline(model)
    Xs = StandardScaler().fit_transform(X)
    method = "transform" if task == "transformer" else "predict"
    ours, ref = getattr(compiled, method)(Xs), getattr(model.estimator_, method)(Xs)
    if task in ("classifier", "clusterer"):
        assert_labels_match(ours, ref)
    else:
        assert_values_close(ours, ref)


def test_repr_and_to_device(classification_data):
    """repr names the source model; to('cpu') builds an equivalent copy."""
    X, y = classification_data
    model = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert "RandomForestClassifier" in repr(compiled)
    moved = compiled.to("cpu")
    assert moved is not compiled
    np.testing.assert_array_equal(moved.predict(X), model.predict(X))


@pytest.mark.parametrize("make", [
    lambda: make_pipeline(StandardScaler(), SGDClassifier(random_state=0)),
    lambda: make_pipeline(StandardScaler(), LogisticRegression()),
    lambda: MiniBatchKMeans(n_clusters=5, n_init=1, random_state=0),
], ids=["scaler+sgd", "logistic", "kmeans"])
def test_single_pass_heads_run_large_batches_whole(make, classification_data):
    """A head that reads each row once predicts a million rows in one call; same labels as chunks.

    Layered outputs (probabilities) keep the cache-sized chunks.
    """
    X, y = classification_data
    model = make().fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert compiled._rows_per_chunk(10**6, "predict") >= 10**6
    if hasattr(model, "predict_proba"):
        assert compiled._rows_per_chunk(10**6, "predict_proba") < 10**5
    chunked = ooc.compile_pipeline(model, batch_size=7)
    np.testing.assert_array_equal(compiled.predict(X), chunked.predict(X))
    assert_labels_match(compiled.predict(X), model.predict(X))


def test_mlp_keeps_cache_sized_chunks(classification_data):
    X, y = classification_data
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    compiled = ooc.compile_pipeline(model)
    rows = compiled._rows_per_chunk(10**6, "predict")
    # Chunks within the MLP's cache budget, not the whole-batch budget of single-pass heads.
    assert rows * compiled._fixed_bytes <= compiled._head.cpu_chunk_bytes < _STREAM_BYTES
    assert rows < 10**6


def test_column_ordered_input_is_used_as_it_is_where_the_head_reads_columns(classification_data):
    """A linear head's predict and decision_function read a column-ordered (Fortran) block
    without copying it; other methods and heads copy it to rows first. Outputs are the same."""
    X, y = classification_data
    XF = np.asfortranarray(X)
    linear = ooc.compile_pipeline(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y))
    for method in ("predict", "decision_function"):
        assert linear._takes_columns(method)
        assert np.shares_memory(linear._tensor(XF, method).numpy(), XF)
    assert not linear._takes_columns("predict_proba")
    assert not np.shares_memory(linear._tensor(XF, "predict_proba").numpy(), XF)
    np.testing.assert_array_equal(linear.predict(XF), linear.predict(X))
    np.testing.assert_allclose(linear.decision_function(XF), linear.decision_function(X),
                               rtol=1e-5, atol=1e-6)
    kmeans = ooc.compile_pipeline(MiniBatchKMeans(n_clusters=3, n_init=1, random_state=0).fit(X))
    unfused = ooc.compile_pipeline(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
                                   fuse=False)
    assert not kmeans._takes_columns("predict")
    np.testing.assert_array_equal(kmeans.predict(XF), kmeans.predict(X))
    assert unfused.graph.steps and not unfused._takes_columns("predict")
    np.testing.assert_array_equal(unfused.predict(XF), linear.predict(X))
