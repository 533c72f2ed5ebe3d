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

from outofcore import __version__
from outofcore.cli.models import MODELS, SCALERS, UsageError

# Each command's module is imported when it runs: `--help` and a bad command line load nothing.
_COMMANDS = {"make-data": "cmd_make_data", "fit": "cmd_fit", "predict": "cmd_predict",
             "compile": "cmd_compile", "info": "cmd_info", "demo": "cmd_demo"}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


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
    p.add_argument("--categories", metavar="N,N,...",
                   help="text columns c0, c1, ... of these many values, e.g. 10,1000,100000")
    p.add_argument("--missing", type=float, default=0.0, metavar="FRACTION",
                   help="fraction of the numbers left missing, e.g. 0.05")
    p.add_argument("--timestamp", action="store_true", help="add a timestamp column ts")
    p.add_argument("--boolean", action="store_true", help="add a boolean column flag")

    p = sub.add_parser("fit", parents=[common, writes, reads], help="fit a pipeline out of core",
                       description="Fit preprocessing built from DATA's column types (text "
                       "one-hot, numbers imputed and scaled, booleans 0/1, timestamps as hour, day "
                       "of week and month) + Incremental(model) block by block, and save it with "
                       "its metadata (MODEL.meta.json) and a fit report (MODEL.report.html).")
    p.add_argument("data", metavar="DATA", help="parquet/CSV file, folder or glob")
    p.add_argument("--target", help="label column (kmeans: left out of the features, unused)")
    p.add_argument("--model", choices=sorted(MODELS), default="sgd", metavar="NAME",
                   help=f"default sgd; one of: {', '.join(sorted(MODELS))}")
    p.add_argument("--scaler", choices=sorted(SCALERS),
                   help="of numeric columns; default: minmax for nb, standard otherwise")
    p.add_argument("--impute", choices=("mean", "median", "most_frequent"), default="median",
                   help="what replaces a missing number (default median)")
    p.add_argument("--min-frequency", type=int, default=100, metavar="ROWS",
                   help="rows a text category needs for a column of its own (default 100)")
    p.add_argument("--epochs", type=int, default=1, help="passes over the data (default 1)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="estimator parameter, repeatable, checked against the estimator's rules: "
                   "alpha=1e-4, loss=log_loss, learning_rate_init=0.01, hidden_layer_sizes=32,16 "
                   "(values: numbers, true/false, none, text, or comma lists)")
    p.add_argument("--exclude", action="append", metavar="COLUMN",
                   help="column left out of the features, repeatable; id is always left out")
    p.add_argument("--block-rows", type=int, help="most rows in a block (default: about 32 MiB "
                   "of numbers for parquet, 2**20 lines for CSV)")
    p.add_argument("--early-stopping", action="store_true",
                   help="hold out 10%% of the blocks, score each epoch, stop when it stalls")
    p.add_argument("--seed", type=int, default=0, help="block/row order and estimator seed")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler to use")
    p.add_argument("--out", required=True, metavar="MODEL", help="model file, e.g. model.skops")

    p = sub.add_parser("predict", parents=[common, writes, reads],
                       help="predict DATA to parquet",
                       description="Write MODEL's predictions for parquet or CSV DATA to "
                       "parquet, one output part per input part.")
    p.add_argument("model", metavar="MODEL", help="from `outofcore fit` or `outofcore compile`")
    p.add_argument("data", metavar="DATA", help="parquet/CSV file, folder or glob")
    p.add_argument("--out", required=True, help="parquet file or folder to write")
    p.add_argument("--proba", action="store_true", help="class probabilities (predict_proba)")
    p.add_argument("--method", default="predict",
                   choices=("predict", "predict_proba", "decision_function", "transform"))
    p.add_argument("--keep", action="append", metavar="COLUMN",
                   help="column copied to the output (ids), repeatable")
    p.add_argument("--device", help="device for a compiled MODEL (cpu, cuda)")

    p = sub.add_parser("compile", parents=[common, writes], help="compile MODEL to torch",
                       description="Compile a fitted MODEL to a torch program saved as "
                       "safetensors (loads without scikit-learn or pickle).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--out", required=True, metavar="COMPILED", help="e.g. model.safetensors")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")

    p = sub.add_parser("info", parents=[common], help="describe a saved model",
                       description="What MODEL is, how it was trained, and its history.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")

    p = sub.add_parser("demo", parents=[common, writes], help="the whole path in a minute",
                       description="Generate data, fit StandardScaler + Incremental("
                       "SGDClassifier) out of core, predict to parquet, print accuracy and rows/s.")
    p.add_argument("--rows", type=int, default=2_000_000,
                   help="training rows (a multiple of 4; a quarter more are held out for testing)")
    p.add_argument("--features", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", help="keep the files in this folder (default: a temporary one)")
    return parser


def _one_line(error):
    text = " ".join(str(error).split()) or type(error).__name__
    return text if isinstance(error, (ValueError, OSError, UsageError)) \
        else f"{type(error).__name__}: {text}"


def main(argv=None, *, waited=0.0):
    """Run ``outofcore`` with ``argv`` (default: the command line); returns the exit code.

    ``waited``: seconds the user has waited already (the process's start-up), counted in the
    timings commands print.
    """
    from outofcore.cli.timing import Stopwatch

    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            raise UsageError("a command is required: make-data, fit, predict, compile, info, demo")
        args.watch = Stopwatch(waited)
        from outofcore.cli import commands

        getattr(commands, _COMMANDS[args.command])(args)
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
    """Entry point of the ``outofcore`` console script: :func:`main` in a process it tunes,
    timing from the process's start; exits with main's code."""
    from outofcore.cli.timing import waited

    _prefer_jemalloc()
    code = main(waited=waited())
    # Every output is closed by now. The interpreter's teardown of scikit-learn, dask and arrow
    # would keep the user waiting after the last line, outside the time the command reports,
    # and nothing it does is needed.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # a reader that closed the pipe (`| head`) took what it wanted
        pass
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(run())
