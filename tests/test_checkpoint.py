"""Checkpoints: a fit interrupted and fitted again with the same checkpoint gives the uninterrupted
model; the file is written atomically and loads only trusted types."""

import os

import dask.array as da
import numpy as np
import pytest
import skops.io as sio
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.cluster import MiniBatchKMeans
from sklearn.linear_model import SGDClassifier
from sklearn.neural_network import MLPClassifier

from outofcore import Incremental
from outofcore.training.checkpoint import parse_every


class Interrupt(Exception):
    """Stands for a crash in the middle of a fit."""


def _stop_after(n_blocks, error=Interrupt):
    def callback(info):
        if info["rows"] and callback.calls == n_blocks - 1:
            raise error(f"stopped after {n_blocks} blocks")
        callback.calls += 1

    callback.calls = 0
    return callback


def _learned(est):
    for attr in ("coefs_", "coef_", "cluster_centers_"):
        if hasattr(est, attr):
            value = getattr(est, attr)
            return np.concatenate([v.ravel() for v in value]) if isinstance(value, list) else value
    raise AssertionError(f"{type(est).__name__} has no learned array")


@pytest.fixture
def data(classification_data):
    X, y = classification_data
    X = (X - X.mean(0)) / X.std(0)
    return da.from_array(X, chunks=(250, -1)), y


ESTIMATORS = {
    "sgd": SGDClassifier(random_state=0),
    "mlp-own-random-state": MLPClassifier(hidden_layer_sizes=(5,), random_state=0),
    "kmeans": MiniBatchKMeans(n_clusters=3, n_init=1, random_state=0),
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
@pytest.mark.parametrize("stop_at, every", [(5, 2), (8, 1), (19, 3), (11, "1ms")])
def test_resume_gives_the_uninterrupted_model(tmp_path, data, name, stop_at, every):
    """Stopped after k blocks (mid-epoch or at an epoch's end) and fitted again: the same model."""
    X, y = data
    y = None if name == "kmeans" else y
    path = tmp_path / "fit.skops"
    params = dict(epochs=3, random_state=0, checkpoint=path, checkpoint_every=every)
    model = Incremental(ESTIMATORS[name], callback=_stop_after(stop_at), **params)
    with pytest.raises(Interrupt):
        model.fit(X, y)
    assert path.exists()
    redone = []
    resumed = model.set_params(callback=redone.append).fit(X, y)
    uninterrupted = Incremental(ESTIMATORS[name], epochs=3, random_state=0).fit(X, y)
    assert_array_equal(_learned(resumed.estimator_), _learned(uninterrupted.estimator_))
    assert resumed.n_samples_seen_ == uninterrupted.n_samples_seen_ == 3 * 2000
    assert resumed.n_blocks_seen_ == 24
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3]
    assert not path.exists()
    # It resumed rather than started again: only the blocks after the last checkpoint ran.
    lost = (every - 1) if isinstance(every, int) else stop_at - 1
    assert 24 - stop_at <= len(redone) <= 24 - stop_at + lost


def test_resume_after_ctrl_c_with_early_stopping(tmp_path, data):
    """A KeyboardInterrupt mid-fit, then the same fit: early stopping picks the same epochs."""
    X, y = data
    params = dict(epochs=6, random_state=1, early_stopping=True, n_iter_no_change=2,
                  checkpoint=tmp_path / "fit.skops", checkpoint_every=1)
    model = Incremental(SGDClassifier(random_state=0), callback=_stop_after(10, KeyboardInterrupt),
                        **params)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, y)
    resumed = model.set_params(callback=None).fit(X, y)
    uninterrupted = Incremental(SGDClassifier(random_state=0), **{**params, "checkpoint": None})
    uninterrupted.fit(X, y)
    assert_array_equal(resumed.estimator_.coef_, uninterrupted.estimator_.coef_)
    assert [h["score"] for h in resumed.history_] == [h["score"] for h in uninterrupted.history_]


