"""Scores of compiled predictions, without scikit-learn: accuracy, R^2 and k-means inertia.

They follow ``sklearn.metrics`` (``accuracy_score``, ``r2_score`` averaged uniformly over outputs
with non-finite values forced to 1 or 0). Dask predictions are reduced lazily and computed once.
"""

import numpy as np


def _numpy_r2(pred, y, w):
    pred = pred.reshape(len(pred), -1).astype(np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(pred), -1)
    mean = (w[:, None] * y).sum(axis=0) / w.sum()
    res = (w[:, None] * (y - pred) ** 2).sum(axis=0)
    tot = (w[:, None] * (y - mean) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(tot == 0, np.where(res == 0, 1.0, 0.0), 1.0 - res / tot)
    return float(r2.mean())


def score(pred, y, sample_weight, *, kind):
    """``kind`` is ``"accuracy"``, ``"r2"`` or ``"inertia"`` (pred = squared distance per row)."""
    if hasattr(pred, "__dask_graph__"):
        return _dask_score(pred, y, sample_weight, kind)
    n = len(pred)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if len(w) != n:
        raise ValueError(f"sample_weight has {len(w)} values for {n} rows")
    if kind == "inertia":
        return -float((w * np.asarray(pred, dtype=np.float64)).sum())
    if y is None or len(y) != n:
        raise ValueError(f"y has {None if y is None else len(y)} values for {n} rows of X")
    if kind == "accuracy":
        return float((w * (np.asarray(pred) == np.asarray(y))).sum() / w.sum())
    return _numpy_r2(np.asarray(pred), y, w)


def _dask_score(pred, y, sample_weight, kind):
    from outofcore.io.inputs import align_to
    from outofcore.runtime.scheduler import compute
    from outofcore.training.scoring import dask_prediction_score

    w = None if sample_weight is None else align_to(pred, sample_weight, name="sample_weight")
    if kind == "inertia":
        total = pred.astype(np.float64) if w is None else w * pred.astype(np.float64)
        return -float(compute(total.sum())[0])
    y = align_to(pred, y, name="y")
    return dask_prediction_score(pred, y, w, kind=kind)
