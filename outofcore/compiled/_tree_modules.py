"""Tree ensembles as tensor programs, with three tensor evaluation strategies (and one native).

``gemm``
    Every split of every tree is compared at once (a column gather and one comparison), then two
    batched matrix products find the leaf each row reaches and sum its values. Work grows with the
    number of nodes, not the depth: the fastest choice for shallow trees and on GPUs, but memory per
    row is ``n_trees * n_leaves``, so batches are cut into chunks.
``perfect``
    Each tree is padded to a perfect binary tree of the ensemble's depth and walked level by level
    with index arithmetic (child ``2i + 1 + went_right``), one gather per level. Memory is
    ``n_trees * 2**depth`` nodes, so it is used up to a moderate depth.
``traversal``
    The general walk: ``depth`` rounds of ``where(go_left, left[i], right[i])``. Any depth.
``native`` (``_native.py``)
    On CPU, the same padded trees walked by a numba-compiled loop. Expressed as tensor operations
    every level is several full passes over a ``rows x trees`` index tensor, which measured 3-9x
    slower than scikit-learn's Cython on CPU; the compiled loop is faster than scikit-learn.

``tree_strategy="auto"`` picks by device, depth and batch size (:func:`auto_strategy`); any
strategy can be forced.

Comparisons reproduce scikit-learn exactly: its classic trees compare ``float32(x) <= threshold``
(a float64), which equals ``x32 <= t32`` once the threshold is rounded *down* to float32; a NaN
goes to the child recorded in ``missing_left``.

References: S. Nakandala et al., "A Tensor Compiler for Unified Machine Learning Prediction Serving",
OSDI 2020 (the GEMM and perfect-tree formulations).
"""

import numpy as np
import torch
from torch import nn

from ._modules import Head, _two_columns

STRATEGIES = ("auto", "native", "gemm", "perfect", "traversal")
_PERFECT_MAX_NODES = 1 << 22


def _round_down_float32(t):
    t32 = t.astype(np.float32)
    above = t32.astype(np.float64) > t
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _compare_fn(missing_left, internal):
    """``go_left(v, t, ml)`` for the model's NaN routing, chosen once."""
    ml = missing_left[internal]
    if not ml.any():
        return lambda v, t, m: v <= t  # NaN compares False: right, as recorded
    if ml.all():
        return lambda v, t, m: ~(v > t)  # NaN compares False: left, as recorded
    return lambda v, t, m: (v <= t) | (v.isnan() & m)


class _Strategy(nn.Module):
    def __init__(self, arrays, cmp_dtype, dtype, device):
        super().__init__()
        self.cmp_dtype, self.dtype, self.device = cmp_dtype, dtype, device

    def buf(self, name, array, dtype=None):
        tensor = torch.as_tensor(np.ascontiguousarray(array), device=self.device)
        self.register_buffer(name, tensor if dtype is None else tensor.to(dtype), persistent=False)

    def thresholds(self, t):
        return _round_down_float32(t) if self.cmp_dtype == torch.float32 else t


