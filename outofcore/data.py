"""Deterministic synthetic classification and regression data, written in parts in bounded memory.

``python -m outofcore.data --rows 20_000_000 --features 20 --out data/train.parquet`` writes a
folder of parts (``part-00000.parquet``, ...) holding an ``id`` column, features ``f0`` to
``f<k-1>`` and a ``target`` column (int64 classes, or float64 for regression).

The data: standard normal latent features ``z``, stored as ``z * scale + offset`` in float32 with
scales from 0.01 to 1000 and offsets of up to 20 scales, so a model without scaling struggles. The
classification target is ``argmax(z @ W * gain + noise)`` with unit normal noise per class, the gain
set once so that the best linear model reaches about 80% accuracy whatever the number of classes;
the regression target is ``50 + 10 * z @ w + 5 * noise`` with a unit-norm ``w`` (R^2 about 0.8).

Part ``i`` is drawn from ``np.random.default_rng([seed, i])`` (through two spawned streams, one
for the features and one for the noise, so the values do not depend on the row-group size), so the
same seed writes identical files whatever the number of workers. The scores are summed feature by
feature with elementwise float64 arithmetic, not a BLAS product whose rounding varies with the
machine and thread count, and the parameters are rounded to a few digits for the same reason.
Parts are written in parallel, each a row group at a time: memory stays near ``workers`` row
groups whatever the row count.
"""

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from outofcore.io.files import open_file, publishing
from outofcore.runtime.progress import RowProgress

_TASKS = ("classification", "regression")
_FORMATS = ("parquet", "csv")
# The stream for the data set's parameters; part streams use the part index, which never gets here.
_PARAMETER_STREAM = 2**32 - 1
_TARGET_ACCURACY = 0.8


def _scores(z, weights):
    """``z.T @ weights`` in float64, summed feature by feature with elementwise operations."""
    w = weights if weights.ndim == 2 else weights[:, None]
    out = np.zeros((z.shape[1], w.shape[1]))
    for j in range(z.shape[0]):
        out += z[j, :, None].astype(np.float64) * w[j]
    return out if weights.ndim == 2 else out[:, 0]


def _parameters(seed, features, task, n_classes):
    """Scales, offsets and target weights of one data set, from the seed alone."""
    rng = np.random.default_rng([seed, _PARAMETER_STREAM])
    scale = _rounded(10.0 ** rng.uniform(-2, 3, features))
    offset = _rounded(scale * rng.uniform(-20, 20, features))
    if task == "regression":
        w = rng.normal(size=features)
        return scale, offset, _rounded(w / np.sqrt(sum(float(v) ** 2 for v in w)))
    W = rng.normal(size=(features, n_classes))
    z = rng.standard_normal((features, 20_000)).astype(np.float32)
    noise = rng.standard_normal((20_000, n_classes))
    clean = _scores(z, W)
    lo, hi = 0.01, 100.0
    # Bisection in log space on the gain, which the best accuracy rises with.
    for _ in range(40):
        gain = np.sqrt(lo * hi)
        accuracy = np.mean(np.argmax(clean * gain + noise, 1) == np.argmax(clean, 1))
        lo, hi = (gain, hi) if accuracy < _TARGET_ACCURACY else (lo, gain)
    return scale, offset, _rounded(W * np.sqrt(lo * hi))


def _rounded(values):
    # Library functions (pow, sqrt, exp) may differ in the last bit between machines; four
    # significant digits hide that.
    return np.array([float(f"{v:.4g}") for v in np.ravel(values)]).reshape(np.shape(values))


def _columns(features):
    return ["id"] + [f"f{j}" for j in range(features)] + ["target"]


def _schema(features, task):
    target = pa.float64() if task == "regression" else pa.int64()
    return pa.schema([("id", pa.int64())] + [(f"f{j}", pa.float32()) for j in range(features)]
                     + [("target", target)])


def _row_group(z_rng, noise_rng, n, first_id, params, task):
    scale, offset, weights = params
    # Drawn row by row, so the values do not depend on how rows are cut into row groups; the
    # transposed copy gives each feature one contiguous run for its arrow column.
    z = np.ascontiguousarray(z_rng.standard_normal((n, len(scale)), dtype=np.float32).T)
    x = (z * scale[:, None] + offset[:, None]).astype(np.float32)
    scores = _scores(z, weights)
    if task == "regression":
        target = 50.0 + 10.0 * scores + 5.0 * noise_rng.standard_normal(n)
    else:
        noisy = scores + noise_rng.standard_normal(scores.shape)
        target = np.argmax(noisy, axis=1).astype(np.int64)
    arrays = [pa.array(np.arange(first_id, first_id + n, dtype=np.int64))]
    arrays += [pa.array(row) for row in x] + [pa.array(target)]
    return pa.Table.from_arrays(arrays, schema=_schema(len(scale), task))


def _write_part(fs, path, index, n_rows, first_id, params, cfg):
    """Write one part, a row group at a time."""
    streams = np.random.SeedSequence([cfg["seed"], index]).spawn(2)
    z_rng, noise_rng = (np.random.default_rng(s) for s in streams)
    schema = _schema(cfg["features"], cfg["task"])
    with open_file(fs, path, "wb") as sink:
        # Dictionary encoding only for the labels: on unique floats and ids pyarrow tries it and
        # falls back, several times slower.
        writer = (pq.ParquetWriter(sink, schema, use_dictionary=["target"])
                  if cfg["format"] == "parquet" else pacsv.CSVWriter(sink, schema))
        try:
            for start in range(0, n_rows, cfg["row_group_rows"]):
                n = min(cfg["row_group_rows"], n_rows - start)
                writer.write_table(_row_group(z_rng, noise_rng, n, first_id + start, params,
                                              cfg["task"]))
        finally:
            writer.close()


