"""Out-of-core OneHotEncoder and OrdinalEncoder against scikit-learn's on the same data: Tables read
from parquet parts in any blocking, pandas and NumPy in memory, unknown and missing values."""

import dask.array as da
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import preprocessing
from sklearn.utils.estimator_checks import parametrize_with_checks

import outofcore as ooc
from outofcore.preprocessing import encoders

# Parts of the 30-row frame and rows per block: 1-row blocks, uneven parts with an empty one and
# a 1-row part whose values are all missing, one block larger than the data.
LAYOUTS = {"rows": ([30], 1), "uneven": ([4, 11, 0, 1, 14], None), "whole": ([30], 1000)}


def _frame(seed, n=30, unseen=False):
    """Strings with gaps, a categorical, integers, nullable integers, floats with NaN, booleans,
    nullable booleans; every nullable column missing in row 15. ``unseen`` adds values that a
    fit on the default frame never saw."""
    rng = np.random.default_rng(seed)
    letters = ["Lima", "Oslo", "Pune", "Rome", "Baku", "Kiev"] + ["Zürich"] * unseen
    zipf = np.minimum(rng.zipf(1.6, size=n) - 1, len(letters) - 1)
    city = pd.Series(np.array(letters, dtype=object)[zipf], dtype="str")
    city[rng.random(n) < 0.15] = None
    carrier = pd.Series(rng.choice(["AA", "DL", "UA"] + ["ZZ"] * unseen, size=n)).astype(
        "category")
    carrier[rng.random(n) < 0.1] = None
    k = pd.Series(rng.integers(0, 4 + unseen, size=n), dtype="Int64")
    k[rng.random(n) < 0.2] = pd.NA
    x = pd.Series(rng.choice([0.5, 1.5, 2.25, 7.0] + [9.5] * unseen, size=n))
    x[rng.random(n) < 0.2] = np.nan
    ok = pd.Series(rng.random(n) < 0.5, dtype="boolean")
    ok[rng.random(n) < 0.2] = pd.NA
    frame = pd.DataFrame({"city": city, "carrier": carrier, "n": rng.integers(0, 3, size=n),
                          "k": k, "x": x, "flag": rng.random(n) < 0.3, "ok": ok})
    frame.loc[15, ["city", "carrier", "k", "x", "ok"]] = None
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


def _dense(out):
    return out.toarray() if sp.issparse(out) else np.asarray(out)


def _key(value):
    if value is None:
        return ("None",)
    if isinstance(value, (float, np.floating)) and value != value:
        return ("nan",)
    return (type(value) if isinstance(value, (str, bytes)) else "number", value)


def _same_values(found, expected):
    """Equal arrays of categories: same dtype, same values in order, None and nan apart."""
    assert found.dtype == expected.dtype, (found, expected)
    assert [_key(v) for v in found] == [_key(v) for v in expected], (found, expected)


def _same_fit(ours, reference):
    """Categories, infrequent categories, input and output names equal scikit-learn's."""
    for name in ("categories_", "infrequent_categories_"):
        assert hasattr(ours, name) == hasattr(reference, name), name
        for a, b in zip(getattr(ours, name, []), getattr(reference, name, []), strict=True):
            assert (a is None) == (b is None), name
            if a is not None:
                _same_values(a, b)
    assert_array_equal(ours.feature_names_in_, reference.feature_names_in_)
    assert_array_equal(ours.get_feature_names_out(), reference.get_feature_names_out())


def _expect_warning(est, frame):
    """Whether scikit-learn's encoder warns transforming a frame with unknown values."""
    lenient = est.get_params().get("handle_unknown") in ("ignore", "infrequent_if_exist")
    return est.get_params().get("handle_unknown") == "warn" or (
        lenient and est.get_params().get("drop") is not None)


