"""Parquet and CSV files -> aligned ``(X, y)`` dask arrays with known chunks, planned cheaply.

A parquet read is planned from the footers alone: the files are listed, their schemas checked and
their row groups grouped into blocks. Each block is one task that reads its rows with pyarrow once
and returns both the X block and the y block, so X and y line up by construction and computing them
together reads every row group once. ``read_parquet`` lives here; ``read_csv`` (CSV has no
footer: planning counts lines and cuts byte ranges) lives in ``outofcore._csv`` and is re-exported.

Block policy: consecutive row groups of one file are merged while the block stays within
``block_rows`` rows; a larger row group is split into even slices, each decoding the row group up
to the end of its slice (memory follows the slice, the decoding is repeated). By default the
merging stops at about 32 MiB of features (``_BLOCK_BYTES``: 419k rows of 20 float32 features),
so memory follows the row width, and only row groups above 2**20 rows, pyarrow's own default
row-group size, are split: files that pyarrow wrote are never split. A fit's peak memory is a
few blocks: with 2**20-row blocks of 20 float32 features a 20M-row fit passed 1 GB, with 250k
rows it peaked at 585 MB (benchmarks/README.md).

The schema checks, block building and dask assembly that both readers use are in
``outofcore._tables``; listing files and writing them beside their destination is in
``outofcore._files``.
"""

from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from outofcore._arrays import register_labels
from outofcore._csv import read_csv
from outofcore._distributed import compute
from outofcore._files import _display, _list_files, _open
from outofcore._tables import (
    DEFAULT_BLOCK_ROWS,
    _assemble,
    _check_args,
    _check_parts,
    _Spec,
    _split,
    _token,
)

__all__ = ["read_parquet", "read_csv", "DEFAULT_BLOCK_ROWS"]

# Features per block when block_rows is not given; row groups merge up to it (see the module notes).
_BLOCK_BYTES = 1 << 25


def _parquet_footer(fs, path, display):
    """(footer, arrow schema, rows per row group) of one parquet file."""
    try:
        with _open(fs, path) as f:
            meta = pq.read_metadata(f)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(
            f"cannot read the parquet footer of {display}: {e}. The file is truncated or not "
            f"parquet; rewrite it or move it out of the data set"
        ) from e
    rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    return meta, meta.schema.to_arrow_schema(), rows


