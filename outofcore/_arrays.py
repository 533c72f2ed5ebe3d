"""Turning what users pass (dask arrays or frames, numpy, pandas) into dask arrays with known chunks.

Estimators call these at the top of ``fit``/``predict`` so the rest of the code sees one kind of
input: a 2-D dask array whose row chunks are known, with a 1-D target chunked the same way.
"""

import numpy as np

# Feature names of dask arrays made by our readers, keyed by the array's name. A dask array's name is a
# deterministic token of how it was built, so ``persist()`` and re-reads of the same files keep it.
_FEATURE_NAMES = {}
# For targets made by our readers: a function returning the distinct labels without reading X.
_LABEL_SOURCES = {}


def is_dask_collection(X):
    """True for dask arrays, dataframes and series (without importing dask when it is not loaded)."""
    return hasattr(X, "__dask_graph__") and callable(getattr(X, "__dask_graph__"))


def _is_dask_frame(X):
    return is_dask_collection(X) and hasattr(X, "to_dask_array")


def feature_names(X):
    """Column names of a DataFrame (pandas or dask), or the names our readers registered for X.

    Returns an object ndarray, or None when X carries no string column names (sklearn's rule).
    """
    if is_dask_collection(X) and not _is_dask_frame(X):
        names = _FEATURE_NAMES.get(getattr(X, "name", None))
        return None if names is None else np.asarray(names, dtype=object)
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) and all(isinstance(n, str) for n in names):
        return names
    return None


def register_feature_names(X, names):
    """Remember the column names of a reader-built dask array X; returns X."""
    _FEATURE_NAMES[X.name] = tuple(str(n) for n in names)
    return X


def register_labels(y, distinct):
    """Remember ``distinct()``, a cheap way to find the labels of a reader-built target y."""
    _LABEL_SOURCES[y.name] = distinct
    return y


def distinct_labels(y):
    """The sorted distinct values of dask y: from its reader when it registered a cheaper way
    (parquet reads only the target column), else one pass of ``dask.array.unique``."""
    source = _LABEL_SOURCES.get(getattr(y, "name", None))
    if source is not None:
        return np.asarray(source())
    import dask.array as da

    from ._distributed import compute

    return np.asarray(compute(da.unique(y))[0], dtype=y.dtype)


def as_dask_array(X, *, name="X"):
    """Return X as a dask array with known chunk sizes along the rows.

    Dask DataFrames and Series are converted with their partition lengths (one pass over the data when
    the lengths are unknown); numpy and pandas inputs become a single-block dask array, so code written
    for blocks handles them without a second path.
    """
    import dask.array as da

    if _is_dask_frame(X):
        arr = X.to_dask_array(lengths=True)
        names = feature_names(X)
        if names is not None and arr.ndim == 2:
            register_feature_names(arr, names)
        return arr
    if isinstance(X, da.Array):
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        if X.ndim == 2 and len(X.chunks[1]) > 1:
            # Estimators see whole rows: one block spans every column.
            names = feature_names(X)
            X = X.rechunk({1: -1})
            if names is not None:
                register_feature_names(X, names)
        return X
    if hasattr(X, "to_numpy"):
        X = X.to_numpy()
    X = np.asarray(X)
    return da.from_array(X, chunks=(max(1, X.shape[0]),) + X.shape[1:], name=False)


def align_to(X, v, *, name):
    """Return ``v`` (array-like, 1-D or 2-D) with one entry per row of X, laid out like X.

    A dask X gives a dask array whose row chunks are X's; an in-memory (numpy) X gives a numpy
    array. Raises ValueError naming both lengths when the rows differ.
    """
    in_memory = isinstance(X, np.ndarray)
    if in_memory:
        v = np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v)
    else:
        v = as_dask_array(v, name=name)
    n_x, n_v = X.shape[0], v.shape[0]
    if n_x != n_v:
        raise ValueError(
            f"X has {n_x} rows but {name} has {n_v}; they must have one entry per row of X. "
            f"Read them together (e.g. outofcore.read_parquet(path, target=...)) so they line up."
        )
    if in_memory:
        return v
    if v.chunks[0] != X.chunks[0]:
        source = _LABEL_SOURCES.get(v.name)
        v = v.rechunk({0: X.chunks[0]})
        if source is not None:
            register_labels(v, source)
    return v
