"""On a distributed LocalCluster: the same models and outputs as the local scheduler, steps where the
blocks are, and a worker killed mid-fit changes nothing."""

import os
import pickle
import signal
from collections import Counter

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import SGDClassifier
from sklearn.neural_network import MLPRegressor

import outofcore as ooc

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

FEATURES = ["f0", "f1", "f2", "f3"]


@pytest.fixture(scope="module")
def client():
    """One 2-process LocalCluster for the module (starting one costs seconds). The dashboard takes
    any free port: another cluster on the machine may hold the default one."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", memory_limit="1GiB") as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """Three parquet parts of four features and a 0/1 target: (folder, frame)."""
    rng = np.random.default_rng(11)
    root = tmp_path_factory.mktemp("cluster-parts")
    frames = []
    for i, n in enumerate([900, 600, 1500]):
        X = rng.normal(size=(n, 4)) * [1, 3, 0.5, 2]
        frame = pd.DataFrame(X, columns=FEATURES)
        frame["target"] = (X @ [1.0, -0.3, 2.0, 0.5] + rng.normal(size=n) > 0).astype("int64")
        frame.to_parquet(root / f"part-{i}.parquet", row_group_size=300)
        frames.append(frame)
    return root, pd.concat(frames, ignore_index=True)


def _local(func):
    """Run ``func`` with the threaded scheduler even while a Client is the default."""
    with dask.config.set(scheduler="threads"):
        return func()


def _fit_files(folder, **params):
    X, y = ooc.read_parquet(folder, target="target", block_rows=300)
    model = ooc.Incremental(SGDClassifier(random_state=0), random_state=0, **params)
    return model.fit(X, y)


@pytest.mark.parametrize("params", [{"epochs": 3}, {"epochs": 4, "early_stopping": True,
                                                     "n_iter_no_change": 1, "prefetch": 2}])
def test_fit_on_the_cluster_equals_the_local_fit(client, parts, params):
    """Equal random_state gives the local scheduler's model, bit for bit, and the same history."""
    folder, _ = parts
    remote = _fit_files(folder, **params)
    local = _local(lambda: _fit_files(folder, **params))
    assert_array_equal(remote.estimator_.coef_, local.estimator_.coef_)
    assert_array_equal(remote.estimator_.intercept_, local.estimator_.intercept_)
    assert remote.n_samples_seen_ == local.n_samples_seen_ > 0
    assert remote.n_epochs_ == local.n_epochs_
    assert [h["score"] for h in remote.history_] == [h["score"] for h in local.history_]