class Gemm(_Strategy):
    """All splits at once, then leaf selection by batched matrix products."""

    def __init__(self, a, cmp_dtype, dtype, device, go_left):
        super().__init__(a, cmp_dtype, dtype, device)
        self.go_left = go_left
        roots, left, right = a["roots"], a["left"], a["right"]
        ends = np.append(roots[1:], len(left))
        internal = [np.flatnonzero(left[r:e] >= 0) + r for r, e in zip(roots, ends)]
        leaves = [np.flatnonzero(left[r:e] < 0) + r for r, e in zip(roots, ends)]
        n_trees = len(roots)
        n_int = max(1, max(len(i) for i in internal))
        n_leaf = max(len(lv) for lv in leaves)
        feat = np.zeros((n_trees, n_int), np.int64)
        thr = np.zeros((n_trees, n_int))
        ml = np.zeros((n_trees, n_int), bool)
        path = np.zeros((n_trees, n_int, n_leaf), np.float32)
        # Padding leaves can never be reached: their target count is out of range.
        target = np.full((n_trees, 1, n_leaf), -1.0, np.float32)
        value = np.zeros((n_trees, n_leaf, a["value"].shape[1]))
        for t in range(n_trees):
            pos_int = {node: i for i, node in enumerate(internal[t])}
            pos_leaf = {node: j for j, node in enumerate(leaves[t])}
            feat[t, :len(internal[t])] = a["feature"][internal[t]]
            thr[t, :len(internal[t])] = a["threshold"][internal[t]]
            ml[t, :len(internal[t])] = a["missing_left"][internal[t]]
            value[t, :len(leaves[t])] = a["value"][leaves[t]]
            # Walk down from the root carrying the (node, side) pairs on the way to each leaf.
            stack = [(roots[t], [])]
            while stack:
                node, ancestors = stack.pop()
                if left[node] < 0:
                    j = pos_leaf[node]
                    for anc, side in ancestors:
                        path[t, pos_int[anc], j] = side
                    target[t, 0, j] = sum(side > 0 for _, side in ancestors)
                    continue
                stack.append((left[node], ancestors + [(node, 1.0)]))
                stack.append((right[node], ancestors + [(node, -1.0)]))
        self.n_trees, self.n_int = n_trees, n_int
        self.buf("feat", feat.ravel())
        self.buf("thr", self.thresholds(thr.ravel()), cmp_dtype)
        self.buf("ml", ml.ravel())
        self.buf("path", path, dtype)
        self.buf("target", target, dtype)
        self.buf("value", value, dtype)
        self.bytes_per_row = n_trees * (3 * n_int + 2 * n_leaf) * torch.finfo(dtype).bits // 8

    def forward(self, x):
        n = x.shape[0]
        v = x.index_select(1, self.feat)
        hits = self.go_left(v, self.thr, self.ml).to(self.dtype)
        hits = hits.view(n, self.n_trees, self.n_int).transpose(0, 1)
        reached = (torch.bmm(hits, self.path) == self.target).to(self.dtype)
        return torch.bmm(reached, self.value).sum(dim=0)


def pad_perfect(a, depth):
    """Every tree padded to a perfect binary tree of ``depth`` levels, in heap order.

    Returns ``(feature, threshold, missing_left)`` of shape ``(n_trees, 2**depth - 1)`` and the
    leaf values ``(n_trees, 2**depth, n_out)``. A leaf reached above the last level fills its whole
    subtree, so whichever way the padding splits go, they end at its value.
    """
    roots, left, right = a["roots"], a["left"], a["right"]
    n_trees, n_int = len(roots), (1 << depth) - 1
    feat = np.zeros((n_trees, n_int), np.int64)
    thr = np.zeros((n_trees, n_int))
    ml = np.zeros((n_trees, n_int), bool)
    src = roots[:, None]  # the original node at each heap position of the current level
    for level in range(depth):
        cols = slice((1 << level) - 1, (1 << (level + 1)) - 1)
        is_int = left[src] >= 0
        feat[:, cols] = np.where(is_int, a["feature"][src], 0)
        thr[:, cols] = np.where(is_int, a["threshold"][src], 0.0)
        ml[:, cols] = np.where(is_int, a["missing_left"][src], False)
        lc = np.where(is_int, left[src], src)
        rc = np.where(is_int, right[src], src)
        src = np.stack([lc, rc], axis=2).reshape(n_trees, -1)
    return feat, thr, ml, a["value"][src]


