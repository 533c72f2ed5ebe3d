"""A read's cache: later passes reuse decoded blocks; same results, bounded, opt-in, per read."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline

import outofcore as ooc
from outofcore.io import plan


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.normal(size=(800, 4)) * [1, 10, 100, 0.1], columns=list("abcd"))
    df["t"] = (df["a"] + df["b"] / 10 > 0).astype("int64")
    return df


@pytest.fixture
def parquet_file(tmp_path, frame):
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, row_group_size=100)
    return path


@pytest.fixture
def reads(monkeypatch):
    """The (block, columns) of every block a read decodes."""
    calls = []
    read = plan.Source.read
    monkeypatch.setattr(plan.Source, "read",
                        lambda self, i, columns, **kw: calls.append((i, tuple(columns)))
                        or read(self, i, columns, **kw))
    return calls


def _fit(X, y, epochs=1):
    return make_pipeline(
        ooc.StandardScaler(),
        ooc.Incremental(SGDClassifier(random_state=0), classes=[0, 1], epochs=epochs,
                        random_state=0),
    ).fit(X, y)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_pipeline_fit_decodes_each_block_once_and_learns_the_same_model(tmp_path, frame, reads,
                                                                        fmt):
    """The statistics pass and every epoch share the decoded blocks; the model equals the
    uncached fit's exactly."""
    if fmt == "parquet":
        path, reader = tmp_path / "d.parquet", ooc.read_parquet
        frame.to_parquet(path, row_group_size=100)
    else:
        path, reader = tmp_path / "d.csv", ooc.read_csv
        frame.to_csv(path, index=False)
    X, y = reader(path, target="t", block_rows=100)
    plain = _fit(X, y, epochs=3)
    reads_per_pass = len(set(reads))
    assert len(reads) == 4 * reads_per_pass - (0 if fmt == "csv" else X.numblocks)
    reads.clear()
    X, y = reader(path, target="t", block_rows=100, cache=True)
    cached = _fit(X, y, epochs=3)
    assert sorted(reads) == sorted(set(reads)) and len(reads) == reads_per_pass
    assert X.cache.stats["hits"] > 0
    assert_array_equal(cached[-1].estimator_.coef_, plain[-1].estimator_.coef_)
    assert_array_equal(cached[0].mean_, plain[0].mean_)


def test_budget_keeps_what_fits(parquet_file, reads):
    """Blocks beyond the budget are decoded on every pass; those within it once."""
    # A block holds 100 rows x 4 float64 columns (3.2 kB, and a little arrow metadata).
    X = ooc.read_parquet(parquet_file, exclude=["t"], block_rows=100, cache=3 * 3300)
    for _ in range(2):
        X.to_dask_array(dtype="float64").compute()
    assert X.cache.stats["blocks"] == 3
    assert len(reads) == 8 + 5


def test_sizes_as_text(parquet_file):
    """A budget may be a size such as '1KiB'."""
    X = ooc.read_parquet(parquet_file, block_rows=100, cache="1KiB")
    X.to_dask_array().compute()
    assert X.cache.stats["blocks"] == 0 and X.cache.max_bytes == 1024
    X = ooc.read_parquet(parquet_file, block_rows=100, cache="1MiB")
    X.to_dask_array().compute()
    assert X.cache.stats["blocks"] == 8


def test_kept_blocks_equal_a_fresh_read(parquet_file, frame):
    """What later passes get from the cache equals the file's values."""
    X = ooc.read_parquet(parquet_file, block_rows=100, cache=True, dtype="float64")
    first = X.to_dask_array().compute()
    again = X.to_dask_array().compute()
    assert_array_equal(first, frame.to_numpy())
    assert_array_equal(again, first)


def test_a_cache_belongs_to_its_read(parquet_file, reads):
    """Two reads of the same file keep nothing for each other; a read without cache keeps
    nothing at all."""
    X = ooc.read_parquet(parquet_file, block_rows=100, cache=True)
    X.to_dask_array().compute()
    reads.clear()
    ooc.read_parquet(parquet_file, block_rows=100, cache=True).to_dask_array().compute()
    assert len(reads) == 8
    plain = ooc.read_parquet(parquet_file, block_rows=100)
    assert plain.cache is None


def test_a_rewritten_file_is_read_again(tmp_path, frame):
    """A file rewritten between two reads gives the new values."""
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    ooc.read_parquet(path, cache=True).to_dask_array().compute()
    (frame * 2).to_parquet(path)
    again = ooc.read_parquet(path, dtype="float64", cache=True).to_dask_array().compute()
    assert_array_equal(again, (frame * 2).to_numpy())


@pytest.mark.parametrize("bad", [-1, "lots", 0.5])
def test_bad_budget_is_named(parquet_file, bad):
    """An unusable cache= fails at the read, naming the accepted values."""
    with pytest.raises(ValueError, match=r"cache=.* must be False, True or 'auto'"):
        ooc.read_parquet(parquet_file, cache=bad)
