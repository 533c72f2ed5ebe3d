"""The real-tables code a user writes, exactly as the product promises it, on a flights-like
table: strings with gaps, numbers with gaps, an id; fit, lazy probabilities, predictions to
parquet and a compiled model, each compared with scikit-learn or the fitted pipeline."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import outofcore as ooc

from _parity import assert_labels_match


@pytest.fixture
def trips(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 6000
    frame = pd.DataFrame({
        "id": np.arange(n),
        "carrier": pd.Series(rng.choice(["AA", "B6", "DL", "UA", "9E", "ZZ"], n,
                                        p=[.3, .3, .2, .17, .02, .01]), dtype="str"),
        "origin": pd.Series(rng.choice(["JFK", "LGA", "EWR"], n), dtype="str"),
        "dep_delay": rng.exponential(20, n) - 5,
        "distance": rng.uniform(100, 2500, n),
    })
    frame.loc[rng.random(n) < 0.05, "dep_delay"] = np.nan
    frame.loc[rng.random(n) < 0.03, "carrier"] = np.nan
    frame["late"] = (np.nan_to_num(frame["dep_delay"], nan=60) + rng.normal(0, 10, n) > 15
                     ).astype(int)
    (tmp_path / "trips").mkdir()
    for i, start in enumerate(range(0, n, 2000)):
        frame.iloc[start:start + 2000].to_parquet(tmp_path / "trips" / f"part-{i}.parquet",
                                                  row_group_size=1000)
    monkeypatch.chdir(tmp_path)
    return frame


def test_the_promised_code_runs_and_agrees_with_sklearn(trips):
    pytest.importorskip("torch")
    # The user's code, as written in the product's promise.
    X, y = ooc.read_parquet("trips/", target="late")
    pre = ooc.make_column_transformer(
        (ooc.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=100), ["carrier", "origin"]),
        (make_pipeline(ooc.SimpleImputer(strategy="median", add_indicator=True), ooc.StandardScaler()),
         ["dep_delay", "distance"]),
        remainder="drop",
    )
    pipe = make_pipeline(pre, ooc.Incremental(SGDClassifier(loss="log_loss"), epochs=3, random_state=0))
    pipe.fit(X, y); proba = pipe.predict_proba(X); ooc.predict_to_parquet(pipe, "trips/", "out/", keep=["id"])  # noqa: E702
    frame = trips.drop(columns=["late"])
    fast = ooc.compile_pipeline(pipe); labels = fast.predict(frame)  # noqa: E702

    # The preprocessing equals scikit-learn's in memory; the outputs equal the pipeline's.
    theirs = make_column_transformer(
        (OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=100), ["carrier", "origin"]),
        (make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()),
         ["dep_delay", "distance"])).fit(frame)
    np.testing.assert_allclose(pre.transform(frame), theirs.transform(frame), rtol=1e-5, atol=1e-6)
    expected = pipe.predict_proba(frame)
    np.testing.assert_allclose(proba.compute(), expected, rtol=1e-6, atol=1e-7)
    assert_labels_match(labels, pipe.predict(frame))
    written = pd.read_parquet("out/").sort_values("id")
    assert_labels_match(written["prediction"].to_numpy(), pipe.predict(frame))
    assert 0.7 < pipe.score(X, y) <= 1.0
