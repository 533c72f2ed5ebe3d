"""The rung loop of :class:`~outofcore.training.search.IncrementalSearchCV`: learn a stretch of
the stream, score the live candidates on the held-out data, keep the best.

Scores are taken at the end of every rung and of every epoch (the winner's ``history_`` has one
entry per epoch, as an Incremental's); only rung ends drop candidates.
"""

import time
import warnings

import numpy as np
from sklearn.exceptions import FitFailedWarning

from outofcore.runtime.threads import available_cores
from outofcore.training import halving
from outofcore.training.candidates import cluster_pass, local_pass, validation_scores
from outofcore.training.sources import ClusterBlocks


class Rungs:
    """The rungs of one search: learn a stretch of the stream, score, keep the best."""

    def __init__(self, search, candidates, source, shared, valid, holdout, kind):
        self.search, self.candidates = search, candidates
        self.source, self.shared = source, shared
        self.valid, self.holdout, self.kind = valid, holdout, kind
        n_jobs = search.n_jobs
        self.n_threads = available_cores() if n_jobs in (None, -1) else n_jobs
        self.learners = []

    def learn(self, indices, todo):
        """Every learner in ``indices`` learns the blocks ``todo``; returns the seconds waited."""
        active = [c for c in indices if self.learners[c].error is None]
        if not active or not todo:
            return 0.0
        learners = [self.learners[c] for c in active]
        if isinstance(self.source, ClusterBlocks):
            learners, waited = cluster_pass(self.source, learners, todo, self.shared)
        else:
            learners, waited = local_pass(self.source, learners, todo, self.shared,
                                          self.n_threads)
        for c, learner in zip(active, learners, strict=True):
            self.learners[c] = learner
        return waited

    def score(self, indices):
        """``{candidate: (score, seconds)}``; a candidate that failed gets ``error_score``."""
        scored = validation_scores(self.source, self.valid, [self.learners[c] for c in indices],
                                   self.kind, self.search.scorer_, self.holdout,
                                   self.shared.catch)
        out = {}
        for c, (score, seconds, error) in zip(indices, scored, strict=True):
            if error is not None and self.learners[c].error is None:
                self.learners[c].error = error
            out[c] = (float(self.search.error_score) if score is None else score, seconds)
        return out

    def run(self, learners, stream, rows, epoch_ends):
        """Run every rung; returns the winner's index and its per-epoch history (as
        ``Incremental.history_``), and sets the search's results."""
        search = self.search
        self.learners = list(learners)
        sizes = halving.rung_sizes(len(learners), search.factor)
        ends = halving.rung_ends(rows, len(sizes), search.factor, search.min_resources)
        sizes = sizes[:len(ends)]
        cumulative = np.cumsum(rows)
        live = list(range(len(learners)))
        history = {c: [] for c in live}
        records, rung, position, epoch = [], 0, 0, 0
        rung_start = {c: 0.0 for c in live}
        epoch_start, clock, waited = dict(rung_start), time.perf_counter(), 0.0
        for stop in sorted(set(ends) | set(epoch_ends)):
            waited += self.learn(live, stream[position:stop])
            position = stop
            scores = self.score(live)
            if stop in epoch_ends:
                epoch += 1
                for c in live:
                    learner = self.learners[c]
                    history[c].append({
                        "epoch": epoch, "rows": int(cumulative[stop - 1]),
                        "seconds": time.perf_counter() - clock, "score": scores[c][0],
                        "loss": _as_float(getattr(learner.model, "loss_", None)),
                        "wait_seconds": waited,
                        "learn_seconds": learner.seconds - epoch_start[c]})
                    epoch_start[c] = learner.seconds
                clock, waited = time.perf_counter(), 0.0
            if stop != ends[rung]:
                continue
            for c in live:
                records.append({"iter": rung, "candidate": c,
                                "n_resources": int(cumulative[stop - 1]),
                                "score": scores[c][0], "score_time": scores[c][1],
                                "fit_time": self.learners[c].seconds - rung_start[c]})
                rung_start[c] = self.learners[c].seconds
            failed = [c for c in live if self.learners[c].error is not None]
            if len(failed) == len(live):
                error = self.learners[failed[0]].error
                error.add_note(f"Every candidate of rung {rung} failed; this is the error of "
                               f"the first, {self._named(failed[0])}.")
                raise error
            best = halving.ranked([scores[c][0] for c in live], live)
            if rung + 1 < len(sizes):
                live = sorted(best[:sizes[rung + 1]])
            rung += 1
        winner = best[0]
        self._results(records, winner, sizes, ends, cumulative)
        return winner, history[winner]

    def _named(self, c):
        return f"candidate {c} {self.candidates[c]}"

    def _results(self, records, winner, sizes, ends, cumulative):
        search = self.search
        failed = sorted({r["candidate"] for r in records
                         if self.learners[r["candidate"]].error is not None})
        if failed:
            first = failed[0]
            warnings.warn(
                f"{len(failed)} of {len(self.learners)} candidates failed and were "
                f"scored error_score={search.error_score!r}; the first, "
                f"{self._named(first)}: {_described(self.learners[first].error)}",
                FitFailedWarning, stacklevel=4)
        search.cv_results_ = halving.results_table(self.candidates, records)
        search.best_index_ = next(i for i, r in enumerate(records)
                                  if r["iter"] == len(sizes) - 1 and r["candidate"] == winner)
        search.best_score_ = records[search.best_index_]["score"]
        search.best_params_ = dict(self.candidates[winner])
        search.n_candidates_ = list(sizes)
        search.n_resources_ = [int(cumulative[e - 1]) for e in ends]
        search.n_iterations_ = len(sizes)
        search.min_resources_ = search.n_resources_[0]
        search.max_resources_ = int(cumulative[-1])
        search.multimetric_ = False
        search.n_splits_ = 1


def _described(error):
    return f"{type(error).__name__}: {error}"


def _as_float(value):
    return None if value is None else float(value)
