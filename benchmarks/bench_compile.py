"""Prediction speed of compiled pipelines against scikit-learn, Hummingbird and onnxruntime.

Every runner predicts the same batch (default 1M x 20 float32) and the same single row, in the
same process, interleaved repeat by repeat; the table reports medians and the ratios of each
alternative's time to ours (``>1`` means ours is faster). Hummingbird (``hummingbird-ml``) and
onnxruntime (through ``skl2onnx``) are optional: a missing package or converter shows as ``—``.

Usage::

    python benchmarks/bench_compile.py                       # CPU, 2 threads, 1M rows
    python benchmarks/bench_compile.py --device cuda         # ours on the GPU, sklearn on the CPU
    python benchmarks/bench_compile.py --rows 100000 --models linear mlp
    python benchmarks/bench_compile.py --models kmeans4 kmeans kmeans64 kmeans128 kmeans256
    python benchmarks/bench_compile.py --models forest --tree-strategy perfect   # a tensor strategy
    python benchmarks/bench_compile.py --models extratrees gb hgb tree --repeats 3  # other trees
"""

import argparse
import os
import platform
import statistics
import time
import warnings

# OpenMP threads (torch's, and sklearn's Cython loops) spin at every barrier by default. On a
# shared machine whose cores are busy with other work a spinning thread burns the time slice its
# partner needs, and multi-threaded kernels ran up to 10x slower; sleeping waits keep the
# comparison about the code. Must be set before torch or sklearn load OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402


def _models(n_features, rng):
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
    )
    from sklearn.tree import DecisionTreeClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = (rng.normal(size=(50_000, n_features)) * rng.uniform(0.5, 5, n_features)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(size=len(X)) > 0).astype(np.int64)
    models = {
        "linear": ("StandardScaler+SGD", lambda: make_pipeline(
            StandardScaler(), SGDClassifier(random_state=0)).fit(X, y)),
        "mlp": ("StandardScaler+MLP(64,32)", lambda: make_pipeline(
            StandardScaler(), MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=5,
                                            random_state=0)).fit(X[:20_000], y[:20_000])),
        "kmeans": ("MiniBatchKMeans(16)", lambda: MiniBatchKMeans(
            n_clusters=16, n_init=1, random_state=0).fit(X)),
        "forest": ("RandomForest 100 x depth 8", lambda: RandomForestClassifier(
            n_estimators=100, max_depth=8, random_state=0).fit(X[:20_000], y[:20_000])),
        # The other tree models of the coverage list (not in the default run).
        "extratrees": ("ExtraTrees 100 x depth 8", lambda: ExtraTreesClassifier(
            n_estimators=100, max_depth=8, random_state=0).fit(X[:20_000], y[:20_000])),
        "gb": ("GradientBoosting 100 x depth 3", lambda: GradientBoostingClassifier(
            n_estimators=100, max_depth=3, random_state=0).fit(X[:20_000], y[:20_000])),
        "hgb": ("HistGradientBoosting 100 iterations", lambda: HistGradientBoostingClassifier(
            max_iter=100, random_state=0).fit(X[:20_000], y[:20_000])),
        "tree": ("DecisionTree depth 12", lambda: DecisionTreeClassifier(
            max_depth=12, random_state=0).fit(X[:20_000], y[:20_000])),
    }
    # k-means with other numbers of centres (not in the default run): kmeans4 ... kmeans256.
    for k in (4, 64, 128, 256):
        models[f"kmeans{k}"] = (f"MiniBatchKMeans({k})", lambda k=k: MiniBatchKMeans(
            n_clusters=k, n_init=1, random_state=0).fit(X))
    return models


def _hummingbird(model, device):
    import hummingbird.ml

    hb = hummingbird.ml.convert(model, "torch", device=device)
    return hb.predict


