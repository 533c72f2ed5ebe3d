"""Scores of lazy predictions against a dask target over every row, in one parallel pass.

A per-block average of R^2 is not the R^2 of the whole data, so classifier accuracy and regressor R^2
are computed from sums over all rows instead (float64 accumulators).
"""

import numpy as np


def dask_score(pred, y, sample_weight=None, *, kind):
    """Accuracy (``kind="accuracy"``) or R^2 (``kind="r2"``) of dask ``pred`` against dask ``y``."""
    import dask.array as da

    from ._distributed import compute

    w = da.ones(y.shape, chunks=y.chunks, dtype=np.float64) if sample_weight is None else (
        sample_weight.astype(np.float64))
    if kind == "accuracy":
        hits, total = compute((w * (pred == y)).sum(), w.sum())
        return float(hits / total)
    yf = y.astype(np.float64)
    res = w * (yf - pred.astype(np.float64)) ** 2
    s_w, s_y, s_yy, s_res = compute(w.sum(), (w * yf).sum(), (w * yf * yf).sum(), res.sum())
    total = s_yy - s_y * s_y / s_w
    if total == 0:
        return 1.0 if s_res == 0 else 0.0
    return float(1.0 - s_res / total)
