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
- A task that runs in the main thread of a process with no guard open (a worker of the process
  scheduler) is that process's only computing thread, so it limits BLAS itself.
- Distributed workers run tasks in pool threads; ``guard_workers(client)`` limits their BLAS once
  per worker process from the worker's main thread (``Incremental.fit`` does it on a cluster).
  distributed's nanny already sets the thread variables to 1 for the workers it spawns.
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
    worker = None
    if "distributed" in sys.modules:  # a worker has imported it; skip the import cost otherwise
        from distributed import get_worker

        try:
            worker = get_worker()
        except ValueError:
            pass
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
def _blas_limited_if_alone(limit):
    """Limit BLAS around a task running in the main thread of a process with no guard open.

    That is a worker process of the process scheduler, where nobody else sets the count. Anywhere
    else the process's guard (or a worker plugin) owns the BLAS count.
    """
    with _lock:
        alone = _depth == 0 and threading.current_thread() is threading.main_thread()
    if not alone:
        yield
        return
    # A fresh worker process may not have loaded numpy's BLAS yet; a pool loaded after the limit
    # is set would escape it, so load it first (a no-op wherever numpy is already imported).
    import numpy  # noqa: F401

    limiter = _current_controller().select(user_api="blas").limit(limits=limit)
    try:
        yield
    finally:
        limiter.restore_original_limits()


def _limit_worker_blas(dask_worker):
    """Limit this worker process's BLAS pool to its share of the cores; returns the limit.

    A worker process runs its event loop in its main thread, which lives as long as the worker,
    so one set there holds for every task thread (see the module notes on OpenBLAS). A worker
    running inside another process (``processes=False``) is left alone: that process's own
    thread guard owns the count.
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
    """Limit the BLAS threads of every worker of ``client``, now and when workers join or restart.

    distributed sets ``OMP/MKL/OPENBLAS_NUM_THREADS=1`` only in workers its nanny spawns; workers
    started otherwise (``dask worker --no-nanny``, a changed ``distributed.nanny.pre-spawn-environ``,
    other deployments) give each of their task threads one BLAS thread per core. This registers a
    worker plugin that limits the pool to ``cores // nthreads`` once per worker process, from the
    worker's main thread. ``Incremental.fit`` calls it on a cluster; calling it again replaces it.

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    dict
        Worker address -> BLAS thread limit now in force (None for workers that run inside another
        process, whose own guard owns the count).

    Examples
    --------
    >>> from distributed import Client
    >>> from outofcore.runtime.threads import guard_workers
    >>> client = Client(n_workers=2, threads_per_worker=2)  # doctest: +SKIP
    >>> guard_workers(client)                               # doctest: +SKIP
    {'tcp://127.0.0.1:40123': 1, 'tcp://127.0.0.1:40125': 1}
    """
    from distributed.diagnostics.plugin import WorkerPlugin

    class ThreadGuardPlugin(WorkerPlugin):
        def setup(self, worker):
            _limit_worker_blas(worker)

    client.register_plugin(ThreadGuardPlugin(), name="outofcore-thread-guard")
    return client.run(_limit_worker_blas)


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
        limit = blas_limit()
        with _blas_limited_if_alone(limit), _openmp_limited(limit):
            return func(*args, **kwargs)

    call.__name__ = getattr(func, "__name__", "guarded")
    call.__wrapped__ = func
    return call
