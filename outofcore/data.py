"""Deterministic synthetic classification and regression data, written in parts in bounded memory.

``python -m outofcore.data --rows 20_000_000 --features 20 --out data/train.parquet`` writes a
folder of parts (``part-00000.parquet``, ...) holding an ``id`` column, features ``f0`` to
``f<k-1>`` and a ``target`` column (int64 classes, or float64 for regression).

The data: standard normal latent features ``z``, stored as ``z * scale + offset`` in float32 with
scales from 0.01 to 1000 and offsets of up to 20 scales, so a model without scaling struggles. The
classification target is ``argmax(z @ W * gain + noise)`` with unit normal noise per class, the gain
set once so that the best linear model reaches about 80% accuracy whatever the number of classes;
the regression target is ``50 + 10 * z @ w + 5 * noise`` with a unit-norm ``w`` (R^2 about 0.8).

A mixed table adds columns that carry part of the signal, so the preprocessing matters:
``categories=(10, 1000, 100000)`` adds string columns ``c0``, ``c1``, ... of those cardinalities
with Zipf-like frequencies (each category has its own effect on the target), ``timestamp=True``
a ``ts`` column over one year (the hour of day moves the target), ``boolean=True`` a ``flag``
column, and ``missing=0.05`` replaces that fraction of the numeric feature values with NaN (after
the target is drawn from them).

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
# Exponent of the Zipf-like category frequencies (rank r has weight 1 / r**_ZIPF).
_ZIPF = 1.1
_YEAR_SECONDS = 365 * 86400
_EPOCH = np.datetime64("2024-01-01T00:00:00", "s")


def _scores(z, weights):
    """``z.T @ weights`` in float64, summed feature by feature with elementwise operations."""
    w = weights if weights.ndim == 2 else weights[:, None]
    out = np.zeros((z.shape[1], w.shape[1]))
    for j in range(z.shape[0]):
        out += z[j, :, None].astype(np.float64) * w[j]
    return out if weights.ndim == 2 else out[:, 0]


class _Extras:
    """The columns of a mixed table besides the numbers, and the effects they have."""

    def __init__(self, seed, rows, categories, timestamp, boolean, missing):
        self.categories, self.timestamp, self.boolean = tuple(categories), timestamp, boolean
        self.rows, self.missing = rows, missing
        rng = np.random.default_rng([seed, _PARAMETER_STREAM, 1])
        self.cumulative = [np.cumsum(1.0 / np.arange(1, m + 1) ** _ZIPF) for m in self.categories]
        self.effects = []
        for m, cumulative in zip(self.categories, self.cumulative, strict=True):
            # Centred and scaled under the category frequencies: a term of mean 0, variance 1.
            p = np.diff(cumulative, prepend=0.0) / cumulative[-1]
            effect = rng.normal(size=m)
            effect -= p @ effect
            self.effects.append(_rounded(effect / np.sqrt(p @ effect**2)))
        self.values = [None] * len(self.categories)  # the category strings, made when needed
        self.rng = rng

    @property
    def terms(self):
        """Latent terms they add to the target's score."""
        return len(self.categories) + self.timestamp + self.boolean

    def labels(self, j):
        if self.values[j] is None:
            m = self.categories[j]
            self.values[j] = pa.array([f"c{j}_{code:0{len(str(m - 1))}d}" for code in range(m)])
        return self.values[j]

    @property
    def uniforms(self):
        """Uniform draws a row needs besides its numbers: one per column, one for the jitter."""
        return len(self.categories) + self.timestamp + self.boolean

    def draw(self, u, ids):
        """(arrow columns, latent terms of shape (terms, n)) of the rows ``ids``, from ``u``:
        each row's uniform draws, drawn row by row so they do not depend on row groups."""
        columns, terms = [], []
        for j, cumulative in enumerate(self.cumulative):
            codes = np.searchsorted(cumulative, u[:, j] * cumulative[-1])
            columns.append(self.labels(j).take(pa.array(codes)))
            terms.append(self.effects[j][codes])
        k = len(self.categories)
        if self.timestamp:
            # Rows in time order over the year, up to a minute of jitter each.
            seconds = ids * _YEAR_SECONDS // max(self.rows, 1) + (u[:, k] * 60).astype(np.int64)
            hours = (seconds % 86400) / 3600.0
            columns.append(pa.array(_EPOCH + seconds.astype("timedelta64[s]")))
            terms.append(np.sqrt(2.0) * np.sin(2 * np.pi * hours / 24))
            k += 1
        if self.boolean:
            flag = u[:, k] < 0.5
            columns.append(pa.array(flag))
            terms.append(2.0 * flag - 1.0)
        return columns, np.array(terms).reshape(len(terms), len(ids))

    def sample(self, n):
        """Latent terms of n rows for the gain calibration (from the parameter stream)."""
        ids = self.rng.integers(0, max(self.rows, 1), n)
        return self.draw(self.rng.random((n, self.uniforms)), ids)[1]

    def fields(self):
        return ([(f"c{j}", pa.string()) for j in range(len(self.categories))]
                + ([("ts", pa.timestamp("s"))] if self.timestamp else [])
                + ([("flag", pa.bool_())] if self.boolean else []))


