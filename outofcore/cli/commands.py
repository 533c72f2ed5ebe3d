"""What each subcommand of ``outofcore`` does, its argument and path checks first.

Every command checks its arguments and paths, and says what it is about to do, before it imports
anything heavy (scikit-learn, dask, torch, skops): a mistake is reported at once, and the first
line appears while the libraries load. Each ends with the wall time the user waited, from the
process's start, split into its phases.
"""

import argparse
import os
import time

from outofcore.cli.data import check_data, check_unlabelled, data_format, read_data
from outofcore.cli.models import (
    DEFAULT_SCALER,
    MODELS,
    UNSUPERVISED,
    UsageError,
    build_pipeline,
    check_params,
    parse_params,
)
from outofcore.cli.timing import Stopwatch, seconds

# Both ways to get PyTorch, named wherever compiling finds it missing.
TORCH_HELP = (
    "the CPU build (a 190 MB download): pip install torch==2.13.0 --index-url "
    "https://download.pytorch.org/whl/cpu, then pip install 'outofcore[compile]'; or the "
    "default build: pip install 'outofcore[compile]', which on Linux pulls PyTorch with CUDA "
    "(several GB)"
)


def say(args, message):
    if not args.quiet:
        print(message, flush=True)


def _verbose(args):
    return False if args.quiet else "auto"


def _rate(rows, spent):
    return f"{rows / spent:,.0f} rows/s" if spent > 0 else "-"


def _at_least(args, minimums):
    """Raise UsageError for the first ``--flag`` below its minimum (``None``: not given)."""
    for name, minimum in minimums.items():
        value = getattr(args, name)
        if value is not None and value < minimum:
            raise UsageError(f"--{name.replace('_', '-')} must be at least {minimum}; got {value}")


def _refuse_existing(paths, overwrite):
    from outofcore.cli.model_io import refuse_existing

    refuse_existing(paths, overwrite)


# ------------------------------------------------------------------------------- make-data
def cmd_make_data(args):
    fmt = args.format or ("csv" if args.out.rstrip("/").endswith(".csv") else "parquet")
    _at_least(args, {"rows": 0, "features": 1, "n_classes": 2, "rows_per_part": 1, "seed": 0})
    _refuse_existing([args.out], args.overwrite)
    categories = _counts(args.categories)
    if not 0 <= args.missing < 1:
        raise UsageError(f"--missing {args.missing}: give a fraction in [0, 1), e.g. 0.05")
    extras = [f"text columns of {', '.join(map(str, categories))} values"] * bool(categories) \
        + [f"{args.missing:.0%} missing numbers"] * bool(args.missing) \
        + ["a timestamp"] * args.timestamp + ["a boolean"] * args.boolean
    say(args, f"writing {args.rows:,} rows x {args.features} features ({args.task}, {fmt}"
              + "".join(f", {e}" for e in extras) + f") to {args.out}")
    from outofcore.data import generate

    args.watch.lap("start-up")
    generate(args.out, rows=args.rows, features=args.features, task=args.task,
             n_classes=args.n_classes, categories=categories, timestamp=args.timestamp,
             boolean=args.boolean, missing=args.missing, format=fmt,
             rows_per_part=args.rows_per_part, seed=args.seed, overwrite=args.overwrite,
             verbose=_verbose(args))
    args.watch.lap("writing")
    say(args, f"wrote {args.out}: {_rate(args.rows, args.watch.phases['writing'])}; "
              f"{args.watch.line()}")


