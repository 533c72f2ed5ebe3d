"""``Incremental``'s predictions and scores on dask input, built lazily over the row blocks.

``lazy_method`` maps one method of the fitted estimator over the blocks of X with ``map_blocks``,
its output dtype and width worked out from the fitted model (:func:`outofcore._fold.output_spec`);
``dask_model_score`` scores a fitted ``Incremental`` over every row in one parallel pass. Every
block runs under the BLAS thread guard. ``estimator_has`` is the ``available_if`` check that
shows a method only when the wrapped estimator has it.
"""

from functools import partial

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.utils import get_tags

from ._arrays import align_to, as_dask_array
from ._distributed import compute
from ._fold import apply_block, output_spec, score_rows
from .threads import guarded


def estimator_has(attr):
    """available_if check: the fitted estimator_ if present, else the unfitted one, has attr."""

    def check(self):
        inner = getattr(self, "estimator_", self.estimator)
        return hasattr(inner, attr)

    return check


def lazy_method(estimator, method, X):
    """``estimator.<method>`` of every row block of the 2-D dask array X, as a lazy dask array."""
    dtype, width = output_spec(estimator, method, X.dtype)
    func = guarded(partial(apply_block, estimator, method, dtype))
    if width is None:
        return X.map_blocks(func, dtype=dtype, drop_axis=1, chunks=(X.chunks[0],), token=method,
                            meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(func, dtype=dtype, chunks=(X.chunks[0], (width,)), token=method,
                        meta=np.empty((0, 0), dtype=dtype))


def dask_model_score(model, X, y=None, sample_weight=None):
    """``model.score`` on dask X: accuracy or R^2 over every row, else the estimator's own score
    summed over blocks (clusterers) or averaged by rows."""
    from ._dask_scores import dask_score

    X = as_dask_array(X)
    y = None if y is None else align_to(X, y, name="y")
    w = None if sample_weight is None else align_to(X, sample_weight, name="sample_weight")
    if is_classifier(model) or is_regressor(model):
        return dask_score(model.predict(X), y, w, kind="accuracy" if is_classifier(model) else "r2")
    (blocks,) = compute(X.map_blocks(
        guarded(partial(score_rows, model.estimator_)), dtype=np.float64, drop_axis=1,
        chunks=((1,) * X.numblocks[0],), meta=np.empty((0,), np.float64),
    ))
    if get_tags(model.estimator_).estimator_type == "clusterer":
        return float(blocks.sum())
    return float(blocks.sum() / X.shape[0])