def _parameters(seed, features, task, n_classes, extras=None):
    """Scales, offsets and target weights of one data set, from the seed alone."""
    rng = np.random.default_rng([seed, _PARAMETER_STREAM])
    scale = _rounded(10.0 ** rng.uniform(-2, 3, features))
    offset = _rounded(scale * rng.uniform(-20, 20, features))
    more = 0 if extras is None else extras.terms
    if task == "regression":
        w = rng.normal(size=features)
        if more:
            w = np.concatenate([w, extras.rng.normal(size=more)])
        return scale, offset, _rounded(w / np.sqrt(sum(float(v) ** 2 for v in w)))
    W = rng.normal(size=(features, n_classes))
    z = rng.standard_normal((features, 20_000)).astype(np.float32)
    noise = rng.standard_normal((20_000, n_classes))
    if more:
        W = np.vstack([W, extras.rng.normal(size=(more, n_classes))])
        z = np.vstack([z, extras.sample(20_000).astype(np.float32)])
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


def _schema(features, task, extras=None):
    target = pa.float64() if task == "regression" else pa.int64()
    return pa.schema([("id", pa.int64())] + [(f"f{j}", pa.float32()) for j in range(features)]
                     + ([] if extras is None else extras.fields()) + [("target", target)])


def _row_group(rngs, n, first_id, params, task, extras):
    z_rng, noise_rng, extra_rng = rngs
    scale, offset, weights = params
    # Drawn row by row, so the values do not depend on how rows are cut into row groups; the
    # transposed copy gives each feature one contiguous run for its arrow column.
    z = np.ascontiguousarray(z_rng.standard_normal((n, len(scale)), dtype=np.float32).T)
    x = (z * scale[:, None] + offset[:, None]).astype(np.float32)
    others = []
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    if extras is not None:
        u = extra_rng.random((n, extras.uniforms + (len(scale) if extras.missing else 0)))
        others, terms = extras.draw(u, ids)
        z = np.vstack([z, terms.astype(np.float32)])
    scores = _scores(z, weights)
    if task == "regression":
        target = 50.0 + 10.0 * scores + 5.0 * noise_rng.standard_normal(n)
    else:
        noisy = scores + noise_rng.standard_normal(scores.shape)
        target = np.argmax(noisy, axis=1).astype(np.int64)
    if extras is not None and extras.missing:
        x[u[:, extras.uniforms:].T < extras.missing] = np.nan
    arrays = [pa.array(ids)] + [pa.array(row) for row in x] + others + [pa.array(target)]
    return pa.Table.from_arrays(arrays, schema=_schema(len(scale), task, extras))


def _write_part(fs, path, index, n_rows, first_id, params, cfg):
    """Write one part, a row group at a time."""
    # The first two streams are those of a numbers-only table: its values never change.
    streams = np.random.SeedSequence([cfg["seed"], index]).spawn(3)
    rngs = [np.random.default_rng(s) for s in streams]
    extras = params[3]
    schema = _schema(cfg["features"], cfg["task"], extras)
    with open_file(fs, path, "wb") as sink:
        # Dictionary encoding only for the labels: on unique floats and ids pyarrow tries it and
        # falls back, several times slower.
        writer = (pq.ParquetWriter(sink, schema, use_dictionary=["target"])
                  if cfg["format"] == "parquet" else pacsv.CSVWriter(sink, schema))
        try:
            for start in range(0, n_rows, cfg["row_group_rows"]):
                n = min(cfg["row_group_rows"], n_rows - start)
                writer.write_table(_row_group(rngs, n, first_id + start, params[:3],
                                              cfg["task"], extras))
        finally:
            writer.close()


def _positive(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")


def generate(path, *, rows, features=20, task="classification", n_classes=2, categories=(),
             timestamp=False, boolean=False, missing=0.0, format="parquet",
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
    categories : sequence of int, default=()
        Cardinalities of string columns ``c0``, ``c1``, ... (Zipf-like frequencies).
    timestamp, boolean : bool, default=False
        Add a ``ts`` timestamp column and a ``flag`` boolean column.
    missing : float, default=0.0
        Fraction of the numeric feature values replaced by NaN.
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
    categories = [categories] if isinstance(categories, int) else list(categories)
    for m in categories:
        _positive("categories", m, minimum=2)
    if not 0 <= missing < 1:
        raise ValueError(f"missing={missing!r} must be a fraction in [0, 1)")
    mixed = bool(categories or timestamp or boolean or missing)
    extras = _Extras(seed, rows, categories, bool(timestamp), bool(boolean), float(missing)) \
        if mixed else None
    fs, root = fsspec.core.url_to_fs(os.fspath(path), **(storage_options or {}))
    cfg = dict(rows=rows, features=features, task=task, n_classes=n_classes, format=format,
               rows_per_part=rows_per_part, row_group_rows=row_group_rows, seed=seed,
               columns=_schema(features, task, extras).names)
    if mixed:
        cfg.update(categories=categories, timestamp=bool(timestamp), boolean=bool(boolean),
                   missing=float(missing))
    params = (*_parameters(seed, features, task, n_classes, extras), extras)
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
