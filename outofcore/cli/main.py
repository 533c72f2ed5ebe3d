"""The ``outofcore`` command: make data, fit a pipeline out of core, predict, compile, inspect.

Every subcommand has ``--help``. Errors print one line, ``outofcore: error: ...``, on stderr and
exit with 2 for a bad command line and 1 for anything that fails while running (missing or bad
data, an existing output); ``--debug`` shows the traceback instead. Outputs that exist are never
replaced without ``--overwrite``. Long steps show a progress bar (rows/s, ETA) on a terminal and
stay silent in scripts or with ``--quiet``.
"""

import argparse
import os
import sys
import time

from outofcore import __version__
from outofcore.cli.models import (
    DEFAULT_SCALER,
    MODELS,
    SCALERS,
    UNSUPERVISED,
    UsageError,
    build_pipeline,
    parse_params,
)

# The model tables, build_pipeline and parse_params live in outofcore._models; they stay importable
# from here, where scripts and tests have always found them.
__all__ = ["main", "build_pipeline", "parse_params", "MODELS", "SCALERS", "UNSUPERVISED",
           "DEFAULT_SCALER", "UsageError"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _say(args, message):
    if not args.quiet:
        print(message, flush=True)


def _verbose(args):
    return False if args.quiet else "auto"


def _read(args, path, target):
    """(X, y, features) of DATA: parquet, or CSV for a path ending in .csv or --format csv."""
    from outofcore import read_csv, read_parquet

    fmt = args.format or ("csv" if os.fspath(path).rstrip("/").endswith(".csv") else "parquet")
    read = read_csv if fmt == "csv" else read_parquet
    options = {"block_rows": args.block_rows} if args.block_rows else {}
    read_all = read(path, target, **options)
    X = read_all[0] if target else read_all
    features = [n for n in X.columns if n not in set(args.exclude or ["id"])]
    X, y = read(path, target, columns=features, **options) if target else (
        read(path, columns=features, **options), None)
    return X, y, features


def _rate(rows, seconds):
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "-"


# ------------------------------------------------------------------------------------ commands
def cmd_make_data(args):
    from outofcore.data import generate

    fmt = args.format or ("csv" if args.out.rstrip("/").endswith(".csv") else "parquet")
    start = time.perf_counter()
    generate(args.out, rows=args.rows, features=args.features, task=args.task,
             n_classes=args.n_classes, format=fmt, rows_per_part=args.rows_per_part,
             seed=args.seed, overwrite=args.overwrite, verbose=_verbose(args))
    seconds = time.perf_counter() - start
    _say(args, f"wrote {args.rows:,} rows x {args.features} features ({args.task}, {fmt}) to "
               f"{args.out} in {seconds:.1f} s ({_rate(args.rows, seconds)})")


def fit_model(args):
    """Fit, save the model and its metadata, write the report: returns (pipeline, metadata)."""
    from outofcore.cli.model_io import meta_path, refuse_existing, save_model
    from outofcore.cli.report import FitMonitor, write_report

    report = f"{args.out}.report"
    refuse_existing([args.out, meta_path(args.out), f"{report}.html", f"{report}.json"],
                    args.overwrite)
    supervised = args.model not in UNSUPERVISED
    if supervised and not args.target:
        raise UsageError(f"--model {args.model} learns from labels: pass --target COLUMN")
    X, y, features = _read(args, args.data, args.target)
    monitor = FitMonitor()
    pipe = build_pipeline(args.model, scaler=args.scaler, params=parse_params(args.param),
                          epochs=args.epochs, early_stopping=args.early_stopping, seed=args.seed,
                          verbose=_verbose(args), callback=monitor)
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
    inc = pipe[-1]
    meta = {"model": args.model, "estimator": repr(inc.estimator_), "pipeline": repr(pipe),
            "data": os.path.abspath(args.data), "target": args.target, "features": features,
            "rows": int(X.shape[0]), "blocks": len(X.chunks[0]), "epochs": inc.n_epochs_,
            "samples_seen": int(inc.n_samples_seen_), "seconds": round(monitor.seconds, 3),
            "classes": getattr(inc, "classes_", None), "history": inc.history_,
            "scheduler": args.scheduler or "local threads", "seed": args.seed,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "report": f"{report}.html"}
    save_model(pipe, args.out, metadata=meta)
    write_report(report, monitor, inc.history_,
                 meta={k: meta[k] for k in ("model", "data", "target", "rows", "epochs",
                                            "seconds", "scheduler", "trained_at")})
    return pipe, meta


def cmd_fit(args):
    _, meta = fit_model(args)
    last = meta["history"][-1] if meta["history"] else {}
    score = f", validation score {last['score']:.4f}" if last.get("score") is not None else ""
    _say(args, f"fitted {meta['model']} on {meta['rows']:,} rows x {len(meta['features'])} "
               f"features, {meta['epochs']} epoch(s) in {meta['seconds']:.1f} s "
               f"({_rate(meta['samples_seen'], meta['seconds'])}){score}")
    _say(args, f"saved {args.out}; report {meta['report']}")


def predict_file(args, model, data, out, method):
    """Write ``method`` of ``model`` for DATA to ``out`` with a progress bar: returns rows."""
    from outofcore import predict_to_parquet

    done = []
    predict_to_parquet(model, data, out, method=method, keep=args.keep, overwrite=args.overwrite,
                       device=getattr(args, "device", None), verbose=_verbose(args),
                       callback=done.append)
    return done[-1]["rows"] if done else 0


def cmd_predict(args):
    from outofcore.cli.model_io import load_model

    model = load_model(args.model, device=args.device or "cpu")
    method = "predict_proba" if args.proba else args.method
    if not callable(getattr(model, method, None)):
        hint = " (for SGD, fit with --param loss=log_loss)" if method == "predict_proba" else ""
        raise ValueError(f"{args.model} has no {method}(){hint}; choose another --method")
    start = time.perf_counter()
    rows = predict_file(args, model, args.data, args.out, method)
    seconds = time.perf_counter() - start
    _say(args, f"wrote {method} for {rows:,} rows to {args.out} in {seconds:.1f} s "
               f"({_rate(rows, seconds)})")


def cmd_compile(args):
    from outofcore import compile_pipeline
    from outofcore.cli.model_io import load_metadata, load_model, meta_path, refuse_existing
    from outofcore.io.files import write_json

    refuse_existing([args.out, meta_path(args.out)], args.overwrite)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: torch finds no CUDA device here. The compiled file "
                             "does not depend on the device: compile with --device cpu and load "
                             "it on a GPU machine with load_compiled(path, device='cuda')")
    model = load_model(args.model)
    start = time.perf_counter()
    compiled = compile_pipeline(model, device=args.device, dtype=args.dtype)
    compiled.save(args.out)
    meta = load_metadata(args.model)
    if meta:
        write_json(meta_path(args.out), {**meta, "compiled_from": os.path.abspath(args.model),
                                         "device": args.device, "dtype": args.dtype})
    _say(args, f"compiled {args.model} to {args.out} ({args.device}, {args.dtype}) in "
               f"{time.perf_counter() - start:.1f} s: {compiled!r}")


