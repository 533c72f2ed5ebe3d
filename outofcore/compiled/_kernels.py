"""CPU kernels, one per model family, compiled by numba: on the CPU, instead of the tensor program.

A head uses its family's kernel on the CPU where numba runs (decided when the model is built); the
tensor program stays the reference that GPUs and ONNX export run. A kernel reads the arrays the
tensor program reads and returns what it returns (scores, logits, summed leaf values, nearest
centres), so links and labels are shared. Kernels are serial and release the GIL: :func:`run`
gives each thread (``torch.get_num_threads()``) a contiguous part of a large batch.
"""

import functools
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


def _usable_numba():
    """numba, if it imports and runs a compiled function here (it unpickles its own data on a
    first call, which a locked-down serving process may forbid); else None."""
    try:
        import numba

        numba.njit(nogil=True)(lambda x: x + 1.0)(np.zeros(2))
    except Exception:  # any failure means the kernels cannot run here: use the tensor programs
        return None
    return numba


numba = _usable_numba()
AVAILABLE = numba is not None
# Rows below which a batch runs in the calling thread: handing parts to threads costs tens of
# microseconds, more than the work.
_PARALLEL_ROWS = 4096


@functools.lru_cache(maxsize=None)
def _pool(workers):
    return ThreadPoolExecutor(workers, thread_name_prefix="outofcore-kernel")


def run(kernel, x, consts, outs):
    """``kernel(x, *consts, *outs)`` over the rows of ``x`` and ``outs``, split across threads
    (the calling thread takes the first part). Returns whether every part returned True: the
    kernels say so where the input holds no value their model refuses (see each)."""
    threads = 1 if x.shape[0] < 2 * _PARALLEL_ROWS else min(torch.get_num_threads(), x.shape[0] // _PARALLEL_ROWS)
    if threads <= 1:
        return kernel(x, *consts, *outs)
    b = np.linspace(0, x.shape[0], threads + 1).astype(int)
    parts = [_pool(threads - 1).submit(kernel, x[b[i]:b[i + 1]], *consts, *[o[b[i]:b[i + 1]] for o in outs])
             for i in range(1, threads)]
    ok = kernel(x[:b[1]], *consts, *[o[:b[1]] for o in outs])
    return all([part.result() for part in parts]) and ok


def _jit(fn):
    # reassoc and contract only: sums may be reordered and fused, but NaN and infinity keep their
    # meaning (the trees' NaN routing relies on it). Compiled code is cached on disk.
    return numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})(fn) if AVAILABLE else None


def _linear(x, centre, wt, b, out):
    # out = (x - centre) @ wt.T + b. Row-ordered x: four rows at a time (independent sums keep the
    # multiply-adds busy). Column-ordered x (predict_to_parquet's blocks): a tile of rows gathers
    # one column after another, so every read runs along a column. Returns whether every score
    # is finite (s - s is 0 only then): NaN or infinity in x reaches the scores.
    n, d = x.shape
    finite = True
    if x.strides[0] < x.strides[1]:
        tile = 1024
        acc = np.empty(tile, x.dtype)
        for c in range(wt.shape[0]):
            w = wt[c]
            for start in range(0, n, tile):
                m = min(tile, n - start)
                acc[:m] = b[c]
                for f in range(d):
                    cf, wf, column = centre[f], w[f], x[start:start + m, f]
                    for r in range(m):
                        acc[r] += (column[r] - cf) * wf
                for r in range(m):
                    finite &= acc[r] - acc[r] == 0
                out[start:start + m, c] = acc[:m]
        return finite
    for c in range(wt.shape[0]):
        w = wt[c]
        i = 0
        while i + 4 <= n:
            s0 = s1 = s2 = s3 = x.dtype.type(0)
            for f in range(d):
                cf, wf = centre[f], w[f]
                s0 += (x[i, f] - cf) * wf
                s1 += (x[i + 1, f] - cf) * wf
                s2 += (x[i + 2, f] - cf) * wf
                s3 += (x[i + 3, f] - cf) * wf
            s0, s1, s2, s3 = s0 + b[c], s1 + b[c], s2 + b[c], s3 + b[c]
            finite &= (s0 - s0 == 0) & (s1 - s1 == 0) & (s2 - s2 == 0) & (s3 - s3 == 0)
            out[i, c], out[i + 1, c], out[i + 2, c], out[i + 3, c] = s0, s1, s2, s3
            i += 4
        for r in range(i, n):
            s = x.dtype.type(0)
            for f in range(d):
                s += (x[r, f] - centre[f]) * w[f]
            s += b[c]
            finite &= s - s == 0
            out[r, c] = s
    return finite