def test_float_network_on_the_cluster_equals_the_local_fit(client):
    """An MLP (own random state, BLAS matmuls) trained on workers equals the local one."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1200, 5))
    y = X @ rng.normal(size=5)
    Xd = da.from_array(X, chunks=(250, 5))

    def fit():
        est = MLPRegressor(hidden_layer_sizes=(6,), random_state=0, learning_rate_init=0.01)
        return ooc.Incremental(est, epochs=2, random_state=1).fit(Xd, y)

    remote, local = fit(), _local(fit)
    for a, b in zip(remote.estimator_.coefs_, local.estimator_.coefs_, strict=True):
        assert_array_equal(a, b)


class RecordsWhere(ClassifierMixin, BaseEstimator):
    """Records, at each partial_fit, whether it runs on the worker that computed its block."""

    def partial_fit(self, X, y, classes=None):
        from distributed import get_worker

        self.classes_ = np.asarray(classes)
        port = int(get_worker().address.rsplit(":", 1)[1])
        self.local_ = getattr(self, "local_", []) + [bool(np.all(X[:, 0] == port))]
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.classes_[0])


def _stamp_worker(block):
    """Column 0 of the block = port of the worker that computed it."""
    from distributed import get_worker

    out = block.copy()
    out[:, 0] = int(get_worker().address.rsplit(":", 1)[1])
    return out


def test_each_step_runs_where_its_block_is(client):
    """Every partial_fit runs on the worker that computed its block: the data never moves."""
    X = da.zeros((4000, 3), chunks=(250, 3)).map_blocks(_stamp_worker, dtype=float)
    y = da.zeros(4000, chunks=250, dtype=int)
    model = ooc.Incremental(RecordsWhere(), epochs=2, random_state=0, prefetch=2).fit(X, y)
    assert len(model.estimator_.local_) == 32
    assert all(model.estimator_.local_)


def test_predict_and_predict_to_parquet_on_the_cluster(client, parts, tmp_path):
    """Lazy predict and predict_to_parquet computed on the workers equal the local results."""
    folder, frame = parts
    model = _local(lambda: _fit_files(folder, epochs=2))
    X, _ = ooc.read_parquet(folder, target="target", block_rows=300)
    assert_array_equal(model.predict(X).compute(), _local(lambda: model.predict(X).compute()))
    remote = ooc.predict_to_parquet(model, folder, tmp_path / "remote", columns=FEATURES,
                                    method="decision_function")
    local = _local(lambda: ooc.predict_to_parquet(model, folder, tmp_path / "local",
                                                   columns=FEATURES, method="decision_function"))
    got, expected = pd.read_parquet(remote), pd.read_parquet(local)
    assert len(got) == len(frame)
    assert_array_equal(got["decision"], expected["decision"])


def test_a_worker_killed_mid_fit_changes_nothing(client, parts):
    """Killing a worker process in the middle of a fit neither fails it nor changes the model."""
    folder, _ = parts
    killed = []

    def kill_once(info):
        if info["block"] is not None and len(killed) == 0 and info["rows"] >= 3000:
            holdings = client.has_what()
            busiest = max(holdings, key=lambda w: len(holdings[w]))
            pid = client.run(os.getpid, workers=[busiest])[busiest]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    survived = _fit_files(folder, epochs=3, prefetch=2, callback=kill_once)
    uninterrupted = _local(lambda: _fit_files(folder, epochs=3))
    assert len(killed) == 1
    assert_array_equal(survived.estimator_.coef_, uninterrupted.estimator_.coef_)
    assert survived.n_samples_seen_ == 9000
    client.wait_for_workers(2, timeout=60)


def test_errors_on_workers_reach_the_caller_unchanged(client, tmp_path, parts):
    """A NaN met by a worker in a late part fails fit and predict_to_parquet naming the file, and
    the failed write leaves no output; rerun on clean data, it completes."""
    folder, frame = parts
    bad = tmp_path / "bad"
    bad.mkdir()
    for i, part in enumerate([frame.iloc[:1500], frame.iloc[1500:].copy()]):
        if i == 1:
            part.iloc[700, 2] = np.nan
        part.to_parquet(bad / f"part-{i}.parquet", row_group_size=300)
    X, y = ooc.read_parquet(bad, target="target", block_rows=300)
    with pytest.raises(ValueError, match=r"X holds NaN at row 700 of .*part-1\.parquet "
                                         r"\(row group 2\), column 'f2'"):
        ooc.Incremental(SGDClassifier(), shuffle_blocks=False).fit(X, y)
    model = _local(lambda: _fit_files(folder))
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match=r"part-1\.parquet"):
        ooc.predict_to_parquet(model, bad, dest, columns=FEATURES)
    assert not dest.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad"]
    ooc.predict_to_parquet(model, folder, dest, columns=FEATURES)
    assert len(pd.read_parquet(dest)) == len(frame)


def test_checkpoint_written_on_the_cluster_resumes_anywhere(client, parts, tmp_path):
    """A fit interrupted on the cluster and resumed with the local scheduler gives the same model."""
    folder, _ = parts
    path = tmp_path / "fit.skops"

    def stop(info):
        if info["rows"] >= 4200:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit_files(folder, epochs=3, checkpoint=path, checkpoint_every=2, callback=stop)
    assert path.exists()
    resumed = _local(lambda: _fit_files(folder, epochs=3, checkpoint=path))
    uninterrupted = _local(lambda: _fit_files(folder, epochs=3))
    assert_array_equal(resumed.estimator_.coef_, uninterrupted.estimator_.coef_)
    assert not path.exists()


def test_replicas_on_the_cluster_equal_the_local_replicas(client, parts):
    """Replicas whose steps run on the workers merge to the local threads' model, bit for bit,
    also when a worker is killed in the middle of a round."""
    folder, _ = parts
    params = dict(epochs=2, n_replicas=2, merge_every=2)
    local = _local(lambda: _fit_files(folder, **params))
    remote = _fit_files(folder, **params)
    assert_array_equal(remote.estimator_.coef_, local.estimator_.coef_)
    killed = []

    def kill_once(info):
        if not killed and info["rows"] >= 2400:
            pid = client.run(os.getpid)
            victim = sorted(pid)[0]
            os.kill(pid[victim], signal.SIGKILL)
            killed.append(victim)

    survived = _fit_files(folder, callback=kill_once, **params)
    assert len(killed) == 1
    assert_array_equal(survived.estimator_.coef_, local.estimator_.coef_)
    client.wait_for_workers(2, timeout=60)


def test_replicas_learn_side_by_side_on_workers_of_their_own(client, parts):
    """Two replicas on two workers: each learns on a worker of its own, half the steps each.
    Left to the scheduler, the blocks of both could be read on one worker, which then held
    every step while the other had nothing to learn."""
    folder, _ = parts
    with distributed.get_task_stream(client) as stream:
        _fit_files(folder, epochs=2, n_replicas=2, merge_every=1)
    steps = Counter(t["worker"] for t in stream.data if str(t["key"]).startswith("guarded"))
    assert sorted(steps.values()) == [10, 10], steps  # 10 blocks of 300 rows, two epochs


def test_a_model_fitted_by_replicas_on_the_cluster_predicts_there(client, parts, tmp_path):
    """A replicas fit keeps nothing of the cluster (its client): the model travels to the
    workers for predict_to_parquet and writes the labels scikit-learn's predict gives."""
    folder, frame = parts
    remote = _fit_files(folder, n_replicas=2)
    pickle.loads(pickle.dumps(remote))
    ooc.predict_to_parquet(remote, folder, tmp_path / "pred", columns=FEATURES)
    out = pd.read_parquet(tmp_path / "pred")  # the parts in the input's order
    expected = remote.estimator_.predict(frame[FEATURES].to_numpy(np.float32))
    assert_array_equal(out["prediction"].to_numpy(), expected)