def cmd_info(args):
    import json

    from outofcore.cli.model_io import load_metadata, load_model

    model = load_model(args.model)
    meta = load_metadata(args.model)
    if args.json:
        print(json.dumps({"model": repr(model), **meta}, indent=1))
        return
    print(f"{args.model}: {model!r}")
    if not meta:
        print("no training metadata (no .meta.json beside the model)")
        return
    for key in ("compiled_from", "device", "dtype", "model", "data", "target", "rows", "blocks",
                "epochs", "samples_seen", "seconds", "scheduler", "seed", "trained_at", "report"):
        if meta.get(key) is not None:
            print(f"  {key:<13}{meta[key]}")
    print(f"  {'features':<13}{len(meta['features'])}: {', '.join(meta['features'])}")
    if meta.get("classes") is not None:
        print(f"  {'classes':<13}{meta['classes']}")
    print("  history      epoch  rows seen    seconds  score     loss")
    for h in meta.get("history", []):
        score = "-" if h["score"] is None else f"{h['score']:.4f}"
        loss = "-" if h["loss"] is None else f"{h['loss']:.4g}"
        print(f"               {h['epoch']:>5}  {h['rows']:>11,}  {h['seconds']:>7.2f}  "
              f"{score:<8}  {loss}")
    print("  versions     " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()))


