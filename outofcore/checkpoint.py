"""Checkpoints of a running ``Incremental.fit``: the model and its position, written atomically.

A checkpoint is one skops file holding the partially fitted estimator, the learned counters and the
position of the fold: the epoch, how many blocks of that epoch's order are done, and the state of
the random generator when the epoch began (the epoch's block order and row seeds are drawn from it,
so they are drawn again identically on resume). Loading refuses any type outside scikit-learn,
NumPy, outofcore and the classes of the estimator being fitted, before anything in the file runs.

The file is written beside its destination and renamed into place: a crash while saving leaves the
previous checkpoint intact.
"""

import json
import os
import time

import numpy as np

_FORMAT = 1
_TRUSTED_PREFIXES = ("sklearn.", "numpy.")


def parse_every(every):
    """``checkpoint_every`` as ``(blocks, seconds)``, one of them None.

    An int counts blocks; a string with a unit (``"30s"``, ``"10m"``) or a float counts seconds.
    """
    if isinstance(every, (bool, np.bool_)):
        every = None  # a flag is neither a count nor a duration; report it below
    elif isinstance(every, (int, np.integer)) and every >= 1:
        return int(every), None
    elif isinstance(every, (float, str)):
        from dask.utils import parse_timedelta

        try:
            seconds = parse_timedelta(every, default="seconds")
        except (ValueError, KeyError, TypeError):
            seconds = None
        if seconds is not None and seconds > 0:
            return None, float(seconds)
    raise ValueError(
        f"checkpoint_every must be a number of blocks (an int >= 1) or a duration such as '30s' or "
        f"'10m'; got {every!r}."
    )


def trusted_types(estimator):
    """Qualified names of the classes inside ``estimator`` (itself and nested estimators)."""
    found = {_qualname(estimator)}
    if hasattr(estimator, "get_params"):
        for value in estimator.get_params(deep=True).values():
            if not isinstance(value, (str, bytes, int, float, bool, type(None), list, tuple, dict)):
                found.add(_qualname(value))
    return found


