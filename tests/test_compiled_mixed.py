"""A real table's pipeline compiled: text columns one-hot with an infrequent bucket, numbers with
gaps imputed and scaled, a timestamp's fields and a boolean, compared with scikit-learn's
predictions on every row (labels equal, probabilities within 1e-5 in float32)."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import outofcore as ooc

from _parity import assert_labels_match

pytest.importorskip("torch")

NUMBERS = [f"f{i}" for i in range(20)]
FIELDS = ("year", "quarter", "month", "week", "day", "day_of_week", "day_of_year", "hour",
          "minute", "second", "epoch")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A generated mixed table (as parquet parts) and the same rows as a pandas frame."""
    path = tmp_path_factory.mktemp("mixed") / "trips"
    ooc.data.generate(path, rows=6000, categories=[10, 300, 5000], missing=0.05, timestamp=True,
                      boolean=True, rows_per_part=2500, row_group_rows=1000)
    return path, pd.read_parquet(path)


def _ooc_pipeline():
    pre = ooc.make_column_transformer(
        (ooc.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20),
         ["c0", "c1", "c2", "flag"]),
        (make_pipeline(ooc.SimpleImputer(strategy="median", add_indicator=True),
                       ooc.StandardScaler()), NUMBERS),
        (ooc.DateTimeFeatures(features=("hour", "day_of_week")), ["ts"]),
        remainder="drop")
    return make_pipeline(pre, ooc.Incremental(
        SGDClassifier(loss="log_loss", average=True, random_state=0), epochs=2, random_state=0))


@pytest.fixture(scope="module")
def fitted(files):
    path, _ = files
    X, y = ooc.read_parquet(path, target="target", exclude=["id"])
    return _ooc_pipeline().fit(X, y)


def _close(ours, reference):
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)


def test_outofcore_pipeline_compiles_to_its_predictions(files, fitted):
    """Frame, arrow table and a row: labels equal, probabilities within 1e-5 in float32."""
    _, frame = files
    X = frame.drop(columns=["id", "target"])
    fast = ooc.compile_pipeline(fitted)
    assert_labels_match(fast.predict(X), fitted.predict(X))
    _close(fast.predict_proba(X), fitted.predict_proba(X))
    _close(fast.predict_proba(pa.Table.from_pandas(X, preserve_index=False)),
           fitted.predict_proba(X))
    _close(fast.predict_proba(X.iloc[[17]]), fitted.predict_proba(X.iloc[[17]]))


def test_sklearns_own_mixed_pipeline_compiles_to_its_predictions(files):
    """scikit-learn's classes on the frame as read_parquet's pandas gives it (``str`` columns
    with NaN), including unseen categories, which go to the infrequent column."""
    _, frame = files
    X, y = frame.drop(columns=["id", "target"]), frame["target"].to_numpy()
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20), ["c0", "c1", "c2"]),
        (make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
         NUMBERS))
    model = make_pipeline(pre, SGDClassifier(loss="log_loss", random_state=0)).fit(X[:4000],
                                                                                   y[:4000])
    fast = ooc.compile_pipeline(model)
    rest = X[4000:]  # categories the encoder never saw among them
    assert not set(rest["c2"].dropna()) <= set(X["c2"][:4000].dropna())
    assert_labels_match(fast.predict(rest), model.predict(rest))
    _close(fast.predict_proba(rest), model.predict_proba(rest))


def test_date_fields_compiled_equal_pandas_dt(files):
    """Every field of the compiled DateTimeFeatures equals pandas' ``.dt`` of the column."""
    _, frame = files
    X = frame[["ts"]]
    step = ooc.make_column_transformer((ooc.DateTimeFeatures(features=FIELDS), ["ts"])).fit(X)
    out = ooc.compile_pipeline(step, dtype="float64").transform(X)
    ts = frame["ts"]
    expected = {
        "year": ts.dt.year, "quarter": ts.dt.quarter, "month": ts.dt.month,
        "week": ts.dt.isocalendar().week, "day": ts.dt.day, "day_of_week": ts.dt.day_of_week,
        "day_of_year": ts.dt.day_of_year, "hour": ts.dt.hour, "minute": ts.dt.minute,
        "second": ts.dt.second,
        "epoch": (ts - pd.Timestamp("1970-01-01")).dt.total_seconds(),
    }
    for j, name in enumerate(FIELDS):
        np.testing.assert_allclose(out[:, j], expected[name].to_numpy(np.float64, na_value=np.nan),
                                   rtol=1e-12, err_msg=name)


def test_compiled_mixed_model_predicts_a_table_lazily_and_to_parquet(files, fitted, tmp_path):
    """On the lazy Table (text columns block by block) and through predict_to_parquet, the
    compiled model gives the fitted pipeline's probabilities."""
    path, frame = files
    X, _ = ooc.read_parquet(path, target="target", exclude=["id"])
    fast = ooc.compile_pipeline(fitted)
    expected = fitted.predict_proba(frame.drop(columns=["id", "target"]))
    _close(fast.predict_proba(X).compute(), expected)
    ooc.predict_to_parquet(fast, path, tmp_path / "pred", keep=["id"], method="predict_proba")
    out = pd.read_parquet(tmp_path / "pred").sort_values("id")
    order = np.argsort(frame["id"].to_numpy(), kind="stable")
    _close(out[[c for c in out.columns if c.startswith("proba")]].to_numpy(), expected[order])
