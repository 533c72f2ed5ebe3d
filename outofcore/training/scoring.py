"""Scores over many blocks: each block gives a few sums, the sums give the score of all rows.

A mean of per-block R^2 is not the R^2 of the rows, so the default scores are built from
sufficient statistics: accuracy from (correct, rows), R^2 from each block's weight, the mean of
its y, the weighted first and second sums of y about that mean and the squared residuals (merged as
a parallel variance: a target far from zero keeps its digits, and any weights, signed too, are
exact), a clusterer's score (minus the inertia) as a sum. Any other score, and any
``scoring=`` scorer, is the row-weighted mean of the block scores, which is exact for scores that
are means over rows (accuracy, log-loss, squared error) and an approximation otherwise.
"""

import numpy as np


def score_kind(estimator, scorer=None):
    """How block scores combine: ``"accuracy"``, ``"r2"``, ``"sum"`` or ``"mean"``."""
    from sklearn.utils import get_tags  # here: compiled models score without scikit-learn

    if scorer is not None:
        return "mean"
    kind = get_tags(estimator).estimator_type
    return {"classifier": "accuracy", "regressor": "r2", "clusterer": "sum"}.get(kind, "mean")


_WIDTH = {"accuracy": 2, "r2": 5, "sum": 1, "mean": 2}


def _width(kind, y):
    """Values one block gives to a score of ``kind`` (R^2 gives its values per output of y)."""
    return _WIDTH[kind] * (y.shape[1] if kind == "r2" and y is not None and y.ndim == 2 else 1)


def block_sums(estimator, Xb, yb, wb=None, *, kind, scorer=None):
    """The statistics one block contributes to a score of ``kind`` (a float64 vector; R^2 of
    several outputs gives five values per output)."""
    n = Xb.shape[0]
    if n == 0:
        return np.zeros(_width(kind, yb))
    if kind in ("accuracy", "r2"):
        return prediction_sums(estimator.predict(Xb), yb, wb, kind=kind)
    w = np.ones(n) if wb is None else np.asarray(wb, dtype=np.float64)
    if kind == "sum":
        return np.array([estimator.score(Xb) if yb is None else estimator.score(Xb, yb)])
    if scorer is not None:
        score = scorer(estimator, Xb, yb) if wb is None else scorer(estimator, Xb, yb,
                                                                    sample_weight=wb)
    else:
        score = estimator.score(Xb) if yb is None else estimator.score(Xb, yb)
    return np.array([score * w.sum(), w.sum()])


def prediction_sums(pred, yb, wb=None, *, kind):
    """The statistics of accuracy or R^2 of predictions ``pred`` against ``yb`` on one block."""
    n = len(pred)
    w = np.ones(n) if wb is None else np.asarray(wb, dtype=np.float64)
    if kind == "accuracy":
        return np.array([np.sum(w * (np.asarray(pred) == yb)), w.sum()])
    y = np.asarray(yb, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64).reshape(y.shape)
    wy = w if y.ndim == 1 else w[:, None]
    centre = y.mean(0)  # unweighted: any shift is exact, and one near the values keeps the digits
    d = y - centre
    return np.stack([np.broadcast_to(w.sum(), y.shape[1:]), centre, (wy * d).sum(0), (wy * d * d).sum(0),
                     (wy * (y - pred) ** 2).sum(0)], axis=-1).ravel()


def finish(blocks, kind):
    """The score from the statistics of every block (one row per block)."""
    blocks = np.atleast_2d(np.asarray(blocks, dtype=np.float64))
    sums = blocks.sum(axis=0)
    if kind == "accuracy":
        return float(sums[0] / sums[1])
    if kind == "sum":
        return float(sums[0])
    if kind == "mean":
        return float(sums[0] / sums[1])
    w, c, s1, s2, res = blocks.reshape(len(blocks), -1, 5).transpose(2, 0, 1)  # (blocks, outputs)
    s_w, s_res = w.sum(0), res.sum(0)
    mean = np.divide((w * c + s1).sum(0), s_w, out=np.zeros_like(s_w), where=s_w != 0)
    total = (s2 + 2 * (c - mean) * s1 + w * (c - mean) ** 2).sum(0)  # sum of w (y - mean)^2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total == 0, np.where(s_res == 0, 1.0, 0.0), 1.0 - s_res / total)
    return float(np.mean(r2))


def dask_score(estimator, X, y=None, sample_weight=None, *, scorer=None):
    """The score of ``estimator`` over every row of dask X (and y, weights), in one parallel pass."""
    import dask.array as da

    from outofcore.runtime.scheduler import compute
    from outofcore.runtime.threads import guarded

    kind = score_kind(estimator, scorer)
    width = _width(kind, y)
    args, index = [X, "ij"], "i"
    for a in (y, sample_weight):
        if a is not None:
            args += [a, "i" if a.ndim == 1 else "ik"]
    sums = da.blockwise(guarded(_sums_task), index, *args, estimator=estimator, kind=kind,
                        scorer=scorer, has_y=y is not None, has_w=sample_weight is not None,
                        adjust_chunks={index: width}, dtype=np.float64, concatenate=True,
                        meta=np.empty(0, np.float64))
    (blocks,) = compute(sums.reshape(-1, width))
    return finish(blocks, kind)


def _sums_task(Xb, *rest, estimator, kind, scorer, has_y, has_w):
    rest = list(rest)
    yb = rest.pop(0) if has_y else None
    wb = rest.pop(0) if has_w else None
    return block_sums(estimator, Xb, yb, wb, kind=kind, scorer=scorer)


def dask_prediction_score(pred, y, sample_weight=None, *, kind):
    """Accuracy or R^2 of lazy predictions ``pred`` against dask ``y`` over every row."""
    import dask.array as da

    from outofcore.runtime.scheduler import compute

    width = _width(kind, y)
    args = [pred, "i" if pred.ndim == 1 else "ik", y, "i" if y.ndim == 1 else "ik"]
    if sample_weight is not None:
        args += [sample_weight, "i"]
    sums = da.blockwise(_prediction_task, "i", *args, kind=kind, adjust_chunks={"i": width},
                        dtype=np.float64, concatenate=True, meta=np.empty(0, np.float64))
    (blocks,) = compute(sums.reshape(-1, width))
    return finish(blocks, kind)


def _prediction_task(pred, yb, wb=None, *, kind):
    if len(pred) == 0:
        return np.zeros(_width(kind, yb))
    return prediction_sums(pred, yb, wb, kind=kind)
