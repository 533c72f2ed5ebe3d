"""A model's outputs for parquet or CSV files, written to parquet: one output part per input part.

Each input part is one dask task (run by the current dask scheduler, so parts are predicted in
parallel) that streams the part through the read plan (:meth:`outofcore.io.plan.Source.stream`),
in slices of at most ``block_rows`` rows, feeds the model, and writes each input row group's
outputs as one row group: memory stays bounded by a slice (and a row group's outputs) per task.
Everything is written beside ``dest`` (:func:`outofcore.io.files.publishing`) and renamed into
place only when every part succeeded, so a failure never leaves a half-written ``dest``.

Numeric features are built straight into a float block lent from one slice to the next
(:class:`_Buffers`); a compiled model on the CPU gets each slice a cache-sized tile of rows at a
time, so its block is read while still in the cache. A table with string, category or timestamp
features is handed to the model as a DataFrame (a compiled model takes the arrow table as it is).

A part task never raises: it returns its error, so ``dask.compute`` waits for every part before
the temporary output is removed (a raising task would return control while sibling parts still
write into it). The first error sets the job's stop flag, and the other parts in this process end
at their next slice instead of predicting rows that will be thrown away.
"""

import os
import posixpath
import secrets
import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from dask.callbacks import Callback
from sklearn.base import BaseEstimator

from outofcore.io import convert
from outofcore.io.files import open_file, publishing
from outofcore.io.plan import plan_csv, plan_parquet
from outofcore.prediction.outputs import empty_schema, output_names
from outofcore.runtime.progress import RowProgress
from outofcore.runtime.scheduler import compute
from outofcore.runtime.threads import guarded, thread_guard

_METHODS = ("predict", "predict_proba", "decision_function", "transform")
# Rows predicted at once: a quarter of the readers' blocks, so each thread's slice of decoded
# columns, block and outputs stays small (see benchmarks/README.md, table 6).
PREDICT_BLOCK_ROWS = 2**18
# Bytes of features a compiled model on the CPU is given at once within a slice: its block is
# read while it is still in the CPU cache, and the block lent to each thread stays small. Other
# models get whole slices (scikit-learn's checks cost the same for a few rows as for many).
_TILE_BYTES = 2 << 20
_MIN_TILE_ROWS = 1024
class _Stop:
    """A job's stop flag, shared by its part tasks in one process (a fresh one on each worker)."""

    def __init__(self):
        self.event = threading.Event()

    def __reduce__(self):
        return _Stop, ()


@dataclass(frozen=True)
class _Job:
    """What every part task shares."""

    method: str
    features: tuple
    keep: tuple
    dtype: np.dtype
    block_rows: int
    numeric: bool       # every feature is numeric: build a float block
    as_frame: bool      # hand the model a DataFrame (fitted with these feature names)
    arrow: bool         # hand non-numeric tables to the model as arrow tables (compiled models)
    names_out: object   # transform's get_feature_names_out(), when the model has it
    tile_rows: int      # rows predicted at once within a slice (0: the whole slice)
    source: object      # the read plan
    dest_fs: object
    stop: _Stop


class _Stopped(Exception):
    """A part ended early because another part failed."""


class _Buffers:
    """Float blocks lent to one slice at a time, so a job allocates one per thread, not one per
    slice (every fresh block is first-touch page faults again). Pickled (to cluster workers) it
    starts empty."""

    def __init__(self, width, dtype, order="C"):
        self.width, self.dtype, self.order = width, dtype, order
        self._free, self._lock = [], threading.Lock()

    def __getstate__(self):
        return {"width": self.width, "dtype": self.dtype, "order": self.order}

    def __setstate__(self, state):
        self.__init__(**state)

    @contextmanager
    def block(self, rows):
        """A contiguous ``(rows, width)`` array in the pool's order, yours until the ``with`` ends.

        Buffers are kept flat, so a shorter slice gets a contiguous block of its own shape (in
        column order the first rows of a longer block would not be one)."""
        size = rows * self.width
        with self._lock:
            flat = self._free.pop() if self._free else None
        if flat is None or len(flat) < size:  # a buffer too small for this slice is dropped
            flat = np.empty(size, dtype=self.dtype)
        try:
            yield flat[:size].reshape((rows, self.width), order=self.order)
        finally:
            with self._lock:
                self._free.append(flat)


