"""ColumnTransformer: equal to scikit-learn's on the same data, fitted in shared passes out of core."""

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.compose import ColumnTransformer as SkColumnTransformer
from sklearn.compose import make_column_selector
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, KBinsDiscretizer
from sklearn.preprocessing import MinMaxScaler as SkMinMaxScaler
from sklearn.preprocessing import StandardScaler as SkStandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import outofcore as ooc
from outofcore.io import plan


@pytest.fixture(scope="module")
def frame():
    """Numbers on different scales, a string column and a 0/1 target."""
    rng = np.random.default_rng(4)
    n = 300
    return pd.DataFrame({
        "a": rng.normal(size=n) * 10 + 3, "b": rng.normal(size=n) * 0.1, "c": rng.normal(size=n),
        "city": rng.choice(["Oslo", "Lima", "Pune"], size=n), "t": rng.integers(0, 2, size=n),
    })


def _read(frame, tmp_path, block_rows):
    frame.to_parquet(tmp_path / "f.parquet", row_group_size=64)
    return ooc.read_parquet(tmp_path / "f.parquet", target="t", block_rows=block_rows,
                            dtype="float64")


CASES = {
    "scaler+passthrough": (
        lambda ooc_or_sk: [("s", ooc_or_sk["StandardScaler"](), ["a", "b"]),
                           ("p", "passthrough", ["c"])], "drop"),
    "pipeline branch": (
        lambda m: [("chain", make_pipeline(m["StandardScaler"](), FunctionTransformer(np.tanh),
                                           m["MinMaxScaler"]()), ["a", "c"])], "drop"),
    "remainder passthrough": (
        lambda m: [("s", m["MinMaxScaler"](), ["b"]), ("d", "drop", ["city"])], "passthrough"),
    "selector": (
        lambda m: [("s", m["StandardScaler"](), make_column_selector(dtype_include="number"))],
        "drop"),
}
OURS = {"StandardScaler": ooc.StandardScaler, "MinMaxScaler": ooc.MinMaxScaler}
SKLEARN = {"StandardScaler": SkStandardScaler, "MinMaxScaler": SkMinMaxScaler}


@pytest.mark.parametrize("block_rows", [1, 37, 1000])
@pytest.mark.parametrize("case", sorted(CASES))
def test_out_of_core_equals_sklearn_in_memory(frame, tmp_path, case, block_rows):
    """Fitted on a Table in blocks of 1, uneven and more than the data, the output, its names
    and the fitted steps equal scikit-learn's ColumnTransformer on the whole frame."""
    make, remainder = CASES[case]
    X, _ = _read(frame, tmp_path, block_rows)
    if case == "selector":
        X = X[["a", "b", "c"]]
    ours = ooc.ColumnTransformer(make(OURS), remainder=remainder).fit(X)
    data = frame.drop(columns="t")[list(X.columns)]
    reference = SkColumnTransformer(make(SKLEARN), remainder=remainder).fit(data)
    out = ours.transform(X)
    assert isinstance(out, da.Array) and out.chunks[0] == X.chunks[0]
    assert_allclose(out.compute(), reference.transform(data), rtol=1e-9, atol=1e-12)
    if case != "pipeline branch":  # FunctionTransformer has no output names, in either
        assert_array_equal(ours.get_feature_names_out(), reference.get_feature_names_out())
    assert [t[0] for t in ours.transformers_] == [t[0] for t in reference.transformers_]


def test_in_memory_input_equals_sklearn(frame):
    """Pandas in, NumPy out, as scikit-learn's; integer column positions on NumPy input."""
    data = frame[["a", "b", "c"]]
    ours = ooc.ColumnTransformer([("s", ooc.StandardScaler(), ["a"])], remainder="passthrough")
    reference = SkColumnTransformer([("s", SkStandardScaler(), ["a"])], remainder="passthrough")
    assert_allclose(ours.fit_transform(data), reference.fit_transform(data), rtol=1e-12)
    ours = ooc.ColumnTransformer([("s", ooc.StandardScaler(), [2, 0])])
    reference = SkColumnTransformer([("s", SkStandardScaler(), [2, 0])])
    assert_allclose(ours.fit_transform(data.to_numpy()),
                    reference.fit_transform(data.to_numpy()), rtol=1e-12)


