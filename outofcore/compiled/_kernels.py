"""CPU kernels, one per model family, compiled by numba: the alternative to the tensor program on CPU.

A head uses its family's kernel on the CPU when numba can run in the process (chosen once, when
the compiled model is built); the tensor program stays the reference, and what GPUs and ONNX
export run. A kernel reads the same arrays as the tensor program and returns what it returns
(scores, logits, raw sums of leaf values, nearest centres), so links and labels are shared.

Each kernel is serial and releases the GIL; :func:`run` cuts a batch into one contiguous part per
thread (``torch.get_num_threads()``), and runs a small batch in the calling thread. numba compiles
a kernel on its first call for the dtypes given (float32 and float64 inputs) and caches it on
disk.
"""

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


def _usable_numba():
    """numba, if it imports and can run a compiled function in this process; else None.

    numba unpickles its own in-process data on a function's first call, so a process that
    forbids pickle (a locked-down serving process) cannot run its kernels: heads then run their
    tensor programs.
    """
    try:
        import numba

        numba.njit(nogil=True)(_probe)(np.zeros(2))
    except Exception:  # any failure means the kernels cannot run here: use the tensor programs
        return None
    return numba


def _probe(x):
    for i in range(x.shape[0]):
        x[i] += 1.0
    return x


numba = _usable_numba()
AVAILABLE = numba is not None
# Rows below which a batch runs in the calling thread: handing parts to threads costs tens of
# microseconds, more than the work.
_PARALLEL_ROWS = 4096
_POOL = {}
_POOL_LOCK = threading.Lock()


def _pool(threads):
    with _POOL_LOCK:
        pool = _POOL.get(threads)
        if pool is None:
            pool = _POOL[threads] = ThreadPoolExecutor(threads, thread_name_prefix="outofcore-kernel")
        return pool


def run(kernel, x, consts, outs):
    """``kernel(x, *consts, *outs)`` over the rows of ``x`` and ``outs``, split across threads."""
    n = x.shape[0]
    threads = min(torch.get_num_threads(), max(1, n // _PARALLEL_ROWS))
    if threads <= 1:
        kernel(x, *consts, *outs)
        return outs
    bounds = np.linspace(0, n, threads + 1).astype(int)
    parts = [_pool(threads).submit(kernel, x[a:b], *consts, *[o[a:b] for o in outs])
             for a, b in zip(bounds[:-1], bounds[1:])]
    for part in parts:
        part.result()
    return outs


def _jit(fn):
    # reassoc and contract only: sums may be reordered and fused, but NaN and infinity keep their
    # meaning (the checks and the trees' NaN routing rely on them). Compiled code is cached on
    # disk; a process where numba cannot run (no pickle) never gets this far.
    return numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})(fn) if AVAILABLE else None


def _linear(x, wt, b, out):
    # out = x @ wt.T + b. Four rows at a time: four independent sums keep the multiply-adds busy
    # while the next rows load.
    n, d = x.shape
    for c in range(wt.shape[0]):
        w = wt[c]
        i = 0
        while i + 4 <= n:
            s0 = s1 = s2 = s3 = x.dtype.type(0)
            for f in range(d):
                s0 += x[i, f] * w[f]
                s1 += x[i + 1, f] * w[f]
                s2 += x[i + 2, f] * w[f]
                s3 += x[i + 3, f] * w[f]
            out[i, c], out[i + 1, c], out[i + 2, c], out[i + 3, c] = s0 + b[c], s1 + b[c], s2 + b[c], s3 + b[c]
            i += 4
        for r in range(i, n):
            s = x.dtype.type(0)
            for f in range(d):
                s += x[r, f] * w[f]
            out[r, c] = s + b[c]


# Hidden-layer activations by code (the MLP kernel's ``activation`` argument).
ACTIVATIONS = {"identity": 0, "relu": 1, "tanh": 2, "logistic": 3}


