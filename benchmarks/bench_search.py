"""A 16-candidate search in one pass against one candidate's fit, an exhaustive search and the
alternatives.

The candidates are ``SGDClassifier(learning_rate="constant")`` over alpha x eta0 x loss
(4 x 2 x 2) in ``Pipeline(StandardScaler, SGDClassifier)``, on the project's synthetic 5M x 20
parquet data (float32, 500k-row parts) with the next 500k rows held out for accuracy.
Contenders, each in its own process, alternating in rotated order every round:

* ``one (hinge)``, ``one (log_loss)``: ``make_pipeline(ooc.StandardScaler(), ooc.Incremental(
  SGD, epochs=E))`` of one candidate of the grid (alpha=1e-4, eta0=0.001), the two losses (a
  hinge step is the cheaper one, so the time ratio against it is the conservative one);
* ``search``: ``ooc.IncrementalSearchCV`` of the 16 candidates, ``factor=3``, ``max_epochs=E``;
* ``exhaustive``: the same search with ``min_resources`` past the end of the stream: every
  candidate learns every epoch (in one pass over the data too) and the best held-out score wins;
  its pick is "the best candidate found by an exhaustive search with full epochs";
* ``search (LocalCluster 2x1)``: the search on a 2-worker, 1-thread LocalCluster started before
  the clock (on request: ``--contenders``);
* ``sklearn-halving``: scikit-learn's ``HalvingRandomSearchCV`` (``factor=3``, 16 candidates,
  ``min_resources="exhaust"`` so the last rung uses every row (its default, "smallest", starts
  at 12 rows and ends at 108), ``cv=3``, ``n_jobs=2``, ``SGDClassifier.fit`` to its own
  convergence) on an in-memory sample of the first 1M rows; its time excludes loading the
  sample (printed apart), and its CPU column misses the joblib worker processes;
* ``dask-ml-hyperband``: dask-ml's ``HyperbandSearchCV`` on the same 1M rows as dask arrays,
  on a 2-worker LocalCluster (it needs a Client); on current dask it fails, and the table
  records how.

Columns: wall seconds (median, min-max), process CPU seconds, peak RSS, accuracy on the held-out
part, the winner's parameters, and the time ratio to ``one (hinge)``.

    python benchmarks/bench_search.py --repeats 3            # 1 epoch
    python benchmarks/bench_search.py --repeats 2 --epochs 3 --no-hyperband \
        --contenders "one (hinge)" "one (log_loss)" search exhaustive
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

TARGET = "target"
SEED = 0
GRID = {"alpha": [1e-5, 1e-4, 1e-3, 1e-2], "eta0": [0.001, 0.01], "loss": ["hinge", "log_loss"]}
ONE = {"alpha": 1e-4, "eta0": 0.001}
CONTENDERS = ["one (hinge)", "one (log_loss)", "search", "exhaustive", "sklearn-halving",
              "search (LocalCluster 2x1)"]
DEFAULT = CONTENDERS[:5]


def _sgd(**params):
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(learning_rate="constant", random_state=SEED, **params)


def _test_set(test):
    import pandas as pd

    frame = pd.concat([pd.read_parquet(p) for p in h.files(test)], ignore_index=True)
    return frame.drop(columns=["id", TARGET]), frame[TARGET].to_numpy()


def _sample(train, rows):
    """The first ``rows`` rows of the training parts, in memory."""
    import pandas as pd

    frames, seen = [], 0
    for path in h.files(train):
        if seen >= rows:
            break
        frames.append(pd.read_parquet(path))
        seen += len(frames[-1])
    frame = pd.concat(frames, ignore_index=True).iloc[:rows]
    return frame.drop(columns=["id", TARGET]), frame[TARGET].to_numpy()


def _prefixed(params, step="sgdclassifier"):
    return {f"{step}__{k}": v for k, v in params.items()}


# ---------------------------------------------------------------------------- child: contenders
def run_one(args):
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc

    h.import_outofcore()
    start, cpu = time.perf_counter(), time.process_time()
    X, y = ooc.read_parquet(args.train, target=TARGET, exclude=["id"],
                            block_rows=args.block_rows)
    model = make_pipeline(ooc.StandardScaler(), ooc.Incremental(
        _sgd(**ONE, loss=args.loss), epochs=args.epochs, classes=[0, 1], random_state=SEED))
    model.fit(X, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = h.peak_rss_mb()
    X_test, y_test = _test_set(args.test)
    return dict(seconds=seconds, cpu=cpu, peak_mb=peak, accuracy=model.score(X_test, y_test),
                best=f"loss={args.loss}")


def run_search(args):
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc

    h.import_outofcore()
    ooc.IncrementalSearchCV  # noqa: B018  (the module loads before the clock)
    client = None
    if args.cluster:
        from distributed import Client, LocalCluster

        client = Client(LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None))
    start, cpu = time.perf_counter(), time.process_time()
    X, y = ooc.read_parquet(args.train, target=TARGET, exclude=["id"],
                            block_rows=args.block_rows)
    search = ooc.IncrementalSearchCV(
        make_pipeline(ooc.StandardScaler(), _sgd()), _prefixed(GRID), factor=3,
        max_epochs=args.epochs, classes=[0, 1], random_state=SEED,
        min_resources=10**12 if args.exhaustive else "exhaust")
    search.fit(X, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = h.peak_rss_mb()
    if client is not None:
        client.cluster.close()
        client.close()
    return dict(_result(search, args), seconds=seconds, cpu=cpu, peak_mb=peak,
                validation=search.best_score_,
                scores=[float(s) for s in search.cv_results_["mean_test_score"]])


def _result(search, args):
    """Test accuracy, the pick and the rungs of a fitted search."""
    X_test, y_test = _test_set(args.test)
    best = {k.split("__")[1]: v for k, v in search.best_params_.items()}
    return dict(accuracy=search.score(X_test, y_test),
                best=" ".join(f"{k}={v}" for k, v in best.items()),
                rungs=f"{search.n_candidates_} x {search.n_resources_} rows")


def run_sklearn_halving(args):
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    began = time.perf_counter()
    X, y = _sample(args.train, args.sample_rows)
    load = time.perf_counter() - began
    start, cpu = time.perf_counter(), time.process_time()
    search = HalvingRandomSearchCV(
        make_pipeline(StandardScaler(), _sgd()), _prefixed(GRID), n_candidates=16, factor=3,
        min_resources="exhaust", cv=3, n_jobs=2, random_state=SEED)
    search.fit(X, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = h.peak_rss_mb()
    return dict(_result(search, args), seconds=seconds, cpu=cpu, peak_mb=peak,
                load_seconds=load)


def run_dask_ml_hyperband(args):
    import traceback

    import dask.array as da
    from dask_ml.model_selection import HyperbandSearchCV
    from distributed import Client, LocalCluster

    X, y = _sample(args.train, args.sample_rows)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            Client(cluster):
        Xd = da.from_array(X.to_numpy(), chunks=(100_000, X.shape[1]))
        yd = da.from_array(y, chunks=100_000)
        search = HyperbandSearchCV(_sgd(), GRID, max_iter=9, random_state=SEED)
        start = time.perf_counter()
        try:
            search.fit(Xd, yd, classes=[0, 1])
        except Exception as e:
            frame = traceback.extract_tb(e.__traceback__)[-1]
            where = next((f for f in reversed(traceback.extract_tb(e.__traceback__))
                          if "dask_ml" in f.filename), frame)
            return dict(seconds=time.perf_counter() - start,
                        failed=f"{type(e).__name__}: {e}",
                        where=f"{Path(where.filename).name}:{where.lineno} {where.line}")
    return dict(seconds=time.perf_counter() - start, best=str(search.best_params_))


def child(args):
    runners = {"one": run_one, "search": run_search, "sklearn-halving": run_sklearn_halving,
               "dask-ml-hyperband": run_dask_ml_hyperband}
    h.emit(**runners[args.child](args))


# -------------------------------------------------------------------------------------- parent
def _argv(name, train, test, args):
    argv = [str(Path(__file__).resolve()), "--train", str(train), "--test", str(test),
            "--epochs", str(args.epochs), "--sample-rows", str(args.sample_rows)]
    if args.block_rows:
        argv += ["--block-rows", str(args.block_rows)]
    if name == "search (LocalCluster 2x1)":
        return argv + ["--child", "search", "--cluster"]
    if name.startswith("one"):
        return argv + ["--child", "one", "--loss", name.split("(")[1].rstrip(")")]
    if name == "exhaustive":
        return argv + ["--child", "search", "--exhaustive"]
    return argv + ["--child", name]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--sample-rows", type=int, default=1_000_000)
    parser.add_argument("--contenders", nargs="*", default=DEFAULT, choices=CONTENDERS)
    parser.add_argument("--block-rows", type=int, default=None,
                        help="block_rows of every outofcore read (default: the reader's)")
    parser.add_argument("--no-hyperband", action="store_true",
                        help="skip recording how dask-ml's HyperbandSearchCV fails")
    parser.add_argument("--data", default="/tmp/outofcore-bench")
    parser.add_argument("--child")
    parser.add_argument("--train")
    parser.add_argument("--test")
    parser.add_argument("--loss")
    parser.add_argument("--exhaustive", action="store_true")
    parser.add_argument("--cluster", action="store_true")
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    print(f"# {h.machine()}")
    print(f"# load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
          flush=True)
    train, test = h.ensure_data(Path(args.data) / "fit5m", rows=5_000_000)
    results = h.alternate(args.contenders, args.repeats,
                          lambda name: h.run_child(_argv(name, train, test, args)))
    hyperband = {} if args.no_hyperband else h.run_child(
        _argv("dask-ml-hyperband", train, test, args))
    print(f"# dask-ml-hyperband: {json.dumps(hyperband)}", flush=True)
    rows = h.summarize(results)
    print(f"\n### {len(GRID['alpha']) * len(GRID['eta0']) * len(GRID['loss'])} candidates, "
          f"5M x 20, max_epochs={args.epochs}, block_rows={args.block_rows or 'default'}\n")
    print(h.table(rows, baseline="one (hinge)", key_label="seconds",
                  columns=[("cpu", "CPU s", ".2f"), ("peak_mb", "peak RSS MB", ".0f"),
                           ("accuracy", "test accuracy", ".4f")]))
    print()
    for name, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        if ok:
            extra = f"; {ok[0]['rungs']}" if "rungs" in ok[0] else ""
            load = (f"; sample loaded in {ok[0]['load_seconds']:.1f} s"
                    if "load_seconds" in ok[0] else "")
            print(f"- {name}: picked {ok[0]['best']}{extra}{load}")
    failed = hyperband.get("failed") or hyperband.get("error")
    if hyperband:
        print(f"- dask-ml-hyperband: {failed or 'ran: ' + hyperband.get('best', '')}"
              + (f" (at {hyperband['where']})" if "where" in hyperband else ""))
    search, exhaustive = rows.get("search", {}), rows.get("exhaustive", {})
    base = rows.get("one (hinge)", {}).get("median")
    if "median" in search and "median" in exhaustive and base:
        scores = results["exhaustive"][0].get("scores", [])
        print(f"\nsearch / one (hinge) = {search['median'] / base:.2f} (target <= 3), in CPU "
              f"seconds {search['cpu'] / rows['one (hinge)']['cpu']:.2f}; "
              f"search / one (log_loss) = "
              f"{search['median'] / rows['one (log_loss)']['median']:.2f}; "
              f"test accuracy of the search's pick - exhaustive pick = "
              f"{search['accuracy'] - exhaustive['accuracy']:+.4f} (target >= -0.002); "
              f"exhaustive held-out scores span {min(scores):.4f}-{max(scores):.4f}; "
              f"largest spread (max-min)/median: {h.spread(rows):.0%}")
    print(f"# load average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
