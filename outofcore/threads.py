"""Keep BLAS/OpenMP threads inside dask tasks from oversubscribing the cores.

Dask runs several tasks at once (one per thread of the threaded scheduler, one per process of the
multiprocessing scheduler, ``nthreads`` per distributed worker). Each task that calls into BLAS or
OpenMP (an MLP's matmuls, KMeans distances) would by default start one thread per core, so ``k`` tasks
start ``k * cores`` threads that fight over ``cores`` cores. The pools are limited to
``max(1, cores // concurrent_tasks)``.

The two kinds of pool are limited in different places because they scope their setting differently:

- OpenMP keeps the thread count per thread, so it is set inside every task (``guarded``), in the
  thread that runs it.
- OpenBLAS keeps one process-wide count, and (measured with the OpenBLAS 0.3.31 that numpy wheels
  ship) once a thread has set it, sets from any other thread are ignored while that thread lives.
  A dask pool thread that set it would freeze the count for the whole process, so the BLAS limit is
  set only by ``thread_guard``, in the thread that starts the computation, and restored by the last
  guard to leave.
"""

import os
import sys
import threading
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_blas_limiter = None
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

    num_workers = dask.config.get("num_workers", None)
    if num_workers:
        return int(num_workers)
    if dask.config.get("scheduler", None) in ("sync", "synchronous", "single-threaded"):
        return 1
    from dask.system import CPU_COUNT

    return CPU_COUNT


def blas_limit(tasks=None):
    """Threads each BLAS/OpenMP pool may use when ``tasks`` run at once (default: dask's count)."""
    tasks = concurrent_tasks() if tasks is None else tasks
    return max(1, available_cores() // max(1, tasks))


def _current_controller():
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries, rebuilt only after new imports.

    Finding the libraries reads the process's memory map (milliseconds); the guard runs once per
    task, so the controller is cached until an import may have loaded another library.
    """
    global _controller, _modules_seen
    from threadpoolctl import ThreadpoolController

    with _lock:
        if _controller is None or len(sys.modules) != _modules_seen:
            _controller = ThreadpoolController()
            _modules_seen = len(sys.modules)
        return _controller


@contextmanager
def _openmp_limited(limit):
    limiter = _current_controller().select(user_api="openmp").limit(limits=limit)
    try:
        yield
    finally:
        limiter.restore_original_limits()


@contextmanager
def thread_guard(tasks=None):
    """Limit BLAS and OpenMP pools while the block runs, so threads never exceed the cores.

    Wrap a computation that you start (``compute``, ``fit``) in it; outofcore's own fits and writes
    already do. Tasks that outofcore gives to dask also limit their OpenMP pools themselves. Safe to
    nest and to enter from several threads: the BLAS limit holds while any guard is open and the
    pools are restored when the last one leaves.

    Parameters
    ----------
    tasks : int, optional
        Number of tasks running at once. Defaults to dask's concurrency in this context (threads of
        the local scheduler, or of the distributed worker).

    Examples
    --------
    >>> import dask.array as da
    >>> import outofcore as ooc
    >>> with ooc.thread_guard():
    ...     total = (da.ones((1000, 10), chunks=100) @ da.ones(10)).sum().compute()
    """
    global _depth, _blas_limiter
    limit = blas_limit(tasks)
    controller = _current_controller()
    with _lock:
        if _depth == 0:
            _blas_limiter = controller.select(user_api="blas").limit(limits=limit)
        _depth += 1
    try:
        with _openmp_limited(limit):
            yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def guarded(func):
    """Wrap ``func`` (given to dask as a task) so its OpenMP pools are limited in its own thread."""

    def call(*args, **kwargs):
        with _openmp_limited(blas_limit()):
            return func(*args, **kwargs)

    call.__name__ = getattr(func, "__name__", "guarded")
    call.__wrapped__ = func
    return call
