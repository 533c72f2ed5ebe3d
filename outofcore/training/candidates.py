"""Many candidates over one stream of blocks: each block read and prepared once, learned by all.

A :class:`Learner` is one candidate's model with the seconds it spent learning and the error
that stopped it, if any. :class:`SharedStep` splits the fold's step in two: ``prepare`` (check
the block, keep its training rows, shuffle them with the step's seed) runs once per block, and
``fit`` gives the prepared block to one learner. The prepared arrays are handed out read-only, so
a learner that writes into its input fails loudly instead of changing what the others learn.

Locally (:func:`local_pass`) the source computes and prepares blocks ahead in its threads and
the live learners learn each block side by side in a thread pool (scikit-learn's SGD releases
the GIL). On a cluster (:func:`cluster_pass`) each block is prepared by one task on the worker
that holds it, and every learner's step on it is a task of its own; each learner's steps form a
chain, so a learner moves on to the next block as soon as it has learned one. The steps are
left to dask's scheduler, which runs a task where it would start soonest counting the transfer
of its inputs: beside the prepared block (the learner, a few kilobytes, travels to it) unless
that worker is busy and moving the block costs less than waiting. Pinned to the block's
worker, as the fold of one estimator pins its steps, the 16 steps of a first rung of one block
ran 15 on that worker and 1 on the other of a 2-worker LocalCluster; left to the scheduler, 8
and 8. Either way each learner sees exactly the sequence of ``partial_fit`` calls a fold of it
alone would make.
"""

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from outofcore.runtime.threads import guarded
from outofcore.training.scoring import block_sums, finish


@dataclass
class Learner:
    """One candidate: its model, seconds spent in ``partial_fit``, the exception that stopped
    it."""

    model: object
    seconds: float = 0.0
    error: BaseException = None


@dataclass(frozen=True)
class SharedStep:
    """The fold's step (:class:`~outofcore.training.steps.FoldStep`), prepared once per block
    and fitted once per learner. ``catch``: a learner that raises records the error and stops
    learning (the search's ``error_score``); otherwise the error propagates."""

    step: object
    catch: bool

    def prepare(self, index, Xb, yb, wb, *, seed, where):
        """The block's training rows, shuffled, as read-only arrays."""
        return tuple(_read_only(a) for a in self.step.prepare(index, Xb, yb, wb, seed=seed,
                                                               where=where))

    def fit(self, learner, block):
        """``partial_fit`` of one learner on a prepared block; returns the learner."""
        if learner.error is not None:
            return learner
        start = time.perf_counter()
        try:
            model = self.step.fit(learner.model, *block)
        except Exception as e:
            if not self.catch:
                raise
            return Learner(learner.model, learner.seconds + time.perf_counter() - start, e)
        return Learner(model, learner.seconds + time.perf_counter() - start)


def _read_only(a):
    if isinstance(a, np.ndarray) and a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


class _Together:
    """The fold's step for a list of learners: prepare once, then every learner in the pool."""

    def __init__(self, shared, pool):
        self.shared, self.pool = shared, pool

    def prepare(self, index, Xb, yb, wb, *, seed, where):
        return self.shared.prepare(index, Xb, yb, wb, seed=seed, where=where)

    def fit(self, learners, *block):
        return list(self.pool.map(lambda learner: self.shared.fit(learner, block), learners))


def local_pass(source, learners, todo, shared, n_threads):
    """``learners`` after learning the blocks ``todo = [(index, seed)]`` in order, here.

    Returns the learners and the seconds the pass waited for blocks (here and on a cluster).
    """
    waited = 0.0
    with ThreadPoolExecutor(max(1, min(n_threads, len(learners))),
                            thread_name_prefix="outofcore-candidate") as pool:
        for _, learners, wait, _ in source.fold(learners, todo, _Together(shared, pool)):
            waited += wait
    return learners, waited


def cluster_pass(source, learners, todo, shared):
    """The same on the workers of ``source.client``: one chain of tasks per learner.

    The learners go into their first tasks by value and come back to the client at the end of
    the pass. At most ``prefetch + 1`` blocks have steps running or waiting: the next block is
    submitted once every learner has left the oldest one. Only the preparing task is pinned to
    the block's worker (see the module notes).
    """
    from distributed import wait

    client = source.client
    prepare, fit = guarded(shared.prepare), guarded(shared.fit)
    current, inflight, waited = list(learners), deque(), 0.0
    for (index, seed), (_, (xf, yf, wf)) in zip(todo, source._ahead([i for i, _ in todo]),
                                                strict=True):
        start = time.perf_counter()
        near = source.near(xf)  # waits for the block
        waited += time.perf_counter() - start
        block = client.submit(prepare, index, xf, yf, wf, seed=seed, where=source.where(index),
                              pure=False, **near)
        current = [client.submit(fit, learner, block, pure=False)
                   for learner in current]
        inflight.append(current)
        if len(inflight) > source.prefetch:
            wait(inflight.popleft())
    return client.gather(current), waited


class ScoreMany:
    """The score sums of every learner on one validation block (a picklable task body).

    Returns one entry per learner: ``(sums, seconds)``, or ``(None, 0.0)`` for a learner that
    failed; a learner that fails to score gets the exception in place of its sums (``catch``),
    or raises.
    """

    def __init__(self, learners, kind, scorer, holdout, catch):
        self.learners, self.kind, self.scorer = learners, kind, scorer
        self.holdout, self.catch = holdout, catch

    def __call__(self, index, Xb, yb, wb):
        if self.holdout is not None:
            keep = self.holdout.valid_mask(index, Xb.shape[0])
            Xb, yb, wb = (None if a is None else a[keep] for a in (Xb, yb, wb))
        Xb, yb, wb = (_read_only(a) for a in (Xb, yb, wb))
        out = []
        for learner in self.learners:
            if learner.error is not None:
                out.append((None, 0.0))
                continue
            start = time.perf_counter()
            try:
                sums = block_sums(learner.model, Xb, yb, wb, kind=self.kind, scorer=self.scorer)
            except Exception as e:
                if not self.catch:
                    raise
                sums = e
            out.append((sums, time.perf_counter() - start))
        return out


def validation_scores(source, valid, learners, kind, scorer, holdout, catch):
    """``[(score or None, seconds, exception or None)]`` of every learner on the validation
    blocks (or held-out rows) of ``source``: each block is read once for all of them."""
    per_block = source.map(ScoreMany(learners, kind, scorer, holdout, catch), list(valid))
    out = []
    for k, learner in enumerate(learners):
        entries = [block[k] for block in per_block]
        seconds = sum(s for _, s in entries)
        failed = next((e for e, _ in entries if isinstance(e, BaseException)), None)
        if learner.error is not None or failed is not None:
            out.append((None, seconds, learner.error or failed))
            continue
        out.append((finish([e for e, _ in entries], kind), seconds, None))
    return out
