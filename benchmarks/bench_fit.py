"""One epoch of Pipeline(StandardScaler, SGDClassifier) over parquet files, against alternatives.

Every contender learns from the same files in its own process, the rounds alternate, and the table
gives the median fit time, peak RSS, held-out accuracy and the ratio to outofcore. Two floors run
in the same rounds: reading the files into numpy blocks, and ``SGDClassifier.partial_fit`` alone on
standardized float64 blocks already in memory (what learning costs with no I/O at all).

    python benchmarks/bench_fit.py                       # contenders and floors, 5M x 20
    python benchmarks/bench_fit.py --layout float64-file # the same rows as one float64 file
    python benchmarks/bench_fit.py --variants            # dtype, block size, scheduler, epochs
    python benchmarks/bench_fit.py --scaling 1 8 20      # peak RSS against rows (millions)
    python benchmarks/bench_fit.py --scaling 100 --layout float64-file  # 100M rows, 16 GB file
    python benchmarks/bench_fit.py --csv 20              # CSV rows/s beside parquet (millions)
    python benchmarks/bench_fit.py --source ../other     # add outofcore from another checkout

Data sets live under ``--data`` (default /tmp/outofcore-bench) and are generated on first use.
dask-ml is a benchmark extra: ``pip install dask-ml``.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

CONTENDERS = ["outofcore", "sklearn-loop", "dask-ml", "sklearn-memory"]
FLOORS = ["floor-read", "floor-sgd"]
TARGET = "target"
SEED = 0


# ------------------------------------------------------------------------------- child: helpers
def _warm_imports():
    """Import every library any contender uses before its clock starts: imports are not fitting."""
    import importlib

    for name in ("dask.array", "dask.dataframe", "pyarrow.parquet", "sklearn.linear_model",
                 "sklearn.preprocessing"):
        importlib.import_module(name)


def _features(path):
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    return [n for n in names if n not in ("id", TARGET)]


def _sgd():
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(random_state=SEED)


def _test_set(test, dtype):
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(h.files(test))
    names = _features(h.files(test)[0])
    X = np.column_stack([table.column(n).to_numpy() for n in names]).astype(dtype)
    return X, table.column(TARGET).to_numpy()


def _arrow_blocks(paths, batch_rows, dtype):
    """(X, y) numpy blocks of the parts, batch by batch, built as a user's loop builds them."""
    import numpy as np
    import pyarrow.parquet as pq

    names = _features(paths[0])
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_rows, columns=names + [TARGET]):
            X = np.column_stack([batch.column(n).to_numpy() for n in names]).astype(dtype)
            yield X, batch.column(TARGET).to_numpy()


