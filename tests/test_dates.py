"""DateTimeFeatures against pandas' ``.dt`` fields on the same timestamps, in any blocking."""

import dask.array as da
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.utils.estimator_checks import parametrize_with_checks

import outofcore as ooc

FEATURES = ("year", "quarter", "month", "week", "day", "day_of_week", "day_of_year", "hour",
            "minute", "second", "epoch")


def _pandas(series, feature):
    """The pandas ``.dt`` field a feature stands for, as floats with NaN where missing."""
    if feature == "week":
        return series.dt.isocalendar().week.astype("Float64").to_numpy(np.float64, na_value=np.nan)
    if feature == "epoch":
        zero = pd.Timestamp(0, tz=series.dt.tz)
        return ((series - zero) / pd.Timedelta(seconds=1)).to_numpy(np.float64)
    return getattr(series.dt, feature).astype("Float64").to_numpy(np.float64, na_value=np.nan)


def _frame(seed, n=40):
    """Naive timestamps across a leap day and a year end, zoned timestamps across a DST change,
    dates; each with gaps, all missing in row 15."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2019-12-25")
    naive = start + pd.to_timedelta(rng.integers(0, 800 * 86400, size=n), unit="s")
    zoned = (pd.Timestamp("2024-03-30", tz="Europe/Oslo")
             + pd.to_timedelta(rng.integers(0, 3 * 86400, size=n), unit="s"))
    frame = pd.DataFrame({"t": pd.Series(naive), "z": pd.Series(zoned),
                          "d": pd.Series(naive).dt.normalize()})
    for column in frame:
        frame.loc[rng.random(n) < 0.15, column] = pd.NaT
    frame.loc[15] = pd.NaT
    return frame


@pytest.mark.parametrize("block_rows", [1, 7, 1000])
def test_table_features_equal_pandas(tmp_path, block_rows):
    """On a Table in blocks of 1, 7 and more than the data, every feature of naive, zoned
    (local time) and date columns equals pandas' ``.dt`` field; missing gives NaN."""
    frame = _frame(0)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "t.parquet")
    X = ooc.read_parquet(tmp_path / "t.parquet", block_rows=block_rows)
    step = ooc.DateTimeFeatures(features=FEATURES).fit(X)
    out = step.transform(X)
    assert isinstance(out, da.Array) and out.chunks[0] == X.chunks[0]
    out = out.compute()
    for i, column in enumerate(frame):
        series = frame[column].astype("datetime64[s]") if column == "d" else frame[column]
        for j, feature in enumerate(FEATURES):
            assert_allclose(out[:, i * len(FEATURES) + j], _pandas(series, feature),
                            rtol=1e-12, err_msg=f"{column} {feature}")
    assert_array_equal(step.get_feature_names_out()[:3], ["t_year", "t_quarter", "t_month"])


@pytest.mark.parametrize("unit", ["s", "ms", "D"])
def test_numbers_with_unit_equal_to_datetime(unit):
    """Numbers read with ``unit`` give the fields of ``pandas.to_datetime(numbers, unit=unit)``."""
    rng = np.random.default_rng(1)
    scale = {"s": 1e9, "ms": 1e12, "D": 2e4}[unit]
    X = rng.uniform(-1, 1, size=(50, 1)) * scale
    X[3, 0] = np.nan
    out = ooc.DateTimeFeatures(features=FEATURES, unit=unit).fit_transform(X)
    series = pd.Series(pd.to_datetime(X[:, 0], unit=unit))
    for j, feature in enumerate(FEATURES):
        assert_allclose(out[:, j], _pandas(series, feature), rtol=1e-9, err_msg=feature)


def test_pandas_frame_equals_table():
    """A pandas frame in memory gives what its Table gives."""
    frame = _frame(2)
    step = ooc.DateTimeFeatures()
    assert_array_equal(step.fit_transform(frame),
                       step.fit(ooc.Table.from_pandas(frame)).transform(
                           ooc.Table.from_pandas(frame)).compute())


def test_numbers_without_unit_are_refused():
    """Numbers are never taken for times by default: the error names the column and unit=."""
    with pytest.raises(TypeError, match=r"column 'x0' holds numbers.*unit='s'"):
        ooc.DateTimeFeatures().fit(np.arange(6.0).reshape(3, 2))


def test_strings_are_refused(tmp_path):
    """A string column is refused with how to parse it."""
    frame = pd.DataFrame({"when": ["2024-01-01", "2024-01-02"]})
    with pytest.raises(TypeError, match=r"column 'when' holds string.*to_datetime"):
        ooc.DateTimeFeatures().fit(ooc.Table.from_pandas(frame))


def test_bad_features_are_refused():
    """An unknown feature name is a ValueError listing the known ones."""
    with pytest.raises(ValueError, match=r"\['hours'\] are not"):
        ooc.DateTimeFeatures(features=("hours",)).fit(_frame(0))


def test_timestamp_refused_by_numeric_steps_points_here(tmp_path):
    """A numeric step given a timestamp column names DateTimeFeatures as the way to read it."""
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-02"]), "v": [1.0, 2.0]})
    with pytest.raises(TypeError, match="DateTimeFeatures"):
        ooc.SimpleImputer().fit(ooc.Table.from_pandas(frame))


@parametrize_with_checks([ooc.DateTimeFeatures(unit="s"),
                          ooc.DateTimeFeatures(features=("epoch", "hour"), unit="ms")])
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    """With a unit, so that the checks' numbers read as times, DateTimeFeatures honours
    scikit-learn's estimator contract; no check is expected to fail."""
    # Without it sklearn skips its array-API-with-NumPy check; with it that check runs too.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)
