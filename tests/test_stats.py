"""chunk / combine / finalize statistic records against NumPy and scikit-learn on the whole data."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler

from outofcore.preprocessing import scaler_attributes
from outofcore.preprocessing import stats as _stats

# Row boundaries of the blocks a 40-row array is cut into.
SPLITS = {
    "one_block": [],
    "one_row_blocks": list(range(1, 40)),
    "uneven": [3, 4, 17, 31],
    "with_empty_blocks": [0, 0, 5, 5, 5, 22, 40, 40],
    "halves": [20],
}


def _data(rng, dtype=np.float64):
    """40 x 5: a normal column, a large-offset one, a constant one, one with NaN, an integer one."""
    X = np.column_stack(
        [
            rng.normal(size=40),
            rng.normal(loc=1e4, scale=3, size=40),
            np.full(40, 2.5),
            rng.uniform(-5, 5, size=40),
            rng.integers(-3, 4, size=40),
        ]
    ).astype(dtype)
    X[rng.choice(40, size=9, replace=False), 3] = np.nan
    X[7, 0] = np.nan
    return X


def _record(X, splits, sample_weight=None, **parts):
    blocks = np.split(X, splits)
    weights = [None] * len(blocks) if sample_weight is None else np.split(sample_weight, splits)
    return _stats.combine(_stats.chunk(b, w, **parts) for b, w in zip(blocks, weights))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("split", sorted(SPLITS))
def test_merged_blocks_match_numpy_on_the_whole_array(split, dtype):
    """Counts, means, m2, min and max merged over any split equal NumPy's on the whole array."""
    X = _data(np.random.default_rng(1), dtype)
    record = _record(X, SPLITS[split])
    X64 = X.astype(np.float64)
    count = (~np.isnan(X64)).sum(axis=0)
    assert record.n_rows == 40
    assert_array_equal(record.count, count)
    assert_allclose(record.mean, np.nanmean(X64, axis=0), rtol=1e-12)
    assert_allclose(record.m2 / count, np.nanvar(X64, axis=0), rtol=1e-9, atol=1e-12)
    assert_array_equal(record.min, np.nanmin(X64, axis=0))
    assert_array_equal(record.max, np.nanmax(X64, axis=0))
    assert_array_equal(record.absmax, np.nanmax(np.abs(X64), axis=0))