def _predict_table(model, job, table, where, buffers):
    """The output table of one slice: predicted whole, or a tile of rows at a time where the
    job has ``tile_rows`` (each tile's block stays in the CPU cache from being filled to being
    read, and the lent buffers stay small)."""
    n, tile = table.num_rows, job.tile_rows
    if job.numeric:
        columns = convert.Columns(table, job.features)
        spans = [(0, n)] if not tile or n <= tile else [
            (start, min(start + tile, n)) for start in range(0, n, tile)]
        outs = [_predict_block(model, job, columns, start, stop, where, buffers)
                for start, stop in spans]
    else:
        X = table.select(list(job.features))
        outs = [_predict_rows(model, job, X if job.arrow else X.to_pandas(), 0, n, where)]
    first = outs[0]
    if any(o.ndim != first.ndim or o.shape[1:] != first.shape[1:] for o in outs):
        raise ValueError(f"{type(model).__name__}.{job.method} returned outputs of different "
                         f"widths for the rows of one slice at {where(0)}")
    names = output_names(model, job.method, None if first.ndim == 1 else first.shape[1],
                         job.names_out)
    clash = sorted(set(names) & set(job.keep))
    if clash:
        raise ValueError(f"keep columns {clash} clash with the output columns; rename them first")
    if len(outs) > 1 and first.dtype.kind == "O":
        outs = [np.concatenate(outs)]  # objects (strings) are typed by arrow from all rows
    arrays = [table.column(k) for k in job.keep]
    if first.ndim == 1:
        arrays.append(pa.chunked_array([pa.array(o) for o in outs]))
    else:
        arrays += [pa.chunked_array([pa.array(o[:, j]) for o in outs])
                   for j in range(first.shape[1])]
    return pa.table(arrays, names=list(job.keep) + names)


def _predict_block(model, job, columns, start, stop, where, buffers):
    """The outputs of rows ``start:stop`` of a numeric slice, built into a lent float block."""
    with buffers.block(stop - start) as block:
        X = columns.fill(block, start, where)
        if job.as_frame:
            import pandas as pd

            X = pd.DataFrame(X, columns=list(job.features), copy=False)
        out = _predict_rows(model, job, X, start, stop, where)
        if np.may_share_memory(out, block):
            out = out.copy()  # a view of the block, which is lent again next slice
    return out


def _predict_rows(model, job, X, start, stop, where):
    """``model.<method>(X)`` for rows ``start:stop`` of a slice, as a 1-D or 2-D array; an error
    says which rows it was predicting."""
    try:
        out = getattr(model, job.method)(X)
    except Exception as e:
        row = getattr(e, "row", None)  # the batch row an error named, where it names one
        raise _located(e, f"while predicting {where(start + row)}" if isinstance(row, int) else
                       f"while predicting {where(start)} and the {stop - start - 1} rows "
                       f"after it") from e
    out = np.asarray(out.toarray() if hasattr(out, "toarray") else out)
    if out.ndim not in (1, 2) or len(out) != stop - start:
        raise ValueError(
            f"{type(model).__name__}.{job.method} returned shape {out.shape} for "
            f"{stop - start} rows at {where(start)}; predict_to_parquet writes 1-D or 2-D "
            f"outputs with one row per input row"
        )
    return out


def _located(error, where):
    """``error`` again, of its own type where it can be rebuilt from a message, saying where."""
    text = f"{error} ({where})"
    try:
        return type(error)(text)
    except Exception:  # an exception type that takes other arguments
        return ValueError(text)


