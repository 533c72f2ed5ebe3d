"""Out-of-core SimpleImputer against scikit-learn's on the same data, and the median summary's
error bound."""

import dask.array as da
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import impute
from sklearn.utils.estimator_checks import parametrize_with_checks

import outofcore as ooc
from outofcore.preprocessing import quantiles

# Parts of the 30-row frame and rows per block: 1-row blocks, uneven parts with an empty one and
# a 1-row part whose values are all missing, one block larger than the data.
LAYOUTS = {"rows": ([30], 1), "uneven": ([4, 11, 0, 1, 14], None), "whole": ([30], 1000)}


def _numbers(seed, n=30):
    """Floats with NaN, float32 with NaN, nullable integers, integers, a column with no value;
    every nullable column missing in row 15."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n) * 10 + 3
    a[rng.random(n) < 0.2] = np.nan
    b = rng.choice([0.25, 1.5, 4.0], size=n).astype(np.float32)
    b[rng.random(n) < 0.2] = np.nan
    k = pd.Series(rng.integers(0, 5, size=n), dtype="Int64")
    k[rng.random(n) < 0.2] = pd.NA
    frame = pd.DataFrame({"a": a, "b": b, "k": k, "n": rng.integers(0, 3, size=n),
                          "empty": np.full(n, np.nan)})
    frame.loc[15, ["a", "b", "k"]] = None
    return frame


def _strings(seed, n=30):
    """Strings with gaps, a categorical with gaps, floats with NaN."""
    rng = np.random.default_rng(seed)
    city = pd.Series(rng.choice(["Lima", "Oslo", "Pune", "Oslo"], size=n), dtype="str")
    city[rng.random(n) < 0.2] = None
    carrier = pd.Series(rng.choice(["AA", "DL"], size=n)).astype("category")
    carrier[rng.random(n) < 0.2] = None
    x = rng.choice([1.0, 2.0, 3.0], size=n)
    x[rng.random(n) < 0.2] = np.nan
    frame = pd.DataFrame({"city": city, "carrier": carrier, "x": x})
    frame.loc[15, ["city", "carrier", "x"]] = None
    return frame


def _table(tmp_path, frame, layout):
    """The frame written as parquet parts and read back as a Table."""
    sizes, block_rows = LAYOUTS[layout]
    folder = tmp_path / layout
    folder.mkdir(parents=True)
    start = 0
    for i, size in enumerate(sizes):
        part = pa.Table.from_pandas(frame.iloc[start:start + size], preserve_index=False)
        pq.write_table(part, folder / f"part-{i}.parquet")
        start += size
    return ooc.read_parquet(folder, block_rows=block_rows)


def _same(found, expected, rtol):
    """Equal arrays of one dtype: numbers within rtol, objects equal, NaN where NaN."""
    assert found.dtype == expected.dtype and found.shape == expected.shape
    if expected.dtype == object:
        keys = [[("nan",) if pd.isna(v) else v for v in a.ravel()] for a in (found, expected)]
        assert keys[0] == keys[1]
    else:
        assert_allclose(found, expected, rtol=rtol)


CASES = {
    "mean": ({"strategy": "mean", "add_indicator": True}, "numbers"),
    "median": ({"strategy": "median", "add_indicator": True}, "numbers"),
    "most_frequent": ({"strategy": "most_frequent"}, "numbers"),
    "constant": ({"strategy": "constant", "fill_value": -1.0, "add_indicator": True}, "numbers"),
    "keep_empty": ({"strategy": "median", "keep_empty_features": True}, "numbers"),
    "strings most_frequent": ({"strategy": "most_frequent", "add_indicator": True}, "strings"),
    "strings constant": ({"strategy": "constant", "keep_empty_features": True}, "strings"),
}


def _fit_pair(case, data):
    params, kind = CASES[case]
    ours, reference = ooc.SimpleImputer(**params), impute.SimpleImputer(**params)
    return ours, reference, kind


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_on_table_equals_sklearn(tmp_path, case, layout):
    """Fitted on parquet parts in any blocking (empty part, all-missing block and column
    included), statistics_, the indicator, names and output equal scikit-learn's on the whole
    frame (rtol 1e-12; the float32 median within a float32 rounding)."""
    params, kind = CASES[case]
    train = (_numbers if kind == "numbers" else _strings)(0)
    test = (_numbers if kind == "numbers" else _strings)(1)
    table = _table(tmp_path, train, layout)
    ours = ooc.SimpleImputer(**params).fit(table)
    reference = impute.SimpleImputer(**params).fit(train)
    _same(ours.statistics_, reference.statistics_, rtol=1e-12)
    assert_array_equal(ours.get_feature_names_out(), reference.get_feature_names_out())
    if reference.indicator_ is None:
        assert ours.indicator_ is None
    else:
        assert_array_equal(ours.indicator_.features_, reference.indicator_.features_)
    dropped = not reference.keep_empty_features and kind == "numbers"
    with pytest.warns(UserWarning, match=r"Skipping features.*\['empty'\]") if dropped \
            else _no_warning():
        out = ours.transform(table)
        expected = reference.transform(train)
    assert isinstance(out, da.Array)
    _same(out.compute(), expected, rtol=1e-6)
    with pytest.warns(UserWarning, match="Skipping") if dropped else _no_warning():
        _same(ours.transform(test), reference.transform(test), rtol=1e-6)


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
def test_in_memory_equals_sklearn(strategy):
    """NumPy input (float32 and integers with a placeholder) fits and fills as scikit-learn's."""
    rng = np.random.default_rng(2)
    X32 = rng.normal(size=(40, 3)).astype(np.float32)
    X32[rng.random((40, 3)) < 0.25] = np.nan
    Xint = rng.integers(-1, 4, size=(40, 2))
    for X, missing in ((X32, np.nan), (Xint, -1)):
        ours = ooc.SimpleImputer(strategy=strategy, missing_values=missing, add_indicator=True)
        reference = impute.SimpleImputer(strategy=strategy, missing_values=missing,
                                         add_indicator=True)
        ours.fit(X)
        reference.fit(X)
        _same(ours.statistics_, reference.statistics_, rtol=1e-6)
        _same(ours.transform(X), reference.transform(X), rtol=1e-6)


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent", "constant"])
def test_dask_dataframe_with_empty_partitions_equals_pandas(strategy):
    """A dask DataFrame in uneven partitions, empty ones included, fits and fills as its pandas
    frame does in memory, with scikit-learn's results."""
    import dask
    import dask.dataframe as dd

    frame = _numbers(5).drop(columns="empty")
    cuts = [0, 0, 9, 9, 10, 30]
    parts = [dask.delayed(frame.iloc[a:b]) for a, b in zip(cuts, cuts[1:])]
    data = dd.from_delayed(parts, meta=frame.iloc[:0])
    ours = ooc.SimpleImputer(strategy=strategy, add_indicator=True).fit(data)
    in_memory = ooc.SimpleImputer(strategy=strategy, add_indicator=True).fit(frame)
    reference = impute.SimpleImputer(strategy=strategy, add_indicator=True).fit(frame)
    _same(ours.statistics_, reference.statistics_, rtol=1e-12)
    _same(in_memory.statistics_, reference.statistics_, rtol=1e-12)
    _same(ours.transform(data).compute(), reference.transform(frame), rtol=1e-12)
    _same(in_memory.transform(frame), reference.transform(frame), rtol=1e-12)


