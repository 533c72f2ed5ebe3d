"""Held-out data for early stopping: whole blocks when there are enough, else rows of every block.

Holding out whole blocks costs nothing per block and keeps validation rows apart from training
rows by construction; with fewer blocks than that needs (in-memory input is one block), a seeded
fraction of the rows of every block is held out instead, the same rows every epoch.
"""

from dataclasses import dataclass

import numpy as np

from outofcore.training.scoring import block_sums, finish, score_kind


@dataclass(frozen=True)
class RowHoldout:
    """A ``fraction`` of every block's rows kept for validation, drawn from ``seed`` and the
    block's index (so the same rows wherever and whenever the block is read)."""

    fraction: float
    seed: int

    def valid_mask(self, index, n):
        rng = np.random.default_rng([self.seed, int(index)])
        return rng.random(n) < self.fraction

    def train_mask(self, index, n):
        return ~self.valid_mask(index, n)


def split(row_chunks, fraction, rng):
    """``(training blocks, validation blocks, RowHoldout or None)`` for early stopping.

    Blocks are held out when ``round(fraction * non-empty blocks)`` is at least one and leaves
    a block to train on; otherwise rows are (every block trains and validates).
    """
    nonempty = np.flatnonzero(np.asarray(row_chunks) > 0)
    n_valid = int(round(fraction * len(nonempty)))
    if 1 <= n_valid < len(nonempty):
        valid = np.sort(rng.choice(nonempty, size=n_valid, replace=False))
        return np.setdiff1d(np.arange(len(row_chunks)), valid), valid, None
    seed = int(rng.randint(np.iinfo(np.int32).max))
    every = np.arange(len(row_chunks))
    return every, every, RowHoldout(float(fraction), seed)


def validation_score(source, valid, estimator, scorer, holdout):
    """The score of ``estimator`` on the validation blocks (or held-out rows) of ``source``."""
    kind = score_kind(estimator, scorer)

    def sums(index, Xb, yb, wb):
        if holdout is not None:
            keep = holdout.valid_mask(index, Xb.shape[0])
            Xb, yb, wb = (None if a is None else a[keep] for a in (Xb, yb, wb))
        return block_sums(estimator, Xb, yb, wb, kind=kind, scorer=scorer)

    return finish(source.map(sums, list(valid)), kind)


def held_out(model, source, position):
    """(training blocks, validation blocks, RowHoldout or None) of ``model``'s fit; drawn once and
    kept in the position, so a resumed fit holds out what the interrupted one did."""
    every = np.arange(source.n_blocks)
    if not model.early_stopping:
        return every, np.array([], dtype=int), None
    if position.valid_blocks is None and position.holdout_seed is None:
        held = model.__dict__.get("_held")  # a later partial_fit keeps the first call's
        if held is None:
            _, valid, holdout = split(source.row_chunks, model.validation_fraction, model._rng)
            held = model._held = ([int(v) for v in valid] if holdout is None else None,
                                  None if holdout is None else holdout.seed)
        position.valid_blocks, position.holdout_seed = held
    if position.holdout_seed is not None:
        return every, every, RowHoldout(float(model.validation_fraction), position.holdout_seed)
    valid = np.asarray(position.valid_blocks, dtype=int)
    return np.setdiff1d(every, valid), valid, None
