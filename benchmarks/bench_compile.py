"""Prediction speed of compiled pipelines against scikit-learn, TL2cgen, onnxruntime and Hummingbird.

Every runner predicts the same batch (default 1M rows x 20 float32 features; a DataFrame with
string columns for the ``table`` and ``mixed`` models) and the same single row, in one process, interleaved
repeat by repeat with the order rotating. Baselines run at their best: scikit-learn forests with
``n_jobs`` = the threads, HistGradientBoosting fitted with ``early_stopping=False`` (it has the
trees it was asked for), TL2cgen's generated C with ``nthread`` = the threads, onnxruntime with
``intra_op_num_threads`` = the threads. TL2cgen (``tl2cgen``, trees only), onnxruntime (through
``skl2onnx``) and Hummingbird (``hummingbird-ml``, which needs its own environment) are
optional: a missing package or converter shows as ``—`` and the reason below the table.

The table reports, per runner, the median batch time with its min-max over the repeats and the
median single-row time; ratios are the other runner's median over ours (above 1: ours is faster).

Usage::

    python benchmarks/bench_compile.py                       # CPU, 2 threads, 1M rows, every model
    python benchmarks/bench_compile.py --models forest hgb --rows 200000 --repeats 3
    python benchmarks/bench_compile.py --device cuda         # ours on the GPU, the others on the CPU
"""

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings

# OpenMP threads (torch's, and sklearn's Cython loops) spin at every barrier by default. On a
# shared machine whose cores are busy with other work a spinning thread burns the time slice its
# partner needs, and multi-threaded kernels ran up to 10x slower; sleeping waits keep the
# comparison about the code. Must be set before torch or sklearn load OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

RUNNERS = ("sklearn", "ours", "tl2cgen", "onnxruntime", "hummingbird")


def _frame(X, rng):
    """X as a DataFrame with three string columns (10, 50 and 200 categories, some missing)."""
    import pandas as pd

    df = pd.DataFrame(X[:, 3:], columns=[f"x{i}" for i in range(3, X.shape[1])])
    for i, k in enumerate((10, 50, 200)):
        codes = np.floor(np.abs(X[:, i]) * k / 3).astype(int) % k
        col = np.array([f"c{i}_{j}" for j in range(k)], dtype=object)[codes]
        col[rng.random(len(col)) < 0.01] = None
        df.insert(i, f"s{i}", pd.Series(col, dtype=object))
    df.loc[rng.random(len(df)) < 0.01, "x5"] = np.nan
    return df


def _mixed_frame(n, n_features, rng):
    """The real-tables issue's table: numbers with 5% missing and text columns of 10, 1,000 and
    100,000 values (Zipf-like), in pandas' arrow-backed ``str`` as ``read_parquet`` gives them."""
    import pandas as pd

    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[rng.random(X.shape) < 0.05] = np.nan
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(n_features)])
    for i, k in enumerate((10, 1_000, 100_000)):
        codes = np.minimum(rng.zipf(1.3, n), k) - 1
        df[f"c{i}"] = pd.Series(np.char.add(f"c{i}_", codes.astype(str)), dtype="str")
    return df


def _mixed_labels(df):
    return ((np.nan_to_num(df["f0"].to_numpy()) + (df["c0"] == "c0_0").to_numpy()
             + 0.5 * (df["c1"] == "c1_1").to_numpy()) > 0.5).astype(np.int64)


