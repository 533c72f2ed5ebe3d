"""Predictions of a fitted pipeline for parquet files, written to parquet, against dask and a floor.

Contenders, each in its own process on the same files, alternating:

* ``outofcore``: ``predict_to_parquet(model, src, dest, keep=["id"])``;
* ``outofcore-compiled``: the same with ``compile_pipeline(model)``, compiled before the clock;
* ``dask``: ``dd.read_parquet(src).map_partitions(predict).to_parquet(dest)``;
* ``polars`` and ``polars-compiled``: ``pl.scan_parquet(src).map_batches(predict)
  .sink_parquet(dest)`` with the scikit-learn model and with the compiled one (polars' streaming
  engine, all cores; one output file, as polars writes it; snappy, as the others write);
* ``floor-read-write``: the same parts read (id and features) and written back (id and a label
  column of mixed labels, encoded as outofcore encodes its outputs) with pyarrow on the same two
  threads, no model: what the I/O alone costs.

    python benchmarks/bench_predict.py                   # 5M rows, median of 3
    python benchmarks/bench_predict.py --headline 20     # generate -> fit -> predict, 20M rows
    python benchmarks/bench_predict.py --source ../other # add outofcore (and compiled) from
                                                         # another checkout

The model is scikit-learn's Pipeline(StandardScaler, SGDClassifier) fitted in memory on the first
part and pickled once; every contender loads the same pickle.
"""

import argparse
import pickle
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

CONTENDERS = ["outofcore", "outofcore-compiled", "polars", "polars-compiled", "dask",
              "floor-read-write"]


def _model(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def _fresh(dest):
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    return dest


def run_outofcore(args):
    import outofcore as ooc

    h.import_outofcore()  # before the clock, as dask's runner imports dask.dataframe
    model, dest = _model(args.model), _fresh(args.dest)
    start, cpu = h.clock(), h.cpu_seconds()
    ooc.predict_to_parquet(model, args.src, dest, keep=["id"])
    return dict(seconds=time.perf_counter() - start, cpu=h.cpu_seconds() - cpu,
                peak_mb=h.peak_rss_mb(), rows=_rows(dest))


def run_compiled(args):
    import outofcore as ooc

    # Compiled once, before the clock: importing torch alone takes seconds.
    h.import_outofcore()
    model, dest = ooc.compile_pipeline(_model(args.model)), _fresh(args.dest)
    start, cpu = h.clock(), h.cpu_seconds()
    ooc.predict_to_parquet(model, args.src, dest, keep=["id"])
    return dict(seconds=time.perf_counter() - start, cpu=h.cpu_seconds() - cpu,
                peak_mb=h.peak_rss_mb(), rows=_rows(dest))


def run_dask(args):
    import dask.dataframe as dd
    import pandas as pd

    model, dest = _model(args.model), _fresh(args.dest)
    names = list(model.feature_names_in_)

    def predict(frame):
        return pd.DataFrame({"id": frame["id"].to_numpy(),
                             "prediction": model.predict(frame[names])}, index=frame.index)

    start, cpu = h.clock(), h.cpu_seconds()
    frame = dd.read_parquet(args.src, columns=["id"] + names)
    meta = pd.DataFrame({"id": pd.Series(dtype="int64"), "prediction": pd.Series(dtype="int64")})
    frame.map_partitions(predict, meta=meta).to_parquet(dest, write_index=False)
    return dict(seconds=time.perf_counter() - start, cpu=h.cpu_seconds() - cpu,
                peak_mb=h.peak_rss_mb(), rows=_rows(dest))


def _run_polars(args, compiled):
    import numpy as np
    import polars as pl

    model = _model(args.model)
    names = list(model.feature_names_in_)
    if compiled:
        import outofcore as ooc

        model = ooc.compile_pipeline(model)
    dest = _fresh(args.dest)
    dest.mkdir()

    def predict(frame):
        X = frame.select(names).to_numpy().astype(np.float32, copy=False)
        if not compiled:
            import pandas as pd

            X = pd.DataFrame(X, columns=names, copy=False)
        return pl.DataFrame({"id": frame["id"], "prediction": model.predict(X)})

    start, cpu = h.clock(), h.cpu_seconds()
    (pl.scan_parquet(f"{args.src}/*.parquet").select(["id"] + names)
     .map_batches(predict, schema={"id": pl.Int64, "prediction": pl.Int64},
                  streamable=True)
     .sink_parquet(dest / "part-0.parquet", compression="snappy"))
    return dict(seconds=time.perf_counter() - start, cpu=h.cpu_seconds() - cpu,
                peak_mb=h.peak_rss_mb(), rows=_rows(dest))


def run_polars(args):
    return _run_polars(args, compiled=False)


def run_polars_compiled(args):
    return _run_polars(args, compiled=True)


def run_floor(args):
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset  # noqa: F401  (read_table imports it on first use: before the clock)
    import pyarrow.parquet as pq

    model, dest = _model(args.model), _fresh(args.dest)
    names = list(model.feature_names_in_)
    dest.mkdir()
    parts = h.files(args.src)
    # Labels as mixed as a model's (a threshold at the median of the first part's first feature),
    # written as outofcore writes its outputs (dictionary encoding for the label only): an output
    # of constant labels, or a unique id column tried for dictionary encoding, would cost what a
    # predicting job does not pay.
    column = pq.read_table(parts[0], columns=[names[0]]).column(0).to_numpy()
    threshold = float(np.median(column))

    def copy(path):
        table = pq.read_table(path, columns=["id"] + names)
        labels = pa.array(table.column(names[0]).to_numpy() > threshold).cast(pa.int64())
        pq.write_table(pa.table({"id": table.column("id"), "prediction": labels}),
                       dest / Path(path).name, use_dictionary=["prediction"])

    start, cpu = h.clock(), h.cpu_seconds()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(copy, parts))
    return dict(seconds=time.perf_counter() - start, cpu=h.cpu_seconds() - cpu,
                peak_mb=h.peak_rss_mb(), rows=_rows(dest))