def _mlp(x, weights, shapes, biases, activation, fused, out):
    # An MLP's layers over tiles of rows: a tile's layer outputs stay in L1 while the next layer
    # reads them, and the inner loop runs along a weight row. Layer l's weights are
    # ``weights[w0:w0 + k * k_out]`` (row-major, shape ``shapes[l]``), its biases follow in turn.
    n = x.shape[0]
    width = max(x.shape[1], shapes.max())
    tile = 16
    a = np.empty((tile, width), x.dtype)
    h = np.empty((tile, width), x.dtype)
    last = shapes.shape[0] - 1
    for start in range(0, n, tile):
        m = min(tile, n - start)
        k = x.shape[1]
        for r in range(m):
            a[r, :k] = x[start + r]
        w0 = b0 = 0
        for layer in range(last + 1):
            k_out = shapes[layer, 1]
            for r in range(m):
                h[r, :k_out] = biases[b0:b0 + k_out]
                if layer == 0 and fused:
                    for j in range(k_out):
                        h[r, j] += a[r, j]
                    continue
                for i in range(k):
                    ai = a[r, i]
                    row = w0 + i * k_out
                    for j in range(k_out):
                        h[r, j] += ai * weights[row + j]
            w0 += shapes[layer, 0] * k_out
            b0 += k_out
            if layer == last:
                for r in range(m):
                    out[start + r] = h[r, :k_out]
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


def _nearest(x, centers, labels, best, dist):
    # Distance to every centre by direct differences (no |x|^2 - 2x.c + |c|^2 expansion, which
    # cancels in float32 far from the origin), as the tensor program computes it; the label is
    # the first centre of least distance, the arg-min of the distances transform returns. A row
    # with no finite distance (a NaN or infinite feature) keeps best = inf.
    n, d = x.shape
    k = centers.shape[0]
    tile = 64
    xt = np.empty((d, tile), x.dtype)
    acc = np.empty(tile, x.dtype)
    nearest = np.empty(tile, x.dtype)
    for start in range(0, n, tile):
        m = min(tile, n - start)
        for r in range(m):
            for f in range(d):
                xt[f, r] = x[start + r, f]
            best[start + r] = np.inf
            labels[start + r] = 0
        nearest[:] = np.inf
        for c in range(k):
            acc[:] = 0
            for f in range(d):
                cf = centers[c, f]
                for r in range(tile):
                    t = xt[f, r] - cf
                    acc[r] += t * t
            for r in range(m):
                root = math.sqrt(acc[r])
                if dist.shape[0]:
                    dist[start + r, c] = root
                if root < nearest[r]:
                    nearest[r] = root
                    best[start + r] = acc[r]
                    labels[start + r] = c


def _trees(x, roots, depth, left, feature, threshold, nan_right, cat, bitsets, categorical, value, out):
    # Each tree walks a block of rows eight at a time: eight independent chains of loads keep the
    # CPU busy while each waits for its node, and a group stops as soon as all eight reach leaves
    # (a leaf points to itself, so walking on is harmless). ``out`` holds the base score on entry.
    n = x.shape[0]
    block = 256
    nodes = np.empty(8, np.int64)
    for start in range(0, n, block):
        stop = min(n, start + block)
        for t in range(roots.shape[0]):
            root, steps = roots[t], depth[t]
            i = start
            while i < stop:
                m = min(8, stop - i)
                for j in range(8):
                    nodes[j] = root
                for _ in range(steps):
                    done = True
                    for j in range(m):
                        k = nodes[j]
                        v = x[i + j, feature[k]]
                        right = (v > threshold[k]) | ((v != v) & nan_right[k])
                        if categorical and cat[k] >= 0 and v == v:
                            code = int(v)
                            right = (bitsets[cat[k], code >> 5] >> (code & 31)) & 1 == 0
                        nodes[j] = left[k] + right
                        done &= left[nodes[j]] == nodes[j]
                    if done:
                        break
                for j in range(m):
                    for c in range(value.shape[1]):
                        out[i + j, c] += value[nodes[j], c]
                i += 8


linear = _jit(_linear)
mlp = _jit(_mlp)
nearest = _jit(_nearest)
trees = _jit(_trees)