def _models(n_features, rng):
    from sklearn import cluster, compose, ensemble, impute, linear_model, neural_network, pipeline
    from sklearn import preprocessing

    X = (rng.normal(size=(50_000, n_features)) * rng.uniform(0.5, 5, n_features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(size=len(X)) > 0).astype(np.int64)
    table = compose.ColumnTransformer([
        ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["s0", "s1", "s2"]),
        ("num", pipeline.make_pipeline(impute.SimpleImputer(), preprocessing.RobustScaler()),
         [f"x{i}" for i in range(3, n_features)])])
    steps = compose.ColumnTransformer([
        ("poly", preprocessing.PolynomialFeatures(2), slice(0, 4)),
        ("norm", preprocessing.Normalizer(), slice(4, n_features))])
    return {
        "linear": ("StandardScaler+SGD", lambda: pipeline.make_pipeline(
            preprocessing.StandardScaler(), linear_model.SGDClassifier(random_state=0)).fit(X, y), "array"),
        "mlp": ("StandardScaler+MLP(64,32)", lambda: pipeline.make_pipeline(
            preprocessing.StandardScaler(), neural_network.MLPClassifier(
                hidden_layer_sizes=(64, 32), max_iter=5, random_state=0)).fit(X[:20_000], y[:20_000]),
                "array"),
        "kmeans": ("MiniBatchKMeans(16)", lambda: cluster.MiniBatchKMeans(
            n_clusters=16, n_init=1, random_state=0).fit(X), "array"),
        "forest": ("RandomForest 100 x depth 8", lambda: ensemble.RandomForestClassifier(
            n_estimators=100, max_depth=8, random_state=0).fit(X[:20_000], y[:20_000]), "array"),
        "hgb": ("HistGradientBoosting 100 iterations", lambda: ensemble.HistGradientBoostingClassifier(
            max_iter=100, early_stopping=False, random_state=0).fit(X[:20_000], y[:20_000]), "array"),
        "table": ("OneHot(3 strings)+Imputer+RobustScaler+LogReg", lambda: pipeline.make_pipeline(
            table, linear_model.LogisticRegression(max_iter=300)).fit(_frame(X[:20_000], rng), y[:20_000]),
                  "frame"),
        "mixed": ("OneHot(3 strings, infrequent)+Imputer(median, indicator)+Scaler+SGD",
                  lambda: _fit_mixed(n_features, rng), "mixed"),
        "steps": ("Poly(4 cols)+Normalizer(16)+Ridge", lambda: pipeline.make_pipeline(
            steps, linear_model.Ridge()).fit(X, y.astype(float)), "array"),
    }


def _fit_mixed(n_features, rng):
    from sklearn import compose, impute, linear_model, pipeline, preprocessing

    df = _mixed_frame(50_000, n_features, rng)
    pre = compose.make_column_transformer(
        (preprocessing.OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=100),
         ["c0", "c1", "c2"]),
        (pipeline.make_pipeline(impute.SimpleImputer(strategy="median", add_indicator=True),
                                preprocessing.StandardScaler()), [f"f{i}" for i in range(n_features)]))
    return pipeline.make_pipeline(pre, linear_model.SGDClassifier(loss="log_loss", random_state=0)
                                  ).fit(df, _mixed_labels(df))


def _tl2cgen(model, threads):
    import tl2cgen
    import treelite

    folder = tempfile.mkdtemp(prefix="bench-tl2cgen-")
    lib = os.path.join(folder, "model.so")
    tl2cgen.export_lib(treelite.sklearn.import_model(model), toolchain="gcc", libpath=lib,
                       params={"parallel_comp": 8}, nthread=threads)
    predictor = tl2cgen.Predictor(lib, nthread=threads)
    return lambda A: predictor.predict(tl2cgen.DMatrix(A))


def _onnxruntime(model, sample, threads):
    import onnxruntime
    from skl2onnx import to_onnx

    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    onx = to_onnx(model, sample[:1], target_opset={"": 17, "ai.onnx.ml": 3}, options=options)
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onx.SerializeToString(), opts,
                                           providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    if len(names) == 1:
        return lambda A: session.run(None, {names[0]: A})[0]

    def feed(frame):  # one input per column: strings without None, numbers as float32
        cols = {c: frame[c].to_numpy() for c in names}
        return {c: (v.astype(np.float32) if v.dtype.kind == "f" else
                    np.where(v == None, "", v).astype(str)).reshape(-1, 1)  # noqa: E711
                for c, v in cols.items()}
    return lambda frame: session.run(None, feed(frame))[0]


def _hummingbird(model, device):
    import hummingbird.ml

    return hummingbird.ml.convert(model, "torch", device=device).predict


def _runners(key, model, sample, args):
    import outofcore as ooc

    if hasattr(model, "n_jobs"):
        model.set_params(n_jobs=args.threads)  # scikit-learn forests predict on every thread
    compiled = ooc.compile_pipeline(model, device=args.device)
    runners = {"sklearn": model.predict, "ours": compiled.predict}
    problems = {}
    builds = [("onnxruntime", lambda: _onnxruntime(model, sample, args.threads)),
              ("hummingbird", lambda: _hummingbird(model, args.device))]
    if key in ("forest", "hgb"):
        builds.insert(0, ("tl2cgen", lambda: _tl2cgen(model, args.threads)))
    for name, build in builds:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runners[name] = build()
        except Exception as exc:  # a missing package or an unsupported model: report, don't stop
            problems[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:100]}"
    return runners, problems, compiled