ONE_HOT = {
    "default": {},
    "ignore+first": {"handle_unknown": "ignore", "drop": "first"},
    "min_frequency": {"min_frequency": 3, "handle_unknown": "infrequent_if_exist"},
    "max_categories+if_binary+dense": {"max_categories": 3, "drop": "if_binary",
                                       "sparse_output": False, "handle_unknown": "ignore"},
    "fraction+float32+warn": {"min_frequency": 0.1, "max_categories": 4, "dtype": np.float32,
                              "handle_unknown": "warn"},
    "drop array": {"drop": ["Oslo", "DL", 1, 2.0, 1.5, True, np.nan]},
    "given": {"categories": [["Rome", "Lima", "Oslo", np.nan], ["AA", "UA", "DL"], [0, 1, 2],
                             [0.0, 1.0, 2.0, 3.0], [0.5, 1.5, 2.25, 7.0, np.nan], [False, True],
                             [0.0, 1.0]],
              "handle_unknown": "ignore"},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("case", sorted(ONE_HOT))
def test_one_hot_on_table_equals_sklearn(tmp_path, case, layout):
    """Fitted on parquet parts in any blocking (empty part, all-missing block included), the
    categories, infrequent and dropped categories, names, output and stored-value count equal
    scikit-learn's on the whole frame; unseen values encode as scikit-learn encodes them."""
    train, test = _frame(0), _frame(1, unseen=True)
    params = ONE_HOT[case]
    table = _table(tmp_path, train, layout)
    ours = ooc.OneHotEncoder(**params).fit(table)
    reference = preprocessing.OneHotEncoder(**params).fit(train)
    _same_fit(ours, reference)
    assert_array_equal(ours.drop_idx_, reference.drop_idx_)
    expected = reference.transform(train)
    out = ours.transform(table)
    assert isinstance(out, da.Array)
    computed = out.compute()
    assert sp.issparse(computed) == ours.sparse_output and computed.dtype == expected.dtype
    assert_array_equal(_dense(computed), _dense(expected))
    assert ours._fit_nnz() == np.count_nonzero(_dense(expected))
    if ours.handle_unknown == "error":
        return
    if _expect_warning(ours, test):
        with pytest.warns(UserWarning, match="unknown categories"):
            expected = reference.transform(test)
        with pytest.warns(UserWarning, match="unknown categories"):
            found = ours.transform(test)
    else:
        expected, found = reference.transform(test), ours.transform(test)
    assert_array_equal(_dense(found), _dense(expected))


ORDINAL = {
    "default": {},
    "codes": {"handle_unknown": "use_encoded_value", "unknown_value": -1,
              "encoded_missing_value": -2, "dtype": np.int64},
    "min_frequency": {"min_frequency": 3, "handle_unknown": "use_encoded_value",
                      "unknown_value": np.nan},
    "max_categories": {"max_categories": 2, "handle_unknown": "use_encoded_value",
                       "unknown_value": 99, "dtype": np.float32},
    "given": {"categories": [["Rome", "Lima", "Oslo", np.nan], ["AA", "UA", "DL"], [0, 1, 2],
                             [0.0, 1.0, 2.0, 3.0], [0.5, 1.5, 2.25, 7.0, np.nan], [False, True],
                             [0.0, 1.0]],
              "handle_unknown": "use_encoded_value", "unknown_value": -1},
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("case", sorted(ORDINAL))
def test_ordinal_on_table_equals_sklearn(tmp_path, case, layout):
    """Fitted on parquet parts in any blocking, the categories, infrequent categories and codes
    equal scikit-learn's on the whole frame, for seen, missing and unseen values."""
    train, test = _frame(0), _frame(1, unseen=True)
    params = ORDINAL[case]
    table = _table(tmp_path, train, layout)
    ours = ooc.OrdinalEncoder(**params).fit(table)
    reference = preprocessing.OrdinalEncoder(**params).fit(train)
    _same_fit(ours, reference)
    out = ours.transform(table)
    assert isinstance(out, da.Array)
    assert_array_equal(out.compute(), reference.transform(train))
    assert out.dtype == reference.transform(train).dtype
    if ours.handle_unknown != "error":
        assert_array_equal(ours.transform(test), reference.transform(test))


IN_MEMORY = {
    "None and nan": np.array([["b", 1.0], [None, np.nan], ["a", 2.0], [np.nan, 2.0],
                              ["b", 1.0]], dtype=object),
    "python ints and strings": [["Male", 1], ["Female", 3], ["Female", 2]],
    "numpy strings": np.array([["x", "yy"], ["z", "yy"], ["x", "q"]]),
    "integers": np.array([[3, -1], [1, -1], [3, 7]]),
    "floats with nan": np.array([[0.5, np.nan], [np.nan, 1.0], [0.5, 1.0]]),
}


@pytest.mark.parametrize("cls", ["OneHotEncoder", "OrdinalEncoder"])
@pytest.mark.parametrize("data", sorted(IN_MEMORY))
def test_in_memory_equals_sklearn(cls, data):
    """NumPy arrays and lists fit as scikit-learn's encoders fit them: None and nan apart in
    object columns, Python integers kept as objects, NumPy strings kept as strings."""
    X = IN_MEMORY[data]
    ours, reference = getattr(ooc, cls)().fit(X), getattr(preprocessing, cls)().fit(X)
    assert len(ours.categories_) == len(reference.categories_)
    for a, b in zip(ours.categories_, reference.categories_, strict=True):
        assert a.dtype.kind == b.dtype.kind and [type(v) for v in a] == [type(v) for v in b]
        _same_values(a.astype(object), b.astype(object))
    assert_allclose(_dense(ours.transform(X)), _dense(reference.transform(X)))


@pytest.mark.parametrize("cls", ["OneHotEncoder", "OrdinalEncoder"])
def test_pandas_frame_equals_sklearn(cls):
    """A pandas frame with str, categorical, nullable integer and boolean columns fits and
    encodes in memory as scikit-learn's encoder does."""
    frame = _frame(2)
    ours, reference = getattr(ooc, cls)().fit(frame), getattr(preprocessing, cls)().fit(frame)
    _same_fit(ours, reference)
    assert_array_equal(_dense(ours.transform(frame)), _dense(reference.transform(frame)))


def test_dask_dataframe_with_empty_partitions_equals_pandas():
    """A dask DataFrame in uneven partitions, empty ones included, fits and encodes as its
    pandas frame does."""
    import dask
    import dask.dataframe as dd

    frame = _frame(3)
    cuts = [0, 0, 7, 7, 19, 30]
    parts = [dask.delayed(frame.iloc[a:b]) for a, b in zip(cuts, cuts[1:])]
    data = dd.from_delayed(parts, meta=frame.iloc[:0])
    ours = ooc.OneHotEncoder(min_frequency=2).fit(data)
    reference = preprocessing.OneHotEncoder(min_frequency=2).fit(frame)
    _same_fit(ours, reference)
    out = ours.transform(data).compute()
    assert_array_equal(out.toarray(), reference.transform(frame).toarray())


def _ids(tmp_path, n, distinct, parts):
    rng = np.random.default_rng(5)
    ids = pd.DataFrame({"id": pd.Series(np.char.add("u", rng.integers(0, distinct, n).astype(
        str)), dtype="str"), "v": rng.integers(0, 3, n)})
    folder = tmp_path / "ids"
    folder.mkdir()
    for i, chunk in enumerate(np.array_split(np.arange(n), parts)):
        ids.iloc[chunk].to_parquet(folder / f"part-{i}.parquet")
    return ids, ooc.read_parquet(folder)


def test_high_cardinality_gives_sparse_blocks(tmp_path):
    """A column of thousands of ids encodes into scipy.sparse blocks with one stored value per
    row and column, equal to scikit-learn's output."""
    frame, table = _ids(tmp_path, 30_000, 20_000, 3)
    ours = ooc.OneHotEncoder(handle_unknown="ignore").fit(table)
    reference = preprocessing.OneHotEncoder(handle_unknown="ignore").fit(frame)
    out = ours.transform(table)
    assert isinstance(out._meta, sp.csr_matrix) and out.shape[1] == ours._output_spec()[1]
    block = out.blocks[1].compute()
    assert sp.isspmatrix_csr(block) and block.nnz == 2 * block.shape[0]
    assert (out.compute() != reference.transform(frame)).nnz == 0


def test_dense_output_too_wide_is_refused(tmp_path, monkeypatch):
    """sparse_output=False with blocks above the dense limit is an error saying what to do."""
    monkeypatch.setattr(encoders, "DENSE_BLOCK_LIMIT", 2**20)
    _, table = _ids(tmp_path, 30_000, 20_000, 3)
    with pytest.raises(ValueError, match=r"sparse_output=True.*min_frequency=.*max_categories="):
        ooc.OneHotEncoder(sparse_output=False).fit(table)
    narrow = ooc.OneHotEncoder(sparse_output=False, max_categories=5).fit(table)
    assert narrow.transform(table).shape == (30_000, 5 + 3)


def test_unknown_category_error_names_value_column_and_row(tmp_path):
    """handle_unknown='error' names the unseen value, its column, and its file and row."""
    ours = ooc.OneHotEncoder().fit(_frame(0))
    test = _frame(1, unseen=True)
    row = int(np.flatnonzero(test["city"] == "Zürich")[0])
    with pytest.raises(ValueError, match=rf"\['Zürich'\] in column 0 \('city'\).*row {row} of "
                                         rf".*part-0.parquet.*handle_unknown='ignore'"):
        ours.transform(_table(tmp_path, test, "whole")).compute()


def test_given_categories_refuse_other_values_in_fit(tmp_path):
    """With given categories and handle_unknown='error', a value outside them is an error at
    fit naming it and where it is; scikit-learn refuses the same data."""
    frame = _frame(0)
    params = {"categories": [["Lima", "Oslo"]]}
    with pytest.raises(ValueError, match="during fit"):
        preprocessing.OneHotEncoder(**params).fit(frame[["city"]])
    with pytest.raises(ValueError, match=r"in column 0 \('city'\) during fit, first at row"):
        ooc.OneHotEncoder(**params).fit(_table(tmp_path, frame[["city"]], "uneven"))


def test_timestamp_column_is_refused(tmp_path):
    """A timestamp column is not read as categories: the error names DateTimeFeatures."""
    frame = pd.DataFrame({"t": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    with pytest.raises(TypeError, match=r"'t'.*ooc.DateTimeFeatures"):
        ooc.OneHotEncoder().fit(ooc.Table.from_pandas(frame))


def test_mixed_objects_are_refused():
    """An object column mixing strings and numbers is a TypeError, as in scikit-learn."""
    X = np.array([["a"], [1]], dtype=object)
    with pytest.raises(TypeError, match="uniformly strings or numbers"):
        preprocessing.OneHotEncoder().fit(X)
    with pytest.raises(TypeError, match="uniformly strings or numbers"):
        ooc.OneHotEncoder().fit(X)


@parametrize_with_checks([
    ooc.OneHotEncoder(),
    ooc.OneHotEncoder(sparse_output=False, handle_unknown="ignore", min_frequency=2,
                      drop="if_binary"),
    ooc.OrdinalEncoder(),
    ooc.OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, max_categories=3),
])
def test_sklearn_estimator_checks(estimator, check, monkeypatch):
    """Each encoder honours scikit-learn's estimator contract; no check is expected to fail."""
    # Without it sklearn skips its array-API-with-NumPy check; with it that check runs too.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.mark.parametrize("missing", [[], [np.nan], [None, np.nan]])
def test_a_saved_encoder_keeps_its_categories_in_a_small_file(missing, tmp_path):
    """Saved with skops (as the command line saves models) and pickled, a 5,000-value encoder
    with rare values and missing categories loads with scikit-learn's categories and outputs,
    and its file holds them as a few arrays, not one record per string."""
    import pickle
    import zipfile

    from outofcore.cli.model_io import load_model, save_model

    rng = np.random.default_rng(0)
    values = np.array([f"v{i}é" for i in rng.zipf(1.3, 20_000) % 5000] + missing, dtype=object)
    X = pd.DataFrame({"c": values})
    ours = ooc.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5).fit(X)
    theirs = preprocessing.OneHotEncoder(handle_unknown="infrequent_if_exist",
                                         min_frequency=5).fit(X)
    save_model(ours, tmp_path / "enc.skops")
    for loaded in (load_model(tmp_path / "enc.skops"), pickle.loads(pickle.dumps(ours))):
        for got, want in [(loaded.categories_, theirs.categories_),
                          (loaded.infrequent_categories_, theirs.infrequent_categories_)]:
            assert [list(map(repr, g)) for g in got] == [list(map(repr, w)) for w in want]
            assert all(g.dtype == object for g in got)
        assert_allclose(loaded.transform(X).toarray(), theirs.transform(X).toarray())
    with zipfile.ZipFile(tmp_path / "enc.skops") as z:
        assert z.getinfo("schema.json").file_size < 100_000
    # Saving and pickling leave the fitted encoder as it was.
    assert all(isinstance(c, np.ndarray) for c in ours.categories_)
    assert_allclose(ours.transform(X).toarray(), theirs.transform(X).toarray())
