"""The finalize step of the scalers' statistics: a merged :class:`~outofcore.preprocessing.stats.
Record` turned into the fitted attributes of the matching scikit-learn scaler, under the same
names (``mean_``, ``var_``, ``scale_``; ``data_min_``, ``data_range_``, ``min_``; ``max_abs_``)."""

import numpy as np

from outofcore.preprocessing.stats import divide


def _zero_to_one(scale, constant):
    """Scale with the entries flagged constant set to 1, so constant columns pass through."""
    scale = np.array(scale, copy=True)
    scale[constant] = 1.0
    return scale


def _collapse(counts):
    """One count when every column saw the same number of values, as scikit-learn reports it."""
    return counts[0] if counts.size and np.all(counts == counts[0]) else counts


def standard_attributes(record, *, with_mean=True, with_std=True, count_dtype=np.float64):
    """``mean_``, ``var_``, ``scale_`` and ``n_samples_seen_`` of a StandardScaler.

    Parameters
    ----------
    record : Record
        Built with ``moments=True`` (unless both flags are False).
    with_mean, with_std : bool
        The scaler's parameters; ``mean_`` is reported when either is set, ``var_`` and
        ``scale_`` only with ``with_std``, as scikit-learn does.
    count_dtype : dtype, default=float64
        dtype of ``n_samples_seen_``.

    Returns
    -------
    dict
        A column whose values are all NaN gets NaN statistics. A column that is constant up to
        rounding gets ``scale_ = 1``.
    """
    n_samples_seen = _collapse(record.count.astype(count_dtype))
    if not (with_mean or with_std):
        return {"n_samples_seen_": n_samples_seen, "mean_": None, "var_": None, "scale_": None}
    empty = record.count == 0
    mean = np.where(empty, np.nan, record.mean)
    var = np.where(empty, np.nan, divide(record.m2, record.count))
    scale = None
    if with_std:
        # A column is constant when its variance is within the rounding error bound of the
        # two-pass algorithm (Chan, Golub and LeVeque), the test scikit-learn applies.
        eps = np.finfo(np.float64).eps
        n = record.count
        constant = var <= n * eps * var + (n * mean * eps) ** 2
        scale = _zero_to_one(np.sqrt(var), constant)
    return {
        "n_samples_seen_": n_samples_seen,
        "mean_": mean,
        "var_": var if with_std else None,
        "scale_": scale,
    }


def _extrema_in(record, dtype):
    """Per-column min and max in ``dtype``, NaN for a column without values."""
    # Blocks never hold infinity, so an infinite extremum is the identity: no value was seen.
    empty = np.isinf(record.min)
    lo = np.where(empty, np.nan, record.min).astype(dtype)
    hi = np.where(empty, np.nan, record.max).astype(dtype)
    return lo, hi


def minmax_attributes(record, *, feature_range=(0, 1), dtype=np.float64):
    """``data_min_``, ``data_max_``, ``data_range_``, ``scale_``, ``min_``, ``n_samples_seen_``.

    Parameters
    ----------
    record : Record
        Built with ``extrema=True``.
    feature_range : (float, float), default=(0, 1)
        Target range of the transformed data.
    dtype : dtype, default=float64
        dtype of the attributes: the float dtype of the fitted data, as in scikit-learn.

    Returns
    -------
    dict
    """
    data_min, data_max = _extrema_in(record, dtype)
    low, high = (np.asarray(v, dtype=dtype) for v in feature_range)
    data_range = data_max - data_min
    # Ranges below rounding level are treated as zero: those columns map to `low`.
    safe_range = _zero_to_one(data_range, data_range < 10 * np.finfo(dtype).eps)
    scale = (high - low) / safe_range
    return {
        "n_samples_seen_": record.n_rows,
        "data_min_": data_min,
        "data_max_": data_max,
        "data_range_": data_range,
        "scale_": scale,
        "min_": low - data_min * scale,
    }


def maxabs_attributes(record, *, dtype=np.float64):
    """``max_abs_``, ``scale_`` and ``n_samples_seen_`` of a MaxAbsScaler.

    Parameters
    ----------
    record : Record
        Built with ``extrema=True``.
    dtype : dtype, default=float64
        dtype of the attributes: the float dtype of the fitted data, as in scikit-learn.

    Returns
    -------
    dict
    """
    data_min, data_max = _extrema_in(record, dtype)
    max_abs = np.maximum(-data_min, data_max)
    return {
        "n_samples_seen_": record.n_rows,
        "max_abs_": max_abs,
        "scale_": _zero_to_one(max_abs, max_abs < 10 * np.finfo(dtype).eps),
    }