def _counts(text):
    """``--categories 10,1000`` as ``[10, 1000]``."""
    if not text:
        return []
    try:
        counts = [int(v) for v in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 2:
        raise UsageError(f"--categories {text}: give column sizes of at least 2, separated by "
                         f"commas, e.g. --categories 10,1000")
    return counts


# -------------------------------------------------------------------------------------- fit
def fit_model(args, *, announce=True):
    """Fit, save the model and its metadata, write the report: returns (pipeline, metadata).

    ``announce``: print what is fitted and the data's shape as the fit starts."""
    report = f"{args.out}.report"
    _refuse_existing([args.out, f"{args.out}.meta.json", f"{report}.html", f"{report}.json"],
                     args.overwrite)
    supervised = args.model not in UNSUPERVISED
    if supervised and not args.target:
        raise UsageError(f"--model {args.model} learns from labels: pass --target COLUMN")
    _at_least(args, {"epochs": 1, "block_rows": 1, "seed": 0})
    params = parse_params(args.param)
    check_data(args.data, data_format(args, args.data))
    if announce:
        say(args, f"fit {args.model} ({MODELS[args.model][1]}) on {args.data}"
                  + (f", target {args.target!r}" if args.target else "") + f" -> {args.out}")
    check_params(args.model, params)  # scikit-learn's rules, before any data are read
    from outofcore import read_csv, read_parquet
    from outofcore.cli.model_io import save_model
    from outofcore.cli.monitor import FitMonitor
    from outofcore.cli.report import write_report

    read = read_csv if data_format(args, args.data) == "csv" else read_parquet
    args.watch.lap("start-up")
    X, y, left_out = read_data(read, args, args.data, args.target)
    features = X.columns
    if not supervised:
        check_unlabelled(args, X)
    from outofcore.cli.schema import preprocessing

    preprocess, chose = preprocessing(
        X.schema, scaler=args.scaler or DEFAULT_SCALER.get(args.model, "standard"),
        impute=args.impute, min_frequency=args.min_frequency)
    if announce:
        blocks = f"{X.numblocks} block" + "s" * (X.numblocks != 1)
        say(args, f"  {X.shape[0]:,} rows x {len(features)} features in {blocks}"
                  + (f"; left out: {', '.join(left_out)}" if left_out else ""))
        for line in chose:
            say(args, f"  {line}")
    monitor = FitMonitor()
    pipe = build_pipeline(args.model, params=params, epochs=args.epochs,
                          early_stopping=args.early_stopping, seed=args.seed,
                          verbose=_verbose(args), callback=monitor, preprocess=preprocess)
    args.watch.lap("planning")
    client = None
    if args.scheduler:
        from distributed import Client

        client = Client(args.scheduler)
    try:
        with monitor:
            pipe.fit(X, y if supervised else None)
    finally:
        if client is not None:
            client.close()
    s = monitor.summary()
    args.watch.lap_split({"reading": s["before_first_block_seconds"] + s["wait_seconds"],
                          "learning": s["learn_seconds"]}, rest="other")
    inc = pipe[-1]
    inc.set_params(callback=None)  # the monitor belongs to this session, not to the model
    meta = {"model": args.model, "estimator": repr(inc.estimator_), "pipeline": repr(pipe),
            "data": os.path.abspath(args.data), "target": args.target, "features": features,
            "left_out": left_out, "preprocessing": chose, "rows": int(X.shape[0]),
            "blocks": X.numblocks,
            "epochs": inc.n_epochs_, "samples_seen": int(inc.n_samples_seen_),
            "seconds": round(monitor.seconds, 3),
            "classes": getattr(inc, "classes_", None), "history": inc.history_,
            "scheduler": args.scheduler or "local threads", "seed": args.seed,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "report": f"{report}.html"}
    save_model(pipe, args.out, metadata=meta)
    write_report(report, monitor, inc.history_,
                 meta={k: meta[k] for k in ("model", "estimator", "data", "target", "rows",
                                            "blocks", "epochs", "scheduler", "trained_at")})
    args.watch.lap("saving")
    meta["took"] = args.watch.line({"reading": (
        f"{seconds(s['before_first_block_seconds'])} before the first block, "
        f"{seconds(s['wait_seconds'])} waiting for blocks")})
    return pipe, meta


def cmd_fit(args):
    _, meta = fit_model(args)
    last = meta["history"][-1] if meta["history"] else {}
    facts = [f"{meta['epochs']} epoch(s)", _rate(meta["samples_seen"], meta["seconds"])]
    if last.get("score") is not None:
        facts.append(f"validation score {last['score']:.4f}")
    if meta["classes"] is not None:
        classes = [str(c) for c in meta["classes"]]
        shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
        facts.append(f"{len(classes)} classes: {shown}")
    say(args, f"fitted {meta['model']} on {meta['rows']:,} rows x {len(meta['features'])} "
              f"features: {'; '.join(facts)}")
    say(args, meta["took"])
    say(args, f"saved {args.out}; report {meta['report']}")


# ---------------------------------------------------------------------------------- predict
def predict_file(args, model, data, out, method):
    """Write ``method`` of ``model`` for DATA to ``out`` with a progress bar: returns rows."""
    from outofcore import predict_to_parquet

    done = []
    predict_to_parquet(model, data, out, method=method, keep=args.keep, overwrite=args.overwrite,
                       format=data_format(args, data), device=getattr(args, "device", None),
                       verbose=_verbose(args), callback=done.append)
    return done[-1]["rows"] if done else 0


def cmd_predict(args):
    from outofcore.cli.model_io import check_model_file, load_model

    check_model_file(args.model)
    check_data(args.data, data_format(args, args.data))
    _refuse_existing([args.out], args.overwrite)
    method = "predict_proba" if args.proba else args.method
    say(args, f"{method} with {args.model} on {args.data} -> {args.out}")
    args.watch.lap("start-up")
    model = load_model(args.model, device=args.device or "cpu")
    if not callable(getattr(model, method, None)):
        hint = " (for SGD, fit with --param loss=log_loss)" if method == "predict_proba" else ""
        raise ValueError(f"{args.model} has no {method}(){hint}; choose another --method")
    args.watch.lap("loading the model")
    rows = predict_file(args, model, args.data, args.out, method)
    args.watch.lap("predicting")
    say(args, f"wrote {method}() of {rows:,} rows to {args.out} "
              f"({_rate(rows, args.watch.phases['predicting'])}); {args.watch.line()}")


# ---------------------------------------------------------------------------------- compile
def cmd_compile(args):
    from importlib.util import find_spec

    from outofcore.cli.model_io import check_model_file, load_metadata, load_model, meta_path

    check_model_file(args.model)
    _refuse_existing([args.out, meta_path(args.out)], args.overwrite)
    missing = [name for name in ("torch", "safetensors") if find_spec(name) is None]
    if missing:
        raise ValueError(f"compile needs {' and '.join(missing)}, which the basic install "
                         f"does not bring. Install {TORCH_HELP}")
    say(args, f"compiling {args.model} -> {args.out} ({args.device}, {args.dtype})")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: torch finds no CUDA device here. The compiled file "
                             "does not depend on the device: compile with --device cpu and load "
                             "it on a GPU machine with load_compiled(path, device='cuda')")
    from outofcore import compile_pipeline
    from outofcore.io.files import write_json

    args.watch.lap("start-up")
    model = load_model(args.model)
    args.watch.lap("loading the model")
    compiled = compile_pipeline(model, device=args.device, dtype=args.dtype)
    args.watch.lap("compiling")
    compiled.save(args.out, overwrite=args.overwrite)
    meta = load_metadata(args.model)
    if meta:
        write_json(meta_path(args.out), {**meta, "compiled_from": os.path.abspath(args.model),
                                         "device": args.device, "dtype": args.dtype})
    args.watch.lap("saving")
    say(args, f"compiled {compiled!r}; {args.watch.line()}")


