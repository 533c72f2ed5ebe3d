"""Nearest-centre labels on CPU from a kernel written in LLVM IR and compiled in process.

k-means ``predict`` is ``argmin_c (b[c] + w[c] . x)`` over a few centres. numba's loops keep a
row's scores in memory or in scalar registers (its arrays carry run-time sizes, so LLVM does not
pack them into vectors), and a matrix product writes an ``n x k`` score matrix that the arg-min
reads back. Written in IR, all of a row's scores live in one vector (``<k x float>``: one register
of 16 float32 lanes with AVX-512, two with AVX2; LLVM splits wider vectors), so a row costs ``d``
fused multiply-adds of a broadcast feature with a row of ``w.T``, a vector minimum and a
trailing-zero count. A few rows run side by side so the multiply-add chains overlap.

Measured on 1M x 20 float32 rows, 16 centres, 2 threads (Zen 4): 4-6 ms, against 16 ms for the
numba tile kernel and 19-30 ms for scikit-learn. The kernel is specialised on the number of
centres and the dtype, compiled once per process (~20 ms) by llvmlite (numba's own code
generator, so no new dependency) for the host CPU. Without llvmlite, or where it cannot compile
this IR (LLVM older than 15 reads no opaque pointers), :func:`labeller` returns None and the
caller keeps its other paths.

Ties go to the first centre, as ``argmin``; a row whose scores are all NaN or +inf (a NaN feature)
gets the last label, as the numba kernel and the tensor program give it.
"""

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# A row's scores may fill at most this many vector registers: beyond, they spill to memory and
# the kernel fell behind the numba tile kernel (256 float32 centres with AVX2: 219 against 163 ms
# on 1M rows; with AVX-512, 88 against 166 ms).
_MAX_REGISTERS = 16
# Below this many rows one thread does the whole batch: a hand-off to the pool costs tens of
# microseconds, the kernel ~5 ns a row.
_PARALLEL_ROWS = 1 << 15

_LOCK = threading.Lock()
_STATE = {}  # "engine", "wide" (AVX-512), compiled kernels by (k, dtype); "pool", "pid"
_FAILED = object()


def _engine():
    # One MCJIT engine per process: an engine owns its target machine, so it cannot be made twice
    # from one; each kernel is a module added to it.
    engine = _STATE.get("engine")
    if engine is None:
        try:
            import llvmlite.binding as ll

            ll.initialize_native_target()
            ll.initialize_native_asmprinter()
            features = ll.get_host_cpu_features()
            machine = ll.Target.from_default_triple().create_target_machine(
                cpu=ll.get_host_cpu_name(), features=features.flatten(), opt=3,
                codemodel="jitdefault")
            engine = ll.create_mcjit_compiler(ll.parse_assembly(""), machine)
            _STATE["wide"] = bool(features.get("avx512f"))
        except Exception:  # no llvmlite, or no native target: the callers' other paths run
            engine = _FAILED
        _STATE["engine"] = engine
    return None if engine is _FAILED else engine


