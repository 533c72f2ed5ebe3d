"""The thread guard, observed with threadpoolctl's own introspection from inside running tasks."""

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from threadpoolctl import threadpool_info

from outofcore import Incremental, thread_guard
from outofcore.runtime.threads import available_cores, guarded


def _pool_sizes():
    return {info["filepath"]: info["num_threads"] for info in threadpool_info()}


class RecordsThreads(ClassifierMixin, BaseEstimator):
    """A classifier that records the BLAS/OpenMP pool sizes it sees in partial_fit and predict."""

    def partial_fit(self, X, y, classes=None):
        self.classes_ = np.asarray(classes)
        self.seen_fit_ = _pool_sizes()
        return self

    def predict(self, X):
        type(self).seen_predict.append(_pool_sizes())
        return np.full(X.shape[0], self.classes_[0])


RecordsThreads.seen_predict = []


@pytest.fixture
def blas_pools():
    np.ones((2, 2)) @ np.ones((2, 2))  # make sure the BLAS is loaded and visible
    sizes = _pool_sizes()
    if not sizes:
        pytest.skip("no BLAS/OpenMP pool found by threadpoolctl")
    return sizes


@pytest.mark.parametrize("n_threads", [2, 4])
def test_tasks_running_together_never_exceed_the_cores(blas_pools, n_threads):
    """With n dask threads busy at once, each task's pools allow at most cores // n threads."""
    barrier = threading.Barrier(n_threads, timeout=30)

    def task(block):
        barrier.wait()  # every task runs at the same time
        sizes = _pool_sizes()
        barrier.wait()
        return np.array([max(sizes.values())])

    x = da.ones(n_threads, chunks=1).map_blocks(guarded(task), dtype=int,
                                                meta=np.array((), dtype=int))
    with dask.config.set(scheduler="threads", num_workers=n_threads), thread_guard():
        seen = x.compute()
    assert len(seen) == n_threads
    assert all(s * n_threads <= max(available_cores(), n_threads) for s in seen)
    assert all(s == max(1, available_cores() // n_threads) for s in seen)


def test_pools_are_restored_when_the_last_task_leaves(blas_pools):
    """After the guarded tasks finish, every pool is back at its original size."""
    x = da.ones(4, chunks=1).map_blocks(guarded(lambda b: b), dtype=float, meta=np.array(()))
    with dask.config.set(scheduler="threads", num_workers=2), thread_guard():
        x.compute()
    assert _pool_sizes() == blas_pools


def test_guard_is_reentrant(blas_pools):
    """A guard inside a guard keeps the limit until the outer one leaves."""
    with thread_guard(tasks=available_cores()):
        with thread_guard(tasks=available_cores()):
            inner = _pool_sizes()
        after_inner = _pool_sizes()
    assert inner == after_inner == {k: 1 for k in blas_pools}
    assert _pool_sizes() == blas_pools


def test_incremental_fit_and_lazy_predict_run_guarded(blas_pools):
    """partial_fit steps of a fit, and lazy predict tasks computed under the guard, are limited."""
    X = da.ones((40, 3), chunks=10)
    y = da.zeros(40, chunks=10, dtype=int)
    RecordsThreads.seen_predict.clear()
    with dask.config.set(scheduler="threads", num_workers=2):
        model = Incremental(RecordsThreads(), random_state=0).fit(X, y)
        with thread_guard():
            model.predict(X).compute()
    limit = max(1, available_cores() // 2)
    assert max(model.estimator_.seen_fit_.values()) <= limit
    assert len(RecordsThreads.seen_predict) == 4
    assert all(max(s.values()) <= limit for s in RecordsThreads.seen_predict)


def test_a_guarded_task_limits_openmp_in_its_own_thread(blas_pools):
    """Without an outer guard, a task still limits the OpenMP pool of the thread that runs it."""
    openmp = [i["filepath"] for i in threadpool_info() if i["user_api"] == "openmp"]
    if not openmp:
        pytest.skip("no OpenMP runtime loaded")
    x = da.ones(2, chunks=1).map_blocks(
        guarded(lambda b: np.array([_pool_sizes()[openmp[0]]])), dtype=int,
        meta=np.array((), dtype=int))
    with dask.config.set(scheduler="threads", num_workers=2):
        seen = x.compute()
    assert all(s <= max(1, available_cores() // 2) for s in seen)


@pytest.fixture
def unset_thread_variables(monkeypatch):
    """Child processes start with default pools: distributed's nanny leaves OMP/MKL/OPENBLAS_NUM_
    THREADS=1 in the environment of the process that started a LocalCluster, for good."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)


def _pool_sizes_task():
    """A task for another process: the pool sizes its process shows. Built in a closure so that it
    travels by value and the process need not import this test module."""

    def pool_sizes(_):
        import numpy as np
        from threadpoolctl import threadpool_info

        np.ones((2, 2)) @ np.ones((2, 2))
        return {i["filepath"]: i["num_threads"] for i in threadpool_info()}

    return pool_sizes


@pytest.mark.slow
def test_process_scheduler_tasks_limit_blas_in_their_process(blas_pools, unset_thread_variables):
    """Under the process scheduler, a guarded task's BLAS pools hold its share of the cores."""
    if available_cores() < 2:
        pytest.skip("one core: every limit is 1 and nothing could oversubscribe")
    tasks = [dask.delayed(guarded(_pool_sizes_task()))(i) for i in range(2)]
    unguarded = [dask.delayed(_pool_sizes_task())(i) for i in range(2)]
    with dask.config.set(scheduler="processes", num_workers=2):
        seen = dask.compute(*tasks, *unguarded)
    limit = max(1, available_cores() // 2)
    assert all(max(sizes.values()) <= limit for sizes in seen[:2])
    # The same task without the guard would use every core: the limit is the guard's doing.
    assert max(max(sizes.values()) for sizes in seen[2:]) > limit


@pytest.mark.slow
@pytest.mark.cluster
def test_distributed_workers_without_nanny_limits_are_guarded(blas_pools, unset_thread_variables):
    """Tasks on workers whose BLAS was not limited at spawn see cores // nthreads after the guard."""
    distributed = pytest.importorskip("distributed")
    from outofcore.runtime.threads import guard_workers

    if available_cores() < 2:
        pytest.skip("one core: every limit is 1 and nothing could oversubscribe")
    # Workers spawned without distributed's thread variables start one BLAS thread per core.
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {}}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        task = guarded(_pool_sizes_task())
        before = client.submit(task, 0, pure=False).result()
        limits = guard_workers(client)
        after = client.gather([client.submit(task, i, pure=False) for i in range(4)])
    limit = max(1, available_cores() // 2)
    assert max(before.values()) > limit
    assert list(limits.values()) == [limit]
    assert all(max(sizes.values()) == limit for sizes in after)


def test_a_local_fit_never_imports_distributed(tmp_path):
    """Without a Client nothing imports distributed (dask would, to look for one: ~0.3 s)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys
        import numpy as np, pandas as pd
        from sklearn.linear_model import SGDClassifier
        from sklearn.pipeline import make_pipeline
        import outofcore as ooc
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
        frame["target"] = (frame["a"] > 0).astype(int)
        frame.to_parquet({str(tmp_path / "d.parquet")!r})
        X, y = ooc.read_parquet({str(tmp_path / "d.parquet")!r}, target="target", block_rows=100)
        pipe = make_pipeline(ooc.StandardScaler(), ooc.Incremental(SGDClassifier(), random_state=0))
        pipe.fit(X, y)
        pipe.score(X, y)
        ooc.predict_to_parquet(pipe, {str(tmp_path / "d.parquet")!r}, {str(tmp_path / "out")!r})
        print("distributed" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