def _onnxruntime(model, X, threads):
    import onnxruntime
    from skl2onnx import to_onnx

    onx = to_onnx(model, X[:1], target_opset={"": 17, "ai.onnx.ml": 3},
                  options={"zipmap": False} if hasattr(model, "predict_proba") else None)
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(onx.SerializeToString(), opts,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda A: session.run(None, {name: A})[0]


def _runners(model, X, args):
    import outofcore as ooc

    compiled = ooc.compile_pipeline(model, device=args.device, tree_strategy=args.tree_strategy)
    runners = {"sklearn": model.predict, "ours": compiled.predict}
    problems = {}
    for name, build in [("hummingbird", lambda: _hummingbird(model, args.device)),
                        ("onnxruntime", lambda: _onnxruntime(model, X, args.threads))]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                runners[name] = build()
        except Exception as exc:  # a missing package or an unsupported model: report, don't stop
            problems[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
    return runners, problems, compiled


def _time(fn, X, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn(X)
    return (time.perf_counter() - start) / calls


def _measure(runners, X, one, args):
    """Median seconds per batch and per single-row call, repeats interleaved across runners."""
    batch = {k: [] for k in runners}
    row = {k: [] for k in runners}
    for fn in runners.values():  # warm-up (lazy builds, allocator, caches)
        fn(X[:1000])
        fn(one)
    names = list(runners)
    for repeat in range(args.repeats):
        # The order rotates: a runner right after another one pays for the caches and the
        # still-spinning BLAS threads that one left behind (up to 3 ms on a 5 ms batch).
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            fn = runners[name]
            batch[name].append(_time(fn, X, 1))
            row[name].append(_time(fn, one, args.row_calls))
    return ({k: statistics.median(v) for k, v in batch.items()},
            {k: statistics.median(v) for k, v in row.items()})


def _fmt(seconds, unit):
    if seconds is None:
        return "—"
    return f"{seconds * 1e3:.1f} ms" if unit == "ms" else f"{seconds * 1e6:.0f} us"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--row-calls", type=int, default=200, help="single-row calls per timing")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--models", nargs="+", default=["linear", "mlp", "kmeans", "forest"])
    parser.add_argument("--tree-strategy", default="auto",
                        help="auto, native, gemm, perfect or traversal (forest only)")
    args = parser.parse_args(argv)

    import threadpoolctl
    import torch

    torch.set_num_threads(args.threads)
    threadpoolctl.threadpool_limits(args.threads)
    rng = np.random.default_rng(0)
    models = _models(args.features, rng)
    X = (rng.normal(size=(args.rows, args.features)) * 2).astype(np.float32)
    one = X[:1].copy()
    on_gpu = args.device.startswith("cuda")
    device_name = torch.cuda.get_device_name() if on_gpu else platform.processor()
    print(f"# {args.rows} x {args.features} float32, {args.threads} threads, device={args.device} "
          f"({device_name or platform.machine()}), torch {torch.__version__}, median of {args.repeats}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, load average {os.getloadavg()[0]:.1f}")
    header = ("| model | sklearn | ours | Hummingbird | onnxruntime | vs sklearn | vs HB | vs ORT |\n"
              "|---|---|---|---|---|---|---|---|")
    lines, notes = [], []
    for key in args.models:
        label, fit = models[key]
        with warnings.catch_warnings():
            # A few MLP epochs are enough to time prediction; convergence is not the point.
            warnings.filterwarnings("ignore", message=".*Maximum iterations.*")
            model = fit()
        runners, problems, compiled = _runners(model, X, args)
        agree = float(np.mean(np.asarray(runners["ours"](X[:100_000])) == model.predict(X[:100_000])))
        batch, row = _measure(runners, X, one, args)
        cells = [label]
        for name in ("sklearn", "ours", "hummingbird", "onnxruntime"):
            cells.append(f"{_fmt(batch.get(name), 'ms')} / {_fmt(row.get(name), 'us')}")
        for name in ("sklearn", "hummingbird", "onnxruntime"):
            if name in batch:
                cells.append(f"{batch[name] / batch['ours']:.1f}x / {row[name] / row['ours']:.1f}x")
            else:
                cells.append("—")
        lines.append("| " + " | ".join(cells) + " |")
        strategy = ""
        if hasattr(compiled._head, "pick"):
            strategy = f", tree strategy {type(compiled._head.pick(args.rows)).__name__.lower()}"
        notes.append(f"{label}: labels equal to sklearn on {agree:.6f} of 100k rows{strategy}"
                     + "".join(f"; {k}: {v}" for k, v in problems.items()))
        print(lines[-1], flush=True)
    print()
    print(header)
    print("\n".join(lines))
    print("\nCells: batch time / single-row time; ratios: their time / ours.")
    print("\n".join(notes))


if __name__ == "__main__":
    main()