def cmd_demo(args):
    """Generate data, fit StandardScaler + Incremental(SGDClassifier), predict, print accuracy."""
    import shutil
    import tempfile

    from outofcore import read_parquet
    from outofcore.runtime.scheduler import compute
    from outofcore.cli.model_io import refuse_existing
    from outofcore.data import generate

    folder = args.dir or tempfile.mkdtemp(prefix="outofcore-demo-")
    paths = {name: os.path.join(folder, name) for name in
             ("train.parquet", "test.parquet", "model.skops", "predictions.parquet")}
    refuse_existing(paths.values(), args.overwrite)
    # One data set of five equal parts; the last is held out. (Another seed would draw another
    # data set, with other scales and weights, not more rows of this one.)
    part = max(1, args.rows // 4)
    try:
        start = time.perf_counter()
        generate(paths["train.parquet"], rows=5 * part, features=args.features, seed=args.seed,
                 rows_per_part=part, overwrite=args.overwrite)
        os.makedirs(paths["test.parquet"], exist_ok=args.overwrite)
        os.replace(os.path.join(paths["train.parquet"], "part-00004.parquet"),
                   os.path.join(paths["test.parquet"], "part-00000.parquet"))
        seconds = time.perf_counter() - start
        _say(args, f"1. make-data  {4 * part:,} training + {part:,} test rows x {args.features} "
                   f"features in {seconds:.1f} s ({_rate(5 * part, seconds)})")
        fit_args = argparse.Namespace(
            **vars(args), data=paths["train.parquet"], target="target", model="sgd", scaler=None,
            param=[], early_stopping=False, block_rows=None, format=None, exclude=None,
            scheduler=None, out=paths["model.skops"])
        pipe, meta = fit_model(fit_args)
        _say(args, f"2. fit        {args.epochs} epoch(s) of StandardScaler + SGDClassifier in "
                   f"{meta['seconds']:.1f} s ({_rate(meta['samples_seen'], meta['seconds'])})")
        start = time.perf_counter()
        predict_file(argparse.Namespace(**vars(args), keep=["id"]), pipe,
                     paths["test.parquet"], paths["predictions.parquet"], "predict")
        seconds = time.perf_counter() - start
        _say(args, f"3. predict    {part:,} rows to parquet in {seconds:.1f} s "
                   f"({_rate(part, seconds)})")
        _, predicted = read_parquet(paths["predictions.parquet"], target="prediction")
        _, y = read_parquet(paths["test.parquet"], target="target", columns=["f0"])
        accuracy = float(compute((predicted.rechunk(y.chunks) == y).mean())[0])
        _say(args, f"4. accuracy   {accuracy:.4f} on the held-out rows (the best linear model "
                   f"reaches about 0.80)")
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    if args.dir:
        _say(args, f"files in {folder}; next: outofcore info {paths['model.skops']}")


# -------------------------------------------------------------------------------------- parser
def build_parser():
    """The argparse parser of ``outofcore`` and its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    common.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    reads = argparse.ArgumentParser(add_help=False)
    reads.add_argument("--format", choices=("parquet", "csv"),
                       help="format of DATA (default: csv when it ends in .csv, else parquet)")
    reads.add_argument("--block-rows", type=int, help="most rows in a block (default 2**20)")

    parser = _Parser(prog="outofcore", description="Train scikit-learn pipelines on data larger "
                     "than memory, predict to parquet, and compile fitted pipelines to torch.",
                     epilog="`outofcore COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"outofcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("make-data", parents=[common, writes], help="write a synthetic data set",
                       description="Write a deterministic synthetic data set as a folder of parts.")
    p.add_argument("--rows", type=int, required=True, help="row count, e.g. 20000000")
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--out", required=True, help="folder to create, e.g. data/train.parquet")
    p.add_argument("--task", choices=("classification", "regression"), default="classification")
    p.add_argument("--n-classes", type=int, default=2)
    p.add_argument("--format", choices=("parquet", "csv"), help="default: from the --out suffix")
    p.add_argument("--rows-per-part", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_make_data)

    p = sub.add_parser("fit", parents=[common, writes, reads], help="fit a pipeline out of core",
                       description="Fit scaler + Incremental(model) block by block and save it "
                       "with its metadata (MODEL.meta.json) and a fit report (MODEL.report.html).")
    p.add_argument("data", metavar="DATA", help="parquet/CSV file, folder or glob")
    p.add_argument("--target", help="label column (not needed for kmeans)")
    p.add_argument("--model", choices=sorted(MODELS), default="sgd", metavar="NAME",
                   help=f"default sgd; one of: {', '.join(sorted(MODELS))}")
    p.add_argument("--scaler", choices=sorted(SCALERS),
                   help="default: minmax for nb, standard otherwise")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="estimator parameter, repeatable (typed: 1, 0.5, true, none, text)")
    p.add_argument("--exclude", action="append", metavar="COLUMN",
                   help="column left out of the features, repeatable (default: id)")
    p.add_argument("--early-stopping", action="store_true",
                   help="hold out 10%% of the blocks, score each epoch, stop when it stalls")
    p.add_argument("--seed", type=int, default=0, help="block/row order and estimator seed")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler to use")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file, e.g. model.skops")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", parents=[common, writes], help="predict DATA to parquet",
                       description="Write MODEL's predictions for parquet DATA, part by part.")
    p.add_argument("model", metavar="MODEL", help="from `outofcore fit` or `outofcore compile`")
    p.add_argument("data", metavar="DATA", help="parquet file, folder or glob")
    p.add_argument("--out", required=True, help="parquet file or folder to write")
    p.add_argument("--proba", action="store_true", help="class probabilities (predict_proba)")
    p.add_argument("--method", default="predict",
                   choices=("predict", "predict_proba", "decision_function", "transform"))
    p.add_argument("--keep", action="append", metavar="COLUMN",
                   help="column copied to the output (ids), repeatable")
    p.add_argument("--device", help="device for a compiled MODEL (cpu, cuda)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("compile", parents=[common, writes], help="compile MODEL to torch",
                       description="Compile a fitted MODEL to a torch program saved as "
                       "safetensors (loads without scikit-learn or pickle).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--out", required=True, metavar="COMPILED", help="e.g. model.safetensors")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("info", parents=[common], help="describe a saved model",
                       description="What MODEL is, how it was trained, and its history.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("demo", parents=[common, writes], help="the whole path in a minute",
                       description="Generate data, fit StandardScaler + Incremental("
                       "SGDClassifier) out of core, predict to parquet, print accuracy and rows/s.")
    p.add_argument("--rows", type=int, default=2_000_000,
                   help="training rows (a multiple of 4; a quarter more are held out for testing)")
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", help="keep the files in this folder (default: a temporary one)")
    p.set_defaults(func=cmd_demo)
    return parser


def _one_line(error):
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError, UsageError)) \
        else f"{type(error).__name__}: {text}"


def main(argv=None):
    """Run ``outofcore`` with ``argv`` (default: the command line); returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError("a command is required: make-data, fit, predict, compile, info, demo")
        args.func(args)
    except UsageError as e:
        if debug:
            raise
        print(f"outofcore: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("outofcore: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if debug:
            raise
        print(f"outofcore: error: {_one_line(e)} (--debug shows the traceback)", file=sys.stderr)
        return 1
    return 0


def _prefer_jemalloc():
    # Arrow's default pool (mimalloc) hands freed pages back to the kernel within milliseconds, so
    # each row group's buffers are faulted in and zeroed anew (perf: the kernel's page zeroing
    # was the largest item of a first predict_to_parquet); jemalloc keeps them for reuse. On the
    # project's machine, alternating: `outofcore fit` of the 5M-row float64 file 2.8-2.9 s against
    # 2.9-3.1 s; `outofcore predict` unchanged within its noise (1.5-1.6 against 1.4-1.8 s, mostly
    # start-up). The command owns its process, so it chooses; a library call does not switch a
    # process-wide allocator. pyarrow reads the variable when it makes its default pool, so it is
    # set before pyarrow loads. Its Linux and macOS wheels include jemalloc; the user's setting
    # wins.
    if sys.platform in ("linux", "darwin"):
        os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")


def run():
    """Entry point of the ``outofcore`` console script: :func:`main` in a process it tunes."""
    _prefer_jemalloc()
    return main()


if __name__ == "__main__":
    raise SystemExit(run())
