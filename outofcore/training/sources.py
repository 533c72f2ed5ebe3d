"""Where the fold's blocks come from: computed here, ahead of the learner, or on cluster workers.

Both sources have one interface: ``fold(estimator, todo, step)`` yields the model after each
step with the seconds the learner waited for the block and spent learning from it, and
``map(func, indices)`` runs a function on blocks (validation scores). :func:`block_source` picks
the one for the scheduler in use.

:class:`LocalBlocks` computes block ``k+1`` in background threads while ``partial_fit`` runs on
block ``k`` (scikit-learn's SGD and BLAS release the GIL), so reading, decoding, transforming and
shuffling overlap with learning; memory stays bounded by ``prefetch + 1`` blocks.

:class:`ClusterBlocks` computes the blocks on the workers as futures and submits each step with
its block futures as arguments, pinned (loosely) to the worker that holds the block: only the
model crosses the network, to the worker and back. The model returns to the client after every
step, so a worker lost mid-step costs a rerun from the same model bytes (the scheduler recomputes
the lost block from its graph), and the fold gives exactly the model the local fold gives for
the same block order and row seeds.
"""

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from outofcore.runtime.scheduler import active_client, compute
from outofcore.runtime.threads import guard_workers, guarded


class _Blocks:
    """What both sources share: the row-aligned arrays and where their blocks are."""

    def __init__(self, arrays, locate=None):
        self.locate = locate
        first = next(a for a in arrays if a is not None)
        self.in_memory = isinstance(first, np.ndarray) or hasattr(first, "tocsr")
        self.row_chunks = (first.shape[0],) if self.in_memory else first.chunks[0]
        self.n_blocks = len(self.row_chunks)
        self.offsets = np.concatenate([[0], np.cumsum(self.row_chunks)]).astype(np.int64)
        if self.in_memory:
            self._arrays = tuple(arrays)
        else:
            # Unoptimized: optimizing each array alone would fuse a shared read (X and y of one
            # CSV block) into both chains and read it twice; computed together they share it.
            self._delayed = [None if a is None else
                             np.asarray(a.to_delayed(optimize_graph=False)).ravel() for a in arrays]

    def where(self, index):
        """``where(row)`` for rows of block ``index``: ``"row 1203 (row 3 of block 2)"``, or
        where the row lives in its file when the blocks came straight from a read."""
        return _Where(int(self.offsets[index]), index, self.locate)

    def delayed(self, index):
        """The dask delayed objects of every array at block ``index`` (None entries stay None)."""
        if self.in_memory:
            import dask

            return [None if a is None else dask.delayed(a) for a in self._arrays]
        return [None if d is None else d[index] for d in self._delayed]

    def compute(self, index):
        """The in-memory blocks of every array at block ``index`` (one compute, shared reads)."""
        if self.in_memory:
            return self._arrays
        wanted = [d[index] for d in self._delayed if d is not None]
        values = iter(compute(*wanted))
        return tuple(None if d is None else next(values) for d in self._delayed)


class _Where:
    """Names rows of one block in messages; a small picklable callable."""

    def __init__(self, offset, index, locate=None):
        self.offset, self.index, self.locate = offset, index, locate

    def __call__(self, row):
        if self.locate is not None:
            return self.locate(self.index, row)
        return f"row {self.offset + row} (row {row} of block {self.index})"


class LocalBlocks(_Blocks):
    """Blocks computed in this process, ``prefetch`` of them ahead of the one being learned."""

    def __init__(self, arrays, *, prefetch, locate=None):
        super().__init__(arrays, locate)
        # Prefetching an in-memory block buys nothing and costs a thread per pass.
        self.prefetch = 0 if self.in_memory else prefetch

    def _produce(self, index, seed, prepare):
        blocks = self.compute(index)
        if prepare is None:
            return blocks
        return prepare(index, *blocks, seed=seed, where=self.where(index))

    def _ahead(self, todo, prepare):
        """Yield ``(index, blocks, seconds waited)`` for ``todo = [(index, seed)]``, in order."""
        if self.prefetch <= 0:
            for index, seed in todo:
                start = time.perf_counter()
                blocks = self._produce(index, seed, prepare)
                yield index, blocks, time.perf_counter() - start
            return
        pending = deque()
        # One thread per block ahead: blocks whose read is slower than learning from them are
        # computed side by side; results are still handed out in order.
        with ThreadPoolExecutor(self.prefetch, thread_name_prefix="outofcore-prefetch") as pool:
            try:
                position = 0
                while position < len(todo) or pending:
                    while position < len(todo) and len(pending) <= self.prefetch:
                        index, seed = todo[position]
                        pending.append((index, pool.submit(self._produce, index, seed, prepare)))
                        position += 1
                    index, future = pending.popleft()
                    start = time.perf_counter()
                    blocks = future.result()
                    yield index, blocks, time.perf_counter() - start
            finally:
                for _, future in pending:
                    future.cancel()

    def fold(self, estimator, todo, step):
        """Yield ``(index, estimator, waited, learned)`` after ``step`` ran on each block of
        ``todo``; the step's ``prepare`` half runs in the producing thread."""
        for index, blocks, waited in self._ahead(todo, step.prepare):
            start = time.perf_counter()
            estimator = step.fit(estimator, *blocks)
            yield index, estimator, waited, time.perf_counter() - start

    def map(self, func, indices):
        """``func(index, Xb, yb, wb)`` for each block in ``indices``, in order."""
        return [func(index, *blocks) for index, blocks, _ in
                self._ahead([(i, None) for i in indices], None)]

    def rounds(self, states, shares, step):
        """A round of replicas, each in its own thread (:mod:`outofcore.training.replicas`)."""
        from outofcore.training.replicas import local_rounds

        return local_rounds(self, states, shares, step)