def _qualname(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class Checkpointer:
    """Save the state of a fold every ``every`` blocks or seconds; load it to resume.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file (conventionally ``*.skops``).
    every : int or str
        Blocks between saves (int), or a duration (``"30s"``).
    fingerprint : dict
        JSON-able facts about the data and parameters; a checkpoint with other facts is refused.
    trusted : set of str
        Classes (besides scikit-learn's, NumPy's and outofcore's) that the file may hold.
    """

    def __init__(self, path, every, fingerprint, trusted):
        self.path = os.fspath(path)
        self.blocks, self.seconds = parse_every(every)
        self.fingerprint = fingerprint
        self.trusted = set(trusted)
        self._since = 0
        self._last = time.monotonic()

    def due(self):
        """Count one block; True when a save is due."""
        self._since += 1
        if self.blocks is not None:
            return self._since >= self.blocks
        return time.monotonic() - self._last >= self.seconds

    def save(self, arrays, epoch_rng_state, state):
        """Write ``arrays`` (the estimator and NumPy arrays, by name), the generator state at the
        epoch's start and ``state`` (JSON-able counters and history)."""
        import skops.io as sio

        from ._model_io import write_atomic

        name, keys, pos, has_gauss, cached = epoch_rng_state
        doc = {
            **arrays,
            "rng_keys": np.asarray(keys, dtype=np.uint32),
            "meta": json.dumps({
                "format": _FORMAT, "fingerprint": self.fingerprint,
                "rng": [name, int(pos), int(has_gauss), float(cached)], "state": state,
            }, default=_jsonable),
        }
        write_atomic(self.path, lambda tmp: sio.dump(doc, tmp))
        self._since = 0
        self._last = time.monotonic()

    def load(self):
        """The saved ``(arrays, rng_state, state)``, or None when there is no checkpoint yet.

        Raises
        ------
        ValueError
            When the file is not a checkpoint, holds untrusted types, or was written by a fit with
            other data or parameters.
        """
        if not os.path.exists(self.path):
            return None
        import skops.io as sio

        try:
            found = sio.get_untrusted_types(file=self.path)
        except Exception as e:  # zip, JSON and key errors from a file that is not a skops file
            raise ValueError(
                f"{self.path} is not an outofcore checkpoint ({e}); delete it or pass another "
                f"checkpoint= path."
            ) from e
        from ._model_io import TRUSTED_TYPES

        untrusted = sorted(t for t in found if not (t.startswith(_TRUSTED_PREFIXES)
                                                   or t in TRUSTED_TYPES or t in self.trusted))
        if untrusted:
            raise ValueError(
                f"checkpoint {self.path} holds types {untrusted}, which are neither scikit-learn's "
                f"nor the estimator's being fitted; it was not written by this fit. Delete it or "
                f"pass another checkpoint= path."
            )
        doc = sio.load(self.path, trusted=list(found))
        meta = json.loads(doc["meta"])
        if meta.get("fingerprint") != self.fingerprint:
            differ = sorted(k for k in set(self.fingerprint) | set(meta.get("fingerprint", {}))
                            if self.fingerprint.get(k) != meta.get("fingerprint", {}).get(k))
            raise ValueError(
                f"checkpoint {self.path} was written by a fit with other {', '.join(differ)}; "
                f"resume with the same data and parameters, or delete the file to start afresh."
            )
        name, pos, has_gauss, cached = meta["rng"]
        rng_state = (name, doc["rng_keys"], pos, has_gauss, cached)
        arrays = {k: v for k, v in doc.items() if k not in ("rng_keys", "meta")}
        return arrays, rng_state, meta["state"]

    def remove(self):
        """Delete the checkpoint (the fit it belongs to has finished)."""
        if os.path.exists(self.path):
            os.remove(self.path)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be stored in a checkpoint")


def checkpointer_for(model, stream, epochs):
    """The Checkpointer of an ``Incremental`` fit over ``stream``: what a resumed fit must match."""
    params = model.estimator.get_params(deep=False)
    fingerprint = {
        "estimator": type(model.estimator).__name__,
        "params": {k: v for k, v in params.items()
                   if isinstance(v, (str, int, float, bool, type(None)))},
        "row_blocks": [int(c) for c in stream.row_chunks],
        "n_features": int(model.n_features_in_),
        "epochs": int(epochs),
        "random_state": model.random_state if isinstance(model.random_state, int) else None,
        "shuffle": [bool(model.shuffle_blocks), bool(model.shuffle_rows)],
        "early_stopping": bool(model.early_stopping),
    }
    return Checkpointer(model.checkpoint, model.checkpoint_every, fingerprint,
                        trusted_types(model.estimator))


def save_fold(model, saver, epoch_state, block, best, stale, seconds):
    """Record an ``Incremental`` fit after ``block`` blocks of its current epoch's order."""
    arrays = {"estimator": model.estimator_}
    if hasattr(model, "classes_"):
        arrays["classes_"] = model.classes_
    saver.save(arrays, epoch_state, {
        "n_epochs": model.n_epochs_, "n_blocks_seen": model.n_blocks_seen_,
        "n_samples_seen": model.n_samples_seen_, "history": model.history_,
        "valid_blocks": [int(v) for v in getattr(model, "_valid_blocks", [])],
        "block": block, "best": None if best == -np.inf else best, "stale": stale,
        "seconds": seconds,
    })


def restore_fold(model, saved, rng):
    """Set an ``Incremental``'s learned state and ``rng`` from a checkpoint; returns the position
    (``block`` done in the current epoch, early-stopping ``best``/``stale``, epoch ``seconds``)."""
    arrays, rng_state, state = saved
    model.estimator_ = arrays["estimator"]
    model.n_epochs_ = state["n_epochs"]
    model.n_blocks_seen_ = state["n_blocks_seen"]
    model.n_samples_seen_ = state["n_samples_seen"]
    model.history_ = state["history"]
    if model.early_stopping:
        model._valid_blocks = np.asarray(state["valid_blocks"], dtype=np.intp)
    rng.set_state(rng_state)
    best = -np.inf if state["best"] is None else state["best"]
    return {"block": state["block"], "best": best, "stale": state["stale"],
            "seconds": state["seconds"]}