def test_weights_and_output_indices(frame):
    """transformer_weights multiply a branch; output_indices_ say where each branch lands."""
    data = frame[["a", "b", "c"]]
    kwargs = dict(transformer_weights={"p": 3.0})
    ours = ooc.ColumnTransformer([("s", ooc.StandardScaler(), ["a"]), ("p", "passthrough", ["b"])],
                                 **kwargs).fit(data)
    reference = SkColumnTransformer([("s", SkStandardScaler(), ["a"]),
                                     ("p", "passthrough", ["b"])], **kwargs).fit(data)
    assert_allclose(ours.transform(data), reference.transform(data), rtol=1e-12)
    assert ours.output_indices_ == reference.output_indices_


def test_every_branch_is_fitted_in_shared_passes(frame, tmp_path, monkeypatch):
    """Branches fit together: a two-step branch beside one-step ones takes two passes, each
    reading every block once."""
    X, _ = _read(frame, tmp_path, 50)
    reads = []
    read = plan.Source.read
    monkeypatch.setattr(plan.Source, "read",
                        lambda self, i, columns, **kw: reads.append(i) or read(self, i, columns,
                                                                               **kw))
    ooc.ColumnTransformer([
        ("two", make_pipeline(ooc.StandardScaler(), ooc.MinMaxScaler()), ["a", "b"]),
        ("one", ooc.MaxAbsScaler(), ["c"]),
    ]).fit(X)
    assert sorted(reads) == sorted(list(range(X.numblocks)) * 2)


def test_a_step_that_needs_all_rows_is_refused(frame, tmp_path):
    """A scikit-learn step that learns from all rows at once is refused with what to use."""
    X, _ = _read(frame, tmp_path, 50)
    ct = ooc.ColumnTransformer([("bins", KBinsDiscretizer(quantile_method="averaged_inverted_cdf"),
                                 ["a"])])
    with pytest.raises(TypeError, match="KBinsDiscretizer in transformer 'bins' learns from all"):
        ct.fit(X)


def test_string_columns_passed_through_are_refused(frame, tmp_path):
    """Passing a string column through to the output is an error naming it, at transform."""
    X, _ = _read(frame, tmp_path, 50)
    ct = ooc.ColumnTransformer([("s", ooc.StandardScaler(), ["a"])], remainder="passthrough")
    with pytest.raises(TypeError, match=r"'city' holds string values.*remainder=\['city'\]"):
        ct.fit(X).transform(X).compute()


def test_in_a_pipeline_with_incremental(frame, tmp_path):
    """A ColumnTransformer feeding Incremental learns what scikit-learn's does in memory, over
    the same blocks in the same order."""
    X, y = _read(frame, tmp_path, 64)
    pipe = make_pipeline(
        ooc.ColumnTransformer([("s", ooc.StandardScaler(), ["a", "b", "c"])]),
        ooc.Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, shuffle_rows=False))
    pipe.fit(X, y)
    data = frame[["a", "b", "c"]].to_numpy()
    scaled = SkStandardScaler().fit_transform(data)
    expected = SGDClassifier(random_state=0)
    for lo, hi in zip(X.offsets[:-1], X.offsets[1:], strict=True):
        expected.partial_fit(scaled[lo:hi], frame["t"].to_numpy()[lo:hi], classes=[0, 1])
    assert_allclose(pipe[-1].coef_, expected.coef_, rtol=1e-10)
    assert_array_equal(pipe.predict(X).compute(), expected.predict(scaled))


def test_set_params_reaches_branches():
    """Nested parameters name a branch, as scikit-learn's."""
    ct = ooc.make_column_transformer((ooc.MinMaxScaler(), ["a"]), (ooc.MinMaxScaler(), ["b"]))
    ct.set_params(**{"minmaxscaler-2__clip": True})
    assert [t.clip for _, t, _ in ct.transformers] == [False, True]
    assert ct.get_params()["minmaxscaler-1__clip"] is False


@parametrize_with_checks([ooc.ColumnTransformer([("s", ooc.StandardScaler(), [0, 1])],
                                                remainder="passthrough")])