class Perfect(_Strategy):
    """Trees padded to perfect binary trees, walked with heap-index arithmetic."""

    def __init__(self, a, cmp_dtype, dtype, device, go_left):
        super().__init__(a, cmp_dtype, dtype, device)
        self.go_left = go_left
        depth = max(1, a["depth"])
        feat, thr, ml, value = pad_perfect(a, depth)
        n_trees, n_int = feat.shape
        n_leaf = n_int + 1
        self.depth = depth
        tree = np.arange(n_trees)
        self.buf("feat", feat.ravel())
        self.buf("thr", self.thresholds(thr.ravel()), cmp_dtype)
        self.buf("ml", ml.ravel())
        self.buf("value", value.reshape(n_trees * n_leaf, -1), dtype)
        self.buf("start", tree * n_int)
        # child global index = 2 * g + went_right + (1 - tree_offset)
        self.buf("step", 1 - tree * n_int)
        self.buf("leaf_shift", tree * n_leaf - tree * n_int - n_int)
        self.bytes_per_row = n_trees * (8 * 4 + 8 * value.shape[2])

    def forward(self, x):
        g = self.start.expand(x.shape[0], -1)
        for _ in range(self.depth):
            v = x.gather(1, self.feat[g])
            right = ~self.go_left(v, self.thr[g], self.ml[g])
            g = (2 * g + self.step).add_(right)
        return self.value[g + self.leaf_shift].sum(dim=1)


class Traversal(_Strategy):
    """The general walk: ``where(go_left, left[i], right[i])``, leaves pointing to themselves."""

    def __init__(self, a, cmp_dtype, dtype, device, go_left):
        super().__init__(a, cmp_dtype, dtype, device)
        self.go_left = go_left
        nodes = np.arange(len(a["left"]))
        leaf = a["left"] < 0
        self.depth = a["depth"]
        self.buf("roots", a["roots"])
        self.buf("left", np.where(leaf, nodes, a["left"]))
        self.buf("right", np.where(leaf, nodes, a["right"]))
        self.buf("feat", a["feature"])
        self.buf("thr", self.thresholds(a["threshold"]), cmp_dtype)
        self.buf("ml", a["missing_left"])
        self.buf("value", a["value"], dtype)
        self.bytes_per_row = len(a["roots"]) * (8 * 5 + 8 * a["value"].shape[1])

    def forward(self, x):
        g = self.roots.expand(x.shape[0], -1)
        for _ in range(self.depth):
            v = x.gather(1, self.feat[g])
            g = torch.where(self.go_left(v, self.thr[g], self.ml[g]), self.left[g], self.right[g])
        return self.value[g].sum(dim=1)


def _strategy_class(name):
    if name == "native":
        from ._native import Native

        return Native
    return {"gemm": Gemm, "perfect": Perfect, "traversal": Traversal}[name]


def native_available():
    """True when the numba-compiled CPU strategy can be used."""
    from ._native import AVAILABLE

    return AVAILABLE


def auto_strategy(depth, n_nodes_perfect, device_type, n_rows, native=False):
    """The strategy ``tree_strategy="auto"`` uses for a batch of ``n_rows``.

    On CPU with numba usable, the compiled walk (``native``) is fastest at every depth and batch
    size measured. Otherwise GEMM wins for shallow trees because it runs a handful of dense
    kernels instead of a dependent chain of gathers (one level deeper for tiny CPU batches, where
    per-kernel overhead dominates); but its work grows with ``2**depth`` per tree, so from depth
    5 the perfect-tree walk (``depth`` rounds of gathers over ``rows x trees``) does less work on
    both devices; past the padding budget only the general walk remains.
    """
    if device_type == "cpu" and native:
        return "native"
    gemm_depth = 4 if device_type == "cuda" or n_rows <= 64 else 3
    if depth <= gemm_depth:
        return "gemm"
    if n_nodes_perfect <= _PERFECT_MAX_NODES:
        return "perfect"
    return "traversal"


def _identity(r):
    return r


_PROBA = {
    "softmax": lambda r: torch.softmax(r, dim=1),
    "logistic": lambda r: _two_columns(torch.sigmoid(r[:, 0])),
    # GradientBoosting's exponential loss: p = expit(2 * raw).
    "exp_logistic": lambda r: _two_columns(torch.sigmoid(2.0 * r[:, 0])),
}
_BINARY_RULES = {"ge": lambda r: r >= 0, "gt": lambda r: r > 0}


