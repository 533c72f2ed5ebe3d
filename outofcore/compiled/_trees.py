"""Tree ensembles: the node table of ``_convert_trees`` walked by a tensor program or the CPU kernel.

The tensor program walks every tree for every row at once, ``max_depth`` rounds of
``node = left[node] + goes_right``, then sums the ``value`` rows reached; the CPU kernel
(``_kernels.trees``) walks the same table a block of rows at a time.

Comparisons are scikit-learn's, exactly. Classic trees compare ``float32(x) <= t`` (t float64),
which is ``x32 <= t32`` with t rounded *down* to float32 (scikit-learn#14747); HistGradientBoosting
compares float64 input in float64, float32 input against the rounded-down thresholds. NaN takes
the child its node recorded; a categorical split sends the categories in its bitset left.
"""

import numpy as np
import torch

from . import _kernels
from ._heads import LINKS, Head


def round_down_float32(t):
    """The largest float32 ``t32`` with ``t32 <= t``: then ``x <= t32`` iff ``x <= t`` for float32 x."""
    t32 = t.astype(np.float32)
    above = t32.astype(np.float64) > t
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def top_levels(roots, depth, left, most=8):
    """Each tree's top ``min(depth, most)`` levels as a complete binary tree (root at position 1,
    children of ``k`` at ``2k`` and ``2k + 1``; a leaf fills the positions below it), for the CPU
    kernel: per tree the node at each position down to the level below the last, and at position 0
    (no node) the number of levels."""
    levels = np.minimum(depth, most).astype(np.int32)
    top = int(levels.max(initial=0))
    heap = np.zeros((len(roots), 2 ** (top + 1)), np.int32)
    heap[:, 1] = roots
    for level in range(top):
        k = np.arange(2 ** level, 2 ** (level + 1))
        child = left[heap[:, k]]
        heap[:, 2 * k], heap[:, 2 * k + 1] = child, child + (child != heap[:, k])
    heap[:, 0] = levels
    return heap


def split_keys(feature, t32):
    """``feature << 32`` plus the float32 threshold's bits as an unsigned key in float order (-0.0
    taken as +0.0, which it equals): the CPU kernel compares x's keys with it in one load."""
    bits = (t32 + np.float32(0)).view(np.int32).astype(np.int64)
    return (feature.astype(np.int64) << 32) | (np.where(bits < 0, bits ^ 0x7FFFFFFF, bits) + 2 ** 31)


class TreeEnsemble(Head):
    """Forests and boosted trees: leaf values summed over trees, plus ``base``, then the link."""

    has_kernel = True

    def __init__(self, node, dtype, device, kernel=True):
        arrays = dict(node.arrays)
        threshold = arrays.pop("threshold")
        node = type(node)(node.op, node.attrs, {"value": arrays.pop("value"), "base": arrays.pop("base")})
        super().__init__(node, dtype, device, kernel)  # attrs become attributes: max_depth, ...
        self.exact_float64 = self.compare == "input"
        # Where NaN is routed, the values refused are the infinite ones (after the cast to float32),
        # which the kernel and the tensor program look for as they read.
        self.watches = self.accepts == "nan"
        # roots, depth, left, feature, nan_right, cat, bitsets; thresholds for each input precision
        tables = dict(arrays, thr32=round_down_float32(threshold), thr64=threshold)
        if self.kernel:  # the kernel's arguments, by the thresholds it compares with
            rest = (tables["nan_right"], tables["cat"], tables["bitsets"], self.categorical,
                    node.arrays["value"], node.arrays["base"])
            heap = top_levels(tables["roots"], tables["depth"], tables["left"])
            inner = heap[:, 1:heap.shape[1] // 2]  # the splitting positions (0 holds the level count)
            used, position = np.unique(tables["feature"][inner], return_inverse=True)
            split = split_keys(position.reshape(inner.shape), tables["thr32"][inner])
            top = (np.pad(split, ((0, 0), (1, 0))), heap, used)
            self.consts = {t: (tables["roots"], tables["depth"], tables["feature"], tables[t],
                               tables["left"]) + rest + top for t in ("thr32", "thr64")}
        else:
            for name, value in tables.items():
                tensor = torch.as_tensor(value, device=device)
                self.register_buffer(name, tensor.long() if value.dtype.kind in "iu" else tensor,
                                     persistent=False)
        link = node.attrs.get("link", "identity")
        self.to_proba = (lambda ops, r: r) if self.output == "proba" else LINKS.get(link)
        self.exp = link == "exp"
        # Two-class boosting decides on the raw score; GradientBoosting says ``>= 0``, HGB ``> 0``.
        self.binary = self.classifier and self.output == "raw" and self.n_out == 1
        self.strict = node.attrs.get("binary_rule") == "gt"

    def _kernel_raw(self, x):
        exact = self.exact_float64 and x.dtype == np.float64
        dtype = np.float64 if exact else np.float32
        if x.dtype != dtype or not x.flags.c_contiguous:  # the kernel reads the bits of rows
            with np.errstate(over="ignore"):  # past float32's range is infinite: refused below
                x = np.ascontiguousarray(x, dtype)
        out = np.empty((x.shape[0], self.n_out))  # float64 sums, as scikit-learn's
        if not _kernels.run(_kernels.trees, x, self.consts["thr64" if exact else "thr32"], (out,)) and self.refused:
            self.refused(x)
        return out

    def _tensor_raw(self, x):
        exact = self.exact_float64 and x.dtype == torch.float64
        x, thr = (x, self.thr64) if exact else (x.float(), self.thr32)
        if self.refused and bool(x.isinf().any()):
            self.refused(x)
        k = self.roots.expand(x.shape[0], -1)
        for _ in range(self.max_depth):
            v = x.gather(1, self.feature[k])
            right = (v > thr[k]) | (v.isnan() & self.nan_right[k])
            if self.categorical:
                row = self.cat[k]
                code = torch.nan_to_num(v, nan=0.0).long()
                bit = (self.bitsets[row.clamp(min=0), code >> 5] >> (code & 31)) & 1
                right = torch.where((row >= 0) & ~v.isnan(), bit == 0, right)
            k = self.left[k] + right
        return self.value[k].sum(dim=1) + self.base

    def raw(self, x, decide=False):
        """Summed leaf values and base: in the compute dtype, or as the kernel summed them (float64)
        where only a decision is taken from them."""
        x = self.ops.array(x)
        if not self.kernel:
            return self._tensor_raw(x)
        r = self._kernel_raw(x)
        return r if decide else r.astype(self.np_dtype, copy=False)

    def m_predict(self, x):
        if not self.classifier:
            r = self.raw(x)
            r = (np.exp(r) if self.kernel else torch.exp(r)) if self.exp else r
            return r[:, 0] if self.ravel else r
        r = self.raw(x, decide=True)
        if self.binary:
            return r[:, 0] > 0 if self.strict else r[:, 0] >= 0
        return r.argmax(axis=1)

    def m_predict_proba(self, x):
        return self.to_proba(self.ops, self.raw(x))

    def m_decision_function(self, x):
        r = self.raw(x)
        return r[:, 0] if r.shape[1] == 1 else r
