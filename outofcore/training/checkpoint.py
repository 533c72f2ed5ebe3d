"""Checkpoints of a running ``Incremental.fit``: the model and its position, written atomically.

A checkpoint is one skops file holding the partially fitted estimator, the learned counters and
the position of the fold: the epoch, how many blocks of that epoch's order are done, the
early-stopping record, and the state of the random generator when the epoch began (the epoch's
block order and row seeds are drawn from it, so they are drawn again identically on resume).
Loading refuses any type outside scikit-learn, NumPy and the classes of the estimator being
fitted before anything in the file runs. The file is written beside its destination and renamed
into place: a crash while saving leaves the previous checkpoint intact.
"""

import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from outofcore.io.files import jsonable, publishing
from outofcore.training.callbacks import Callback

_FORMAT = 2
_TRUSTED_PREFIXES = ("sklearn.", "numpy.")


@dataclass
class Position:
    """Where a fold is: what a resumed fit needs besides the model and its counters."""

    epoch_rng_state: tuple = None  # the generator's state when the current epoch began
    block: int = 0                 # blocks of the current epoch's order done
    best: float = -np.inf          # early stopping: best validation score, epochs without gain
    stale: int = 0
    seconds: float = 0.0           # of the current epoch before the interruption
    valid_blocks: list = None      # early stopping holds out these blocks, or
    holdout_seed: int = None       # rows of every block drawn from this seed
    carried: list = None           # replicas of k-means: each centre's weight merged so far


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


class Checkpoint(Callback):
    """Save a fold every ``every`` blocks or seconds and at the end of every epoch; load it to
    resume; remove it when the fit completes.

    Parameters
    ----------
    path : str or path-like
        The checkpoint file (conventionally ``*.skops``).
    every : int or str
        Blocks between saves (int), or a duration (``"30s"``).
    fingerprint : dict
        JSON-able facts about the data and parameters; a checkpoint with other facts is refused.
    trusted : set of str
        Classes (besides scikit-learn's and NumPy's) that the file may hold.
    """

    def __init__(self, path, every, fingerprint, trusted):
        self.path = os.fspath(path)
        self.blocks, self.seconds = parse_every(every)
        self.fingerprint = fingerprint
        self.trusted = set(trusted)
        self._since = 0
        self._last = time.monotonic()

    def on_block_end(self, model, info):
        self._since += 1
        due = (self._since >= self.blocks if self.blocks is not None
               else time.monotonic() - self._last >= self.seconds)
        if due:
            self.save(model)

    def on_epoch_end(self, model, info):
        if not info.get("last"):
            self.save(model)

    def on_fit_end(self, model, info):
        if info.get("error") is None and os.path.exists(self.path):
            os.remove(self.path)

    def save(self, model):
        """Write the model's learned state and its fold position."""
        import skops.io as sio

        position = model._position
        name, keys, pos, has_gauss, cached = position.epoch_rng_state
        state = {k: v for k, v in asdict(position).items() if k != "epoch_rng_state"}
        if state["carried"] is not None:
            state["carried"] = [float(c) for c in state["carried"]]
        state.update(n_epochs=model.n_epochs_, n_blocks_seen=model.n_blocks_seen_,
                     n_samples_seen=model.n_samples_seen_, history=model.history_,
                     best=None if position.best == -np.inf else position.best)
        doc = {"estimator": model.estimator_, "rng_keys": np.asarray(keys, dtype=np.uint32),
               "meta": json.dumps({"format": _FORMAT, "fingerprint": self.fingerprint,
                                   "rng": [name, int(pos), int(has_gauss), float(cached)],
                                   "state": state}, default=jsonable)}
        if hasattr(model, "classes_"):
            doc["classes_"] = model.classes_
        with publishing(self.path, overwrite=True) as tmp:
            sio.dump(doc, tmp)
        self._since = 0
        self._last = time.monotonic()

    def restore(self, model):
        """Set ``model``'s learned state and position from the checkpoint; False when there is
        none yet.

        Raises
        ------
        ValueError
            When the file is not a checkpoint, holds untrusted types, or was written by a fit
            with other data or parameters.
        """
        if not os.path.exists(self.path):
            return False
        import skops.io as sio

        try:
            found = sio.get_untrusted_types(file=self.path)
        except Exception as e:  # zip, JSON and key errors from a file that is not a skops file
            raise ValueError(
                f"{self.path} is not an outofcore checkpoint ({e}); delete it or pass another "
                f"checkpoint= path."
            ) from e
        untrusted = sorted(t for t in found
                           if not (t.startswith(_TRUSTED_PREFIXES) or t in self.trusted))
        if untrusted:
            raise ValueError(
                f"checkpoint {self.path} holds types {untrusted}, which are neither scikit-learn's "
                f"nor the estimator's being fitted; it was not written by this fit. Delete it or "
                f"pass another checkpoint= path."
            )
        doc = sio.load(self.path, trusted=list(found))
        meta = json.loads(doc["meta"])
        saved = meta.get("fingerprint", {})
        if meta.get("format") != _FORMAT or saved != self.fingerprint:
            differ = sorted(k for k in set(self.fingerprint) | set(saved)
                            if self.fingerprint.get(k) != saved.get(k)) or ["format"]
            raise ValueError(
                f"checkpoint {self.path} was written by a fit with other {', '.join(differ)}; "
                f"resume with the same data and parameters, or delete the file to start afresh."
            )
        state = meta["state"]
        model.estimator_ = doc["estimator"]
        if "classes_" in doc:
            model.classes_ = doc["classes_"]
        model.n_epochs_ = state.pop("n_epochs")
        model.n_blocks_seen_ = state.pop("n_blocks_seen")
        model.n_samples_seen_ = state.pop("n_samples_seen")
        model.history_ = state.pop("history")
        name, pos, has_gauss, cached = meta["rng"]
        best = state.pop("best")
        model._position = Position(epoch_rng_state=(name, doc["rng_keys"], pos, has_gauss, cached),
                                   best=-np.inf if best is None else best, **state)
        return True


def checkpoint_for(model, row_chunks, epochs):
    """The Checkpoint callback of an ``Incremental`` fit: what a resumed fit must match."""
    params = model.estimator.get_params(deep=False)
    fingerprint = {
        "estimator": type(model.estimator).__name__,
        "params": {k: v for k, v in params.items()
                   if isinstance(v, (str, int, float, bool, type(None)))},
        "row_blocks": [int(c) for c in row_chunks],
        "n_features": int(model.n_features_in_),
        "epochs": int(epochs),
        "random_state": model.random_state if isinstance(model.random_state, int) else None,
        "shuffle": [bool(model.shuffle_blocks), bool(model.shuffle_rows)],
        "early_stopping": bool(model.early_stopping),
    }
    return Checkpoint(model.checkpoint, model.checkpoint_every, fingerprint,
                      trusted_types(model.estimator))