def _block_limits(block_rows, n_features, dtype):
    """(rows up to which row groups merge, rows above which one is split) for a read."""
    if block_rows is not None:
        return block_rows, block_rows
    budget = max(1, _BLOCK_BYTES // (max(1, n_features) * dtype.itemsize))
    return min(budget, DEFAULT_BLOCK_ROWS), DEFAULT_BLOCK_ROWS


def _plan_row_groups(rg_rows, block_rows, split_rows=None):
    """Blocks of one file as ``(row groups, lo, hi, first row)``; lo:hi slices a split row group.

    Row groups merge while a block stays within ``block_rows``; one above ``split_rows`` (default
    ``block_rows``) is split evenly, one in between is a block of its own.
    """
    split_rows = block_rows if split_rows is None else split_rows
    blocks, run, run_rows, offset = [], [], 0, 0
    for i, n in enumerate(rg_rows):
        if run and run_rows + n > block_rows:
            blocks.append((tuple(run), None, None, offset - run_rows))
            run, run_rows = [], 0
        if n > split_rows:
            size = -(-n // -(-n // split_rows))
            blocks += [((i,), lo, min(lo + size, n), offset + lo) for lo in range(0, n, size)]
        elif n > block_rows:
            blocks.append(((i,), None, None, offset))
        elif n:
            run.append(i)
            run_rows += n
        offset += n
    if run:
        blocks.append((tuple(run), None, None, offset - run_rows))
    return blocks


def _read_parquet_block(spec, path, display, meta, row_groups, rg_rows, lo, hi, first_row):
    columns = list(spec.features) + ([spec.target] if spec.target is not None else [])
    try:
        with _open(spec.fs, path) as f:
            # The footer parsed at planning is reused: parsing it in every task costs time
            # quadratic in the row groups (5000 row groups of 10 rows: 80 s against 5 s).
            pf = pq.ParquetFile(f, metadata=meta)
            if lo is None:
                table = pf.read_row_groups(list(row_groups), columns=columns)
            else:
                batches, seen = [], 0
                for batch in pf.iter_batches(hi - lo, row_groups=list(row_groups),
                                             columns=columns):
                    if seen + batch.num_rows > lo:
                        batches.append(batch)
                    seen += batch.num_rows
                    if seen >= hi:
                        break
                table = pa.Table.from_batches(batches)
                table = table.slice(lo - (seen - table.num_rows), hi - lo)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(
            f"cannot read row group(s) {list(row_groups)} of {display}: {e}. The file is "
            f"truncated or corrupt; rewrite it or move it out of the data set"
        ) from e
    bounds = np.cumsum(rg_rows)

    def where(r):
        rg = row_groups[int(np.searchsorted(bounds, (lo or 0) + r, side="right"))]
        return f"row {first_row + r} of {display} (row group {rg})"

    return _split(table, spec, where)


def read_parquet(path, target=None, columns=None, dtype="float32", *, exclude=(),
                 block_rows=None, check_finite=True, storage_options=None):
    """Read parquet files into aligned dask arrays ``(X, y)`` with known chunks.

    Parameters
    ----------
    path : str or path-like
        One file, a folder of parts (searched recursively; names starting with ``_`` or ``.``
        are skipped), a glob, or an fsspec URL such as ``s3://bucket/data/`` or
        ``memory://train``. Parts are read in natural order (``part-2`` before ``part-10``).
    target : str, optional
        The target column. Without it only ``X`` is returned.
    columns : list of str, optional
        Feature columns, in this order. Default: every column but the target, ``exclude`` and a
        pandas index written as a column.
    dtype : {"float32", "float64"}
        dtype of X. y keeps the target's own type (strings become an object array).
    exclude : sequence of str
        Columns left out of the default feature set, such as row ids.
    block_rows : int, optional
        Most rows in a block. Default: whole row groups merged up to about 32 MiB of features
        (419k rows of 20 float32 features), a row group above 2**20 rows split (see the module
        notes on how row groups map to blocks).
    check_finite : bool
        Raise on a NaN, missing or infinite feature or target when its block is read, naming
        the column, file, row and row group.
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoints).

    Returns
    -------
    X : dask.array.Array of shape (n_rows, n_features)
        Rows in file order. Its feature names are registered, so estimators fitted on X get
        ``feature_names_in_``.
    y : dask.array.Array of shape (n_rows,)
        Chunked like X's rows. Only when ``target`` is given.

    Examples
    --------
    >>> X, y = read_parquet("data/train.parquet", target="target", exclude=["id"])  # doctest: +SKIP
    >>> X.chunks[0] == y.chunks[0]                                                  # doctest: +SKIP
    True
    """
    dtype = _check_args(dtype, block_rows, auto=True)
    fs, files, _ = _list_files(path, "parquet", storage_options)
    displays = [_display(fs, p) for p in files]
    footers = [_parquet_footer(fs, p, d) for p, d in zip(files, displays, strict=True)]
    schemas = [(d, schema) for d, (_, schema, _) in zip(displays, footers, strict=True)]
    features, y_dtype = _check_parts(schemas, target, columns, exclude)
    merge_rows, split_rows = _block_limits(block_rows, len(features), dtype)
    blocks = []
    for p, d, (meta, _, rg_rows) in zip(files, displays, footers, strict=True):
        for rgs, lo, hi, first in _plan_row_groups(rg_rows, merge_rows, split_rows):
            sizes = tuple(rg_rows[i] for i in rgs)
            n = sum(sizes) if lo is None else hi - lo
            blocks.append(((p, d, meta, rgs, sizes, lo, hi, first), n))
    spec = _Spec(fs, tuple(features), target, dtype, y_dtype, check_finite)
    token = _token("parquet", fs, files, features, target, dtype.str, check_finite, merge_rows,
                   split_rows)
    arrays = _assemble(_read_parquet_block, spec, blocks, token)
    if target is not None:
        register_labels(arrays[1], partial(_parquet_labels, fs, tuple(files), target, y_dtype))
    return arrays


def _parquet_labels(fs, files, target, y_dtype):
    """Distinct values of the target column, reading that column alone (one task per file)."""
    import dask

    def distinct(path):
        with _open(fs, path) as f:
            column = pq.read_table(f, columns=[target]).column(0)
        return np.unique(column.to_numpy(zero_copy_only=False).astype(y_dtype, copy=False))

    parts = compute(*[dask.delayed(distinct)(p) for p in files])
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=y_dtype)
