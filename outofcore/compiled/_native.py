"""The ``native`` tree strategy: a numba-compiled CPU traversal, used when numba is usable.

(And the k-means arg-min on CPU, :func:`kmeans_labels`, for the same reason.)

It replaces tensor programs that measured slower than scikit-learn on CPU; on GPUs (and without
numba) the tensor strategies run. The kernels read the same arrays the torch strategies hold.

On CPU a tree walk is a chain of dependent loads; expressed as tensor operations every level
becomes several full passes over an ``n_rows x n_trees`` index tensor, which measured 3-9x slower
than scikit-learn's Cython loop (see benchmarks/README.md). This kernel keeps the tensor program's
data (the padded perfect trees of ``Perfect``, or the node arrays of ``Traversal``) and walks them
in compiled code: one tree at a time over a block of rows, level by level, so the tree stays in L1
cache and the rows of a block are independent loads the CPU overlaps. Blocks run in parallel on
``torch.get_num_threads()`` threads.

NaN routing is a kernel argument: 0 sends NaN right (plain ``x <= t``), 1 sends it left
(``not x > t``), 2 reads the per-node ``missing_left`` flag.
"""

import math
import threading

import numpy as np
import torch

from ._tree_modules import _PERFECT_MAX_NODES, _Strategy, pad_perfect


def _usable_numba():
    """numba, if it imports and can run a compiled function in this process; else None.

    numba unpickles its own in-process data on a function's first call, so a process that
    forbids pickle (a locked-down serving process) cannot run its kernels; "auto" then keeps to
    the tensor strategies.
    """
    try:
        import numba
    except ImportError:
        return None
    try:
        numba.njit(nogil=True)(_probe)(np.zeros(2), np.zeros(2))
    except Exception:  # any failure means the kernels cannot run here: use the tensor code
        return None
    return numba


def _probe(x, out):
    # Loops, a builtin and an array returned: what the kernels below need at run time.
    for i in range(min(x.shape[0], out.shape[0])):
        out[i] = x[i] + 1.0
    return out


numba = _usable_numba()
AVAILABLE = numba is not None
_BLOCK = 256
# numba's parallel runtime (and its thread count) is shared by the process: parallel launches
# from several dask threads take turns.
_LOCK = threading.Lock()


