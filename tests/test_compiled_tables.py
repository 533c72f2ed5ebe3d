"""Encoders on tables: unknown categories, warnings, numeric categories, encoders after other
steps, and dask DataFrames with string columns, compared with scikit-learn."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, OneHotEncoder, OrdinalEncoder

import outofcore as ooc

from _parity import assert_labels_match, assert_values_close


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"colour": rng.choice(["red", "green", "blue"], n).astype(object),
                       "grade": rng.integers(1, 4, n).astype(float), "x": rng.normal(size=n)})
    y = (df["colour"] == "red").to_numpy() ^ (df["x"] > 0).to_numpy()
    return df, y.astype(int)


@pytest.mark.parametrize("arrow", [False, True])
def test_unknown_category_raises_like_sklearn(arrow, frame):
    """handle_unknown='error': an unseen string raises ValueError naming it and its column."""
    import pyarrow as pa

    df, y = frame
    model = make_pipeline(ColumnTransformer([("c", OneHotEncoder(), ["colour"])], remainder="passthrough"),
                          LogisticRegression()).fit(df, y)
    bad = df.head(5).copy()
    bad.loc[bad.index[2], "colour"] = "mauve"
    with pytest.raises(ValueError, match="Found unknown categories"):
        model.predict(bad)
    with pytest.raises(ValueError, match=r"Found unknown categories \['mauve'\] in column 0.*'colour'"):
        ooc.compile_pipeline(model).predict(pa.Table.from_pandas(bad) if arrow else bad)


@pytest.mark.parametrize("params", [{"handle_unknown": "warn"},
                                    {"handle_unknown": "ignore", "drop": "first"}])
def test_unknown_category_warns_where_sklearn_warns(params, frame):
    """Where scikit-learn warns about unknown categories the compiled model warns too."""
    df, _ = frame
    enc = OneHotEncoder(sparse_output=False, **params).fit(df[["colour"]])
    unseen = pd.DataFrame({"colour": pd.Series(["red", "mauve"], dtype=object)})
    with pytest.warns(UserWarning, match="Found unknown categories"):
        expected = enc.transform(unseen)
    with pytest.warns(UserWarning, match="Found unknown categories"):
        np.testing.assert_array_equal(ooc.compile_pipeline(enc).transform(unseen), expected)


def test_numeric_categories_from_an_array(frame):
    """OneHotEncoder and OrdinalEncoder on numbers in a NumPy array, NaN and unseen values too."""
    df, _ = frame
    X = df[["grade"]].to_numpy()
    test = np.array([[1.0], [3.0], [np.nan], [7.0]])
    for enc in (OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)):
        enc.fit(np.vstack([X, [[np.nan]]]))
        np.testing.assert_array_equal(ooc.compile_pipeline(enc).transform(test), enc.transform(test))


def _ops(nodes):
    return [op for n in nodes for op in [n.op] + _ops(n.children)]


@pytest.mark.parametrize("cpu_kernels", [True, False])
def test_encoder_after_another_step(cpu_kernels, frame):
    """An encoder that reads another step's output maps numbers to codes in the tensor program
    (the ``recode`` step), with scikit-learn's outputs."""
    df, y = frame
    X = df[["grade", "x"]].to_numpy()
    model = make_pipeline(MaxAbsScaler(), ColumnTransformer(
        [("g", OneHotEncoder(handle_unknown="ignore"), [0])], remainder="passthrough"),
        LogisticRegression()).fit(X, y)
    test = np.vstack([X[:50], [[9.0, 0.1], [np.nan, 0.2]]])
    test = test[~np.isnan(test).any(axis=1)]
    compiled = ooc.compile_pipeline(model, cpu_kernels=cpu_kernels)
    assert "recode" in _ops(compiled.graph.steps)
    assert_values_close(compiled.predict_proba(test), model.predict_proba(test))


def test_encoder_after_another_step_refuses_to_raise(frame):
    """An encoder after another step with handle_unknown='error' is refused at compile time: the
    tensor program cannot raise for one row."""
    df, y = frame
    X = df[["grade"]].to_numpy()
    model = make_pipeline(MaxAbsScaler(), OneHotEncoder(), LogisticRegression()).fit(X, y)
    with pytest.raises(TypeError, match="handle_unknown='error'"):
        ooc.compile_pipeline(model)


def test_dask_dataframe_with_strings(frame):
    """A dask DataFrame with a string column predicts lazily, as sklearn on the whole frame."""
    import dask.array as da
    import dask.dataframe as dd

    df, y = frame
    model = make_pipeline(ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), ["colour"])],
                                            remainder="passthrough"), LogisticRegression()).fit(df, y)
    pred = ooc.compile_pipeline(model).predict(dd.from_pandas(df, npartitions=3))
    assert isinstance(pred, da.Array)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_labels_match(pred.compute(), model.predict(df))


class _LookAlikeEncoder(TransformerMixin, BaseEstimator):
    """An encoder that is not scikit-learn's class but has its fitted attributes (as outofcore's
    own OneHotEncoder will)."""

    def fit(self, X, y=None):
        return self


def test_a_look_alike_class_registers_with_sklearns_converter(frame, monkeypatch):
    """register(cls, converter) compiles another class with scikit-learn's fitted attributes."""
    from outofcore.compiled import _registry, register

    df, _ = frame
    fitted = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(df[["colour", "grade"]])
    twin = _LookAlikeEncoder()
    twin.__dict__.update(fitted.__dict__)
    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry.registry()))
    register(_LookAlikeEncoder, _registry.registry()[OneHotEncoder])
    test = df[["colour", "grade"]].head(20)
    np.testing.assert_array_equal(ooc.compile_pipeline(twin).transform(test), fitted.transform(test))