def run_generate(args):
    from outofcore.data import generate

    dest = _fresh(args.dest)
    start = h.clock()
    generate(dest, rows=args.rows * 10**6, features=20)
    return dict(seconds=time.perf_counter() - start, peak_mb=h.peak_rss_mb(),
                rows=args.rows * 10**6)


def run_fit(args):
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc

    h.import_outofcore()
    start = h.clock()
    X, y = ooc.read_parquet(args.src, target="target", exclude=["id"])
    model = make_pipeline(ooc.StandardScaler(),
                          ooc.Incremental(SGDClassifier(random_state=0), classes=[0, 1],
                                          random_state=0))
    model.fit(X, y)
    seconds = time.perf_counter() - start
    with open(args.model, "wb") as f:
        pickle.dump(model, f)
    return dict(seconds=seconds, peak_mb=h.peak_rss_mb(), rows=int(X.shape[0]))


def _rows(dest):
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in Path(dest).rglob("*.parquet"))


CHILDREN = {"outofcore": run_outofcore, "outofcore-compiled": run_compiled, "dask": run_dask,
            "polars": run_polars, "polars-compiled": run_polars_compiled,
            "floor-read-write": run_floor, "generate": run_generate, "fit": run_fit}
COLUMNS = [("cpu", "CPU s (median)", ".2f"), ("peak_mb", "peak RSS MB", ".0f"),
           ("rows", "rows", "d")]


def _argv(name, **options):
    argv = [str(Path(__file__).resolve()), "--child", name]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    return argv


def _fit_model(src, path):
    """scikit-learn's pipeline fitted in memory on the first part, pickled for the children."""
    import pyarrow.parquet as pq
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = pq.read_table(h.files(src)[0]).to_pandas()
    names = [c for c in frame.columns if c not in ("id", "target")]
    model = make_pipeline(StandardScaler(), SGDClassifier(random_state=0))
    model.fit(frame[names], frame["target"])
    with open(path, "wb") as f:
        pickle.dump(model, f)