@pytest.mark.parametrize("split", ["one_block", "uneven", "with_empty_blocks"])
def test_integer_weights_equal_repeated_rows(split):
    """Weighted records equal the records of the data with rows repeated weight times."""
    rng = np.random.default_rng(2)
    X = _data(rng)
    weights = rng.integers(0, 4, size=40)
    weighted = _record(X, SPLITS[split], sample_weight=weights.astype(float))
    repeated = _stats.chunk(np.repeat(X, weights, axis=0))
    assert_allclose(weighted.count, repeated.count)
    assert_allclose(weighted.mean, repeated.mean, rtol=1e-12)
    assert_allclose(weighted.m2, repeated.m2, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("with_nan", [False, True])
def test_large_block_matches_numpy(layout, weighted, with_nan):
    """A block longer than the internal fold and slab sizes gives NumPy's weighted statistics."""
    rng = np.random.default_rng(8)
    n = _stats._SLAB + _stats._FOLD + 5
    X = (rng.normal(size=(n, 3)) * [1, 100, 0.01] + [0, 1e5, -1]).astype(np.float32)
    if with_nan:
        X[rng.choice(n, size=300, replace=False), 1] = np.nan
    X = np.asarray(X, order=layout)
    weights = rng.uniform(0, 2, size=n) if weighted else np.ones(n)
    record = _stats.chunk(X, weights if weighted else None)
    X64 = X.astype(np.float64)
    valid = ~np.isnan(X64)
    count = weights @ valid
    mean = (weights @ np.where(valid, X64, 0)) / count
    m2 = weights @ np.where(valid, X64 - mean, 0) ** 2
    assert_allclose(record.count, count, rtol=1e-12)
    assert_allclose(record.mean, mean, rtol=1e-12)
    assert_allclose(record.m2, m2, rtol=1e-9)
    assert_array_equal(record.min, np.nanmin(X64, axis=0))
    assert_array_equal(record.max, np.nanmax(X64, axis=0))


def test_combine_is_independent_of_grouping():
    """Merging ((a, b), c) gives the record of merging (a, (b, c)) and of (a, b, c) at once."""
    X = _data(np.random.default_rng(3))
    a, b, c = (_stats.chunk(part) for part in np.split(X, [11, 12]))
    left = _stats.combine([_stats.combine([a, b]), c])
    right = _stats.combine([a, _stats.combine([b, c])])
    flat = _stats.combine([a, b, c])
    for field in ("count", "mean", "m2", "min", "max"):
        assert_allclose(getattr(left, field), getattr(right, field), rtol=1e-12)
        assert_allclose(getattr(flat, field), getattr(right, field), rtol=1e-12)


@pytest.mark.parametrize(
    "parts", [{"moments": True, "extrema": False}, {"moments": False, "extrema": True}]
)
def test_empty_block_is_the_identity(parts):
    """A 0-row block gives the identity record: merging it changes nothing."""
    X = _data(np.random.default_rng(4))
    empty = _stats.chunk(X[:0], **parts)
    assert empty.n_rows == 0
    record = _stats.chunk(X, **parts)
    merged = _stats.combine([empty, record, _stats.identity(5, **parts)])
    for field in ("count", "mean", "m2", "min", "max"):
        if getattr(record, field) is not None:
            assert_array_equal(getattr(merged, field), getattr(record, field))
    assert merged.n_rows == record.n_rows


@pytest.mark.parametrize("moments", [True, False])
@pytest.mark.parametrize("extrema", [True, False])
def test_pack_unpack_round_trip(moments, extrema):
    """unpack(pack(r)) restores every part of a record and has the advertised number of rows."""
    X = _data(np.random.default_rng(5))
    record = _stats.chunk(X, moments=moments, extrema=extrema)
    packed = _stats.pack(record)
    assert packed.shape == (_stats.n_packed_rows(moments=moments, extrema=extrema), 5)
    back = _stats.unpack(packed, moments=moments, extrema=extrema)
    assert back.n_rows == record.n_rows
    for field in ("count", "mean", "m2", "min", "max"):
        expected = getattr(record, field)
        if expected is None:
            assert getattr(back, field) is None
        else:
            assert_array_equal(getattr(back, field), expected)


def test_float32_far_from_zero_keeps_float64_precision():
    """float32 data offset by 1e6 gets the float64 mean and variance, beyond float32 accuracy."""
    rng = np.random.default_rng(6)
    X = (1e6 + rng.normal(size=(5000, 2))).astype(np.float32)
    record = _record(X, [1000, 2500])
    reference = X.astype(np.float64)
    assert_allclose(record.mean, reference.mean(axis=0), rtol=1e-14)
    assert_allclose(record.m2 / record.count, reference.var(axis=0), rtol=1e-9)
    # A float32 accumulator is off by far more than the tolerance above, so the test has teeth.
    naive = X.sum(axis=0, dtype=np.float32) / np.float32(5000)
    assert np.abs(naive - reference.mean(axis=0)).max() > 1e-3


@pytest.mark.parametrize("names", [None, ["a", "b", "c"]])
def test_infinity_raises_naming_the_column(names):
    """An infinite value raises ValueError naming its column index (and name when known)."""
    X = np.ones((4, 3))
    X[2, 1] = -np.inf
    X[0, 0] = np.nan
    expected = r"column 1 \('b'\)" if names else r"column 1\."
    with pytest.raises(ValueError, match="infinity in " + expected):
        _stats.chunk(X, feature_names=names)


def test_all_nan_column_gives_nan_attributes_without_warning():
    """A column with only NaN gets NaN statistics, silently, while other columns are unaffected."""
    X = np.column_stack([np.arange(6.0), np.full(6, np.nan)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = _record(X, [2, 3])
        standard = scaler_attributes.standard_attributes(record)
        minmax = scaler_attributes.minmax_attributes(record)
        maxabs = scaler_attributes.maxabs_attributes(record)
    assert np.isnan(standard["mean_"][1]) and np.isnan(standard["scale_"][1])
    assert np.isnan(minmax["data_min_"][1]) and np.isnan(maxabs["max_abs_"][1])
    assert_allclose(standard["mean_"][0], 2.5)
    assert_allclose(minmax["data_max_"][0], 5.0)
    assert_array_equal(standard["n_samples_seen_"], [6, 0])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finalized_attributes_match_sklearn(dtype):
    """standard/minmax/maxabs attributes from merged records equal scikit-learn's on all rows."""
    X = _data(np.random.default_rng(7), dtype)
    record = _record(X, SPLITS["uneven"])
    expected = {
        "standard": vars(StandardScaler().fit(X)),
        "minmax": vars(MinMaxScaler(feature_range=(-2, 3)).fit(X)),
        "maxabs": vars(MaxAbsScaler().fit(X)),
    }
    ours = {
        "standard": scaler_attributes.standard_attributes(record),
        "minmax": scaler_attributes.minmax_attributes(record, feature_range=(-2, 3), dtype=dtype),
        "maxabs": scaler_attributes.maxabs_attributes(record, dtype=dtype),
    }
    for kind, attributes in ours.items():
        for name, value in attributes.items():
            reference = expected[kind][name]
            assert np.asarray(value).dtype == np.asarray(reference).dtype, (kind, name)
            assert_allclose(value, reference, rtol=1e-6, err_msg=f"{kind} {name}")
    assert ours["standard"]["scale_"][2] == 1.0  # constant column


def test_combine_rejects_mixed_parts_and_nothing():
    """combine() refuses an empty list and records built with different parts."""
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="at least one"):
        _stats.combine([])
    with pytest.raises(ValueError, match="different"):
        _stats.combine([_stats.chunk(X, extrema=False), _stats.chunk(X)])
