"""Running the block fold on a ``distributed`` cluster: the model travels, the data does not.

Locally the client computes each block and calls ``partial_fit`` on it. With a distributed Client
active, the blocks are computed on the workers as futures and each ``partial_fit`` step is submitted
with the block futures as its arguments, pinned (loosely) to the worker that holds the block; only
the model crosses the network, once to the worker and once back.

The model comes back to the client after every step. That costs two transfers of the model per
block (small next to a block for the linear models, clusterers and networks that ``partial_fit``
trains) and buys two things: the step's input is a value the client owns, so a worker lost in the
middle of a step costs nothing but a rerun (the scheduler recomputes the lost block from its graph
and runs the step again from the same model bytes), and the fold gives exactly the model the local
fold gives for the same block order and row seeds.
"""

import threading
from collections import deque

from .threads import blas_limit, guarded

_PLUGIN_NAME = "outofcore-thread-guard"


def compute(*collections, **kwargs):
    """``dask.compute``, naming the threaded scheduler when no distributed Client can exist.

    Left to choose, dask imports distributed on every compute to look for a default Client
    (0.2-0.3 s the first time in a process, a tenth of a 5M-row fit). Without ``distributed``
    imported nobody created a Client, so unless a scheduler is configured (``dask.config`` or
    ``scheduler=``) the threaded one is passed as a function, which dask takes as it is.
    """
    import sys

    import dask

    if ("scheduler" not in kwargs and "distributed" not in sys.modules
            and dask.config.get("scheduler", None) is None):
        import dask.threaded

        kwargs["scheduler"] = dask.threaded.get
    return dask.compute(*collections, **kwargs)


def active_client():
    """The distributed Client that ``dask.compute`` would use here, or None.

    A Client becomes dask's scheduler when it is created (or inside ``with client.as_current()``);
    ``dask.config.set(scheduler="threads")`` and friends take precedence, as they do for dask.
    """
    import sys

    if "distributed" not in sys.modules:
        # Nobody started a Client without importing distributed; skip its import cost.
        return None
    import dask.base
    from distributed import Client

    scheduler = dask.base.get_scheduler()
    owner = getattr(scheduler, "__self__", None)
    return owner if isinstance(owner, Client) else None


def _limit_worker_blas(dask_worker):
    """Limit this worker process's BLAS pool to its share of the cores; returns the limit.

    OpenBLAS keeps one count per process and ignores later sets from other threads while the thread
    that set it lives. A worker process runs its event loop in its main thread, which lives as long
    as the worker, so one set there holds for every task thread. A worker running inside another
    process (``processes=False``) is left alone: that process's own thread guard owns the count.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    # A BLAS library loaded after this runs would start unlimited; scikit-learn brings SciPy's own
    # OpenBLAS, so load it first.
    import sklearn.linear_model  # noqa: F401
    from threadpoolctl import threadpool_limits

    limit = blas_limit(max(1, dask_worker.state.nthreads))
    threadpool_limits(limits=limit, user_api="blas")
    return limit


def guard_workers(client):
    """Register the worker plugin behind :func:`outofcore.threads.guard_workers`."""
    from distributed.diagnostics.plugin import WorkerPlugin

    class ThreadGuardPlugin(WorkerPlugin):
        def setup(self, worker):
            _limit_worker_blas(worker)

    client.register_plugin(ThreadGuardPlugin(), name=_PLUGIN_NAME)
    return client.run(_limit_worker_blas)


class DistributedBlocks:
    """The row blocks of aligned dask arrays as futures on a cluster, consumed by submitted steps.

    Parameters
    ----------
    client : distributed.Client
    stream : BlockStream
        Gives the per-block delayed objects (``stream.delayed(index)``) and the row counts.
    prefetch : int
        Blocks computed on the workers ahead of the step that runs now.
    """

    def __init__(self, client, stream, *, prefetch):
        self.client = client
        self.stream = stream
        self.prefetch = prefetch
        self.row_chunks = stream.row_chunks

    def _submit_blocks(self, index):
        wanted = self.stream.delayed(index)
        present = [d for d in wanted if d is not None]
        # One compute call for X, y and weights: they share their read task.
        futures = iter(self.client.compute(present))
        return [None if d is None else next(futures) for d in wanted]

    def _ahead(self, order):
        """Yield ``(index, block futures)`` in ``order``, ``prefetch`` blocks computing ahead."""
        pending = deque()
        position = 0
        try:
            while position < len(order) or pending:
                while position < len(order) and len(pending) <= self.prefetch:
                    pending.append((order[position], self._submit_blocks(order[position])))
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

    def _near(self, future):
        """Submit options that run a task on the worker holding ``future``'s block.

        The scheduler would weigh the transfer of a small block against a busy worker and may move
        the block; pinning keeps the data where it is. The pin is loose: if that worker dies, the
        block is recomputed elsewhere and the task follows it.
        """
        from distributed import wait

        wait([future])
        holders = self.client.who_has([future]).get(future.key, ())
        if not holders:
            return {}
        return {"workers": list(holders), "allow_other_workers": True}

    def fold(self, estimator, order, seeds, step):
        """Yield ``(index, estimator)`` after ``step`` ran on each block of ``order`` on a worker."""
        task = guarded(step)
        for (index, (xf, yf, wf)), seed in zip(self._ahead(order), seeds):
            where = self.stream.where(index)
            result = self.client.submit(task, estimator, xf, yf, wf, seed=int(seed), where=where,
                                        pure=False, **self._near(xf))
            estimator = result.result()
            result.release()
            yield index, estimator

    def map_blocks(self, func, indices):
        """``func(Xb, yb, wb)`` on the worker of each block in ``indices``; results in order."""
        task = guarded(func)
        results = []
        for index, (xf, yf, wf) in self._ahead(list(indices)):
            results.append(self.client.submit(task, xf, yf, wf, pure=False, **self._near(xf))
                           .result())
        return results

