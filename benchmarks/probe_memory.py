"""Where the peak RSS of outofcore's 5M-row fit goes (benchmarks/README.md, table 4).

Run from the repository root after ``bench_fit.py`` made its data (``/tmp/outofcore-bench``):

    python benchmarks/probe_memory.py imports                       # RSS after each import of the chain
    python benchmarks/probe_memory.py scaler  [--data D] [...]       # StandardScaler().fit(X) alone
    python benchmarks/probe_memory.py fit     [--data D] [...]       # the pipeline fit: stats pass, then one epoch
options: --dtype float32|float64, --prefetch N, --workers N (dask threads), --tracemalloc,
         --mallinfo, --warm (tiny fit first: lazy imports/code paths before the clock),
         --trim (malloc_trim(0) after imports), --curve FILE (write the samples)
Prints one RESULT json line.
"""
import argparse
import ctypes
import gc
import json
import os
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20
_statm = open("/proc/self/statm", "rb", buffering=0)


def rss_mb():
    _statm.seek(0)
    return int(_statm.read().split()[1]) * PAGE / MB


def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[k] = int(v.split()[0]) / 1024 if k != "Threads" else int(v)
    return out


def reset_hwm():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


libc = ctypes.CDLL("libc.so.6")


class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                 "usmblks", "fsmblks", "uordblks", "fordblks",
                                                 "keepcost")]


libc.mallinfo2.restype = Mallinfo2


def mallinfo():
    m = libc.mallinfo2()
    # arena: heap bytes obtained by sbrk/arenas (non-mmapped); hblkhd: mmapped chunks;
    # uordblks: in use in the heap; fordblks: free but kept in the heap.
    return dict(heap=m.arena / MB, mmapped=m.hblkhd / MB, heap_used=m.uordblks / MB,
                heap_free=m.fordblks / MB)


# --------------------------------------------------------------------------- live-object tracking
class Live:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = {}
        self.bytes = {}
        self.max_n = {}

    def add(self, kind, obj, nbytes):
        import weakref
        with self.lock:
            self.n[kind] = self.n.get(kind, 0) + 1
            self.bytes[kind] = self.bytes.get(kind, 0) + nbytes
            self.max_n[kind] = max(self.max_n.get(kind, 0), self.n[kind])
        weakref.finalize(obj, self.drop, kind, nbytes)

    def drop(self, kind, nbytes):
        with self.lock:
            self.n[kind] -= 1
            self.bytes[kind] -= nbytes

    def snap(self):
        with self.lock:
            return {k: (self.n[k], round(self.bytes[k] / MB, 1)) for k in self.n}


LIVE = Live()
PHASE = ["setup"]


def instrument():
    """Wrap outofcore's block functions (in this process only) to count live blocks."""
    import outofcore.io.convert as convert
    import outofcore.io.table_tasks as tasks
    import outofcore.training.sources as sources
    import outofcore.training.steps as steps

    orig_read = tasks.read_block

    def read_block(*a, **k):
        out = orig_read(*a, **k)
        t = out[0]
        LIVE.add("arrow_table", t, t.nbytes)
        return out
    tasks.read_block = read_block

    orig_matrix = convert.matrix

    def matrix(*a, **k):
        out = orig_matrix(*a, **k)
        if k.get("out") is None and (len(a) < 5 or a[4] is None):
            LIVE.add("matrix", out, out.nbytes)
        return out
    convert.matrix = matrix

    orig_rows = steps._rows

    def rows(a, index):
        out = orig_rows(a, index)
        if getattr(out, "ndim", 1) == 2:
            LIVE.add("shuffled", out, out.nbytes)
        return out
    steps._rows = rows

    orig_produce = sources.LocalBlocks._produce
    inflight = [0, 0]

    def produce(self, *a, **k):
        with LIVE.lock:
            inflight[0] += 1
            inflight[1] = max(inflight[1], inflight[0])
        try:
            return orig_produce(self, *a, **k)
        finally:
            with LIVE.lock:
                inflight[0] -= 1
    sources.LocalBlocks._produce = produce
    LIVE.inflight = inflight

    import outofcore as ooc
    Inc = ooc.Incremental
    orig_fit = Inc._fit

    def _fit(self, *a, **k):
        PHASE[0] = "epoch"
        SAMPLER.mark("epoch")
        return orig_fit(self, *a, **k)
    Inc._fit = _fit


# ------------------------------------------------------------------------------------ sampler
class Sampler(threading.Thread):
    def __init__(self, period=0.01, tracemalloc=False, malloc=False, arrow=True):
        super().__init__(daemon=True)
        self.period, self.tm, self.malloc, self.arrow = period, tracemalloc, malloc, arrow
        self.samples, self.marks, self.stop = [], [], threading.Event()
        self.t0 = time.perf_counter()

    def mark(self, name):
        self.marks.append((time.perf_counter() - self.t0, name))

    def sample(self):
        st = status()
        s = dict(t=time.perf_counter() - self.t0, rss=st["VmRSS"], anon=st["RssAnon"],
                 file=st["RssFile"], threads=st["Threads"], phase=PHASE[0])
        if self.arrow and "pyarrow" in sys.modules:
            import pyarrow as pa
            s["arrow"] = pa.total_allocated_bytes() / MB
        if self.tm:
            import tracemalloc
            s["traced"] = tracemalloc.get_traced_memory()[0] / MB
        if self.malloc:
            s.update(mallinfo())
        s["live"] = LIVE.snap()
        s["producing"] = getattr(LIVE, "inflight", [0])[0]
        return s

    def run(self):
        while not self.stop.is_set():
            self.samples.append(self.sample())
            time.sleep(self.period)

    def finish(self):
        self.stop.set()
        self.join()
        self.samples.append(self.sample())