def kernel_ir(name, k, dtype, rows):
    """IR of ``void name(x, n, d, w_t, b, out)`` (addresses as i64) labelling ``n`` rows.

    ``w_t`` is ``(d, kp)`` and ``b`` ``(kp,)`` with ``kp = padded(k)``; padded lanes hold a zero
    weight and a +inf bias, so they never win. ``rows`` rows share one pass over ``w_t``; the rest
    go one at a time.
    """
    kp = padded(k)
    t = "float" if np.dtype(dtype) == np.float32 else "double"
    size = np.dtype(dtype).itemsize
    v = f"<{kp} x {t}>"
    sfx = f"v{kp}f{size * 8}"
    inf = "0x7FF0000000000000"  # +inf in LLVM's hexadecimal double notation, for either width
    mask = f"<{kp} x i1>"
    # The first lane's index, an i{kp}, as the i32 label (kp is 8 to 64).
    widen = "zext" if kp < 32 else "trunc"

    def splat(out, scalar):
        return [f"  {out}.e = insertelement {v} poison, {t} {scalar}, i32 0",
                f"  {out} = shufflevector {v} {out}.e, {v} poison, <{kp} x i32> zeroinitializer"]

    def loop(tag, n_rows):
        # Labels rows i .. i + n_rows - 1, then returns to the check of its loop.
        lines = [f"{tag}.pre:"]
        for r in range(n_rows):
            lines += [f"  %{tag}.i{r} = add i64 %{tag}.i, {r}",
                      f"  %{tag}.row{r} = mul i64 %{tag}.i{r}, %d"]
        lines += [f"  br label %{tag}.f", f"{tag}.f:",
                  f"  %{tag}.j = phi i64 [0, %{tag}.pre], [%{tag}.j1, %{tag}.f]"]
        lines += [f"  %{tag}.acc{r} = phi {v} [%bias, %{tag}.pre], [%{tag}.fma{r}, %{tag}.f]"
                  for r in range(n_rows)]
        lines += [f"  %{tag}.wo = mul i64 %{tag}.j, {kp}",
                  f"  %{tag}.wp = getelementptr {t}, ptr %w, i64 %{tag}.wo",
                  f"  %{tag}.wv = load {v}, ptr %{tag}.wp, align {size}"]
        for r in range(n_rows):
            lines += [f"  %{tag}.xo{r} = add i64 %{tag}.row{r}, %{tag}.j",
                      f"  %{tag}.xp{r} = getelementptr {t}, ptr %x, i64 %{tag}.xo{r}",
                      f"  %{tag}.xs{r} = load {t}, ptr %{tag}.xp{r}, align {size}"]
            lines += splat(f"%{tag}.xv{r}", f"%{tag}.xs{r}")
            lines.append(f"  %{tag}.fma{r} = call {v} @llvm.fma.{sfx}({v} %{tag}.xv{r}, "
                         f"{v} %{tag}.wv, {v} %{tag}.acc{r})")
        lines += [f"  %{tag}.j1 = add i64 %{tag}.j, 1",
                  f"  %{tag}.jdone = icmp eq i64 %{tag}.j1, %d",
                  f"  br i1 %{tag}.jdone, label %{tag}.end, label %{tag}.f", f"{tag}.end:"]
        for r in range(n_rows):
            s = f"%{tag}.fma{r}"
            # NaN lanes become +inf so the minimum is taken over the others; the first lane equal
            # to it is the label, unless no score is below +inf.
            lines += [f"  %{tag}.nan{r} = fcmp uno {v} {s}, zeroinitializer",
                      f"  %{tag}.s{r} = select {mask} %{tag}.nan{r}, {v} %inf, {v} {s}",
                      f"  %{tag}.min{r} = call nnan {t} @llvm.vector.reduce.fmin.{sfx}"
                      f"({v} %{tag}.s{r})"]
            lines += splat(f"%{tag}.mv{r}", f"%{tag}.min{r}")
            lines += [f"  %{tag}.eq{r} = fcmp oeq {v} %{tag}.s{r}, %{tag}.mv{r}",
                      f"  %{tag}.bits{r} = bitcast {mask} %{tag}.eq{r} to i{kp}",
                      f"  %{tag}.first{r} = call i{kp} @llvm.cttz.i{kp}"
                      f"(i{kp} %{tag}.bits{r}, i1 0)",
                      f"  %{tag}.lab{r} = {widen} i{kp} %{tag}.first{r} to i32"
                      if kp != 32 else f"  %{tag}.lab{r} = add i32 %{tag}.first{r}, 0",
                      f"  %{tag}.ok{r} = fcmp olt {t} %{tag}.min{r}, {inf}",
                      f"  %{tag}.out{r} = select i1 %{tag}.ok{r}, i32 %{tag}.lab{r}, i32 {k - 1}",
                      f"  %{tag}.op{r} = getelementptr i32, ptr %o, i64 %{tag}.i{r}",
                      f"  store i32 %{tag}.out{r}, ptr %{tag}.op{r}, align 4"]
        lines += [f"  %{tag}.next = add i64 %{tag}.i, {n_rows}", f"  br label %{tag}.check"]
        return lines

    lines = [f"declare {v} @llvm.fma.{sfx}({v}, {v}, {v})",
             f"declare {t} @llvm.vector.reduce.fmin.{sfx}({v})",
             f"declare i{kp} @llvm.cttz.i{kp}(i{kp}, i1)",
             f"define void @{name}(i64 %xa, i64 %n, i64 %d, i64 %wa, i64 %ba, i64 %oa) nounwind {{",
             "entry:",
             "  %x = inttoptr i64 %xa to ptr", "  %w = inttoptr i64 %wa to ptr",
             "  %b = inttoptr i64 %ba to ptr", "  %o = inttoptr i64 %oa to ptr",
             f"  %bias = load {v}, ptr %b, align {size}",
             f"  %n.rest = urem i64 %n, {rows}",
             "  %n.blocks = sub i64 %n, %n.rest"]
    lines += splat("%inf", inf)
    lines += ["  br label %blk.check", "blk.check:",
              "  %blk.i = phi i64 [0, %entry], [%blk.next, %blk.end]",
              "  %blk.more = icmp slt i64 %blk.i, %n.blocks",
              "  br i1 %blk.more, label %blk.pre, label %one.check"]
    lines += loop("blk", rows)
    lines += ["one.check:",
              "  %one.i = phi i64 [%blk.i, %blk.check], [%one.next, %one.end]",
              "  %one.more = icmp slt i64 %one.i, %n",
              "  br i1 %one.more, label %one.pre, label %done"]
    lines += loop("one", 1)
    lines += ["done:", "  ret void", "}"]
    return "\n".join(lines)


