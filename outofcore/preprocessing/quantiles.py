"""A mergeable summary of a column's values for its median: exact up to ``CAPACITY`` values,
within a proven rank error beyond.

The summary is a deterministic compactor hierarchy in the manner of Manku, Rajagopalan and
Lindsay: level ``h`` holds sorted values each standing for ``2**h`` of the data. Whenever a level
holds more than ``CAPACITY`` values, an even number of them is compacted: every other one (the
first or the second of each pair, alternating from one compaction to the next) moves up a level
with twice the weight. Summaries merge level by level in any grouping, so a dask tree reduction
can build one.

Error bound. Compacting ``2m`` sorted values of weight ``w`` changes the summary's count of values
at or below any threshold by at most ``w``. Each compaction at level ``h`` consumes more than
``CAPACITY`` values there, and at most ``N`` of the data's weight ever reaches a level, so level
``h`` compacts at most ``N / (CAPACITY * 2**h)`` times and adds at most ``N / CAPACITY`` rank
error; only levels ``h < log2(N / CAPACITY)`` ever compact. Over ``N`` values the rank of the
returned median is therefore within ``E = (N / CAPACITY) * ceil(log2(N / CAPACITY))`` of the true
median's (:func:`rank_error`): for 20M values, 6,100 ranks, i.e. the result lies between the
49.97th and the 50.03rd percentiles. With ``N <= CAPACITY`` nothing is compacted and the median
is exact, as it is for a summary of a single block, which also carries that block's exact
median.

References
----------
G. S. Manku, S. Rajagopalan and B. G. Lindsay, "Approximate medians and other quantiles in one
pass and with limited memory", SIGMOD 1998.
"""

import math
from dataclasses import dataclass

import numpy as np

CAPACITY = 2**15


@dataclass(frozen=True, eq=False)
class Sketch:
    """Summary of ``count`` values: ``levels[h]`` sorted, each value standing for ``2**h``;
    ``flips[h]`` compactions at level ``h`` so far; ``exact`` the median when the values came
    from one block (None after merging several)."""

    levels: tuple
    flips: tuple
    count: int
    exact: float | None


def rank_error(count, capacity=None):
    """The most the rank of :func:`median`'s result can differ from the true median's."""
    capacity = CAPACITY if capacity is None else capacity
    if count <= capacity:
        return 0.0
    ratio = count / capacity
    return ratio * math.ceil(math.log2(ratio))


def sketch(values):
    """The summary of a 1-D float array without NaN."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    exact = float(_middle(values)) if len(values) else None
    return _compact([values], [0], len(values), exact)


def merge(sketches):
    """One summary of several (any grouping, any order)."""
    filled = [s for s in sketches if s.count]
    if len(filled) <= 1:
        return filled[0] if filled else sketches[0]
    depth = max(len(s.levels) for s in filled)
    levels, flips = [], []
    for h in range(depth):
        parts = [s.levels[h] for s in filled if h < len(s.levels) and len(s.levels[h])]
        levels.append(np.sort(np.concatenate(parts), kind="stable") if len(parts) > 1 else
                      parts[0] if parts else np.empty(0))
        flips.append(sum(s.flips[h] for s in filled if h < len(s.flips)))
    return _compact(levels, flips, sum(s.count for s in filled), None)


def _compact(levels, flips, count, exact):
    levels, flips = list(levels), list(flips)
    h = 0
    while h < len(levels):
        values = levels[h]
        if len(values) > CAPACITY:
            even = len(values) - len(values) % 2
            moved = values[flips[h] % 2:even:2]
            if h + 1 == len(levels):
                levels.append(np.empty(0))
                flips.append(0)
            # Both parts are sorted: a stable sort (timsort) merges the two runs in one pass.
            levels[h + 1] = np.sort(np.concatenate([levels[h + 1], moved]), kind="stable") \
                if len(levels[h + 1]) else np.ascontiguousarray(moved)
            levels[h] = values[even:]
            flips[h] += 1
        h += 1
    return Sketch(tuple(levels), tuple(flips), count, exact)


def _middle(values):
    n = len(values)
    return (values[(n - 1) // 2] + values[n // 2]) / 2


def median(s):
    """The median of the summarised values (NaN when there are none): exact for one block or
    at most ``CAPACITY`` values, else within :func:`rank_error` ranks of it."""
    if s.exact is not None:
        return s.exact
    if not s.count:
        return np.nan
    values = np.concatenate(s.levels)
    weights = np.concatenate([np.full(len(v), 2**h, dtype=np.int64)
                              for h, v in enumerate(s.levels)])
    order = np.argsort(values, kind="stable")
    below = np.cumsum(weights[order])
    # The value of rank r (0-based) is the first whose cumulative weight exceeds r; the median
    # is the mean of ranks (N-1)//2 and N//2, as numpy's median takes it.
    low, high = (values[order[np.searchsorted(below, r, side="right")]]
                 for r in ((s.count - 1) // 2, s.count // 2))
    return float((low + high) / 2)