class ClusterBlocks(_Blocks):
    """Blocks computed on the workers of ``client``; each step runs where its block is."""

    def __init__(self, arrays, *, prefetch, client, locate=None):
        super().__init__(arrays, locate)
        self.prefetch, self.client = prefetch, client

    def submit_block(self, index, worker=None):
        """Futures of block ``index`` of every array, computed on ``worker`` where one is named
        (loosely: another takes over if it is lost), else where the scheduler puts them."""
        wanted = self.delayed(index)
        present = [d for d in wanted if d is not None]
        # One compute call for X, y and weights: they share their read task.
        where = {} if worker is None else {"workers": [worker], "allow_other_workers": True}
        futures = iter(self.client.compute(present, **where))
        return [None if d is None else next(futures) for d in wanted]

    def _ahead(self, indices):
        pending, position = deque(), 0
        try:
            while position < len(indices) or pending:
                while position < len(indices) and len(pending) <= self.prefetch:
                    pending.append((indices[position], self.submit_block(indices[position])))
                    position += 1
                index, futures = pending.popleft()
                yield index, futures
                for future in futures:
                    if future is not None:
                        future.release()
        finally:
            for _, futures in pending:
                for future in futures:
                    if future is not None:
                        future.release()

    def near(self, future):
        """Submit options that run a task on the worker holding ``future``'s block.

        The scheduler would weigh the transfer of a small block against a busy worker and may
        move the block; pinning keeps the data where it is. The pin is loose: if that worker
        dies, the block is recomputed elsewhere and the task follows it.
        """
        from distributed import wait

        wait([future])
        holders = self.client.who_has([future]).get(future.key, ())
        if not holders:
            return {}
        return {"workers": list(holders), "allow_other_workers": True}

    def fold(self, estimator, todo, step):
        """Yield ``(index, estimator, waited, learned)`` after ``step`` ran on a worker."""
        task = guarded(step)
        seeds = dict(todo)
        for index, (xf, yf, wf) in self._ahead([i for i, _ in todo]):
            start = time.perf_counter()
            near = self.near(xf)
            waited = time.perf_counter() - start
            result = self.client.submit(task, estimator, index, xf, yf, wf, seed=seeds[index],
                                        where=self.where(index), pure=False, **near)
            estimator = result.result()
            result.release()
            yield index, estimator, waited, time.perf_counter() - start - waited

    def rounds(self, states, shares, step):
        """A round of replicas as chains of tasks on the workers
        (:mod:`outofcore.training.replicas`)."""
        from outofcore.training.replicas import cluster_rounds

        return cluster_rounds(self, states, shares, step)

    def map(self, func, indices):
        """``func(index, Xb, yb, wb)`` on the worker of each block in ``indices``, in order."""
        task = guarded(func)
        return [self.client.submit(task, index, xf, yf, wf, pure=False, **self.near(xf)).result()
                for index, (xf, yf, wf) in self._ahead(list(indices))]


def block_source(arrays, *, prefetch, locate=None):
    """The source of the blocks of row-aligned ``arrays`` (X, y, weights; None entries allowed)
    for the scheduler in use: a distributed Client's workers, or this process. ``locate(block,
    row)`` names where a row lives (a read's files), for messages."""
    client = active_client()
    first = next(a for a in arrays if a is not None)
    if client is None or isinstance(first, np.ndarray):
        return LocalBlocks(arrays, prefetch=prefetch, locate=locate)
    guard_workers(client)
    return ClusterBlocks(arrays, prefetch=prefetch, client=client, locate=locate)