def padded(k):
    """Lanes of a row's score vector: ``k`` rounded up to a power of two, at least 8. (LLVM
    splits such vectors into whole registers; a 104-lane vector measured 12x slower than 128.)"""
    return max(8, 1 << (k - 1).bit_length())


def _registers_per_row(k, dtype):
    lanes = (64 if _STATE["wide"] else 32) // np.dtype(dtype).itemsize
    return -(-padded(k) // lanes)


def _rows_side_by_side(k, dtype):
    # Enough rows that the multiply-add chains (4 cycles each) keep the FMA units busy, few
    # enough that their scores stay in registers (32 vector registers with AVX-512, 16 without).
    return max(1, min(8, (24 if _STATE["wide"] else 12) // _registers_per_row(k, dtype)))


def _compile(k, dtype):
    engine = _engine()
    if engine is None or k < 1 or _registers_per_row(k, dtype) > _MAX_REGISTERS:
        return None
    import llvmlite.binding as ll

    name = f"nearest_{k}_{np.dtype(dtype).name}"
    try:
        module = ll.parse_assembly(kernel_ir(name, k, dtype, _rows_side_by_side(k, dtype)))
        module.verify()
        engine.add_module(module)
        engine.finalize_object()
        address = engine.get_function_address(name)
    except Exception:  # an LLVM that does not read this IR: the callers' other paths run
        return None
    return ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 6)(address)


def labeller(k, dtype):
    """``fn(x, w_t, b, out, threads)`` writing nearest-centre labels, or None where the kernel
    cannot be built here (see the module docstring); compiled on first use, once per process."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        return None
    key = (k, dtype.name)
    with _LOCK:
        if key not in _STATE:
            _STATE[key] = _compile(k, dtype)
        kernel = _STATE[key]
    if kernel is None:
        return None

    def run(x, w_t, b, out, threads):
        n, d = x.shape
        # The kernel trusts these: anything else would read or write out of bounds (its loop
        # over features runs at least once, hence d >= 1).
        if not (d >= 1 and x.flags.c_contiguous and x.dtype == dtype and w_t.shape == (d, padded(k))
                and w_t.flags.c_contiguous and w_t.dtype == dtype and b.shape == (padded(k),)
                and b.dtype == dtype and out.shape == (n,) and out.dtype == np.int32
                and out.flags.c_contiguous):
            raise ValueError("nearest-centre kernel: arrays of the wrong shape, dtype or layout")
        step = x.strides[0]
        args = (w_t.ctypes.data, b.ctypes.data)
        if n < _PARALLEL_ROWS or threads <= 1:
            kernel(x.ctypes.data, n, d, *args, out.ctypes.data)
            return out
        # ctypes releases the GIL for the call, so the pool's threads run the kernel side by side.
        bounds = np.linspace(0, n, threads + 1).astype(np.int64)
        parts = [(x.ctypes.data + int(lo) * step, int(hi - lo), d, *args,
                  out.ctypes.data + int(lo) * 4) for lo, hi in zip(bounds[:-1], bounds[1:])]
        pool = _pool(threads - 1)
        futures = [pool.submit(kernel, *part) for part in parts[1:]]
        kernel(*parts[0])
        for future in futures:
            future.result()
        return out

    return run


def _pool(workers):
    # The calling thread runs one part itself; the pool runs the others. A forked child inherits
    # the pool object but not its threads: it makes its own.
    with _LOCK:
        pool = _STATE.get("pool")
        if pool is None or _STATE["pid"] != os.getpid() or _STATE["workers"] < workers:
            if pool is not None and _STATE["pid"] == os.getpid():
                pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(workers, thread_name_prefix="outofcore-nearest")
            _STATE.update(pool=pool, pid=os.getpid(), workers=workers)
    return pool


def prepare(w, b, dtype):
    """``w.T`` and ``b`` padded to the kernel's lanes (zero weights, +inf bias), C-contiguous."""
    k, d = w.shape
    kp = padded(k)
    w_t = np.zeros((d, kp), dtype)
    w_t[:, :k] = np.asarray(w).T
    bias = np.full(kp, np.inf, dtype)
    bias[:k] = b
    return w_t, bias