def _dictionary_columns(schema):
    # Dictionary encoding pays off for labels and strings; on unique floats and ids pyarrow tries
    # it and falls back, several times slower.
    return [f.name for f in schema
            if not (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
            or f.name == "prediction"]


def _predict_part(model, job, file, out_path, buffers):
    """Write the outputs of one input part: their schema, or None for a part without rows."""
    source = job.source
    columns = list(dict.fromkeys(job.keep + job.features))
    writer, pieces, piece = None, [], None
    with open_file(job.dest_fs, out_path, "wb") as sink:
        try:
            # Decoded in this thread: the job already runs a thread per core, and arrow's own
            # pool beside them made it slower.
            for group, first, table in source.stream(file, columns, job.block_rows):
                if job.stop.event.is_set():
                    raise _Stopped
                if group != piece and pieces:
                    # One output row group per input row group, whatever the slices.
                    writer.write_table(pa.concat_tables(pieces))
                    pieces = []
                piece = group

                def where(r, first=first):
                    return source.where_in_file(file, first + r)

                out = _predict_table(model, job, table, where, buffers)
                if writer is None:
                    writer = pq.ParquetWriter(sink, out.schema,
                                              use_dictionary=_dictionary_columns(out.schema))
                pieces.append(out.cast(writer.schema))
            if pieces:
                writer.write_table(pa.concat_tables(pieces))
        finally:
            if writer is not None:
                writer.close()
    return None if writer is None else writer.schema


def _part_outcome(model, job, file, out_path, buffers):
    """Run one part: ``(schema, None)``, or ``(None, error)`` after setting the stop flag."""
    try:
        if job.stop.event.is_set():
            raise _Stopped
        return _predict_part(model, job, file, out_path, buffers), None
    except Exception as e:
        job.stop.event.set()
        return None, e


def _fitted_names(model):
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _plan(source, fmt, block_rows, storage_options):
    fmt = fmt or ("csv" if str(source).rstrip("/").endswith(".csv") else "parquet")
    if fmt == "csv":
        return plan_csv(source, block_rows=block_rows, storage_options=storage_options)
    plan, _ = plan_parquet(source, select=lambda schema, name: list(schema.names), itemsize=4,
                           block_rows=block_rows, storage_options=storage_options)
    return plan


def predict_to_parquet(model, source, dest, *, method="predict", columns=None, keep=None,
                       overwrite=False, dtype="float32", block_rows=PREDICT_BLOCK_ROWS,
                       format=None, device=None, storage_options=None, verbose=False,
                       callback=None):
    """Write ``model.<method>`` of the rows of parquet (or CSV) files to parquet, part by part.

    Parameters
    ----------
    model : object
        Anything with ``predict`` / ``predict_proba`` / ``decision_function`` / ``transform`` on
        blocks of rows: a fitted scikit-learn or outofcore estimator or pipeline, or a compiled
        pipeline. A model fitted with feature names gets a DataFrame with those names; numeric
        features otherwise arrive as a float array.
    source : str, path-like or list of them
        Parquet (or CSV) files, as in :func:`outofcore.read_parquet`.
    dest : str or path-like
        A file when ``source`` is one file; otherwise a folder holding one part per input part,
        under the same relative names (``.parquet`` for CSV inputs).
    method : {"predict", "predict_proba", "decision_function", "transform"}
    columns : list of str, optional
        Feature columns fed to the model. Default: the model's ``feature_names_in_`` when it
        has them, else every column but ``keep``.
    keep : list of str, optional
        Columns (ids) copied through, written first.
    overwrite : bool
        Replace an existing ``dest``; without it an existing ``dest`` is an error.
    dtype : {"float32", "float64"}
        The float dtype numeric features are read as.
    block_rows : int, default=262144
        Most rows predicted at once. Each output row group holds the rows of one input row
        group (or CSV block), whatever the slices.
    format : {"parquet", "csv"}, optional
        Of ``source``; default: CSV when it ends in ``.csv``.
    device : str or torch.device, optional
        Move a compiled model there first (``model.to(device)``).
    storage_options : dict, optional
        Passed to fsspec.
    verbose : bool or "auto", default=False
        Progress bar (rows/s, ETA) on stderr as parts finish; "auto": only on a terminal.
    callback : callable, optional
        Called with a dict (``rows``, ``total``, ``seconds``, ``part``) each time a part is
        written (by the local schedulers; on a cluster, watch its dashboard).

    Returns
    -------
    str
        ``dest``. Its columns: ``keep``, then ``prediction`` (``prediction_<i>`` for several
        outputs), ``proba_<class>``, ``decision`` or ``decision_<class>``, or for ``transform``
        the model's ``get_feature_names_out()`` (else ``component_<i>``).

    Examples
    --------
    >>> predict_to_parquet(pipe, "data/test.parquet", "out/pred.parquet",
    ...                    keep=["id"], method="predict_proba")          # doctest: +SKIP
    'out/pred.parquet'
    """
    import dask
    import fsspec

    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not one of {list(_METHODS)}")
    if not callable(getattr(model, method, None)):
        raise TypeError(f"{type(model).__name__} has no {method}(); pick another method=")
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) \
            or block_rows < 1:
        raise ValueError(f"block_rows={block_rows!r} must be a positive integer")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype={dtype} is not a floating type; use 'float32' or 'float64'")
    if device is not None:
        if not callable(getattr(model, "to", None)):
            raise TypeError(
                f"device={device!r} needs a compiled model with .to(device); "
                f"{type(model).__name__} has none (compile it with outofcore.compile_pipeline, or "
                f"leave device=None)"
            )
        moved = model.to(device)
        model = model if moved is None else moved
    keep = [keep] if isinstance(keep, str) else list(keep or [])
    plan = _plan(source, format, block_rows, storage_options)
    dest_fs, dest_path = fsspec.core.url_to_fs(os.fspath(dest), **(storage_options or {}))
    schema = plan.schema
    for name, part in zip(plan.displays, plan.part_schemas, strict=True):
        missing = [k for k in keep if k not in part.names]
        if missing:
            raise ValueError(
                f"keep column(s) {missing} not found in {name}; available columns: {part.names}")
    fitted = _fitted_names(model)
    features = list(columns) if columns is not None else fitted if fitted is not None else [
        c for c in schema.names if c not in keep]
    missing = [c for c in features if c not in schema.names]
    if missing:
        raise ValueError(f"{type(model).__name__} was fitted on columns {missing} that are not "
                         f"in {plan.displays[0]}; its columns: {schema.names}")
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and n_in != len(features):
        raise ValueError(
            f"{type(model).__name__} was fitted on {n_in} features but {len(features)} columns "
            f"{features} were selected from {plan.displays[0]}; pass columns=[...]"
        )
    names_out = None
    if method == "transform" and hasattr(model, "get_feature_names_out"):
        try:
            names_out = tuple(str(n) for n in model.get_feature_names_out())
        except (AttributeError, ValueError):  # a step without output names, or not fitted
            names_out = None
    numeric = all(convert.is_numeric(schema.field(c).type) for c in features)
    compiled = callable(getattr(model, "_takes_columns", None))
    on_cpu = str(getattr(model, "device", "cpu")).startswith("cpu")
    tile_rows = max(_MIN_TILE_ROWS, _TILE_BYTES // (len(features) * dtype.itemsize)) if (
        compiled and on_cpu and numeric and features) else 0
    job = _Job(method, tuple(features), tuple(keep), dtype, int(block_rows), numeric,
               isinstance(model, BaseEstimator) and fitted == features, compiled, names_out,
               tile_rows, plan, dest_fs, _Stop())
    # Compiled models that read column-ordered blocks as they are get them: no transpose.
    order = "F" if compiled and model._takes_columns(method) else "C"
    files = plan.files
    with publishing(dest_path, overwrite=overwrite, fs=dest_fs) as tmp:
        if len(files) == 1 and not dest_fs.isdir(tmp) and _single(source):
            outs = [tmp]
        else:
            root = posixpath.commonpath([posixpath.dirname(p) for p in files])
            outs = [posixpath.join(tmp, _as_parquet(posixpath.relpath(p, root))) for p in files]
            for out in outs:
                dest_fs.makedirs(posixpath.dirname(out), exist_ok=True)
        # The model, the job (its read plan) and the buffers are put in the graph once under fixed
        # names, not traversed: hashing a large model, or walking the plan once per part, is slow.
        model_task, job_task, buffers = (
            dask.delayed(value, name=f"{label}-{secrets.token_hex(8)}", traverse=False)
            for label, value in (("model", model), ("job", job),
                                 ("buffers", _Buffers(len(features), dtype, order))))
        keys = [f"predict-part-{i}-{secrets.token_hex(4)}" for i in range(len(files))]
        tasks = [dask.delayed(guarded(_part_outcome), pure=False)(model_task, job_task, i, out,
                                                                   buffers, dask_key_name=key)
                 for i, (out, key) in enumerate(zip(outs, keys, strict=True))]
        rows = {key: plan.file_rows(i) for i, key in enumerate(keys)}
        try:
            with thread_guard(), RowProgress(sum(rows.values()), "predict", verbose=verbose,
                                             callback=callback) as progress, \
                    _PartsDone(rows, progress):
                outcomes = compute(*tasks)
        except BaseException:
            job.stop.event.set()  # Ctrl-C returns while parts still run: they end next slice
            raise
        errors = [e for _, e in outcomes if e is not None and not isinstance(e, _Stopped)]
        if errors:
            raise errors[0]
        written = [s for s, _ in outcomes]
        template = next((s for s in written if s is not None), None)
        if template is None:
            template = empty_schema(model, method, [schema.field(k) for k in keep], names_out)
        if template is None:
            raise ValueError(
                f"{plan.displays[0]!r} has no rows, and the columns {type(model).__name__}."
                f"{method} would write cannot be known without rows"
            )
        for s, out in zip(written, outs, strict=True):
            if s is None:
                with open_file(dest_fs, out, "wb") as sink:
                    pq.write_table(template.empty_table(), sink)
    return os.fspath(dest)


def _single(source):
    """Whether ``source`` names one file (not a folder, glob or list)."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    import fsspec

    fs, path = fsspec.core.url_to_fs(os.fspath(source))
    return not any(c in path for c in "*?[") and fs.isfile(path)


def _as_parquet(name):
    return name[:-4] + ".parquet" if name.endswith(".csv") else name


class _PartsDone(Callback):
    """Moves the progress by a part's rows when the local scheduler finishes its task."""

    def __init__(self, rows, progress):
        super().__init__()
        self._rows, self._progress = rows, progress

    def _posttask(self, key, result, dsk, state, worker_id):
        if key in self._rows:
            self._progress.update(self._rows[key], part=key)
