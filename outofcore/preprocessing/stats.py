"""Per-column summary statistics of 2-D blocks, mergeable in any order and grouping.

A statistic is three pure functions over a small :class:`Record`:

* :func:`chunk` summarises one block (a NumPy array, possibly with zero rows),
* :func:`combine` merges any number of records into one,
* the finalize step, in :mod:`~outofcore.preprocessing.scaler_attributes`, turns a record into
  the fitted attributes of the matching scikit-learn scaler, under the same names.

Everything is accumulated in float64 whatever the block dtype, so float32 data far from zero
keeps its precision. NaN is a missing value, ignored per column, as scikit-learn's scalers do;
infinity is an error. This module only needs NumPy: the same code runs inside dask tasks and on
in-memory arrays. :func:`pack` and :func:`unpack` turn a record into a float64 array and back,
so that a dask reduction can carry records as ordinary array chunks.

References
----------
T. F. Chan, G. H. Golub and R. J. LeVeque, "Algorithms for computing the sample variance:
analysis and recommendations", The American Statistician 37(3), 242-247, 1983.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Record:
    """Summary of the rows seen so far, per column, in float64.

    Parameters
    ----------
    n_rows : int
        Rows seen, NaN or not.
    count : ndarray of shape (n_features,)
        Non-NaN values per column; with sample weights, the sum of their weights.
    mean, m2 : ndarray of shape (n_features,) or None
        Weighted mean and sum of squared deviations from it, of the non-NaN values
        (``None`` when the record was built with ``moments=False``).
    min, max : ndarray of shape (n_features,) or None
        Smallest and largest non-NaN value; ``+inf`` and ``-inf`` for a column with none yet,
        the identities of ``minimum`` and ``maximum`` (``None`` when built with ``extrema=False``).
    """

    n_rows: int
    count: np.ndarray
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None

    @property
    def absmax(self):
        """Largest absolute non-NaN value per column (``-inf`` for a column with none yet)."""
        # max |x| is max(-min, max): no second pass over the data is needed for it.
        return np.maximum(-self.min, self.max)

    @property
    def has_moments(self):
        return self.mean is not None

    @property
    def has_extrema(self):
        return self.min is not None


def identity(n_features, *, moments=True, extrema=True):
    """The record of zero rows: merging it with any record returns that record."""
    return Record(
        n_rows=0,
        count=np.zeros(n_features),
        mean=np.zeros(n_features) if moments else None,
        m2=np.zeros(n_features) if moments else None,
        min=np.full(n_features, np.inf) if extrema else None,
        max=np.full(n_features, -np.inf) if extrema else None,
    )


def chunk(block, sample_weight=None, *, moments=True, extrema=True, feature_names=None,
          where=None):
    """Summarise one 2-D block.

    Parameters
    ----------
    block : ndarray of shape (n_rows, n_features)
        Numeric values; NaN marks a missing value. Not modified.
    sample_weight : ndarray of shape (n_rows,), default=None
        Weights of the rows for ``count``, ``mean`` and ``m2``; extrema ignore them.
    moments, extrema : bool, default=True
        Which parts to compute; a scaler asks only for what its attributes need.
    feature_names : sequence of str, default=None
        Column names, used only to name a column in the error about infinite values.
    where : callable, default=None
        ``where(row)`` names a row's location (file and row) in that error.

    Returns
    -------
    Record

    Raises
    ------
    ValueError
        If the block holds an infinite value (scikit-learn's scalers reject them too).

    Examples
    --------
    >>> import numpy as np
    >>> r = chunk(np.array([[1.0, np.nan], [3.0, 4.0]]))
    >>> r.count, r.mean, r.max
    (array([2., 1.]), array([2., 4.]), array([3., 4.]))
    """
    block = np.asarray(block)
    if block.ndim != 2:
        raise ValueError(f"Expected a 2-D block (n_rows, n_features), got shape {block.shape}.")
    n_rows, n_features = block.shape
    if n_rows == 0:
        return identity(n_features, moments=moments, extrema=extrema)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
    missing = np.isnan(block) if has_missing(block, feature_names, where) else None

    if missing is None:
        present = np.full(n_features, float(n_rows))
        count = present if sample_weight is None else np.full(n_features, sample_weight.sum())
    else:
        present = n_rows - missing.sum(axis=0, dtype=np.float64)
        count = present if sample_weight is None else sample_weight @ ~missing

    mean = m2 = lo = hi = None
    if moments:
        mean, m2 = _moments(block, sample_weight, missing, count)
    if extrema:
        # fmin/fmax skip NaN; a column without values gives NaN, replaced by the identity.
        empty = present == 0
        lo = np.where(empty, np.inf, _column_reduce(np.fmin, block))
        hi = np.where(empty, -np.inf, _column_reduce(np.fmax, block))
    return Record(n_rows=n_rows, count=count, mean=mean, m2=m2, min=lo, max=hi)


def has_missing(block, feature_names=None, where=None):
    """Whether ``block`` holds NaN; raise ValueError naming a column that holds infinity.

    Parameters
    ----------
    block : ndarray of shape (n_rows, n_features)
    feature_names : sequence of str, default=None
        Column names, used only in the error message.
    where : callable, default=None
        ``where(row)`` names a row's location in the error message.

    Returns
    -------
    bool
    """
    # isfinite().all() is a single vectorised scan, several times faster than any reduction
    # along rows, and clean blocks (the usual case) need nothing else.
    if block.dtype.kind != "f" or np.isfinite(block).all():
        return False
    infinite = np.flatnonzero(np.isinf(block).any(axis=0))
    if infinite.size:
        raise _infinity_error(block, infinite, feature_names, where)
    return True


def _infinity_error(block, columns, feature_names, where):
    first = int(columns[0])
    place = f"column {first}"
    if feature_names is not None:
        place += f" ({feature_names[first]!r})"
    if columns.size > 1:
        place += f" and {columns.size - 1} more column(s)"
    if where is not None:
        place += f", first at {where(int(np.flatnonzero(np.isinf(block[:, first]))[0]))}"
    return ValueError(
        f"Input X contains infinity in {place}. The scalers treat NaN as missing but cannot "
        "scale infinite values: replace them with NaN (to ignore them) or with a finite value."
    )


# Rows laid side by side by _column_reduce, and rows per float64 scratch slab in _moments.
_FOLD = 64
_SLAB = 8192


def _column_reduce(ufunc, x, dtype=None):
    """``ufunc.reduce(x, axis=0)`` as float64, fast for C-ordered blocks with few columns.

    Reducing a C-ordered (n, m) array along rows runs NumPy's inner loop over only m values per
    row. Viewed as (n / k, k * m) the inner loop is k times longer and vectorises; k partial
    results per column are then reduced (see benchmarks/README.md, table 2).
    """
    n, m = x.shape
    whole = n // _FOLD * _FOLD
    if not x.flags.c_contiguous or whole == 0:
        return ufunc.reduce(x, axis=0, dtype=dtype).astype(np.float64, copy=False)
    partial = ufunc.reduce(x[:whole].reshape(-1, _FOLD * m), axis=0, dtype=dtype)
    partial = np.concatenate([partial.reshape(_FOLD, m), x[whole:]])
    return ufunc.reduce(partial, axis=0, dtype=dtype).astype(np.float64, copy=False)


def _moments(block, sample_weight, missing, count):
    """Weighted mean and sum of squared deviations of the non-NaN values, in float64."""
    values = block if missing is None else np.where(missing, 0.0, block)
    if sample_weight is None:
        total = _column_reduce(np.add, values, dtype=np.float64)
    else:
        total = sample_weight @ values.astype(np.float64, copy=False)
    mean = divide(total, count)
    # Deviations are formed a slab of rows at a time in a float64 scratch buffer that stays in
    # cache, instead of as one float64 copy of the whole block.
    drift = np.zeros_like(mean)
    m2 = np.zeros_like(mean)
    scratch = np.empty((min(_SLAB, len(block)), block.shape[1]))
    for start in range(0, len(block), _SLAB):
        rows = slice(start, start + _SLAB)
        slab = values[rows]
        deviation = np.subtract(slab, mean, out=scratch[: len(slab)])
        if missing is not None:
            deviation[missing[rows]] = 0.0
        if sample_weight is None:
            drift += _column_reduce(np.add, deviation)
            np.square(deviation, out=deviation)
            m2 += _column_reduce(np.add, deviation)
        else:
            drift += sample_weight[rows] @ deviation
            np.square(deviation, out=deviation)
            m2 += sample_weight[rows] @ deviation
    # Corrected two-pass algorithm (Chan, Golub and LeVeque, eq. 1.7): `drift` is zero in exact
    # arithmetic and removes most of the rounding error of the mean from m2.
    m2 -= divide(drift * drift, count)
    # A sum of squares is never negative; the correction can overshoot by rounding on constant data.
    np.maximum(m2, 0.0, out=m2)
    return mean, m2


def divide(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (a column with no values yet)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def combine(records):
    """Merge records of disjoint sets of rows into the record of their union.

    Means and sums of squared deviations merge with the parallel formula of Chan, Golub and
    LeVeque, generalised to any number of parts: ``m2 = sum(m2_i) + sum(n_i * (mean_i - mean)**2)``.

    Parameters
    ----------
    records : iterable of Record
        At least one record, all with the same columns and the same parts.

    Returns
    -------
    Record

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(10.0).reshape(5, 2)
    >>> merged = combine([chunk(X[:2]), chunk(X[2:])])
    >>> np.allclose(merged.m2 / merged.count, X.var(axis=0))
    True

    References
    ----------
    T. F. Chan, G. H. Golub and R. J. LeVeque, "Algorithms for computing the sample variance:
    analysis and recommendations", The American Statistician 37(3), 242-247, 1983.
    """
    records = list(records)
    if not records:
        raise ValueError("combine() needs at least one record.")
    first = records[0]
    if any(
        r.has_moments != first.has_moments or r.has_extrema != first.has_extrema for r in records
    ):
        raise ValueError("Cannot combine records built with different `moments`/`extrema` parts.")
    counts = np.stack([r.count for r in records])
    count = counts.sum(axis=0)
    mean = m2 = lo = hi = None
    if first.has_moments:
        means = np.stack([r.mean for r in records])
        mean = divide((counts * means).sum(axis=0), count)
        spread = (counts * (means - mean) ** 2).sum(axis=0)
        m2 = np.stack([r.m2 for r in records]).sum(axis=0) + spread
    if first.has_extrema:
        lo = np.minimum.reduce([r.min for r in records])
        hi = np.maximum.reduce([r.max for r in records])
    n_rows = sum(r.n_rows for r in records)
    return Record(n_rows=n_rows, count=count, mean=mean, m2=m2, min=lo, max=hi)


def n_packed_rows(*, moments, extrema):
    """Rows of the array :func:`pack` makes for a record with these parts."""
    return 2 + 2 * moments + 2 * extrema


def pack(record):
    """The record as one float64 array of shape (n_packed_rows, n_features).

    Rows are n_rows (repeated), count, then mean and m2, then min and max, for the parts present.
    """
    rows = [np.full(record.count.shape, float(record.n_rows)), record.count]
    if record.has_moments:
        rows += [record.mean, record.m2]
    if record.has_extrema:
        rows += [record.min, record.max]
    return np.stack(rows).astype(np.float64, copy=False)


def unpack(packed, *, moments, extrema):
    """Inverse of :func:`pack` for an array of one record."""
    rows = iter(np.asarray(packed, dtype=np.float64))
    n_rows = int(next(rows)[0]) if packed.shape[1] else 0
    count = next(rows)
    mean, m2 = (next(rows), next(rows)) if moments else (None, None)
    lo, hi = (next(rows), next(rows)) if extrema else (None, None)
    return Record(n_rows=n_rows, count=count, mean=mean, m2=m2, min=lo, max=hi)


