"""cache_blocks: later passes reuse decoded reader blocks; same results, bounded, opt-in."""

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline

import outofcore as ooc
from outofcore import _csv
from outofcore import io as oio


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


def _counting(monkeypatch, module, name):
    reads = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a: reads.append(1) or real(*a))
    return reads


def _fit(X, y):
    return make_pipeline(
        ooc.StandardScaler(),
        ooc.Incremental(SGDClassifier(random_state=0), classes=[0, 1], random_state=0),
    ).fit(X, y)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_pipeline_fit_decodes_each_block_once_and_learns_the_same_model(tmp_path, frame,
                                                                        monkeypatch, fmt):
    """Statistics pass and epoch share the decoded blocks; the model equals the uncached fit."""
    if fmt == "parquet":
        path, reader = tmp_path / "d.parquet", ooc.read_parquet
        frame.to_parquet(path, row_group_size=100)
        reads = _counting(monkeypatch, oio, "_read_parquet_block")
    else:
        path, reader = tmp_path / "d.csv", ooc.read_csv
        frame.to_csv(path, index=False)
        reads = _counting(monkeypatch, _csv, "_read_csv_block")
    X, y = reader(path, target="t", block_rows=100)
    plain = _fit(X, y)
    n_blocks = X.numblocks[0]
    assert len(reads) == 2 * n_blocks
    reads.clear()
    with ooc.cache_blocks() as stats:
        cached = _fit(X, y)
    assert len(reads) == n_blocks
    assert stats["blocks"] == stats["hits"] == n_blocks and stats["misses"] == n_blocks
    assert_array_equal(cached[-1].estimator_.coef_, plain[-1].estimator_.coef_)
    assert_array_equal(cached[0].mean_, plain[0].mean_)


def test_budget_keeps_what_fits_and_nothing_outlives_the_block(parquet_file, monkeypatch):
    """Only blocks within max_bytes are kept; after the with-block every read decodes again."""
    reads = _counting(monkeypatch, oio, "_read_parquet_block")
    X, y = ooc.read_parquet(parquet_file, target="t", block_rows=100)
    block_bytes = 100 * 4 * 4 + 100 * 8  # float32 features and int64 target
    with ooc.cache_blocks(3 * block_bytes) as stats:
        X.sum().compute()
        X.sum().compute()
    assert stats["blocks"] == 3 and stats["bytes"] == 3 * block_bytes
    assert len(reads) == 8 + 5
    reads.clear()
    X.sum().compute()
    assert len(reads) == 8


def test_sizes_as_text(parquet_file):
    """A size such as '1KiB' is a budget in bytes: one 100-row block (2400 bytes) does not fit."""
    X = ooc.read_parquet(parquet_file, columns=["a", "b", "c", "d"], block_rows=100)
    with ooc.cache_blocks("1KiB") as stats:
        X.sum().compute()
    assert stats["blocks"] == 0 and stats["misses"] == 8
    with ooc.cache_blocks("1MiB") as stats:
        X.sum().compute()
    assert stats["blocks"] == 8


def test_kept_blocks_are_read_only_and_equal_to_a_fresh_read(parquet_file):
    """A step writing into a kept block is refused, and kept blocks equal what decoding gives."""
    X = ooc.read_parquet(parquet_file, columns=["a", "b", "c", "d"], block_rows=100)
    fresh = X.compute()

    def zero_in_place(block):
        block[:] = 0
        return block

    with ooc.cache_blocks():
        X.sum().compute()
        with pytest.raises(ValueError, match="read-only"):
            X.map_blocks(zero_in_place).compute()
        assert_array_equal(X.compute(), fresh)


def test_a_rewritten_file_is_read_again(tmp_path, frame):
    """Blocks are keyed by the file's identity: new contents are never served from the cache."""
    path = tmp_path / "d.parquet"
    frame.to_parquet(path, row_group_size=100)
    with ooc.cache_blocks():
        first = ooc.read_parquet(path, columns=["a"]).compute()
        (frame * 2).to_parquet(path, row_group_size=100)
        second = ooc.read_parquet(path, columns=["a"]).compute()
    assert_array_equal(second, first * 2)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "lots"])
def test_bad_budget_is_named(bad):
    """An unusable budget fails on entry, naming the accepted forms."""
    with pytest.raises(ValueError, match="max_bytes must be 'auto', a number of bytes"):
        with ooc.cache_blocks(bad):
            pass