def compare(args):
    src, _ = h.ensure_data(Path(args.data) / f"fit{args.rows}m", rows=args.rows * 10**6)
    model = Path(args.data) / "predict-model.pkl"
    _fit_model(src, model)
    dest = Path(args.data) / "predictions"

    def run(name):
        contender, _, source = name.partition("@")
        return h.run_child(_argv(contender, src=src, dest=dest, model=model),
                           source=source or None)

    names = (args.only or CONTENDERS) + [f"{c}@{s}" for s in args.source
                                         for c in ("outofcore", "outofcore-compiled")]
    results = h.alternate(names, args.repeats, run)
    _fresh(dest)
    rows = h.summarize(results)
    print(f"\n### predict_to_parquet, {args.rows}M x 20 parquet (10 parts), "
          f"Pipeline(StandardScaler, SGDClassifier)\n\n{h.machine()}\n")
    print(h.table(rows, baseline="outofcore", columns=COLUMNS, key_label="seconds"))
    def median(name):
        return rows.get(name, {}).get("median", float("nan"))

    print(f"\noutofcore / dask: {median('outofcore') / median('dask'):.2f}; "
          f"outofcore / polars (scikit-learn model): "
          f"{median('outofcore') / median('polars'):.2f} (target <= 1); "
          f"outofcore-compiled / floor: "
          f"{median('outofcore-compiled') / median('floor-read-write'):.2f} (target <= 1.15); "
          f"largest spread (max-min)/median: {h.spread(rows):.0%}")
    # Ratios within each round (the contenders of a round ran minutes apart at most): steadier
    # than a ratio of medians on a loaded machine.
    for name in [n for n in names if n.startswith("outofcore-compiled")] + ["polars-compiled"]:
        pairs = [(a, b) for a, b in zip(results.get(name, []), results.get("floor-read-write", []))
                 if "error" not in a and "error" not in b]
        for key, label in (("seconds", "time"), ("cpu", "CPU")):
            ratios = sorted(a[key] / b[key] for a, b in pairs)
            if ratios:
                print(f"{name} / floor, {label} round by round: median "
                      f"{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f}, "
                      f"n={len(ratios)})")


def headline(args):
    root = Path(args.data) / f"headline{args.headline}m"
    root.mkdir(parents=True, exist_ok=True)
    data, model, dest = root / "train.parquet", root / "model.pkl", root / "predictions"
    steps = [("generate", dict(dest=data, rows=args.headline)),
             ("fit", dict(src=data, model=model)),
             ("predict", dict(src=data, dest=dest, model=model))]
    results = {}
    for name, options in steps:
        child = "outofcore" if name == "predict" else name
        results[f"{name} ({args.headline}M rows)"] = [h.run_child(_argv(child, **options),
                                                                  timeout=3600)]
        print(f"# {name}: {results[f'{name} ({args.headline}M rows)']}", flush=True)
    table = h.summarize(results)
    print(f"\n### Headline: generate -> fit 1 epoch -> predict to parquet, {args.headline}M x 20"
          f"\n\n{h.machine()}\n")
    print(h.table(table, baseline=f"fit ({args.headline}M rows)", columns=COLUMNS,
                  key_label="seconds"))
    if not args.keep:
        shutil.rmtree(root)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/tmp/outofcore-bench")
    parser.add_argument("--rows", type=int, default=5, help="rows, millions")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--headline", type=int, metavar="MILLIONS")
    parser.add_argument("--keep", action="store_true", help="keep the headline's files")
    parser.add_argument("--source", nargs="*", default=[], metavar="DIR",
                        help="also run outofcore and outofcore-compiled imported from these "
                             "checkouts (A/B a change)")
    parser.add_argument("--only", nargs="*", metavar="NAME",
                        help=f"run only these contenders (of {CONTENDERS})")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--src")
    parser.add_argument("--dest")
    parser.add_argument("--model")
    args = parser.parse_args(argv)
    if args.child:
        h.emit(**CHILDREN[args.child](args))
    elif args.headline:
        headline(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