# ------------------------------------------------------------------------------------- info
_FACTS = ("compiled_from", "device", "dtype", "model", "data", "target", "rows", "blocks",
          "epochs", "samples_seen", "seconds", "scheduler", "seed", "trained_at", "report")


def cmd_info(args):
    import json

    from outofcore.cli.model_io import check_model_file, kind_of_file, load_metadata, load_model

    check_model_file(args.model)
    kind = kind_of_file(args.model)
    if kind is None:
        raise ValueError(f"{args.model} is not a model saved by `outofcore fit` (skops) nor a "
                         f"compiled model (`outofcore compile`)")
    meta = load_metadata(args.model)
    if meta.get("pipeline"):  # what the model is, without loading scikit-learn
        what = meta["pipeline"] if kind == "skops" else f"CompiledPipeline of {meta['pipeline']}"
    else:
        what = repr(load_model(args.model))
    if args.json:
        print(json.dumps({"model": what, **meta}, indent=1))
        return
    print(f"{args.model}: {what}")
    if not meta:
        print("no training metadata (no .meta.json beside the model)")
        return
    for key in _FACTS:
        if meta.get(key) is not None:
            print(f"  {key:<15}{meta[key]}")
    print(f"  {'features':<15}{len(meta['features'])}: {', '.join(meta['features'])}")
    if meta.get("left_out"):
        print(f"  {'left out':<15}{', '.join(meta['left_out'])}")
    for i, line in enumerate(meta.get("preprocessing", [])):
        print(f"  {'preprocessing' if i == 0 else '':<15}{line}")
    if meta.get("classes") is not None:
        print(f"  {'classes':<15}{meta['classes']}")
    print(f"  {'history':<15}epoch    rows seen  seconds  waiting  learning  score   loss")
    for h in meta.get("history", []):
        score = "-" if h["score"] is None else f"{h['score']:.4f}"
        loss = "-" if h["loss"] is None else f"{h['loss']:.4g}"
        print(f"  {'':<15}{h['epoch']:>5}  {h['rows']:>11,}  {h['seconds']:>7.2f}  "
              f"{h.get('wait_seconds', 0.0):>7.2f}  {h.get('learn_seconds', 0.0):>8.2f}  "
              f"{score:<6}  {loss}")
    print(f"  {'versions':<15}" + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()))


