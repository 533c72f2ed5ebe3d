"""Successive halving over one stream of blocks: the candidates, the rungs, who survives, and the
results table.

Every candidate learns from the same stream (``max_epochs`` epochs of the training blocks, in
the fold's seeded order) and all live candidates are always at the same position in it, so a
rung is a stretch of the stream and a candidate's rows at a rung's end are the rows of the
stream so far. Rung ``k`` of ``K + 1`` ends, in the default schedule, once ``R / factor**(K - k)``
rows have streamed (``R``: the rows of every epoch), rounded up to a whole block; then the best
``ceil(live / factor)`` candidates go on. The last rung ends with the stream, so the survivor
has learned exactly what a fit of that candidate alone would have.

References: Karnin, Koren and Somekh, "Almost optimal exploration in multi-armed bandits",
ICML 2013; Jamieson and Talwalkar, "Non-stochastic best arm identification and hyperparameter
optimization", AISTATS 2016.
"""

import math
from collections import defaultdict

import numpy as np
from sklearn.model_selection import ParameterGrid, ParameterSampler


def candidate_params(distributions, n_candidates, random_state):
    """The candidates' parameters, in a fixed order: every combination of the lists
    (``n_candidates=None``, scikit-learn's ParameterGrid order), or ``n_candidates`` draws of
    scikit-learn's ParameterSampler."""
    if n_candidates is None:
        grids = [distributions] if isinstance(distributions, dict) else list(distributions)
        for grid in grids:
            for name, values in grid.items():
                if not isinstance(values, (list, tuple, np.ndarray)):
                    raise TypeError(
                        f"n_candidates=None searches every combination, which needs a list of "
                        f"values; {name!r} is {values!r}. Pass n_candidates= to sample that many "
                        f"candidates from the distributions.")
        return list(ParameterGrid(distributions))
    return list(ParameterSampler(distributions, n_candidates, random_state=random_state))


def rung_sizes(n_candidates, factor):
    """Live candidates in each rung: ``n``, ``ceil(n / factor)``, ... down to one."""
    sizes = [n_candidates]
    while sizes[-1] > 1:
        sizes.append(math.ceil(sizes[-1] / factor))
    return sizes


def rung_ends(step_rows, n_rungs, factor, min_resources):
    """The stream position (steps done) at which each rung ends.

    Parameters
    ----------
    step_rows : sequence of int
        Rows learned at each step of the stream.
    n_rungs : int
        Rungs that bring the candidates down to one.
    factor : float
    min_resources : "exhaust" or int
        Rows of the first rung. "exhaust": the rungs grow by ``factor`` and the last ends with
        the stream. An int: rung ``k`` ends once ``min_resources * factor**k`` rows have
        streamed; rungs that would end with the stream or after it are one last rung, whose
        best candidate wins (``min_resources`` of at least the stream's rows: no halving).

    Returns
    -------
    list of int
        Strictly increasing; the last is ``len(step_rows)``. Fewer than ``n_rungs`` when an
        int ``min_resources`` leaves no room for them.
    """
    cumulative = np.cumsum(step_rows)
    steps, last = len(step_rows), n_rungs - 1
    exhaust = isinstance(min_resources, str)
    if exhaust:
        if n_rungs > steps:
            raise ValueError(
                f"{n_rungs} rungs need at least {n_rungs} blocks to end at, but the stream of "
                f"max_epochs epochs has {steps}. Read the data in smaller blocks (block_rows=), "
                f"raise max_epochs or factor, or search fewer candidates.")
        targets = [cumulative[-1] / factor ** (last - k) for k in range(last)]
    else:
        targets = [min_resources * factor ** k for k in range(last)]
    ends = []
    for k, target in enumerate(targets):
        end = int(np.searchsorted(cumulative, target, side="left")) + 1
        end = max(end, ends[-1] + 1 if ends else 1)  # every rung learns at least one block
        if exhaust:
            end = min(end, steps - (last - k))  # and leaves one to each later rung
        if end >= steps:
            break
        ends.append(end)
    return ends + [steps]


def ranked(scores, indices):
    """``indices`` ordered best first: highest score, NaN last, then lower candidate index
    (so ties and failures are settled the same way for a seed)."""
    scores = np.asarray(scores, dtype=np.float64)
    key = np.where(np.isnan(scores), -np.inf, scores)
    order = sorted(range(len(indices)), key=lambda i: (-key[i], np.isnan(scores[i]), indices[i]))
    return [indices[i] for i in order]


def results_table(candidates, records):
    """``cv_results_`` from the rung records, one row per (rung, live candidate).

    ``records``: dicts with ``iter``, ``candidate``, ``n_resources``, ``score``, ``fit_time``
    and ``score_time``, in rung then candidate order.
    """
    params = [candidates[r["candidate"]] for r in records]
    iters = np.array([r["iter"] for r in records], dtype=np.int64)
    scores = np.array([r["score"] for r in records], dtype=np.float64)
    results = {
        "iter": iters,
        "n_resources": np.array([r["n_resources"] for r in records], dtype=np.int64),
        "candidate": np.array([r["candidate"] for r in records], dtype=np.int64),
        "mean_fit_time": np.array([r["fit_time"] for r in records]),
        "std_fit_time": np.zeros(len(records)),
        "mean_score_time": np.array([r["score_time"] for r in records]),
        "std_score_time": np.zeros(len(records)),
        "params": params,
    }
    results.update(_masked_params(params))
    results["split0_test_score"] = scores
    results["mean_test_score"] = scores
    results["std_test_score"] = np.zeros(len(records))
    results["rank_test_score"] = _ranks(iters, scores)
    return results


def _ranks(iters, scores):
    """1 for the best row: a later rung first, then a higher score; NaN scores share the last
    rank; equal (rung, score) share a rank."""
    key = [(1, 0, 0.0) if np.isnan(s) else (0, -int(i), -float(s)) for i, s in
           zip(iters, scores, strict=True)]
    order = sorted(range(len(key)), key=key.__getitem__)
    ranks = np.empty(len(key), dtype=np.int32)
    for position, row in enumerate(order):
        same = position and key[order[position - 1]] == key[row]
        ranks[row] = ranks[order[position - 1]] if same else position + 1
    return ranks


def _masked_params(params):
    """``param_<name>``: one masked array per parameter name, masked where a candidate (from
    another grid of a list of grids) does not set it, as scikit-learn's searches give them."""
    values = defaultdict(dict)
    for row, candidate in enumerate(params):
        for name, value in candidate.items():
            values[f"param_{name}"][row] = value
    out = {}
    for key, by_row in values.items():
        try:
            inferred = np.array(list(by_row.values()))
            dtype = inferred.dtype if inferred.dtype.kind != "U" and inferred.ndim == 1 \
                else object
        except ValueError:  # sequences of different lengths
            dtype = object
        column = np.ma.MaskedArray(np.empty(len(params), dtype=dtype), mask=True)
        for row, value in by_row.items():
            column[row] = value
        out[key] = column
    return out
