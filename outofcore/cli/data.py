"""What ``fit`` learns from: DATA's format, its parts, and the feature columns, checked in the words
of the command line (``--exclude``, ``--target``, ``--format``) before anything is learned."""

import os

from outofcore.cli.models import UsageError

# Left out of the features unless absent: row ids are not features.
DEFAULT_EXCLUDE = ("id",)
# Column names a clusterer would take for a label without --target.
LABEL_NAMES = ("target", "label", "labels", "class", "y")


def data_format(args, path):
    """``--format``, or CSV for a path ending in ``.csv``, else parquet."""
    fmt = getattr(args, "format", None)
    return fmt or ("csv" if os.fspath(path).rstrip("/").endswith(".csv") else "parquet")


def check_data(path, fmt):
    """Raise FileNotFoundError when DATA has no ``fmt`` parts; imports fsspec, nothing heavy."""
    from outofcore.io.files import list_files

    try:
        list_files(path, fmt)
    except FileNotFoundError as e:
        other = "csv" if fmt == "parquet" else "parquet"
        try:
            list_files(path, other)
        except FileNotFoundError:
            raise e from None
        raise FileNotFoundError(f"{e}; {path} holds {other} files: pass --format {other}") \
            from None


def read_data(read, args, path, target):
    """``(X, y, left_out)`` of DATA for ``fit`` through ``read`` (``read_parquet`` or
    ``read_csv``): X holds every column but the target, ``id`` and each ``--exclude``."""
    options = {"block_rows": args.block_rows} if args.block_rows else {}
    X, y = read(path, target, **options) if target else (read(path, **options), None)
    where = X.source.displays[0]
    asked = list(dict.fromkeys(args.exclude or []))
    if target in asked:
        raise UsageError(f"--exclude {target}: it is the --target column, which is never a "
                         f"feature; drop it from --exclude")
    missing = [c for c in asked if c not in X.columns]
    if missing:
        raise ValueError(f"--exclude {' '.join(missing)}: no such column in {where}; its "
                         f"columns: {', '.join(X.columns)}")
    left_out = asked + [c for c in DEFAULT_EXCLUDE if c in X.columns and c not in asked]
    features = [c for c in X.columns if c not in left_out]
    if not features:
        raise ValueError(f"no feature columns left in {where} after leaving out "
                         f"{', '.join(left_out + [target] * bool(target))}")
    return X[features], y, left_out


def check_unlabelled(args, X):
    """Refuse to cluster on a column named like a label when no --target was given."""
    labels = [c for c in X.columns if c.lower() in LABEL_NAMES]
    if labels and not args.target:
        name = labels[0]
        raise UsageError(
            f"--model {args.model} would cluster on column {name!r}, which looks like a label; "
            f"pass --target {name} to keep it out of the features (it is not used to fit), or "
            f"--exclude {name}"
        )