# ---------------------------------------------------------------------------- child: contenders
def run_outofcore(args):
    import pandas as pd
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc

    # Imports happen before the clock, as every other contender's do (dask-ml's imports load
    # dask.array and dask.dataframe): outofcore's names load lazily, dask.array on first use.
    h.import_outofcore()
    client = _client(args)
    start, cpu = time.perf_counter(), time.process_time()
    reader = ooc.read_csv if args.format == "csv" else ooc.read_parquet
    # With the read's cache, the statistics pass decodes each block and the epochs reuse it.
    X, y = reader(args.train, target=TARGET, exclude=["id"], dtype=args.dtype,
                  block_rows=args.block_rows, cache=args.cache == "on")
    model = make_pipeline(
        ooc.StandardScaler(),
        ooc.Incremental(_sgd(), epochs=args.epochs, classes=[0, 1], random_state=SEED,
                        n_replicas=args.replicas, merge_every=args.merge_every or None))
    model.fit(X, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    epochs = [e["seconds"] for e in model[-1].history_]
    peak = h.peak_rss_mb()
    _close(client)
    X_test, y_test = _test_set(args.test, args.dtype)
    # The pipeline learned the feature names from read_parquet; it is scored on the same names.
    X_test = pd.DataFrame(X_test, columns=_features(h.files(args.test)[0]), copy=False)
    return dict(seconds=seconds, cpu=cpu, rows=int(X.shape[0]), block=max(X.chunks[0]),
                accuracy=model.score(X_test, y_test), first_epoch=epochs[0],
                last_epoch=epochs[-1], peak_mb=peak)


def _client(args):
    if args.scheduler != "cluster":
        return None
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    # A cluster outlives a fit: its workers import what the tasks need before the clock, as
    # this process did (h.import_outofcore).
    client.run(_warm_worker)
    return client


def _warm_worker():
    import sklearn.linear_model  # noqa: F401

    import outofcore.io.readers  # noqa: F401
    import outofcore.preprocessing.scalers  # noqa: F401
    import outofcore.training.incremental  # noqa: F401


def _close(client):
    if client is not None:
        cluster = client.cluster
        client.close()
        cluster.close()


def run_sklearn_loop(args):
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    paths = h.files(args.train)
    start, cpu = time.perf_counter(), time.process_time()
    scaler, sgd, rows = StandardScaler(), _sgd(), 0
    for X, _ in _arrow_blocks(paths, args.block_rows, args.dtype):
        scaler.partial_fit(X)
    for X, y in _arrow_blocks(paths, args.block_rows, args.dtype):
        sgd.partial_fit(scaler.transform(X), y, classes=np.array([0, 1]))
        rows += len(X)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    X_test, y_test = _test_set(args.test, args.dtype)
    return dict(seconds=seconds, cpu=cpu, rows=rows,
                accuracy=sgd.score(scaler.transform(X_test), y_test),
                peak_mb=h.peak_rss_mb())


def run_sklearn_memory(args):
    import numpy as np
    import pyarrow.parquet as pq
    from sklearn.preprocessing import StandardScaler

    paths = h.files(args.train)
    names = _features(paths[0])
    start, cpu = time.perf_counter(), time.process_time()
    table = pq.read_table(paths, columns=names + [TARGET])
    X = table.select(names).to_pandas().to_numpy(args.dtype)
    y = table.column(TARGET).to_numpy()
    del table
    scaler = StandardScaler()
    Xs = scaler.fit_transform(X)
    sgd = _sgd().partial_fit(Xs, y, classes=np.array([0, 1]))  # one epoch over every row
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    X_test, y_test = _test_set(args.test, args.dtype)
    return dict(seconds=seconds, cpu=cpu, rows=len(X),
                accuracy=sgd.score(scaler.transform(X_test), y_test),
                peak_mb=h.peak_rss_mb())


def run_dask_ml(args):
    import dask.dataframe as dd
    import numpy as np
    from dask_ml.preprocessing import StandardScaler
    from dask_ml.wrappers import Incremental

    start, cpu = time.perf_counter(), time.process_time()
    frame = dd.read_parquet(args.train)
    names = [c for c in frame.columns if c not in ("id", TARGET)]
    # One projection, split after: X and y from separate projections get different partitions.
    both = frame[names + [TARGET]].to_dask_array(lengths=True)
    X, y = both[:, :-1].astype(args.dtype), both[:, -1].astype("int64")
    scaler = StandardScaler()
    Xs = scaler.fit_transform(X)
    model = Incremental(_sgd(), random_state=SEED, shuffle_blocks=True)
    model.fit(Xs, y, classes=np.array([0, 1]))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    X_test, y_test = _test_set(args.test, args.dtype)
    Xt = (X_test - scaler.mean_) / scaler.scale_
    return dict(seconds=seconds, cpu=cpu, rows=int(X.shape[0]),
                accuracy=float(np.mean(model.estimator_.predict(Xt) == y_test)),
                peak_mb=h.peak_rss_mb())


def run_floor_read(args):
    """Reading every part into float numpy blocks: pyarrow decode plus one copy per column."""
    import numpy as np
    import pyarrow.parquet as pq

    paths = h.files(args.train)
    names = _features(paths[0])
    start, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(args.block_rows, columns=names + [TARGET]):
            X = np.empty((len(names), batch.num_rows), dtype=args.dtype)
            for j, n in enumerate(names):
                X[j] = batch.column(n).to_numpy()
            rows += batch.num_rows
    return dict(seconds=time.perf_counter() - start, cpu=time.process_time() - cpu, rows=rows,
                peak_mb=h.peak_rss_mb())


def run_floor_sgd(args):
    """partial_fit alone on standardized float64 C-ordered blocks that are already in memory."""
    import numpy as np
    from sklearn.preprocessing import StandardScaler

    blocks = list(_arrow_blocks(h.files(args.train), args.block_rows, np.float64))
    scaler = StandardScaler().fit(np.concatenate([X[:50_000] for X, _ in blocks]))
    blocks = [(np.ascontiguousarray(scaler.transform(X)), y) for X, y in blocks]
    sgd, rows = _sgd(), 0
    start, cpu = time.perf_counter(), time.process_time()
    for X, y in blocks:
        sgd.partial_fit(X, y, classes=np.array([0, 1]))
        rows += len(X)
    return dict(seconds=time.perf_counter() - start, cpu=time.process_time() - cpu, rows=rows,
                peak_mb=h.peak_rss_mb())


CHILDREN = {"outofcore": run_outofcore, "sklearn-loop": run_sklearn_loop,
            "sklearn-memory": run_sklearn_memory, "dask-ml": run_dask_ml,
            "floor-read": run_floor_read, "floor-sgd": run_floor_sgd}


# -------------------------------------------------------------------------------------- parent
def _child_argv(name, train, test, **options):
    argv = [str(Path(__file__).resolve()), "--child", name, "--train", str(train),
            "--test", str(test)]
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


FIT_COLUMNS = [("cpu", "CPU s", ".2f"), ("peak_mb", "peak RSS MB", ".0f"),
               ("accuracy", "accuracy", ".4f"),
               ("rows", "rows", "d")]


def compare(args):
    train, test = h.ensure_data(Path(args.data) / f"fit{args.rows}m", rows=args.rows * 10**6)
    names = CONTENDERS + FLOORS + [f"outofcore@{s}" for s in args.source]
    # Each contender reads the file as it is: float64 on disk is float64 in the alternatives'
    # loops; outofcore reads float32 by default, and once more as float64 for comparison.
    names.append("outofcore (cache)")
    # Issue 16's target 4: the fastest outofcore fit, replicas included, against dask-ml.
    names += ["outofcore (2 replicas)", "outofcore (2 replicas, cache)"]
    dtypes = dict.fromkeys(names, args.dtype)
    title = (f"One epoch, {args.rows}M x 20 parquet (float32 on disk, 500k-row row groups and "
             f"blocks), X as {args.dtype}")
    if args.layout == "float64-file":
        train = h.ensure_single_float64(train)
        dtypes = dict.fromkeys(names, "float64")
        dtypes.update({n: "float32" for n in names if n.startswith("outofcore")})
        dtypes["outofcore (float64)"] = "float64"
        dtypes["sklearn-loop (float32)"] = "float32"
        names = list(dtypes)
        title = (f"One epoch, one {args.rows}M x 20 float64 parquet file (500k-row row groups); "
                 f"outofcore reads float32 (its default) and float64")

    def run(name):
        contender, _, source = name.split(" ")[0].partition("@")
        extra = {"cache": "on"} if "cache)" in name else {}
        if "2 replicas" in name:
            extra.update(replicas=2, merge_every=1)
        return h.run_child(_child_argv(contender, train, test, block_rows=500_000,
                                       dtype=dtypes[name], **extra), source=source or None)

    results = h.alternate(names, args.repeats, run)
    rows = h.summarize(results)
    _print(title, rows, "outofcore", FIT_COLUMNS)
    rivals = [n for n in rows if n.startswith(("sklearn-loop", "dask-ml")) and "median" in rows[n]]
    best = min((rows[n]["median"] for n in rivals), default=float("nan"))
    floor = max(rows[n].get("median", float("nan")) for n in FLOORS)
    ours = rows["outofcore"].get("median", float("nan"))
    print(f"\noutofcore / best of ({', '.join(rivals)}): {ours / best:.2f} (target <= 0.33); "
          f"outofcore / max(floors): {ours / floor:.2f} (target <= 1.3); "
          f"largest spread (max-min)/median: {h.spread(rows):.0%}")
    fastest = min((n for n in rows if n.startswith("outofcore") and "@" not in n
                   and "median" in rows[n]), key=lambda n: rows[n]["median"])
    cpu_bound = rows["outofcore"].get("cpu", float("nan")) / os.cpu_count()
    print(f"fastest outofcore ({fastest}) / dask-ml: "
          f"{rows[fastest]['median'] / rows['dask-ml'].get('median', float('nan')):.2f} "
          f"(target <= 0.33); the sequential fit's CPU seconds / cores: {cpu_bound:.2f} s "
          f"against dask-ml / 3 = {rows['dask-ml'].get('median', float('nan')) / 3:.2f} s")


def variants(args):
    train, test = h.ensure_data(Path(args.data) / f"fit{args.rows}m", rows=args.rows * 10**6)
    options = {
        "float32, 2^20-row blocks, threads": dict(dtype="float32"),
        "float64, 2^20-row blocks, threads": dict(dtype="float64"),
        "float32, 250k-row blocks, threads": dict(dtype="float32", block_rows=250_000),
        # Blocks never span parts: with 500k-row parts this equals the default, as the table shows.
        "float32, 2^21-row blocks, threads": dict(dtype="float32", block_rows=2**21),
        "float32, 2^20-row blocks, LocalCluster 2x1": dict(dtype="float32", scheduler="cluster"),
        "float32, 2^20-row blocks, threads, 3 epochs": dict(dtype="float32", epochs=3),
        "float32, 2^20-row blocks, threads, 3 epochs, cache on": dict(dtype="float32", epochs=3,
                                                                      cache="on"),
    }
    results = h.alternate(list(options), args.repeats, lambda n: h.run_child(
        _child_argv("outofcore", train, test, **options[n])))
    rows = h.summarize(results)
    _print(f"outofcore variants, {args.rows}M x 20 parquet (500k-row row groups)", rows,
           "float32, 2^20-row blocks, threads",
           FIT_COLUMNS + [("block", "largest block", "d"), ("first_epoch", "1st epoch s", ".2f"),
                          ("last_epoch", "last epoch s", ".2f")])


def replicas(args):
    """Issue 16's targets 1, 2 and 4: replicas against the sequential fold, threaded and on a
    2-worker LocalCluster, beside dask-ml and the scikit-learn loop."""
    train, test = h.ensure_data(Path(args.data) / f"fit{args.rows}m", rows=args.rows * 10**6)
    if args.layout == "float64-file":
        train = h.ensure_single_float64(train)
    options = {
        "sequential, threads": dict(),
        "2 replicas, threads": dict(replicas=2),
        "sequential, LocalCluster 2x1": dict(scheduler="cluster"),
        "2 replicas, LocalCluster 2x1": dict(replicas=2, scheduler="cluster"),
    }
    names = list(options) + ["dask-ml", "sklearn-loop"]

    def run(name):
        if name in options:
            return h.run_child(_child_argv("outofcore", train, test, block_rows=500_000,
                                           merge_every=args.merge_every, **options[name]))
        return h.run_child(_child_argv(name, train, test, block_rows=500_000))

    rows = h.summarize(h.alternate(names, args.repeats, run))
    _print(f"Replicas, one epoch, {args.rows}M x 20 ({args.layout}), merge_every="
           f"{args.merge_every or 'end of epoch'}", rows, "sequential, threads", FIT_COLUMNS)
    seq = rows["sequential, threads"]

    def med(name, key="median"):
        return rows[name].get(key, float("nan"))

    print(f"\n2 replicas (threads) / (sequential CPU s / 2): "
          f"{med('2 replicas, threads') / (seq.get('cpu', float('nan')) / 2):.2f} "
          f"(target <= 1.15); / sequential: {med('2 replicas, threads') / med('sequential, threads'):.2f}")
    print(f"2 replicas (cluster) / sequential (cluster): "
          f"{med('2 replicas, LocalCluster 2x1') / med('sequential, LocalCluster 2x1'):.2f} "
          f"(target <= 0.5); / sequential (threads): "
          f"{med('2 replicas, LocalCluster 2x1') / med('sequential, threads'):.2f} (target <= 1.1)")
    best = min(med("2 replicas, threads"), med("sequential, threads"))
    print(f"best outofcore / dask-ml: {best / med('dask-ml'):.2f} (target <= 0.33); "
          f"sklearn-loop / best outofcore: {med('sklearn-loop') / best:.2f} (target >= 2)")


def scaling(args):
    results = {}
    for millions in args.scaling:
        train, test = h.ensure_data(Path(args.data) / f"fit{millions}m", rows=millions * 10**6)
        if args.layout == "float64-file":
            train = h.ensure_single_float64(train)
        results[f"{millions}M rows"] = [h.run_child(_child_argv("outofcore", train, test))
                                        for _ in range(args.repeats)]
        print(f"# {millions}M: {results[f'{millions}M rows']}", flush=True)
    rows = h.summarize(results)
    first = f"{args.scaling[0]}M rows"
    layout = "one float64 file" if args.layout == "float64-file" else "float32 parts"
    _print(f"outofcore peak RSS against rows (default block size, {layout})", rows, first,
           FIT_COLUMNS)
    base = rows[first].get("peak_mb")
    for name, row in rows.items():
        if "peak_mb" in row and base:
            print(f"{name}: peak {row['peak_mb']:.0f} MB = {row['peak_mb'] / base:.2f}x {first}; "
                  f"{row['rows'] / row['median'] / 1e6:.2f} M rows/s")


def csv(args):
    millions = args.csv
    results = {}
    for fmt in ("parquet", "csv"):
        train, test = h.ensure_data(Path(args.data) / f"fit{millions}m-{fmt}",
                                    rows=millions * 10**6, fmt=fmt)
        # Scoring reads parquet: the held-out part comes from the parquet data set.
        ptest = Path(args.data) / f"fit{millions}m-parquet" / "test"
        results[fmt] = [h.run_child(_child_argv("outofcore", train, ptest, format=fmt))
                        for _ in range(args.repeats)]
        print(f"# {fmt}: {results[fmt]}", flush=True)
        name = f"{fmt} with cache"
        results[name] = [h.run_child(_child_argv("outofcore", train, ptest, format=fmt,
                                                 cache="on"))
                         for _ in range(args.repeats)]
        print(f"# {name}: {results[name]}", flush=True)
    rows = h.summarize(results)
    _print(f"outofcore one epoch from CSV and parquet, {millions}M x 20", rows, "parquet",
           FIT_COLUMNS)
    for name, row in rows.items():
        if "rows" in row:
            print(f"{name}: {row['rows'] / row['median'] / 1e6:.2f} M rows/s")


def _print(title, rows, baseline, columns):
    print(f"\n### {title}\n\n{h.machine()}\n")
    print(h.table(rows, baseline=baseline, columns=columns))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/tmp/outofcore-bench")
    parser.add_argument("--rows", type=int, default=5, help="training rows, millions")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--replicas-table", action="store_true",
                        help="replicas against the sequential fold, threads and LocalCluster")
    parser.add_argument("--scaling", type=int, nargs="+", metavar="MILLIONS")
    parser.add_argument("--csv", type=int, metavar="MILLIONS")
    parser.add_argument("--source", nargs="*", default=[], metavar="DIR",
                        help="also run outofcore imported from these checkouts (A/B a change)")
    # Child options.
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--train")
    parser.add_argument("--test")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--block-rows", type=int, default=2**20)
    parser.add_argument("--scheduler", choices=["threads", "cluster"], default="threads")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--merge-every", type=int, default=1, help="0: at the end of the epoch")
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--cache", choices=["on", "off"], default="off",
                        help="read with cache=True: later passes reuse the decoded blocks")
    parser.add_argument("--layout", choices=["parts", "float64-file"], default="parts",
                        help="parts: float32 500k-row parts; float64-file: the same rows as one "
                             "float64 file (the issue's reference layout)")
    args = parser.parse_args(argv)
    if args.child:
        _warm_imports()
        h.emit(**CHILDREN[args.child](args))
    elif args.replicas_table:
        replicas(args)
    elif args.variants:
        variants(args)
    elif args.scaling:
        scaling(args)
    elif args.csv:
        csv(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