def _perfect_kernel(xf, d, feat, thr, ml, value, out, depth, nan_mode, block):
    n, n_trees, n_int = xf.shape[0] // d, feat.shape[0], feat.shape[1]
    n_out = value.shape[2]
    for b in numba.prange((n + block - 1) // block):
        start = b * block
        m = min(n, start + block) - start
        node = np.empty(m, np.intp)
        for t in range(n_trees):
            ft, th, mt, vt = feat[t], thr[t], ml[t], value[t]
            node[:] = 0
            for _ in range(depth):
                # One loop per NaN rule, so the hot loop has no branch on it.
                if nan_mode == 0:
                    for j in range(m):
                        k = node[j]
                        node[j] = 2 * k + 2 - (xf[(start + j) * d + ft[k]] <= th[k])
                elif nan_mode == 1:
                    for j in range(m):
                        k = node[j]
                        node[j] = 2 * k + 1 + (xf[(start + j) * d + ft[k]] > th[k])
                else:
                    for j in range(m):
                        k = node[j]
                        v = xf[(start + j) * d + ft[k]]
                        node[j] = 2 * k + 2 - ((v <= th[k]) | ((v != v) & mt[k]))
            for j in range(m):
                leaf = node[j] - n_int
                for c in range(n_out):
                    out[start + j, c] += vt[leaf, c]
    return out


def _perfect_rows_kernel(xf, d, feat, thr, ml, value, out, depth, nan_mode, block):
    # A row at a time through every tree: for a few rows the block kernel's per-tree bookkeeping
    # costs more than the walks. Four trees are walked side by side, so the CPU overlaps their
    # chains of dependent loads (100 trees of depth 8, one row: 3 us; one tree at a time 5 us,
    # the block kernel 11 us). Rows without NaN take the plain comparison whatever the NaN rule;
    # the sums run in tree order, as in the block kernel.
    n, n_trees, n_int = xf.shape[0] // d, feat.shape[0], feat.shape[1]
    n_out = value.shape[2]
    for i in range(n):
        first = i * d
        mode = nan_mode
        if mode != 0:
            mode = 0
            for f in range(d):
                if xf[first + f] != xf[first + f]:
                    mode = nan_mode
        t = 0
        if mode == 0:
            while t + 4 <= n_trees:
                k0 = k1 = k2 = k3 = 0
                for _ in range(depth):
                    k0 = 2 * k0 + 2 - (xf[first + feat[t, k0]] <= thr[t, k0])
                    k1 = 2 * k1 + 2 - (xf[first + feat[t + 1, k1]] <= thr[t + 1, k1])
                    k2 = 2 * k2 + 2 - (xf[first + feat[t + 2, k2]] <= thr[t + 2, k2])
                    k3 = 2 * k3 + 2 - (xf[first + feat[t + 3, k3]] <= thr[t + 3, k3])
                for c in range(n_out):
                    out[i, c] += value[t, k0 - n_int, c]
                    out[i, c] += value[t + 1, k1 - n_int, c]
                    out[i, c] += value[t + 2, k2 - n_int, c]
                    out[i, c] += value[t + 3, k3 - n_int, c]
                t += 4
        for t in range(t, n_trees):
            k = 0
            if mode == 0:
                for _ in range(depth):
                    k = 2 * k + 2 - (xf[first + feat[t, k]] <= thr[t, k])
            elif mode == 1:
                for _ in range(depth):
                    k = 2 * k + 1 + (xf[first + feat[t, k]] > thr[t, k])
            else:
                for _ in range(depth):
                    v = xf[first + feat[t, k]]
                    k = 2 * k + 2 - ((v <= thr[t, k]) | ((v != v) & ml[t, k]))
            for c in range(n_out):
                out[i, c] += value[t, k - n_int, c]
    return out


def _traversal_kernel(xf, d, roots, left, right, feat, thr, ml, value, out, nan_mode, block):
    n, n_out = xf.shape[0] // d, value.shape[1]
    for b in numba.prange((n + block - 1) // block):
        start = b * block
        stop = min(n, start + block)
        for t in range(roots.shape[0]):
            for i in range(start, stop):
                k = roots[t]
                while left[k] >= 0:
                    v = xf[i * d + feat[k]]
                    go_left = v <= thr[k] if nan_mode == 0 else (
                        not v > thr[k] if nan_mode == 1 else (v <= thr[k] or (v != v and ml[k])))
                    k = left[k] if go_left else right[k]
                for c in range(n_out):
                    out[i, c] += value[k, c]
    return out


def _kmeans_kernel(x, w, b, out, block):
    # argmin_c (b[c] + w[c] . x) for each row of x. A tile of rows is transposed so the inner
    # loop runs along rows (vectorised) with one weight in a register; the first centre that
    # attains the minimum wins, as in argmin. A NaN row matches no centre: the last label.
    n, d = x.shape
    k = w.shape[0]
    for t in numba.prange((n + block - 1) // block):
        start = t * block
        m = min(n, start + block) - start
        xt = np.empty((d, m), x.dtype)
        for r in range(m):
            for f in range(d):
                xt[f, r] = x[start + r, f]
        best = np.full(m, np.inf, x.dtype)
        label = np.full(m, k - 1, np.int32)
        score = np.empty(m, x.dtype)
        for c in range(k):
            score[:] = b[c]
            for f in range(d):
                wf = w[c, f]
                for r in range(m):
                    score[r] += xt[f, r] * wf
            for r in range(m):
                if score[r] < best[r]:
                    best[r] = score[r]
                    label[r] = c
        out[start:start + m] = label
    return out


# Hidden-layer activations of ``_dense_rows_kernel``, by code.
DENSE_ACTIVATIONS = {"identity": 0, "relu": 1, "tanh": 2, "logistic": 3}


def _dense_rows_kernel(x, weights, biases, activation, out):
    # An MLP's layers for a few rows, one row at a time: each layer's output vector stays in L1
    # and the loop over a weight row is vectorised. ``out`` gets the last layer's logits.
    n = x.shape[0]
    width = x.shape[1]
    for w in weights:
        width = max(width, w.shape[1])
    a = np.empty(width, x.dtype)
    h = np.empty(width, x.dtype)
    last = len(weights) - 1
    for r in range(n):
        m = x.shape[1]
        for i in range(m):
            a[i] = x[r, i]
        for layer in range(last + 1):
            w = weights[layer]
            b = biases[layer]
            k = w.shape[1]
            for j in range(k):
                h[j] = b[j]
            for i in range(m):
                ai = a[i]
                for j in range(k):
                    h[j] += ai * w[i, j]
            if layer == last:
                for j in range(k):
                    out[r, j] = h[j]
            elif activation == 1:
                for j in range(k):
                    a[j] = max(h[j], 0)
            elif activation == 2:
                for j in range(k):
                    a[j] = math.tanh(h[j])
            elif activation == 3:
                for j in range(k):
                    a[j] = 1 / (1 + math.exp(-h[j]))
            else:
                for j in range(k):
                    a[j] = h[j]
            m = k
    return out


def dense_rows(x, weights, biases, activation):
    """Logits of an MLP for the rows of the NumPy array ``x`` (a few rows: one thread, no torch).

    Scaler+MLP(64,32), one row: 1.7 us in the kernel against 8.1 us for NumPy's products.
    """
    out = np.empty((x.shape[0], weights[-1].shape[1]), x.dtype)
    return _KERNELS["dense_rows", False](x, weights, biases, DENSE_ACTIVATIONS[activation], out)


if AVAILABLE:
    # Decorating is cheap: numba compiles on the first call for the dtypes it is given. No disk
    # cache: numba reads its cache index with pickle, which a serving process may forbid. Leaf
    # values always accumulate in float64, so each kernel has at most two signatures. The serial
    # twin serves batches of one block: a parallel launch costs ~40 us, ten times the work of
    # one row through a hundred trees.
    _KERNELS = {
        (kind, parallel): numba.njit(parallel=parallel, nogil=True)(fn)
        for kind, fn in (("perfect", _perfect_kernel), ("traversal", _traversal_kernel),
                         ("kmeans", _kmeans_kernel))
        for parallel in (True, False)
    }
    _KERNELS["perfect_rows", False] = numba.njit(nogil=True)(_perfect_rows_kernel)
    _KERNELS["dense_rows", False] = numba.njit(nogil=True)(_dense_rows_kernel)

# Rows up to which perfect trees are walked a row at a time (4 rows: 9 us against 13 us for the
# block kernel; about even at 8).
_FEW_ROWS = 4


def _launch(kind, n, args):
    if n <= _FEW_ROWS and kind == "perfect":
        _KERNELS["perfect_rows", False](*args)
        return
    if n <= _BLOCK:
        _KERNELS[kind, False](*args)
        return
    threads = min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)
    if threads <= 1:
        _KERNELS[kind, False](*args)
        return
    with _LOCK:
        numba.set_num_threads(threads)
        _KERNELS[kind, True](*args)


def kmeans_labels(x, w, b):
    """Nearest-centre labels (int32) of the rows of the CPU tensor ``x``; ``w`` (k, d) and ``b``
    (k,) give the scores ``b + w @ row`` whose minimum marks the nearest centre.

    Measured on 1M x 20 float32 rows and 16 centres, 2 threads: 15-21 ms against 47-59 ms for the
    tensor program (one matrix product and an arg-min) and 17-30 ms for scikit-learn.
    """
    xn = np.ascontiguousarray(x.numpy())
    out = np.empty(xn.shape[0], np.int32)
    _launch("kmeans", xn.shape[0], (xn, w, b, out, _KMEANS_BLOCK))
    return torch.from_numpy(out)


# Rows per k-means tile: its transposed rows and scores stay in L1 (128 x 20 float32: 10 KB).
_KMEANS_BLOCK = 128


def _nan_mode(missing_left, internal):
    ml = missing_left[internal]
    return 0 if not ml.any() else (1 if ml.all() else 2)


class Native(_Strategy):
    """numba traversal over the padded perfect trees, or the plain node arrays for deep trees."""

    def __init__(self, a, cmp_dtype, dtype, device, go_left):
        super().__init__(a, cmp_dtype, dtype, device)
        if not AVAILABLE:
            raise ValueError("tree_strategy='native' needs numba (pip install numba); "
                             "or use 'auto', 'perfect', 'traversal' or 'gemm'")
        if torch.device(device).type != "cpu":
            raise ValueError(f"tree_strategy='native' runs on the CPU only, not on {device}; use 'auto'")
        self.np_cmp = np.float32 if cmp_dtype == torch.float32 else np.float64
        self.nan_mode = _nan_mode(a["missing_left"], a["left"] >= 0)
        depth = max(1, a["depth"])
        n_out = a["value"].shape[1]
        if len(a["roots"]) * (1 << depth) <= _PERFECT_MAX_NODES:
            feat, thr, ml, value = pad_perfect(a, depth)
            self.kind, self.depth = "perfect", depth
            self.arrays = (feat.astype(np.int32), self.thresholds(thr).astype(self.np_cmp), ml, value)
        else:
            self.kind = "traversal"
            self.arrays = (a["roots"], a["left"], a["right"], a["feature"],
                           self.thresholds(a["threshold"]).astype(self.np_cmp), a["missing_left"],
                           a["value"])
        self.bytes_per_row = 8 * n_out + 8
        self.n_out = n_out
        # The ensemble's base score starts each row's sum, and the result is cast in NumPy: two
        # torch operations fewer per call, a fifth of a one-row forest prediction.
        self.base = np.asarray(a["base"], dtype=np.float64)
        self.includes_base = True
        self.np_out = torch.empty(0, dtype=dtype).numpy().dtype

    def forward(self, x):
        return torch.from_numpy(self.numpy_forward(x.numpy()))

    def numpy_forward(self, x):
        """``forward`` on a NumPy array: the summed leaf values plus the base, in the output dtype."""
        xn = np.ascontiguousarray(x, dtype=self.np_cmp)
        n, d = xn.shape
        out = np.empty((n, self.n_out))
        out[:] = self.base
        extra = (self.depth,) if self.kind == "perfect" else ()
        _launch(self.kind, n, (xn.reshape(-1), d, *self.arrays, out, *extra, self.nan_mode, _BLOCK))
        return out.astype(self.np_out, copy=False)
