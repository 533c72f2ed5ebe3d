"""A fitted model's outputs on dask input, built lazily over the row blocks.

:func:`lazy_method` maps one method of a fitted estimator over the blocks of X with
``map_blocks``, its output dtype and width read from the fitted model
(:func:`outofcore.prediction.outputs.output_spec`). Every block runs under the BLAS thread guard.
"""

from functools import partial

import numpy as np

from outofcore.prediction.outputs import output_spec
from outofcore.runtime.threads import guarded

def apply_block(estimator, method, dtype, block):
    """``estimator.<method>(block)`` cast to the declared dtype; empty blocks give empty output."""
    if block.shape[0] == 0:
        width = output_spec(estimator, method, block.dtype)[1]
        return np.empty((0,) if width is None else (0, width), dtype=dtype)
    return np.asarray(getattr(estimator, method)(block)).astype(dtype, copy=False)


def lazy_method(estimator, method, X):
    """``estimator.<method>`` of every row block of the 2-D dask array X, as a lazy dask array."""
    dtype, width = output_spec(estimator, method, X.dtype)
    func = guarded(partial(apply_block, estimator, method, dtype))
    if width is None:
        return X.map_blocks(func, dtype=dtype, drop_axis=1, chunks=(X.chunks[0],), token=method,
                            meta=np.empty((0,), dtype=dtype))
    return X.map_blocks(func, dtype=dtype, chunks=(X.chunks[0], (width,)), token=method,
                        meta=np.empty((0, 0), dtype=dtype))
