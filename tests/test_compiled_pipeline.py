"""Pipelines, ColumnTransformers, input types and refusals of compiled models."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import MiniBatchKMeans
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, MinMaxScaler, StandardScaler
from sklearn.svm import SVC

import outofcore as ooc

from _parity import assert_labels_match, assert_values_close


def _frame(X):
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])


@pytest.mark.parametrize("remainder", ["drop", "passthrough"])
@pytest.mark.parametrize("by_name", [True, False])
def test_column_transformer_parity(remainder, by_name, classification_data):
    """ColumnTransformer over numeric columns (by name or index) + a model matches sklearn, and
    its transform alone too."""
    X, y = classification_data
    df = _frame(X)
    cols = (["f0", "f1"], ["f3"]) if by_name else ([0, 1], [3])
    ct = ColumnTransformer([("std", StandardScaler(), cols[0]),
                            ("mm", make_pipeline(MinMaxScaler(), PCA(n_components=1)), cols[1])],
                           remainder=remainder)
    model = make_pipeline(ct, LogisticRegression()).fit(df if by_name else X, y)
    data = df if by_name else X
    assert_values_close(ooc.compile_pipeline(model).predict_proba(data), model.predict_proba(data))
    assert_values_close(ooc.compile_pipeline(model[0]).transform(data), model[0].transform(data))


def test_column_transformer_slices_and_masks(classification_data):
    """Slices, boolean masks and a 'passthrough' transformer resolve to the same columns."""
    X, y = classification_data
    mask = np.array([False, True, False, True, False])
    ct = ColumnTransformer([("a", StandardScaler(), slice(0, 2)), ("b", "passthrough", mask),
                            ("c", "drop", [4])]).fit(X)
    assert_values_close(ooc.compile_pipeline(ct).transform(X), ct.transform(X))


def test_pandas_columns_are_reordered(classification_data):
    """A DataFrame with shuffled columns is reordered to the fitted names, like sklearn."""
    X, y = classification_data
    df = _frame(X)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df, y)
    compiled = ooc.compile_pipeline(model)
    assert list(compiled.feature_names_in_) == list(df.columns)
    assert_labels_match(compiled.predict(df[["f3", "f0", "f4", "f2", "f1"]]), model.predict(df))
    with pytest.raises(ValueError, match=r"columns \['f4'\] are missing"):
        compiled.predict(df.drop(columns="f4"))


def test_arrow_table_input(classification_data):
    """A pyarrow Table is read by column name, like a DataFrame."""
    import pyarrow as pa

    X, y = classification_data
    df = _frame(X)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(df, y)
    table = pa.Table.from_pandas(df[["f4", "f3", "f2", "f1", "f0"]], preserve_index=False)
    assert_values_close(ooc.compile_pipeline(model).predict_proba(table), model.predict_proba(df))


@pytest.mark.parametrize("kind", ["numpy", "torch", "float64", "fortran", "list"])
def test_input_types(kind, classification_data):
    """NumPy (any order and dtype), lists and torch inputs give the same labels; torch in gives
    torch out."""
    X, y = classification_data
    model = make_pipeline(StandardScaler(), SGDClassifier(random_state=0)).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    data = {"numpy": X, "torch": torch.from_numpy(X), "float64": X.astype(np.float64),
            "fortran": np.asfortranarray(X), "list": X.tolist()}[kind]
    pred = compiled.predict(data)
    assert isinstance(pred, torch.Tensor) == (kind == "torch")
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
    expected = r"step 'svc'.*sklearn.svm._classes.SVC.*Supported:.*LogisticRegression.*OneHotEncoder"
    with pytest.raises(TypeError, match=expected):
        ooc.compile_pipeline(model)
    with pytest.raises(TypeError, match="KBinsDiscretizer"):
        ooc.compile_pipeline(KBinsDiscretizer(quantile_method="averaged_inverted_cdf").fit(X[:100]))


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


def test_repr_and_to_device(classification_data):
    """repr names the source model; to('cpu') builds an equivalent copy."""
    X, y = classification_data
    model = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert "RandomForestClassifier" in repr(compiled)
    moved = compiled.to("cpu")
    assert moved is not compiled
    np.testing.assert_array_equal(moved.predict(X), model.predict(X))


def test_scalers_fold_into_the_linear_layer(classification_data):
    """Scaler + PCA + LogisticRegression compile to one linear head; unfused, the same outputs."""
    X, y = classification_data
    X = X - X.mean(axis=0)  # centred: the scaler's offsets are small enough to fold
    model = make_pipeline(StandardScaler(), PCA(n_components=3), LogisticRegression()).fit(X, y)
    fused, unfused = ooc.compile_pipeline(model), ooc.compile_pipeline(model, fuse=False)
    assert fused.graph.steps == [] and len(unfused.graph.steps) == 2
    for compiled in (fused, unfused):
        assert_values_close(compiled.predict_proba(X), model.predict_proba(X))


def test_a_scaler_far_from_zero_folds_as_a_centre():
    """A feature 1000 standard deviations from zero: folding its scaler into the weights and bias
    would sum float32 terms 1000 times the result; folded as a centre subtracted first,
    ``(x - centre) @ (scale W) + b``, float32 keeps its digits, in both block orders."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 4)).astype(np.float32)
    X[:, 0] += 1000.0
    y = (X[:, 0] - 1000 + X[:, 1] > 0).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert compiled.graph.steps == [] and "centre" in compiled.graph.head.arrays
    scores = np.abs(model.decision_function(X)).max()
    for block in (X, np.asfortranarray(X)):
        # float32 keeps about 1e-7 of the scores' scale; folded into the bias, the error was 2.5e-5.
        np.testing.assert_allclose(compiled.decision_function(block), model.decision_function(X),
                                   rtol=0, atol=1e-6 * scores)
        np.testing.assert_allclose(compiled.predict_proba(block), model.predict_proba(X), rtol=0,
                                   atol=1e-5)
    unfused = ooc.compile_pipeline(model, fuse=False)
    np.testing.assert_allclose(unfused.decision_function(X), model.decision_function(X), rtol=0,
                               atol=1e-6 * scores)


def test_column_ordered_input_is_used_as_it_is_where_the_head_reads_columns(classification_data):
    """A lone linear head reads a column-ordered (Fortran) block for predict, predict_proba and
    decision_function (``predict_to_parquet`` builds such blocks for it); others do not."""
    X, y = classification_data
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    linear = ooc.compile_pipeline(model)
    kmeans = ooc.compile_pipeline(MiniBatchKMeans(n_clusters=3, n_init=1, random_state=0).fit(X))
    assert all(linear._takes_columns(m) for m in ("predict", "predict_proba", "decision_function"))
    assert not kmeans._takes_columns("predict")
    XF = np.asfortranarray(X)
    assert_labels_match(linear.predict(XF), model.predict(X))
    assert_values_close(linear.decision_function(XF), model.decision_function(X))
    assert_values_close(linear.predict_proba(XF), model.predict_proba(X))