def _measure(runners, batch, one, args):
    """Per runner: batch seconds for each repeat, and the median seconds of a one-row call."""
    times = {k: [] for k in runners}
    rows = {k: [] for k in runners}
    for fn in runners.values():  # warm-up: lazy builds, compilation, allocator, caches
        fn(batch[:1000])
        fn(one)
    names = list(runners)
    for repeat in range(args.repeats):
        # The order rotates: a runner right after another pays for the caches and the threads
        # that one left behind.
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            fn = runners[name]
            start = time.perf_counter()
            fn(batch)
            times[name].append(time.perf_counter() - start)
            calls, start = 0, time.perf_counter()
            while calls < args.row_calls and (calls < 3 or time.perf_counter() - start < 0.5):
                fn(one)  # up to --row-calls calls, or half a second for the slow runners
                calls += 1
            rows[name].append((time.perf_counter() - start) / calls)
    return times, {k: statistics.median(v) for k, v in rows.items()}


def _fastest_call(fn, one, calls=100, rounds=20):
    """Seconds per call in the fastest of ``rounds`` runs of ``calls`` calls (the least disturbed
    by other work on the machine)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn(one)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def _cell(times, row):
    if times is None:
        return "—"
    return (f"{statistics.median(times) * 1e3:.1f} ms ({min(times) * 1e3:.0f}-{max(times) * 1e3:.0f})"
            f" / {row * 1e6:.1f} us")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--row-calls", type=int, default=300, help="single-row calls per timing")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+",
                        default=["linear", "mlp", "kmeans", "forest", "hgb", "table", "mixed",
                                 "steps"])
    args = parser.parse_args(argv)

    import threadpoolctl
    import torch

    torch.set_num_threads(args.threads)
    threadpoolctl.threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    models = _models(args.features, rng)
    X = (rng.normal(size=(args.rows, args.features)) * 2).astype(np.float32)
    frame = None
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
    print(f"# {args.rows} x {args.features} float32, {args.threads} threads, device={args.device} "
          f"({device_name or platform.machine()}), torch {torch.__version__}, median of "
          f"{args.repeats}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average "
          f"{os.getloadavg()[0]:.1f}")
    lines, notes = [], []
    for key in args.models:
        label, fit, kind = models[key]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few MLP epochs are enough to time prediction
            model = fit()
        if kind == "frame":
            frame = _frame(X, rng) if frame is None else frame
        batch = {"frame": frame, "array": X}.get(kind)
        if kind == "mixed":
            batch = _mixed_frame(args.rows, args.features, rng)
        one = X[:1].copy() if kind == "array" else batch.iloc[:1]
        runners, problems, compiled = _runners(key, model, batch, args)
        check = batch[:100_000]
        ours, theirs = np.asarray(runners["ours"](check)), model.predict(check)
        agree = (f"labels equal on {np.mean(ours == theirs):.6f}" if theirs.dtype.kind != "f" else
                 f"max |difference| {np.max(np.abs(ours - theirs)):.2e}")
        times, row = _measure(runners, batch, one, args)
        cells = [label] + [_cell(times.get(name), row.get(name)) for name in RUNNERS[:4]]
        ours_t = statistics.median(times["ours"])
        for name in ("sklearn", "tl2cgen", "onnxruntime"):
            if name in times:
                cells.append(f"{statistics.median(times[name]) / ours_t:.1f}x / "
                             f"{row[name] / row['ours']:.1f}x")
            else:
                cells.append("—")
        if "hummingbird" in times:
            notes.append(f"{label}: Hummingbird {_cell(times['hummingbird'], row['hummingbird'])}")
        lines.append("| " + " | ".join(cells) + " |")
        notes.append(f"{label}: ours, one row, fastest of 20 x 100 calls: " + ", ".join(
            f"{method} {_fastest_call(getattr(compiled, method), one) * 1e6:.1f} us"
            for method in ("predict", "predict_proba") if hasattr(model, method)))
        notes.append(f"{label}: ours vs sklearn on 100k rows: {agree}"
                     + "".join(f"; {k}: {v}" for k, v in problems.items()))
        print(lines[-1], flush=True)
    print("\n| model | sklearn | ours | TL2cgen | onnxruntime | vs sklearn | vs TL2cgen | vs ORT |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(lines))
    print("\nCells: median batch time (min-max over repeats) / median one-row time; ratios: "
          "their median / ours (batch / one row).")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
