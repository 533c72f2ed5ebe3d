"""The dask side of the scalers: a collection as row blocks, the chunk and combine steps of the
``dask.array.reduction`` that fits them, and the block functions ``map_blocks`` applies to
transform (:class:`~outofcore.preprocessing._scaling._BaseScaler` holds the estimator side)."""

import numpy as np
from sklearn.utils.validation import FLOAT_DTYPES

from outofcore.io import convert
from outofcore.io.inputs import as_array
from outofcore.io.table import Table
from outofcore.preprocessing import stats as _stats


def float_dtype(dtype):
    """The dtype scikit-learn's scalers work in: float dtypes are kept, anything else is float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype in FLOAT_DTYPES else np.dtype(np.float64)


def row_blocks(X, *, lengths):
    """A dask collection as a 2-D dask array whose blocks span all columns.

    Row lengths are only worked out when ``lengths`` is set: they cost a pass over the data when
    unknown (as for a dask DataFrame), and neither a reduction nor ``map_blocks`` needs them.
    """
    import dask.array as da

    if lengths or isinstance(X, Table):
        X = as_array(X)
    else:
        if hasattr(X, "to_dask_array"):
            X = X.to_dask_array()
        if isinstance(X, da.Array) and X.ndim == 2 and len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
    if not isinstance(X, da.Array):
        raise TypeError(
            f"Expected a dask array or a dask DataFrame, got {type(X).__name__}. Convert it with "
            "dask.array.from_delayed or dask.dataframe.from_delayed first."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array or a dask DataFrame, got a {X.ndim}-D array of shape "
            f"{X.shape}. Reshape a single feature with X.reshape(-1, 1)."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"The scalers need numeric columns, got dtype {X.dtype}. Cast the columns to numbers, "
            "or select the numeric ones, before scaling."
        )
    return X


def packed_chunk(block, weights=None, *, axis, keepdims, parts, names):
    """``dask.array.reduction`` chunk step: one block to its packed statistic record."""
    # The reduction broadcasts the (n, 1) weights to the block's shape; one column holds them all.
    sample_weight = None if weights is None else weights[:, 0]
    record = _stats.chunk(block, sample_weight, feature_names=names, **parts)
    return _stats.pack(record)


def packed_combine(packed, *, axis, keepdims, parts):
    """``dask.array.reduction`` combine/aggregate step: stacked packed records to one."""
    size = _stats.n_packed_rows(**parts)
    pieces = packed.reshape(-1, size, packed.shape[-1])
    return _stats.pack(_stats.combine(_stats.unpack(p, **parts) for p in pieces))


def checked_block(block, block_fn, names):
    """Reject infinite values as scikit-learn's scalers do, then scale into a new array."""
    _stats.has_missing(block, names)
    return block_fn(block)


def scaled_table(table, where, names, dtype, block_fn):
    """A Table block's numbers as a new float block, checked and scaled in place."""
    block = convert.matrix(table, names, dtype, where)
    _stats.has_missing(block, names, where)
    return block_fn(block, out=block)


def table_record(table, where, names, dtype, parts):
    return _stats.chunk(convert.matrix(table, names, dtype, where), feature_names=names,
                        where=where, **parts)


def scale_block(block, out=None, *, steps, clip=None):
    """Apply per-column ``(ufunc, operand)`` steps to a block, then clip to ``clip`` if given.

    The first step reads ``block``, the others update ``out`` in place; ``out`` is a new array in
    the block's float dtype unless given (pass ``out=block`` to scale in place). Operand dtypes
    and the order of operations are those of scikit-learn's in-place code, so results agree with
    it bit for bit.
    """
    if out is None:
        out = np.empty(block.shape, dtype=float_dtype(block.dtype))
    source = block
    for ufunc, operand in steps:
        ufunc(source, operand, out=out)
        source = out
    if source is not out:
        np.copyto(out, block)
    if clip is not None:
        np.clip(out, *clip, out=out)
    return out


def as_float_block(block):
    """A block from the step before (NumPy, or a sparse matrix densified) as a float array."""
    if hasattr(block, "toarray"):
        block = block.toarray()
    block = np.asarray(block)
    return block if block.dtype in FLOAT_DTYPES else block.astype(np.float64)