# Hidden-layer activations by code (the MLP kernel's ``activation`` argument).
ACTIVATIONS = {"identity": 0, "relu": 1, "tanh": 2, "logistic": 3}


def _mlp(x, weights, shapes, biases, activation, fused, out):
    # Layers over tiles of 32 rows (a tile's outputs stay in L1 for the next layer); four rows
    # share each weight row as it streams by (tiles are padded to a multiple of four). Layer l's
    # weights are the next shapes[l, 0] * shapes[l, 1] values of ``weights``, its biases the next
    # shapes[l, 1] of ``biases``; a fused first layer adds its input to them.
    n = x.shape[0]
    width = max(x.shape[1], shapes.max())
    a = np.zeros((32, width), x.dtype)
    h = np.zeros((32, width), x.dtype)
    last = shapes.shape[0] - 1
    for start in range(0, n, 32):
        m = min(32, n - start)
        k = x.shape[1]
        a[:m, :k] = x[start:start + m]
        w0 = b0 = 0
        for layer in range(last + 1):
            k_out = shapes[layer, 1]
            w = weights[w0:w0 + shapes[layer, 0] * k_out].reshape((shapes[layer, 0], k_out))
            bias = biases[b0:b0 + k_out]
            for r in range(0, m, 4):
                h0, h1, h2, h3 = h[r, :k_out], h[r + 1, :k_out], h[r + 2, :k_out], h[r + 3, :k_out]
                h[r:r + 4, :k_out] = bias
                if layer == 0 and fused:
                    h[r:r + 4, :k_out] += a[r:r + 4, :k_out]
                    continue
                for i in range(k):
                    a0, a1, a2, a3 = a[r, i], a[r + 1, i], a[r + 2, i], a[r + 3, i]
                    row = w[i]
                    for j in range(k_out):
                        wj = row[j]
                        h0[j] += a0 * wj
                        h1[j] += a1 * wj
                        h2[j] += a2 * wj
                        h3[j] += a3 * wj
            w0 += shapes[layer, 0] * k_out
            b0 += k_out
            if layer == last:
                out[start:start + m] = h[:m, :k_out]
                break
            for r in range(m):
                for j in range(k_out):
                    v = h[r, j]
                    if activation == 1:
                        v = max(v, 0)
                    elif activation == 2:
                        v = math.tanh(v)
                    elif activation == 3:
                        v = 1 / (1 + math.exp(-v))
                    a[r, j] = v
            k = k_out


def _nearest(x, shift, weight, bias, labels, nearest, dist):
    # The tensor program's |x - m|^2 + (x - m) . weight[c] + bias[c], rows as vector lanes (a tile shifted and
    # transposed), four features of two centres a pass; the label is the first arg-min of the roots themselves.
    # Returns whether every nearest distance is finite (NaN or infinity in x reaches them).
    (n, d), k, tile = x.shape, weight.shape[0], 128  # a constant tile: whole vector loops
    w, b = np.zeros((k + k % 2, d + -d % 4), x.dtype), np.full(k + k % 2, np.inf, x.dtype)
    w[:k, :d], b[:k] = weight, bias  # centres in pairs (an infinite one is never nearest), features in fours
    xt, sq, acc = np.zeros((w.shape[1], tile), x.dtype), np.empty(tile, x.dtype), np.empty((2, tile), x.dtype)
    (a0, a1), best, label, zero = acc, np.empty(tile, x.dtype), np.empty(tile, np.int32), x.dtype.type(0)
    finite = True
    for start in range(0, n, tile):
        m = min(tile, n - start)
        for r in range(m):
            for f in range(d):
                xt[f, r] = x[start + r, f] - shift[f]
        sq[:], best[:], label[:] = 0, np.inf, 0
        for f in range(d):  # |x - m|^2 along rows (along each row it would be one long chain)
            for r in range(tile):
                sq[r] += xt[f, r] * xt[f, r]
        for c in range(0, w.shape[0], 2):
            a0[:], a1[:] = b[c], b[c + 1]
            for f in range(0, w.shape[1], 4):
                u0, u1, u2, u3 = w[c, f], w[c, f + 1], w[c, f + 2], w[c, f + 3]
                v0, v1, v2, v3 = w[c + 1, f], w[c + 1, f + 1], w[c + 1, f + 2], w[c + 1, f + 3]
                for r in range(tile):
                    a0[r] = a0[r] + xt[f, r] * u0 + xt[f + 1, r] * u1 + xt[f + 2, r] * u2 + xt[f + 3, r] * u3
                    a1[r] = a1[r] + xt[f, r] * v0 + xt[f + 1, r] * v1 + xt[f + 2, r] * v2 + xt[f + 3, r] * v3
            for r in range(tile):  # a square below zero (rounding) is zero; NaN stays NaN
                e0, e1 = a0[r] + sq[r], a1[r] + sq[r]
                a0[r], a1[r] = np.sqrt(zero if e0 < zero else e0), np.sqrt(zero if e1 < zero else e1)
                closer = a0[r] < best[r]
                o, e = c if closer else label[r], a0[r] if closer else best[r]
                closer = a1[r] < e
                label[r], best[r] = c + 1 if closer else o, a1[r] if closer else e
            if dist.shape[0]:
                dist[start:start + m, c:c + 2] = acc[:min(2, k - c), :m].T
        for r in range(m):
            finite &= best[r] - best[r] == 0
        labels[start:start + m], nearest[start:start + m] = label[:m], best[:m]
    return finite