def test_string_labels_survive_the_checkpoint(tmp_path, data):
    """classes_ of string labels come back from the checkpoint with their values."""
    X, y = data
    labels = np.array(["ant", "bee", "cat"])[y]
    model = Incremental(SGDClassifier(random_state=0), epochs=2, random_state=0,
                        checkpoint=tmp_path / "c.skops", checkpoint_every=1,
                        callback=_stop_after(4))
    with pytest.raises(Interrupt):
        model.fit(X, labels)
    resumed = model.set_params(callback=None).fit(X, labels)
    assert resumed.classes_.tolist() == ["ant", "bee", "cat"]
    assert set(resumed.predict(X).compute()) <= {"ant", "bee", "cat"}


def test_a_checkpoint_of_another_fit_is_refused(tmp_path, data):
    """Resuming with other data or parameters names what differs instead of mixing two fits."""
    X, y = data
    path = tmp_path / "fit.skops"
    model = Incremental(SGDClassifier(random_state=0), epochs=2, random_state=0, checkpoint=path,
                        checkpoint_every=1, callback=_stop_after(3))
    with pytest.raises(Interrupt):
        model.fit(X, y)
    with pytest.raises(ValueError, match=r"other row_blocks.*delete the file"):
        model.set_params(callback=None).fit(X.rechunk((500, -1)), y)
    with pytest.raises(ValueError, match=r"other params"):
        model.set_params(estimator=SGDClassifier(alpha=0.1, random_state=0)).fit(X, y)


class Foreign(ClassifierMixin, BaseEstimator):
    """A class that a checkpoint of an SGDClassifier fit never holds."""


def test_untrusted_types_are_refused_before_loading(tmp_path, data):
    """A checkpoint naming a class outside sklearn and the estimator is refused, naming it."""
    X, y = data
    path = tmp_path / "fit.skops"
    sio.dump({"estimator": Foreign(), "meta": "{}"}, path)
    model = Incremental(SGDClassifier(random_state=0), checkpoint=path)
    with pytest.raises(ValueError, match=r"Foreign.*not written by this fit"):
        model.fit(X, y)
    path.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="is not an outofcore checkpoint"):
        model.fit(X, y)


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, data, monkeypatch):
    """An error inside a save leaves the last complete checkpoint, which still resumes."""
    X, y = data
    path = tmp_path / "fit.skops"
    model = Incremental(SGDClassifier(random_state=0), epochs=2, random_state=0, checkpoint=path,
                        checkpoint_every=2, callback=_stop_after(3))
    with pytest.raises(Interrupt):
        model.fit(X, y)
    before = path.read_bytes()

    def broken_dump(obj, file):
        with open(file, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(sio, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        model.set_params(callback=None).fit(X, y)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["fit.skops"]
    monkeypatch.undo()
    resumed = model.fit(X, y)
    uninterrupted = Incremental(SGDClassifier(random_state=0), epochs=2, random_state=0).fit(X, y)
    assert_array_equal(resumed.estimator_.coef_, uninterrupted.estimator_.coef_)


@pytest.mark.parametrize("every, expected", [
    (3, (3, None)), ("30s", (None, 30.0)), ("2m", (None, 120.0)), ("2 minutes", (None, 120.0)),
    (0.5, (None, 0.5)),
])
def test_checkpoint_every_counts_blocks_or_seconds(every, expected):
    """An int counts blocks; a duration string or a float counts seconds."""
    assert parse_every(every) == expected


@pytest.mark.parametrize("every", [0, -2, True, "soon", None])
def test_bad_checkpoint_every_explains_itself(tmp_path, data, every):
    """A checkpoint_every that is neither a count nor a duration is refused before any block."""
    X, y = data
    model = Incremental(SGDClassifier(), checkpoint=tmp_path / "c.skops", checkpoint_every=every)
    with pytest.raises(ValueError, match=r"checkpoint_every must be a number of blocks"):
        model.fit(X, y)
