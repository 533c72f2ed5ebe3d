"""Producing the blocks of aligned dask arrays, one at a time, in a chosen order.

A fold over blocks needs block ``k+1`` ready when ``partial_fit`` on block ``k`` returns. Computing
the next blocks in background threads overlaps reading, decoding and scaling with learning (sklearn's
SGD and BLAS release the GIL), while memory stays bounded by ``prefetch + 1`` blocks (plus what
``cache_bytes`` allows).
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._distributed import compute
from .cache import BlockCache


class BlockStream:
    """Compute row blocks of several row-aligned dask arrays, in a given order, ``prefetch`` ahead.

    Parameters
    ----------
    arrays : sequence of dask arrays, numpy arrays or None
        Arrays with identical row chunks (X, y, sample_weight, ...); None entries yield None. Numpy
        arrays (data already in memory) are one block each and are handed out without dask.
    prefetch : int, default=1
        Blocks computed ahead of the one being consumed. 0 computes each block on demand.
    cache_bytes : int, default=0
        Keep computed blocks in memory, up to this many bytes in all, so later passes (epochs,
        validation) reuse them instead of reading, decoding and scaling them again. Blocks that
        do not fit are computed every time; 0 keeps none.

    Examples
    --------
    >>> import dask.array as da
    >>> X = da.arange(10, chunks=4)
    >>> [b[0].tolist() for _, b in BlockStream([X]).iterate([2, 0])]
    [[8, 9], [0, 1, 2, 3]]
    """

    def __init__(self, arrays, *, prefetch=1, cache_bytes=0):
        first = next(a for a in arrays if a is not None)
        self._in_memory = isinstance(first, np.ndarray)
        if self._in_memory:
            self._arrays = tuple(arrays)
            self.row_chunks = (first.shape[0],)
        else:
            # Unoptimized: optimizing each array alone fuses a shared read (X and y of one parquet
            # block) into both chains, and every block would be read twice. Computed together,
            # the block's X, y and weights are optimized jointly and share their read.
            self._delayed = [None if a is None else
                             np.asarray(a.to_delayed(optimize_graph=False)).ravel() for a in arrays]
            self.row_chunks = first.chunks[0]
        # Prefetching an in-memory block buys nothing and costs a thread per pass.
        self.prefetch = 0 if self._in_memory else prefetch
        self.n_blocks = len(self.row_chunks)
        self.offsets = np.concatenate([[0], np.cumsum(self.row_chunks)]).astype(np.int64)
        self._cache = None if self._in_memory or not cache_bytes else BlockCache(int(cache_bytes))

    def rows(self, index):
        """(start, stop) rows of block ``index`` in the whole array."""
        return int(self.offsets[index]), int(self.offsets[index + 1])

    def where(self, index):
        """Where block ``index`` is, for error messages: ``"block 3 (rows 300-400)"``."""
        start, stop = self.rows(index)
        return f"block {index} (rows {start}-{stop})"

    def delayed(self, index):
        """The dask delayed objects of every array at block ``index`` (None entries stay None)."""
        if self._in_memory:
            import dask

            return [None if a is None else dask.delayed(a) for a in self._arrays]
        return [None if d is None else d[index] for d in self._delayed]

    def compute(self, index):
        """The numpy blocks of every array at block ``index`` (one dask compute, shared reads)."""
        if self._in_memory:
            return self._arrays
        cached = None if self._cache is None else self._cache.get(index)
        if cached is not None:
            return cached
        wanted = [d[index] for d in self._delayed if d is not None]
        values = iter(compute(*wanted))
        blocks = tuple(None if d is None else next(values) for d in self._delayed)
        if self._cache is not None:
            self._cache.put(index, blocks)
        return blocks

    def _produce(self, index, seed, prepare):
        blocks = self.compute(index)
        if prepare is None:
            return blocks
        return prepare(*blocks, seed=seed, where=self.where(index))

    def iterate(self, order, *, seeds=None, prepare=None):
        """Yield ``(index, blocks)`` for each block index in ``order``, computing ahead.

        With ``prepare``, each block is handed out as ``prepare(*blocks, seed=, where=)``, run in
        the thread that computes it (``seeds`` gives one seed per position of ``order``).
        """
        order = [int(i) for i in order]
        seeds = [None] * len(order) if seeds is None else [int(s) for s in seeds]
        if self.prefetch <= 0:
            for index, seed in zip(order, seeds):
                yield index, self._produce(index, seed, prepare)
            return
        pending = deque()
        # One thread per block ahead: blocks whose read is slower than learning from them are
        # computed side by side; results are still handed out in order.
        with ThreadPoolExecutor(self.prefetch, thread_name_prefix="outofcore-prefetch") as pool:
            try:
                position = 0
                while position < len(order) or pending:
                    while position < len(order) and len(pending) <= self.prefetch:
                        index = order[position]
                        pending.append((index, pool.submit(self._produce, index, seeds[position],
                                                           prepare)))
                        position += 1
                    index, future = pending.popleft()
                    yield index, future.result()
            finally:
                for _, future in pending:
                    future.cancel()

    def fold(self, estimator, order, seeds, step):
        """Yield ``(index, estimator)`` after ``step(estimator, Xb, yb, wb, seed=, where=)`` ran on
        each non-empty block of ``order``, in this process.

        A step with ``prepare`` and ``fit`` halves (``outofcore._fold.FoldStep``) has ``prepare``
        run in the prefetch thread, beside the previous block's ``partial_fit``.
        """
        prepare = getattr(step, "prepare", None)
        if prepare is None:
            for (index, (Xb, yb, wb)), seed in zip(self.iterate(order), seeds):
                estimator = step(estimator, Xb, yb, wb, seed=int(seed), where=self.where(index))
                yield index, estimator
            return
        for index, (Xb, yb, wb) in self.iterate(order, seeds=seeds, prepare=prepare):
            estimator = step.fit(estimator, Xb, yb, wb)
            yield index, estimator

    def map_blocks(self, func, indices):
        """``func(Xb, yb, wb)`` for each block in ``indices``, in order."""
        return [func(*blocks) for _, blocks in self.iterate(indices)]