def test_sklearn_estimator_checks(estimator, check):
    """ColumnTransformer honours scikit-learn's estimator contract."""
    check(estimator)


def test_sparse_stacking_equals_scipy():
    """Dense and sparse branch outputs stack into the CSR matrix scipy's hstack gives."""
    import scipy.sparse as sp

    from outofcore.preprocessing.branches import hstack_csr

    rng = np.random.default_rng(3)
    parts = [sp.random(50, 7, density=0.3, format="csr", random_state=1), rng.normal(size=(50, 3)),
             sp.random(50, 4, density=0.5, format="csc", random_state=2), np.zeros((50, 0))]
    ours = hstack_csr(parts, np.float64)
    expected = sp.hstack([sp.csr_matrix(p) for p in parts], format="csr")
    assert ours.shape == expected.shape and ours.has_sorted_indices
    assert_array_equal(ours.toarray(), expected.toarray())


@pytest.mark.parametrize("scaler", ["StandardScaler", "MinMaxScaler", "MaxAbsScaler"])
@pytest.mark.parametrize("strategy", ["mean", "median"])
def test_impute_scale_and_dates_fit_in_one_pass(tmp_path, monkeypatch, scaler, strategy):
    """An imputer and the scaler after it, an encoder, and date features then an encoder fit in
    one pass over the data, and equal scikit-learn's pipeline on the whole frame."""
    from sklearn.impute import SimpleImputer as SkSimpleImputer
    from sklearn.preprocessing import MaxAbsScaler as SkMaxAbsScaler
    from sklearn.preprocessing import OneHotEncoder as SkOneHotEncoder

    rng = np.random.default_rng(8)
    n = 400
    numbers = rng.normal(size=(n, 3)) * [1, 10, 100] + [0, 5, -50]
    numbers[rng.random((n, 3)) < 0.1] = np.nan
    numbers[:, 2][:40] = np.nan
    frame = pd.DataFrame(numbers, columns=["a", "b", "c"])
    frame["city"] = rng.choice(["Oslo", "Lima", "Pune", "Rome"], size=n)
    frame["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s")
    frame.to_parquet(tmp_path / "m.parquet", row_group_size=64)
    X = ooc.read_parquet(tmp_path / "m.parquet", block_rows=64, dtype="float64")
    reads = []
    read = plan.Source.read
    monkeypatch.setattr(plan.Source, "read",
                        lambda self, i, columns, **kw: reads.append(i) or read(self, i, columns,
                                                                               **kw))
    scalers = {"StandardScaler": (ooc.StandardScaler, SkStandardScaler),
               "MinMaxScaler": (ooc.MinMaxScaler, SkMinMaxScaler),
               "MaxAbsScaler": (ooc.MaxAbsScaler, SkMaxAbsScaler)}[scaler]
    ours = ooc.make_column_transformer(
        (ooc.OneHotEncoder(sparse_output=False), ["city"]),
        (make_pipeline(ooc.SimpleImputer(strategy=strategy, add_indicator=True), scalers[0]()),
         ["a", "b", "c"]),
        (make_pipeline(ooc.DateTimeFeatures(features=("hour", "day_of_week")),
                       ooc.OneHotEncoder(sparse_output=False, handle_unknown="ignore")), ["ts"]),
    ).fit(X)
    assert sorted(reads) == list(range(X.numblocks))

    def times(f):
        return pd.DataFrame({"hour": f.iloc[:, 0].dt.hour, "dow": f.iloc[:, 0].dt.day_of_week})

    reference = SkColumnTransformer([
        ("onehotencoder", SkOneHotEncoder(sparse_output=False), ["city"]),
        ("pipeline-1", make_pipeline(SkSimpleImputer(strategy=strategy, add_indicator=True),
                                     scalers[1]()), ["a", "b", "c"]),
        ("pipeline-2", make_pipeline(FunctionTransformer(times),
                                     SkOneHotEncoder(sparse_output=False,
                                                     handle_unknown="ignore")), ["ts"]),
    ]).fit(frame)
    assert_allclose(ours.transform(X).compute(), reference.transform(frame), rtol=1e-9,
                    atol=1e-12)