def test_string_placeholder_in_memory_equals_sklearn():
    """An object array with '?' for missing values fills as scikit-learn's."""
    X = np.array([["a", "x"], ["?", "y"], ["a", "?"], ["b", "y"]], dtype=object)
    ours = ooc.SimpleImputer(strategy="most_frequent", missing_values="?", add_indicator=True)
    reference = impute.SimpleImputer(strategy="most_frequent", missing_values="?",
                                     add_indicator=True)
    _same(ours.fit_transform(X), reference.fit_transform(X), rtol=0)


def test_median_is_exact_up_to_capacity_and_within_bound_beyond(monkeypatch):
    """The summary's median equals numpy's for up to CAPACITY values or one block; merged from
    blocks beyond, its rank is within rank_error of the true median's."""
    monkeypatch.setattr(quantiles, "CAPACITY", 256)
    rng = np.random.default_rng(3)
    values = rng.lognormal(size=20_000)
    cuts = np.sort(rng.choice(len(values), size=60, replace=False))
    blocks = np.split(values, cuts)
    assert quantiles.median(quantiles.sketch(values)) == np.median(values)
    small = quantiles.merge([quantiles.sketch(b) for b in np.split(values[:256], [1, 5, 40])])
    assert quantiles.median(small) == np.median(values[:256])
    merged = quantiles.merge([quantiles.merge([quantiles.sketch(b) for b in blocks[i:i + 7]])
                              for i in range(0, len(blocks), 7)])
    assert merged.count == len(values) and merged.exact is None
    estimate, ordered = quantiles.median(merged), np.sort(values)
    bound = quantiles.rank_error(len(values))
    assert 0 < bound < len(values) / 10
    low = ordered[max(0, int(np.floor((len(values) - 1) // 2 - bound)))]
    high = ordered[min(len(values) - 1, int(np.ceil(len(values) // 2 + bound)))]
    assert low <= estimate <= high


def test_median_out_of_core_within_bound(tmp_path, monkeypatch):
    """strategy='median' fitted on many blocks of more values than the summary holds stays
    within the stated rank bound of the exact median."""
    monkeypatch.setattr(quantiles, "CAPACITY", 128)
    rng = np.random.default_rng(4)
    values = rng.exponential(size=3000)
    values[rng.random(3000) < 0.1] = np.nan
    pd.DataFrame({"v": values}).to_parquet(tmp_path / "v.parquet", row_group_size=250)
    table = ooc.read_parquet(tmp_path / "v.parquet", block_rows=250)
    assert table.numblocks == 12
    ours = ooc.SimpleImputer(strategy="median").fit(table)
    present = np.sort(values[~np.isnan(values)])
    bound = quantiles.rank_error(len(present), 128)
    middle = len(present) // 2
    assert 0 < bound < 300
    assert present[int(middle - bound) - 1] <= ours.statistics_[0] \
        <= present[int(middle + bound) + 1]


def test_integer_table_with_a_placeholder_equals_sklearn(tmp_path):
    """Integer columns with -1 for missing stay integers, filled as scikit-learn fills them; a
    null at transform, which integers cannot hold, is an error naming the column and row."""
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"a": rng.integers(-1, 4, size=30), "b": rng.integers(-1, 2, size=30)})
    for strategy in ("most_frequent", "constant"):
        params = {"strategy": strategy, "missing_values": -1, "add_indicator": True}
        ours = ooc.SimpleImputer(**params).fit(_table(tmp_path / strategy, frame, "uneven"))
        reference = impute.SimpleImputer(**params).fit(frame)
        _same(ours.statistics_, reference.statistics_, rtol=0)
        _same(ours.transform(frame), reference.transform(frame), rtol=0)
    gaps = pd.DataFrame({"a": pd.Series([1, None], dtype="Int64"), "b": [0, 1]})
    with pytest.raises(ValueError, match=r"column 'a' is missing a value at row 1"):
        ours.transform(ooc.Table.from_pandas(gaps)).compute()


def test_strings_with_mean_are_refused(tmp_path):
    """'mean' on a string column is an error naming the column and the strategies that work."""
    with pytest.raises(ValueError, match=r"mean strategy with non-numeric data: column 'city'"
                                         r".*'most_frequent' or 'constant'"):
        ooc.SimpleImputer().fit(_table(tmp_path, _strings(0), "whole"))


def test_nulls_with_a_placeholder_are_refused(tmp_path):
    """With missing_values=-1, a null in the data is an error naming the column and its row."""
    frame = pd.DataFrame({"k": pd.Series([1, -1, None, 2], dtype="Int64")})
    with pytest.raises(ValueError, match=r"column 'k' is missing a value at row 2 of .*"
                                         r"missing_values=np.nan"):
        ooc.SimpleImputer(missing_values=-1).fit(_table(tmp_path, frame, "whole"))


def test_callable_strategy_is_refused():
    """A callable strategy needs all of a column at once: refused with what to use instead."""
    with pytest.raises(ValueError, match="not fitted out of core"):
        ooc.SimpleImputer(strategy=np.nanmean).fit(np.ones((3, 1)))


@parametrize_with_checks([
    ooc.SimpleImputer(),
    ooc.SimpleImputer(strategy="median", add_indicator=True),
    ooc.SimpleImputer(strategy="most_frequent"),
    ooc.SimpleImputer(strategy="constant", keep_empty_features=True),
])
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    """Each configuration honours scikit-learn's estimator contract; no check is expected to
    fail."""
    # Without it sklearn skips its array-API-with-NumPy check; with it that check runs too.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)
