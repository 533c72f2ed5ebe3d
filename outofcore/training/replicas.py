"""Data-parallel fitting: K replicas of the estimator learn side by side, merged in rounds.

An epoch's block order (drawn as for a sequential fold) is dealt to the replicas in turn: replica
``k`` learns the blocks at positions ``k, k + K, k + 2K, ...``. A round gives every replica its
next ``merge_every`` blocks; the replicas learn them in parallel (threads here, scikit-learn's
SGD and naive Bayes release the GIL; on a cluster, each replica's steps run where their blocks
are), then they are merged in replica order (:mod:`outofcore.training.merge`) and the next round
starts from the merged model. The merge order is fixed, so the same seed gives the same model,
locally and on a cluster; after a round, the blocks done are exactly the first ones of the
epoch's order, so a checkpoint taken at a merge resumes like a sequential one.
"""

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.base import clone

from outofcore.training.merge import (
    center_counts,
    merge_family,
    merge_replicas,
    restart_replicas,
)


class ReplicaStep:
    """A replica's step: the fold's step, and the weights a merge needs of the replica.

    Called with ``(state, index, Xb, yb, wb, seed=, where=)`` where ``state`` is ``(model,
    rows, counts)``; returns the state after ``partial_fit`` on the block (k-means also counts
    the rows each centre takes, before the block moves them).
    """

    def __init__(self, step, centres):
        self.step, self.centres = step, centres

    def __call__(self, state, index, Xb, yb, wb, *, seed, where):
        model, rows, counts = state
        Xb, yb, wb = self.step.prepare(index, Xb, yb, wb, seed=seed, where=where)
        if self.centres and Xb.shape[0]:
            counts = counts + center_counts(model, Xb, wb)
        return self.step.fit(model, Xb, yb, wb), rows + Xb.shape[0], counts


def _fitted(estimator):
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator)
        return True
    except Exception:  # NotFittedError: a replica that has not learned yet
        return False


class Rounds:
    """The replicas of one fit: where their rounds run and how they merge.

    Parameters
    ----------
    source : LocalBlocks or ClusterBlocks
    step : FoldStep
    n_replicas : int
    merge_every : int or None
        Blocks per replica between merges; None merges at the end of the epoch only.
    carried : ndarray or None
        k-means: the per-centre weight of every row merged into the model so far.
    """

    def __init__(self, source, step, n_replicas, merge_every, carried=None):
        self.source, self.step = source, step
        self.n, self.merge_every = n_replicas, merge_every
        self.carried = carried

    def epoch(self, model, todo):
        """Yield ``(merged model, [(index, rows, waited, learned)])`` after every round of
        ``todo`` (the epoch's remaining ``(index, seed)``)."""
        family = merge_family(model)
        size = self.n * (self.merge_every or max(1, -(-len(todo) // self.n)))
        for start in range(0, len(todo), size):
            shares = [todo[start:start + size][k::self.n] for k in range(self.n)]
            merged = _fitted(model)
            if merged:
                replicas = restart_replicas(model, self.n)
            else:  # the first round of a fit: replicas of the unfitted estimator
                replicas = [clone(model) for _ in range(self.n)]
            zeros = np.zeros(getattr(model, "n_clusters", 0))
            begun = time.perf_counter()
            states, blocks = self.source.rounds(
                [(r, 0, zeros) for r in replicas], shares,
                ReplicaStep(self.step, family == "centres"))
            learned = [s for s, share in zip(states, shares, strict=True) if share]
            if family == "parameters":
                model = merge_replicas([s[0] for s in learned], [s[1] for s in learned])
            elif family == "statistics":
                model = merge_replicas(([model] if merged else []) + [s[0] for s in learned])
            else:
                counts = [s[2] for s in learned]
                inputs = [s[0] for s in learned]
                if merged:
                    inputs, counts = [model] + inputs, [self.carried] + counts
                model = merge_replicas(inputs, np.array(counts))
                self.carried = np.sum(counts, axis=0)
            spent = time.perf_counter() - begun
            yield model, [(index, rows, waited, learn if learn is not None else spent / len(
                blocks)) for index, rows, waited, learn in blocks]


def local_rounds(source, states, shares, step):
    """Each replica's share of a round in its own thread: read, prepare and learn its blocks
    in turn. Returns the states and ``[(index, rows, waited, learned)]`` in the epoch's order."""

    def run(state, share):
        done = []
        for index, seed in share:
            start = time.perf_counter()
            blocks = source.compute(index)
            read = time.perf_counter()
            state = step(state, index, *blocks, seed=seed, where=source.where(index))
            done.append((index, int(source.row_chunks[index]), read - start,
                         time.perf_counter() - read))
        return state, done

    with ThreadPoolExecutor(len(states), thread_name_prefix="outofcore-replica") as pool:
        results = list(pool.map(run, states, shares))
    return [state for state, _ in results], _in_order([done for _, done in results])


def _in_order(per_replica):
    """The blocks of a round in the epoch's order: one of each replica in turn."""
    longest = max(map(len, per_replica), default=0)
    return [done[i] for i in range(longest) for done in per_replica if i < len(done)]


def cluster_rounds(source, states, shares, step):
    """Each replica's share of a round as a chain of tasks on the workers: every step runs where
    its block is, and the replica's state goes from one step's worker to the next; the client
    holds only the K states at the merge."""
    from outofcore.runtime.threads import guarded

    client, task = source.client, guarded(step)
    # Replica k reads (and so learns) on worker k of the ring: left to the scheduler, the blocks
    # of every replica may land on one worker, whose chain of steps then holds all the learning.
    ring = sorted(client.scheduler_info(n_workers=-1)["workers"])
    # The state goes into the first task by value (not scattered): a worker lost in the middle
    # of a round costs a rerun of the chain from it, not the fit.
    current = list(states)
    for j in range(max(map(len, shares), default=0)):
        # The j-th blocks of every replica are read side by side before any step is pinned to
        # its block's worker (which waits for the read): one replica at a time, the reads of a
        # round would run one after another.
        reads = [source.submit_block(share[j][0], ring[k % len(ring)] if ring else None) if j < len(share)
                 else None for k, share in enumerate(shares)]
        for k, (share, blocks) in enumerate(zip(shares, reads, strict=True)):
            if blocks is not None:
                (index, seed), (xf, yf, wf) = share[j], blocks
                current[k] = client.submit(task, current[k], index, xf, yf, wf, seed=seed,
                                           where=source.where(index), pure=False,
                                           **source.near(xf))
    futures = [chain if share else None for chain, share in zip(current, shares, strict=True)]
    gathered = client.gather([f for f in futures if f is not None])
    results = iter(gathered)
    out = [next(results) if share else state for state, share in
           zip(states, shares, strict=True)]
    return out, _in_order([[(index, int(source.row_chunks[index]), 0.0, None)
                            for index, _ in share] for share in shares])
