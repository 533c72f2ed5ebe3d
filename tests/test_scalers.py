"""Out-of-core scalers against scikit-learn's on the same data: fit on dask, transform, contract."""

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from dask.callbacks import Callback
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import preprocessing
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from outofcore.preprocessing.scalers import MaxAbsScaler, MinMaxScaler, StandardScaler

PAIRS = {
    "standard": (StandardScaler, preprocessing.StandardScaler, {}),
    "standard_no_mean": (StandardScaler, preprocessing.StandardScaler, {"with_mean": False}),
    "minmax": (MinMaxScaler, preprocessing.MinMaxScaler, {"feature_range": (-1, 2)}),
    "minmax_clip": (MinMaxScaler, preprocessing.MinMaxScaler, {"clip": True}),
    "maxabs": (MaxAbsScaler, preprocessing.MaxAbsScaler, {}),
}
ATTRIBUTES = (
    "n_features_in_", "n_samples_seen_", "mean_", "var_", "scale_",
    "data_min_", "data_max_", "data_range_", "min_", "max_abs_",
)  # fmt: skip
# Row chunkings of the 30-row test data: 1-row blocks, uneven, larger than the data.
CHUNKINGS = [1, (4, 11, 1, 14), 100]


def _data(seed, dtype=np.float64, n=30):
    """n x 4: scales far apart, a constant column, NaN in one column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) * [1, 50, 0, 0.01] + [0, -1e3, 7, 3]
    X[rng.choice(n, size=n // 5, replace=False), 3] = np.nan
    return X.astype(dtype)


def _pair(kind):
    ours, theirs, params = PAIRS[kind]
    return ours(**params), theirs(**params)


def _assert_same_fit(ours, reference):
    """Every fitted attribute scikit-learn sets is on ours with the same value (rtol 1e-6).

    The atol only matters for values that are zero in exact arithmetic, such as the variance of
    a constant column under non-integer weights (rounding leaves ~1e-30 there).
    """
    compared = 0
    for name in ATTRIBUTES:
        if hasattr(reference, name):
            expected = getattr(reference, name)
            if expected is None:
                assert getattr(ours, name) is None, name
            else:
                assert_allclose(getattr(ours, name), expected, rtol=1e-6, atol=1e-20, err_msg=name)
            compared += 1
    assert compared >= 4
    if hasattr(reference, "feature_names_in_"):
        assert_array_equal(ours.feature_names_in_, reference.feature_names_in_)
    else:
        assert not hasattr(ours, "feature_names_in_")


class _TaskCounter(Callback):
    """Counts the dask tasks run while it is active."""

    def __init__(self):
        super().__init__()
        self.tasks = 0

    def _pretask(self, key, dsk, state):
        self.tasks += 1


@parametrize_with_checks(
    [
        StandardScaler(),
        StandardScaler(with_mean=False),
        StandardScaler(with_mean=False, with_std=False),
        MinMaxScaler(),
        MinMaxScaler(feature_range=(-3, 0.5), clip=True),
        MaxAbsScaler(),
        MaxAbsScaler(clip=True),
    ]
)
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    """Each scaler passes every scikit-learn estimator check on NumPy input; none may fail."""
    # Without it sklearn skips its array-API-with-NumPy check; with it that check runs too.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.mark.parametrize("chunks", CHUNKINGS)
@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_fit_on_dask_array_matches_sklearn(kind, chunks):
    """Fitting on a dask array in any row chunking gives scikit-learn's attributes on all rows."""
    X = _data(0)
    ours, reference = _pair(kind)
    ours.fit(da.from_array(X, chunks=(chunks, 2)))
    _assert_same_fit(ours, reference.fit(X))


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_fit_on_dask_dataframe_matches_sklearn(kind):
    """A dask DataFrame fits like the pandas frame: same attributes and feature_names_in_."""
    frame = pd.DataFrame(_data(1), columns=["a", "b", "c", "d"])
    ours, reference = _pair(kind)
    ours.fit(dd.from_pandas(frame, npartitions=3))
    _assert_same_fit(ours, reference.fit(frame))
    assert list(ours.get_feature_names_out()) == ["a", "b", "c", "d"]


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_partial_fit_over_blocks_matches_sklearn(kind):
    """partial_fit block by block (dask and NumPy blocks mixed) equals sklearn's partial_fit."""
    X = _data(2, n=40)
    ours, reference = _pair(kind)
    for i, block in enumerate(np.split(X, [9, 10, 25])):
        ours.partial_fit(da.from_array(block, chunks=(4, 4)) if i % 2 == 0 else block)
        reference.partial_fit(block)
        _assert_same_fit(ours, reference)


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_fit_resets_what_partial_fit_accumulated(kind):
    """fit after partial_fit forgets earlier data, as scikit-learn's does."""
    ours, reference = _pair(kind)
    ours.partial_fit(da.from_array(_data(3), chunks=7))
    ours.fit(da.from_array(_data(4), chunks=7))
    _assert_same_fit(ours, reference.fit(_data(4)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_dask_transform_and_inverse_match_sklearn(kind, dtype):
    """Lazy transform and inverse_transform of held-out data give sklearn's values and dtype."""
    # Held-out data spread wider than the training data, so that clip=True has work to do.
    X, X_new = _data(5), _data(15) * 3
    if dtype is np.int64:
        X, X_new = (np.nan_to_num(A * 10).astype(np.int64) for A in (X, X_new))
    X, X_new = X.astype(dtype), X_new.astype(dtype)
    ours, reference = _pair(kind)
    Xt = ours.fit(da.from_array(X, chunks=(7, 4))).transform(da.from_array(X_new, chunks=(7, 4)))
    expected = reference.fit(X).transform(X_new)
    assert isinstance(Xt, da.Array)
    assert Xt.dtype == expected.dtype == (np.float64 if dtype is np.int64 else dtype)
    computed = Xt.compute()
    assert computed.dtype == expected.dtype
    assert_allclose(computed, expected, rtol=1e-6, atol=1e-6)
    back = ours.inverse_transform(da.from_array(expected, chunks=(7, 4))).compute()
    assert_allclose(back, reference.inverse_transform(expected), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_transform_is_lazy(kind):
    """transform on dask input runs no task until computed, for arrays and dataframes alike."""
    X = _data(6)
    frame = dd.from_pandas(pd.DataFrame(X, columns=list("abcd")), npartitions=3)
    array = da.from_array(X, chunks=8)
    fitted_on_frame, fitted_on_array = _pair(kind)[0].fit(frame), _pair(kind)[0].fit(array)
    counter = _TaskCounter()
    with counter:
        from_frame = fitted_on_frame.transform(frame)
        from_array = fitted_on_array.transform(array)
    assert counter.tasks == 0
    assert isinstance(from_frame, da.Array) and isinstance(from_array, da.Array)
    with counter:
        dask.compute(from_frame, from_array)
    assert counter.tasks > 0


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_transform_never_writes_to_the_input(kind):
    """Persisted dask blocks (shared, in memory) and copy=True NumPy input are left untouched."""
    X = _data(7)
    original = X.copy()
    # Persisted blocks are the very arrays every later computation receives: a block function
    # that wrote into its input would change them.
    shared = da.from_array(X, chunks=(6, 4)).persist()
    ours = _pair(kind)[0].fit(shared)
    dask.compute(ours.transform(shared), ours.inverse_transform(shared))
    assert_array_equal(shared.compute(), original)
    ours.transform(X)
    ours.inverse_transform(X)
    ours._transform_block(X, str)
    assert_array_equal(X, original)


def test_refit_does_not_change_a_pending_transform():
    """A lazy transform uses the statistics of the fit it was made from, even after a refit."""
    X = _data(8)
    scaler = StandardScaler().fit(X)
    pending = scaler.transform(da.from_array(X, chunks=10))
    expected = preprocessing.StandardScaler().fit(X).transform(X)
    scaler.fit(X * 3 + 1)
    assert_allclose(pending.compute(), expected, rtol=1e-12)


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_block_protocol_matches_sklearn(kind):
    """Fitted chunk by chunk and combined (as a ColumnTransformer does), a scaler's attributes
    and block transform equal scikit-learn's fit and transform on the whole data."""
    X = _data(9, dtype=np.float32)
    ours, reference = _pair(kind)
    reference.fit(X)
    ours._fit_begin(X[:0])
    ours._fit_finalize(ours._fit_combine([ours._fit_chunk(X[i:i + 7], str)
                                          for i in range(0, len(X), 7)]))
    for name in ("scale_", "mean_", "var_", "min_", "max_abs_"):
        if hasattr(reference, name) and getattr(reference, name) is not None:
            assert_allclose(getattr(ours, name), getattr(reference, name), rtol=1e-6)
    assert_allclose(ours._transform_block(X), reference.transform(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("weights_as", ["numpy", "dask"])
@pytest.mark.parametrize("with_mean, with_std", [(True, True), (False, True), (False, False)])
def test_sample_weight_on_dask_matches_sklearn(weights_as, with_mean, with_std):
    """Weighted fit on dask (weights rechunked to X's blocks) equals sklearn's weighted fit."""
    rng = np.random.default_rng(10)
    X = _data(10)
    weights = rng.uniform(0, 3, size=30)
    weights[:4] = 0
    params = {"with_mean": with_mean, "with_std": with_std}
    sample_weight = weights if weights_as == "numpy" else da.from_array(weights, chunks=9)
    dX = da.from_array(X, chunks=(7, 4))
    ours = StandardScaler(**params).fit(dX, sample_weight=sample_weight)
    _assert_same_fit(ours, preprocessing.StandardScaler(**params).fit(X, sample_weight=weights))


def test_sample_weight_errors_on_dask():
    """Dask sample weights of the wrong length, or all zero, are rejected like sklearn's."""
    dX = da.from_array(_data(11), chunks=10)
    with pytest.raises(ValueError, match="30 rows but sample_weight has 29"):
        StandardScaler().fit(dX, sample_weight=np.ones(29))
    with pytest.raises(ValueError, match="non-zero"):
        StandardScaler().fit(dX, sample_weight=da.zeros(30, chunks=10))


@pytest.mark.parametrize("chunks", [7, 100])
def test_float32_far_from_zero_keeps_float64_precision(chunks):
    """float32 data around 1e6 gets the float64 mean and variance, as scikit-learn does."""
    rng = np.random.default_rng(12)
    X = (1e6 + rng.normal(size=(300, 3))).astype(np.float32)
    scaler = StandardScaler().fit(da.from_array(X, chunks=(chunks, 3)))
    reference = X.astype(np.float64)
    assert_allclose(scaler.mean_, reference.mean(axis=0), rtol=1e-13)
    assert_allclose(scaler.var_, reference.var(axis=0), rtol=1e-8)


@pytest.mark.parametrize("kind", ["standard", "minmax", "maxabs"])
def test_infinity_is_an_error_naming_the_column(kind):
    """Infinity fails fit (dask or NumPy; left unfitted) and dask transform, naming the column."""
    X = _data(13)
    X[5, 2] = np.inf
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    ours = _pair(kind)[0]
    with pytest.raises(ValueError, match=r"infinity in column 2 \('c'\)"):
        ours.fit(dd.from_pandas(frame, npartitions=3))
    with pytest.raises(NotFittedError):
        ours.transform(frame)
    with pytest.raises(ValueError, match=r"infinity in column 2 \('c'\)"):
        ours.fit(frame)
    with pytest.raises(ValueError, match=r"infinity in column 2\."):
        ours.fit(da.from_array(X, chunks=4))
    ours.fit(np.nan_to_num(X, posinf=0.0))
    pending = ours.transform(da.from_array(X, chunks=4))
    with pytest.raises(ValueError, match=r"infinity in column 2"):
        pending.compute()


@pytest.mark.parametrize(
    "X, message",
    [
        (da.ones(5, chunks=2), "2-D"),
        (da.ones((0, 3), chunks=2), "at least one row"),
        (da.from_array(np.array([["a", "b"]], dtype=object), chunks=1), "numeric columns"),
    ],
)
def test_unusable_dask_input_raises_a_clear_error(X, message):
    """1-D, empty and non-numeric dask inputs are refused before any pass over the data."""
    with pytest.raises(ValueError, match=message):
        MinMaxScaler().fit(X)


def test_dask_feature_checks_follow_sklearn():
    """A dask input with a different width or different column names is refused or warned about."""
    frame = pd.DataFrame(_data(14), columns=["a", "b", "c", "d"])
    scaler = StandardScaler().fit(dd.from_pandas(frame, npartitions=2))
    with pytest.raises(ValueError, match="missing"):
        scaler.transform(dd.from_pandas(frame[["a", "b", "c"]], npartitions=2))
    with pytest.raises(ValueError, match="X has 3 features"):
        StandardScaler().fit(da.ones((4, 4), chunks=2)).transform(da.ones((4, 3), chunks=2))
    renamed = dd.from_pandas(frame.rename(columns={"a": "z"}), npartitions=2)
    with pytest.raises(ValueError, match="feature names should match"):
        scaler.transform(renamed)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        scaler.transform(da.ones((4, 4), chunks=2))