def _positive(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")


def generate(path, *, rows, features=20, task="classification", n_classes=2, format="parquet",
             rows_per_part=1_000_000, row_group_rows=250_000, seed=0, overwrite=False,
             workers=None, storage_options=None, verbose=False, callback=None):
    """Write a deterministic synthetic data set as a folder of parquet or CSV parts.

    Parameters
    ----------
    path : str or path-like
        The folder to create (a local path or an fsspec URL). It is written beside itself first
        and renamed into place when every part is written.
    rows : int
        Exact number of rows (0 writes one empty part).
    features : int
        Number of feature columns ``f0``, ``f1``, ...
    task : {"classification", "regression"}
    n_classes : int
        Classes of a classification target (labels ``0 .. n_classes-1``).
    format : {"parquet", "csv"}
    rows_per_part, row_group_rows : int
        Rows in each part (the last one holds the rest) and in each parquet row group.
    seed : int
        The same seed and sizes give identical files; another seed gives other data.
    overwrite : bool
        Replace an existing ``path``; without it an existing ``path`` is an error.
    workers : int, optional
        Parts written at once (default: the number of CPUs, at most 4).
    storage_options : dict, optional
        Passed to fsspec.
    verbose : bool or "auto", default=False
        Progress bar (rows/s, ETA) on stderr as parts are written; "auto": only on a terminal.
    callback : callable, optional
        Called with a dict (``rows``, ``total``, ``seconds``, ``part``) after each part.

    Returns
    -------
    str
        ``path``. It also holds ``_outofcore.json``, the parameters it was made with (readers skip
        names starting with ``_``).

    Examples
    --------
    >>> generate("data/train.parquet", rows=20_000_000, features=20)  # doctest: +SKIP
    'data/train.parquet'
    """
    _positive("rows", rows, minimum=0)
    for name, value, minimum in [("features", features, 1), ("n_classes", n_classes, 2),
                                 ("rows_per_part", rows_per_part, 1),
                                 ("row_group_rows", row_group_rows, 1), ("seed", seed, 0)]:
        _positive(name, value, minimum)
    if task not in _TASKS:
        raise ValueError(f"task={task!r} is not one of {list(_TASKS)}")
    if format not in _FORMATS:
        raise ValueError(f"format={format!r} is not one of {list(_FORMATS)}")
    fs, root = fsspec.core.url_to_fs(os.fspath(path), **(storage_options or {}))
    cfg = dict(rows=rows, features=features, task=task, n_classes=n_classes, format=format,
               rows_per_part=rows_per_part, row_group_rows=row_group_rows, seed=seed,
               columns=_columns(features))
    params = _parameters(seed, features, task, n_classes)
    parts = [(i, min(rows_per_part, rows - start), start)
             for i, start in enumerate(range(0, max(rows, 1), rows_per_part))]
    with publishing(root, overwrite=overwrite, fs=fs) as tmp:
        fs.makedirs(tmp, exist_ok=True)
        with ThreadPoolExecutor(workers or min(4, os.cpu_count() or 1)) as pool:
            futures = [pool.submit(_write_part, fs, f"{tmp}/part-{i:05d}.{format}", i, n, start,
                                   params, cfg) for i, n, start in parts]
            try:
                with RowProgress(rows, "make-data", verbose=verbose, callback=callback) as progress:
                    for (i, n, _), future in zip(parts, futures):
                        future.result()
                        progress.update(n, part=i)
            except BaseException:
                for future in futures:  # parts not started yet; running ones finish first
                    future.cancel()
                raise
        with fs.open(f"{tmp}/_outofcore.json", "w") as f:
            json.dump(cfg, f, indent=1)
    return os.fspath(path)


def main(argv=None):
    """``python -m outofcore.data``: parse the arguments and call :func:`generate`."""
    parser = argparse.ArgumentParser(
        prog="python -m outofcore.data", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, required=True, help="exact row count, e.g. 20_000_000")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--out", required=True, help="folder to create, e.g. data/train.parquet")
    parser.add_argument("--task", choices=_TASKS, default="classification")
    parser.add_argument("--n-classes", type=int, default=2)
    parser.add_argument("--format", choices=_FORMATS,
                        help="default: csv when --out ends in .csv, else parquet")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows-per-part", type=int, default=1_000_000)
    parser.add_argument("--row-group-rows", type=int, default=250_000)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    fmt = args.format or ("csv" if args.out.rstrip("/").endswith(".csv") else "parquet")
    start = time.perf_counter()
    try:
        generate(args.out, rows=args.rows, features=args.features, task=args.task,
                 n_classes=args.n_classes, format=fmt, rows_per_part=args.rows_per_part,
                 row_group_rows=args.row_group_rows, seed=args.seed, overwrite=args.overwrite,
                 workers=args.workers)
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.rows} rows x {args.features} features ({args.task}, {fmt}) to {args.out} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