# ------------------------------------------------------------------------------------- demo
def cmd_demo(args):
    """Generate data, fit StandardScaler + Incremental(SGDClassifier), predict, print accuracy."""
    import shutil
    import tempfile

    _at_least(args, {"rows": 4, "features": 1, "epochs": 1, "seed": 0})
    folder = args.dir or tempfile.mkdtemp(prefix="outofcore-demo-")
    paths = {name: os.path.join(folder, name) for name in
             ("train.parquet", "test.parquet", "model.skops", "predictions.parquet")}
    _refuse_existing(paths.values(), args.overwrite)
    # One data set of five equal parts; the last is held out. (Another seed would draw another
    # data set, with other scales and weights, not more rows of this one.)
    part = max(1, args.rows // 4)
    say(args, f"demo: {4 * part:,} training + {part:,} test rows x {args.features} features in "
              f"{folder}")
    from outofcore import read_parquet
    from outofcore.data import generate
    from outofcore.runtime.scheduler import compute

    watch = args.watch
    watch.lap("start-up")
    try:
        generate(paths["train.parquet"], rows=5 * part, features=args.features, seed=args.seed,
                 rows_per_part=part, overwrite=args.overwrite)
        os.makedirs(paths["test.parquet"], exist_ok=args.overwrite)
        os.replace(os.path.join(paths["train.parquet"], "part-00004.parquet"),
                   os.path.join(paths["test.parquet"], "part-00000.parquet"))
        watch.lap("make-data")
        spent = watch.phases["make-data"]
        say(args, f"1. make-data  {4 * part:,} training + {part:,} test rows in {seconds(spent)} "
                  f"({_rate(5 * part, spent)})")
        fit_args = argparse.Namespace(
            **vars(args), data=paths["train.parquet"], target="target", model="sgd", scaler=None,
            impute="median", min_frequency=100, param=[], early_stopping=False, block_rows=None, format=None, exclude=None,
            scheduler=None, out=paths["model.skops"])
        fit_args.watch = Stopwatch()
        pipe, meta = fit_model(fit_args, announce=False)
        watch.lap("fit")
        say(args, f"2. fit        {args.epochs} epoch(s) of StandardScaler + SGDClassifier in "
                  f"{seconds(meta['seconds'])} ({_rate(meta['samples_seen'], meta['seconds'])})")
        predict_file(argparse.Namespace(**vars(args), keep=["id"], format=None), pipe,
                     paths["test.parquet"], paths["predictions.parquet"], "predict")
        watch.lap("predict")
        spent = watch.phases["predict"]
        say(args, f"3. predict    {part:,} rows to parquet in {seconds(spent)} "
                  f"({_rate(part, spent)})")
        _, predicted = read_parquet(paths["predictions.parquet"], target="prediction")
        _, y = read_parquet(paths["test.parquet"], target="target", columns=["f0"])
        accuracy = float(compute((predicted.rechunk(y.chunks) == y).mean())[0])
        watch.lap("scoring")
        say(args, f"4. accuracy   {accuracy:.4f} on the held-out rows (the best linear model "
                  f"reaches about 0.80)")
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    say(args, watch.line() + (f"; files in {folder}; next: outofcore info "
                              f"{paths['model.skops']}" if args.dir else ""))