class TreeEnsemble(Head):
    """Forests and boosted trees: leaf values summed over trees, plus ``base``, then the link."""

    def __init__(self, node, dtype, device, strategy="auto"):
        nn.Module.__init__(self)
        if strategy not in STRATEGIES:
            raise ValueError(f"tree_strategy={strategy!r} is not one of {STRATEGIES}")
        a = node.attrs
        self.arrays = dict(node.arrays, depth=int(a["max_depth"]))
        self.dtype, self.device, self.strategy = dtype, torch.device(device), strategy
        float32 = a.get("float32_input", False) or dtype == torch.float32
        self.cmp_dtype = torch.float32 if float32 else dtype
        self.go_left = _compare_fn(node.arrays["missing_left"], node.arrays["left"] >= 0)
        self.register_buffer("base", torch.as_tensor(node.arrays["base"], device=device).to(dtype),
                             persistent=False)
        self.n_perfect = len(node.arrays["roots"]) * (1 << max(1, a["max_depth"]))
        self.built = nn.ModuleDict()
        self.chosen = {}
        # Export (ONNX) needs one strategy fixed in advance, not a choice made per batch size.
        self.pinned = None
        self.classifier = a["task"] == "classifier"
        self.ravel = bool(a.get("ravel", False))
        link = a.get("link", "identity")
        self.to_proba = _identity if a["output"] == "proba" else _PROBA.get(link)
        self.inverse_link = torch.exp if link == "exp" else _identity
        # Two-class boosting decides on the raw score; GradientBoosting says ``>= 0``, HGB ``> 0``.
        binary_raw = self.classifier and a["output"] == "raw" and a["n_out"] == 1
        self.binary_test = _BINARY_RULES[a.get("binary_rule")] if binary_raw else None

    def pick(self, n_rows, native=True):
        """The strategy module for a batch of ``n_rows`` (built on first use).

        ``native=False`` keeps "auto" to the tensor strategies (for export).
        """
        # auto's choice depends on the batch only through "at most 64 rows": cache both answers.
        key = (n_rows <= 64, native)
        chosen = self.chosen.get(key)
        if chosen is not None:
            return chosen
        name = self.strategy
        if name == "auto":
            native = native and self.device.type == "cpu" and native_available()
            name = auto_strategy(self.arrays["depth"], self.n_perfect, self.device.type, n_rows,
                                 native=native)
        if name not in self.built:
            if name == "perfect" and self.n_perfect > _PERFECT_MAX_NODES:
                raise ValueError(
                    f"tree_strategy='perfect' would pad to {self.n_perfect} nodes (depth "
                    f"{self.arrays['depth']}); use 'traversal' or 'auto' for trees this deep"
                )
            self.built[name] = _strategy_class(name)(self.arrays, self.cmp_dtype, self.dtype,
                                                     self.device, self.go_left)
        chosen = self.chosen[key] = self.built[name]
        return chosen

    def chunk_bytes(self, n_rows):
        """Intermediate bytes per row of the strategy used for ``n_rows`` rows."""
        return self.pick(n_rows).bytes_per_row

    def raw(self, x):
        xc = x if x.dtype == self.cmp_dtype else x.to(self.cmp_dtype)
        strategy = self.pinned if self.pinned is not None else self.pick(x.shape[0])
        out = strategy.forward(xc)
        return out if getattr(strategy, "includes_base", False) else out + self.base

    def m_predict(self, x):
        return self._decide(self.raw(x), self.inverse_link)

    def _decide(self, r, inverse_link):
        """Predictions from raw scores ``r``: a tensor, or a NumPy array with a NumPy link."""
        if not self.classifier:
            r = inverse_link(r)
            return r[:, 0] if self.ravel else r
        if self.binary_test is not None:
            return self.binary_test(r[:, 0])
        return r.argmax(1)

    def m_predict_proba(self, x):
        return self.to_proba(self.raw(x))

    def numpy_predict(self):
        # Only the numba strategy runs on NumPy arrays; the tensor strategies stay in torch.
        if self.device.type != "cpu" or self.pinned is not None:
            return None
        run = getattr(self.pick(1), "numpy_forward", None)
        if run is None:
            return None
        link = np.exp if self.inverse_link is torch.exp else _identity
        return lambda x: self._decide(run(x), link)

    def m_decision_function(self, x):
        r = self.raw(x)
        return r[:, 0] if r.shape[1] == 1 else r
