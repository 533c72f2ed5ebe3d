"""Bad input met in the middle of a fit from files: errors that name what, where and what to do.

Reader-level errors (schemas, truncated parts, CSV lines, missing paths) are tested in test_io.py;
these are the ones a fit over several parts meets late, after earlier blocks have trained.
"""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline

import outofcore as ooc

FEATURES = ["a", "b", "c"]


def _write_parts(folder, sizes, seed=0, edit=None):
    """Parquet parts of three features and a 0/1 target; ``edit(i, frame)`` spoils part i."""
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for i, n in enumerate(sizes):
        frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
        frame["t"] = (frame["a"] - frame["c"] > 0).astype("int64")
        if edit is not None:
            edit(i, frame)
        frame.to_parquet(folder / f"part-{i}.parquet", row_group_size=50)
    return folder


def _late(value, column):
    def edit(i, frame):
        if i == 2:
            frame.loc[57, column] = value

    return edit


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_feature_in_a_late_part_names_file_row_and_column(tmp_path, value):
    """A NaN/inf in the last part stops the fit with that file, row and column named, and what
    to do about it."""
    folder = _write_parts(tmp_path / "d", [100, 100, 100], edit=_late(value, "b"))
    X, y = ooc.read_parquet(folder, target="t")
    model = ooc.Incremental(SGDClassifier(), shuffle_blocks=False)
    shown, todo = ("NaN", "impute it") if np.isnan(value) else (value, "replace or drop")
    with pytest.raises(ValueError, match=rf"X holds {shown} at row 57 of .*part-2\.parquet "
                                         rf"\(row group 1\), column 'b'; {todo}"):
        model.fit(X, y)


def test_nan_after_a_scaler_names_the_row_and_column(tmp_path):
    """In a pipeline the fit names the NaN's row of the data set (rows are in file order) and
    its column."""
    folder = _write_parts(tmp_path / "d", [100, 100, 100], edit=_late(np.nan, "c"))
    X, y = ooc.read_parquet(folder, target="t")
    pipe = make_pipeline(ooc.StandardScaler(), ooc.Incremental(SGDClassifier()))
    with pytest.raises(ValueError, match=r"X holds NaN at row 257 \(row 57 of block \d\), "
                                         r"column 2; impute it"):
        pipe.fit(X, y)


def test_label_outside_classes_in_a_late_part(tmp_path):
    """A label missing from classes= in the last part is named with its rows and the classes."""
    folder = _write_parts(tmp_path / "d", [100, 100, 100], edit=_late(7, "t"))
    X, y = ooc.read_parquet(folder, target="t")
    with pytest.raises(ValueError, match=r"label 7 at row 57 of .*part-2.parquet \(row group 1\), "
                                         r"which is not in classes=\[0, 1\]. Pass every label"):
        ooc.Incremental(SGDClassifier(), classes=[0, 1]).fit(X, y)
    # Without classes=, the label is found in the pass over y and learned.
    assert ooc.Incremental(SGDClassifier()).fit(X, y).classes_.tolist() == [0, 1, 7]


def test_string_column_in_a_late_part(tmp_path):
    """A column that turns to strings in a later part is refused at read, naming column and
    file."""

    def edit(i, frame):
        if i == 2:
            frame["b"] = frame["b"].astype(str)

    folder = _write_parts(tmp_path / "d", [100, 100, 100], edit=edit)
    with pytest.raises((TypeError, ValueError), match=r"'b'.*part-2\.parquet|part-2\.parquet.*'b'"):
        ooc.read_parquet(folder, target="t")


def test_empty_parts_change_nothing(tmp_path):
    """Empty parts among the data train the same model as the data without them."""
    with_empty = _write_parts(tmp_path / "e", [100, 0, 100, 0], seed=3)
    _write_parts(tmp_path / "f", [100, 100], seed=3)
    models = []
    for folder in (with_empty, tmp_path / "f"):
        X, y = ooc.read_parquet(folder, target="t")
        models.append(ooc.Incremental(SGDClassifier(random_state=0), shuffle_blocks=False,
                                      random_state=0).fit(X, y))
    assert_array_equal(models[0].estimator_.coef_, models[1].estimator_.coef_)
    assert models[0].n_samples_seen_ == 200


def _pipeline_on_files(folder):
    X, y = ooc.read_parquet(folder, target="t")
    return make_pipeline(ooc.StandardScaler(), ooc.Incremental(SGDClassifier(random_state=0),
                                                               random_state=0)).fit(X, y)


def test_pipeline_predict_with_wrong_columns(tmp_path):
    """A fitted pipeline refuses a feature count or column order other than the fitted one."""
    folder = _write_parts(tmp_path / "d", [100, 100])
    pipe = _pipeline_on_files(folder)
    fewer, _ = ooc.read_parquet(folder, target="t", columns=["a", "b"])
    with pytest.raises(ValueError, match=r"missing:\n- c|X has 2 features, but .* expecting 3"):
        pipe.predict(fewer)
    swapped, _ = ooc.read_parquet(folder, target="t", columns=["c", "b", "a"])
    with pytest.raises(ValueError, match=r"(?i)feature names|same columns"):
        pipe.predict(swapped).compute()


def test_y_shorter_than_x_from_two_reads(tmp_path):
    """X and y read from different data are refused before any block, naming both lengths."""
    X, _ = ooc.read_parquet(_write_parts(tmp_path / "d", [100, 100]), target="t")
    _, y = ooc.read_parquet(_write_parts(tmp_path / "e", [100, 99]), target="t")
    with pytest.raises(ValueError, match=r"X has 200 rows but y has 199.*Read them together"):
        ooc.Incremental(SGDClassifier()).fit(X, y)


@pytest.mark.parametrize("when", ["fit", "transform"])
def test_infinity_met_by_a_scaler_names_file_row_and_column(tmp_path, when):
    """A scaler reading a file with an infinite value names the column, file and row."""
    folder = _write_parts(tmp_path / "d", [100, 100, 100], edit=_late(np.inf, "b"))
    X, _ = ooc.read_parquet(folder, target="t")
    match = r"infinity in column 1 \('b'\), first at row 57 of .*part-2\.parquet"
    if when == "fit":
        with pytest.raises(ValueError, match=match):
            ooc.StandardScaler().fit(X)
    else:
        clean = _write_parts(tmp_path / "c", [100])
        scaler = ooc.StandardScaler().fit(ooc.read_parquet(clean, target="t")[0])
        with pytest.raises(ValueError, match=match):
            scaler.transform(X).compute()