SAMPLER = None


def import_chain():
    if "--nosparse" in sys.argv:  # pydata/sparse (dask-glm's, from dask-ml) drags numba in
        sys.modules["sparse"] = None
    steps = []
    gc.collect()
    steps.append(("python", rss_mb()))
    for name in ("numpy", "pyarrow", "pyarrow.parquet", "pandas", "dask", "dask.array",
                 "sklearn", "sklearn.linear_model", "sklearn.pipeline", "outofcore"):
        __import__(name)
        gc.collect()
        steps.append((name, rss_mb()))
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _harness
    _harness.import_outofcore()
    gc.collect()
    steps.append(("outofcore names (import_outofcore)", rss_mb()))
    return steps


def main():
    global SAMPLER
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["imports", "scaler", "fit"])
    p.add_argument("--data", default="/tmp/outofcore-bench/fit5m/train")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--prefetch", type=int, default=2)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--block-rows", type=int, default=0)
    p.add_argument("--tracemalloc", action="store_true")
    p.add_argument("--mallinfo", action="store_true")
    p.add_argument("--warm", action="store_true")
    p.add_argument("--trim", action="store_true")
    p.add_argument("--curve")
    p.add_argument("--nosparse", action="store_true")
    p.add_argument("--period", type=float, default=0.01)
    a = p.parse_args()

    chain = import_chain()
    res = dict(mode=a.mode, chain=[(n, round(v, 1)) for n, v in chain])
    if a.mode == "imports":
        res["status"] = status()
        res["mallinfo"] = mallinfo()
        libc.malloc_trim(0)
        res["after_trim"] = rss_mb()
        print("RESULT " + json.dumps(res))
        return

    import pyarrow as pa
    import dask
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    import outofcore as ooc

    res["pool"] = pa.default_memory_pool().backend_name
    if a.workers:
        dask.config.set(num_workers=a.workers)
    kw = dict(target="target", exclude=["id"], dtype=a.dtype)
    if a.block_rows:
        kw["block_rows"] = a.block_rows

    def build():
        return make_pipeline(ooc.StandardScaler(),
                             ooc.Incremental(SGDClassifier(random_state=0), classes=[0, 1],
                                             random_state=0, prefetch=a.prefetch))

    if a.warm:  # a tiny fit: the lazy imports and first-call costs, before the measured fit
        Xs, ys = ooc.read_parquet(os.path.join(os.path.dirname(a.data), "test"), **kw)
        build().fit(Xs, ys)
        del Xs, ys
    instrument()
    gc.collect()
    if a.trim:
        libc.malloc_trim(0)
    res["modules_before"] = len(sys.modules)
    res["before"] = dict(rss=rss_mb(), **status(), arrow=pa.total_allocated_bytes() / MB,
                         **mallinfo())
    reset_hwm()
    if a.tracemalloc:
        import tracemalloc
        tracemalloc.start(1)
    SAMPLER = Sampler(a.period, a.tracemalloc, a.mallinfo)
    SAMPLER.start()
    PHASE[0] = "stats"
    t = time.perf_counter()
    t_os = os.times()
    X, y = ooc.read_parquet(a.data, **kw)
    res["block"] = int(max(X.chunks[0]))
    res["n_blocks"] = len(X.chunks[0])
    if a.mode == "scaler":
        ooc.StandardScaler().fit(X)
    else:
        build().fit(X, y)
    res["seconds"] = time.perf_counter() - t
    t_end = os.times()
    res["user"], res["sys"] = t_end.user - t_os.user, t_end.system - t_os.system
    PHASE[0] = "done"
    SAMPLER.finish()
    res["hwm"] = status()["VmHWM"]
    res["arrow_pool_max"] = pa.default_memory_pool().max_memory() / MB
    res["arrow_after"] = pa.total_allocated_bytes() / MB
    if a.tracemalloc:
        res["traced_peak"] = tracemalloc.get_traced_memory()[1] / MB
    res["inflight_max"] = getattr(LIVE, "inflight", [0, 0])[1]
    res["live_max"] = LIVE.max_n
    gc.collect()
    res["after"] = dict(rss=rss_mb(), **status(), **mallinfo())
    res["modules_after"] = len(sys.modules)
    libc.malloc_trim(0)
    res["after_trim"] = rss_mb()
    pa.default_memory_pool().release_unused()
    res["after_release"] = rss_mb()
    s = SAMPLER.samples
    peak = max(s, key=lambda x: x["rss"])
    res["peak_sample"] = peak
    for ph in ("stats", "epoch"):
        sub = [x for x in s if x["phase"] == ph]
        if sub:
            pk = max(sub, key=lambda x: x["rss"])
            res[f"peak_{ph}"] = pk
            res[f"dur_{ph}"] = sub[-1]["t"] - sub[0]["t"]
            if "arrow" in pk:
                res[f"max_arrow_{ph}"] = max(x["arrow"] for x in sub)
            if "traced" in pk:
                res[f"max_traced_{ph}"] = max(x["traced"] for x in sub)
    res["marks"] = SAMPLER.marks
    if a.curve:
        with open(a.curve, "w") as f:
            json.dump(s, f)
    print("RESULT " + json.dumps(res, default=str))


if __name__ == "__main__":
    main()
