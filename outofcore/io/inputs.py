"""What estimators do first with what users pass them: one kind of collection per need.

Users pass NumPy arrays, pandas DataFrames, dask arrays and DataFrames, or the Tables the readers
return. A step that reads columns by name and type (encoders, imputers, ColumnTransformer) works
on a :class:`~outofcore.io.table.Table` (:func:`as_table`); a step that learns from numbers
works on a float dask array whose row chunks are known (:func:`as_array`). In-memory input
becomes a single block, so code written for blocks has no second path.
"""

import numpy as np

from outofcore.io.table import Table


def is_dask_collection(X):
    """True for dask arrays, dataframes and Tables (without importing dask when it is not loaded)."""
    return hasattr(X, "__dask_graph__") and callable(getattr(X, "__dask_graph__"))


def is_dask_frame(X):
    return is_dask_collection(X) and hasattr(X, "to_dask_array") and not isinstance(X, Table)


def feature_names(X):
    """String column names of a Table or DataFrame (pandas or dask) as an object array, else
    None (scikit-learn's rule: names only when every column name is a string)."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def as_table(X):
    """X as a :class:`Table`: Tables as they are, DataFrames (pandas or dask) by partition,
    2-D arrays with columns named ``x0``, ``x1``, ..."""
    if isinstance(X, Table):
        return X
    if is_dask_frame(X):
        return Table.from_dask_dataframe(X)
    if hasattr(X, "iloc"):
        return Table.from_pandas(X)
    import pandas as pd

    if is_dask_collection(X):
        return Table.from_dask_array(as_array(X))
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array (rows, columns), got shape {X.shape}.")
    return Table.from_pandas(pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])],
                                          copy=False))


def as_array(X, *, param="exclude"):
    """X as a 2-D float-or-int dask array whose row chunks are known and whose blocks span every
    column. Tables and dask DataFrames convert their numeric columns (a string, category or
    timestamp column is an error naming it); NumPy and pandas input is one block."""
    import dask.array as da

    if is_dask_frame(X) and X.ndim == 1:  # a dask Series: y, weights
        return X.to_dask_array(lengths=True)
    if is_dask_frame(X):
        X = Table.from_dask_dataframe(X)
    if isinstance(X, Table):
        return X.to_dask_array(param=param)
    if isinstance(X, da.Array):
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        if X.ndim == 2 and len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
        return X
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    X = np.asarray(X)
    return da.from_array(X, chunks=(max(1, X.shape[0]),) + X.shape[1:], name=False)


def align_to(X, v, *, name):
    """``v`` (1-D or 2-D, one entry per row of X) laid out like X: a dask array with X's row
    chunks for dask X, a NumPy array for in-memory X. Rows that differ are an error naming
    both."""
    in_memory = not is_dask_collection(X)
    if in_memory:
        v = np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v)
    elif isinstance(v, Table):
        raise TypeError(f"{name} is a Table; pass one column as a dask array (read it with "
                        f"target=... to get y)")
    else:
        v = as_array(v) if is_dask_collection(v) else as_array(np.asarray(
            v.to_numpy() if hasattr(v, "to_numpy") else v))
    n_x, n_v = X.shape[0], v.shape[0]
    if n_x != n_v:
        raise ValueError(
            f"X has {n_x} rows but {name} has {n_v}; they must have one entry per row of X. "
            f"Read them together (e.g. outofcore.read_parquet(path, target=...)) so they line up."
        )
    if in_memory or v.chunks[0] == X.chunks[0]:
        return v
    return v.rechunk({0: X.chunks[0]})