def _cat_right(v, row, bitsets, right):
    # A categorical split sends the categories in its bitset left (NaN keeps the missing rule).
    if row < 0 or v != v:
        return right
    code = int(v)
    return (bitsets[row, code >> 5] >> (code & 31)) & 1 == 0


def _trees(x, roots, depth, feature, threshold, left, nan_right, cat, bitsets, categorical, value,
           base, heap_split, heap_node, used, out):
    # A block of rows walks every tree: the (tree, row) walks go eight at a time as explicit chains,
    # whose independent loads keep the CPU busy (eight rows of a tree; a few rows walk eight trees
    # side by side). A group stops when all eight reach leaves (leaves point to themselves). Only
    # blocks holding a NaN pay for the missing-value rule. In the others (float32 x), eight rows of a
    # tree first walk its top levels as a complete binary tree (``_trees.top_levels``): no child
    # pointers or leaf tests, and a node's feature and threshold in one load (``heap_split``: the
    # feature's position in ``used`` above the threshold's bits made unsigned in float order; the
    # used columns of x become such keys as a block is read). Sums start from ``base``. Returns
    # whether x holds no infinity (which scikit-learn's classic trees refuse).
    n, d = x.shape
    n_trees, n_out = roots.shape[0], value.shape[1]
    rows, trees = np.empty(8, np.int64), np.empty(8, np.int64)
    keys = np.empty((min(n, 256), len(used)), np.int64)  # the used columns only: x may be wide
    infinite = False
    for start in range(0, n, 256):
        stop = min(n, start + 256)
        nan_rows = False
        for i in range(start, stop):
            out[i] = base
            for f in range(d):
                nan_rows |= x[i, f] != x[i, f]
                infinite |= abs(x[i, f]) == np.inf
        heap = stop - start >= 8 and not (nan_rows or categorical) and x.itemsize == 4
        if heap:
            bits = x[start:stop].view(np.int32)
            for i in range(stop - start):
                for u in range(len(used)):
                    b = np.int64(bits[i, used[u]])
                    keys[i, u] = (b ^ 0x7FFFFFFF if b < 0 else b) + 2 ** 31
        t, r, count = 0, start, n_trees * (stop - start)
        for group in range(0, count, 8):
            if r + 8 <= stop:  # eight rows of one tree, the common case
                i0, i1, i2, i3, i4, i5, i6, i7 = r, r + 1, r + 2, r + 3, r + 4, r + 5, r + 6, r + 7
                k0 = k1 = k2 = k3 = k4 = k5 = k6 = k7 = roots[t]
                steps = depth[t]
                if heap:
                    p, j, k0 = heap_split[t], r - start, 1
                    k1 = k2 = k3 = k4 = k5 = k6 = k7 = 1
                    for _ in range(heap_node[t, 0]):
                        q0 = p[k0]; q1 = p[k1]; q2 = p[k2]; q3 = p[k3]; q4 = p[k4]; q5 = p[k5]; q6 = p[k6]; q7 = p[k7]
                        k0 = 2 * k0 + (keys[j, q0 >> 32] > (q0 & 0xFFFFFFFF))
                        k1 = 2 * k1 + (keys[j + 1, q1 >> 32] > (q1 & 0xFFFFFFFF))
                        k2 = 2 * k2 + (keys[j + 2, q2 >> 32] > (q2 & 0xFFFFFFFF))
                        k3 = 2 * k3 + (keys[j + 3, q3 >> 32] > (q3 & 0xFFFFFFFF))
                        k4 = 2 * k4 + (keys[j + 4, q4 >> 32] > (q4 & 0xFFFFFFFF))
                        k5 = 2 * k5 + (keys[j + 5, q5 >> 32] > (q5 & 0xFFFFFFFF))
                        k6 = 2 * k6 + (keys[j + 6, q6 >> 32] > (q6 & 0xFFFFFFFF))
                        k7 = 2 * k7 + (keys[j + 7, q7 >> 32] > (q7 & 0xFFFFFFFF))
                    node = heap_node[t]
                    k0, k1, k2, k3, k4, k5, k6, k7 = (node[k0], node[k1], node[k2], node[k3], node[k4],
                                                      node[k5], node[k6], node[k7])
                    steps -= heap_node[t, 0]
                r += 8
                if r == stop:
                    r, t = start, t + 1
            else:
                steps = 0
                for j in range(8):  # the next walks; past the last one, the last again (unsummed)
                    rows[j], trees[j] = r, t
                    steps = max(steps, depth[t])
                    if group + j + 1 < count:
                        r += 1
                        if r == stop:
                            r, t = start, t + 1
                i0, i1, i2, i3 = rows[0], rows[1], rows[2], rows[3]
                i4, i5, i6, i7 = rows[4], rows[5], rows[6], rows[7]
                k0, k1, k2, k3 = roots[trees[0]], roots[trees[1]], roots[trees[2]], roots[trees[3]]
                k4, k5, k6, k7 = roots[trees[4]], roots[trees[5]], roots[trees[6]], roots[trees[7]]
            for _ in range(steps):
                v0 = x[i0, feature[k0]]; v1 = x[i1, feature[k1]]
                v2 = x[i2, feature[k2]]; v3 = x[i3, feature[k3]]
                v4 = x[i4, feature[k4]]; v5 = x[i5, feature[k5]]
                v6 = x[i6, feature[k6]]; v7 = x[i7, feature[k7]]
                r0 = v0 > threshold[k0]; r1 = v1 > threshold[k1]
                r2 = v2 > threshold[k2]; r3 = v3 > threshold[k3]
                r4 = v4 > threshold[k4]; r5 = v5 > threshold[k5]
                r6 = v6 > threshold[k6]; r7 = v7 > threshold[k7]
                if nan_rows:
                    r0 |= (v0 != v0) & nan_right[k0]; r1 |= (v1 != v1) & nan_right[k1]
                    r2 |= (v2 != v2) & nan_right[k2]; r3 |= (v3 != v3) & nan_right[k3]
                    r4 |= (v4 != v4) & nan_right[k4]; r5 |= (v5 != v5) & nan_right[k5]
                    r6 |= (v6 != v6) & nan_right[k6]; r7 |= (v7 != v7) & nan_right[k7]
                if categorical:
                    r0 = _cat_right(v0, cat[k0], bitsets, r0); r1 = _cat_right(v1, cat[k1], bitsets, r1)
                    r2 = _cat_right(v2, cat[k2], bitsets, r2); r3 = _cat_right(v3, cat[k3], bitsets, r3)
                    r4 = _cat_right(v4, cat[k4], bitsets, r4); r5 = _cat_right(v5, cat[k5], bitsets, r5)
                    r6 = _cat_right(v6, cat[k6], bitsets, r6); r7 = _cat_right(v7, cat[k7], bitsets, r7)
                k0 = left[k0] + r0; k1 = left[k1] + r1; k2 = left[k2] + r2; k3 = left[k3] + r3
                k4 = left[k4] + r4; k5 = left[k5] + r5; k6 = left[k6] + r6; k7 = left[k7] + r7
                if ((left[k0] == k0) & (left[k1] == k1) & (left[k2] == k2) & (left[k3] == k3)
                        & (left[k4] == k4) & (left[k5] == k5) & (left[k6] == k6) & (left[k7] == k7)):
                    break
            if count - group >= 8:
                for c in range(n_out):
                    out[i0, c] += value[k0, c]; out[i1, c] += value[k1, c]
                    out[i2, c] += value[k2, c]; out[i3, c] += value[k3, c]
                    out[i4, c] += value[k4, c]; out[i5, c] += value[k5, c]
                    out[i6, c] += value[k6, c]; out[i7, c] += value[k7, c]
                continue
            walks, nodes = (i0, i1, i2, i3, i4, i5, i6, i7), (k0, k1, k2, k3, k4, k5, k6, k7)
            for j in range(count - group):
                for c in range(n_out):
                    out[walks[j], c] += value[nodes[j], c]
    return not infinite


if AVAILABLE:
    _cat_right = numba.njit(inline="always")(_cat_right)
linear = _jit(_linear)
mlp = _jit(_mlp)
nearest = _jit(_nearest)
trees = _jit(_trees)
