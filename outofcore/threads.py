"""Keep BLAS/OpenMP threads inside dask tasks from oversubscribing the cores.

Dask runs several tasks at once (one per thread of the threaded scheduler, one per process of the
multiprocessing scheduler, ``nthreads`` per distributed worker). Each task that calls into BLAS or
OpenMP (an MLP's matmuls, KMeans distances) would by default start one thread per core, so ``k`` tasks
start ``k * cores`` threads that fight over ``cores`` cores. ``thread_guard`` limits the pools to
``max(1, cores // concurrent_tasks)`` while any guarded task runs in the process.

threadpoolctl's limits are process-wide, not per thread: concurrent tasks must not each set and
restore them, or the first to finish would lift the limit under the others. The guard therefore
counts the tasks inside it; the first to enter applies the limit and the last to leave restores it.
"""

import os
import sys
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_limiter = None
_controller = None
_modules_seen = -1


def available_cores():
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def concurrent_tasks():
    """How many dask tasks may run at the same time as the caller, on this machine."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        worker = None
    if worker is not None:
        return max(1, worker.state.nthreads)
    import dask

    scheduler = dask.config.get("scheduler", None)
    num_workers = dask.config.get("num_workers", None)
    if num_workers:
        return int(num_workers)
    if scheduler in ("sync", "synchronous", "single-threaded"):
        return 1
    from dask.system import CPU_COUNT

    return CPU_COUNT


def blas_limit(tasks=None):
    """Threads each BLAS/OpenMP pool may use when ``tasks`` run at once (default: dask's count)."""
    tasks = concurrent_tasks() if tasks is None else tasks
    return max(1, available_cores() // max(1, tasks))


@contextmanager
def thread_guard(tasks=None):
    """Limit BLAS/OpenMP pools while the block runs, so threads never exceed the cores.

    Use it around work that runs inside a dask task, or around a whole ``compute`` that you start
    yourself. Re-entrant and safe to enter from several threads: the limit applies while any guarded
    block runs, and the pools are restored when the last one leaves.

    Parameters
    ----------
    tasks : int, optional
        Number of tasks running at once. Defaults to dask's concurrency in this context (threads of
        the local scheduler, or threads of the distributed workers on this host).

    Examples
    --------
    >>> import outofcore as ooc
    >>> with ooc.thread_guard():
    ...     pass  # BLAS calls here use at most cores // dask_threads threads
    """
    global _depth, _limiter

    with _lock:
        if _depth == 0:
            _limiter = _current_controller().limit(limits=blas_limit(tasks))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None


def _current_controller():
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, rebuilt only after new imports.

    Finding the libraries reads the process's memory map (milliseconds); a fold calls the guard once
    per block, so the controller is cached until an import may have loaded another library.
    """
    global _controller, _modules_seen
    from threadpoolctl import ThreadpoolController

    if _controller is None or len(sys.modules) != _modules_seen:
        _controller = ThreadpoolController()
        _modules_seen = len(sys.modules)
    return _controller


def guarded(func):
    """Wrap ``func`` so each call runs inside :func:`thread_guard` (for functions given to dask)."""

    def call(*args, **kwargs):
        with thread_guard():
            return func(*args, **kwargs)

    call.__name__ = getattr(func, "__name__", "guarded")
    call.__wrapped__ = func
    return call
