"""A model's outputs for parquet files, written to parquet: one output part per input part.

Each input part is one dask task (run by the current dask scheduler, so parts are predicted in
parallel) that streams the part row group by row group, in slices of at most ``block_rows`` rows,
feeds the model, and writes each input row group's outputs as one row group with a
``pyarrow.parquet.ParquetWriter``: memory stays bounded by a slice (and a row group's outputs) per
task. Everything is written beside ``dest`` first and renamed into place only when
every part succeeded, so a failure never leaves a half-written ``dest``.

Blocks are built into buffers the job hands from one slice to the next (``_Buffers``), and
scikit-learn skips its own finiteness checks on blocks this module has checked already.

A part task never raises: it returns its error, so ``dask.compute`` waits for every part before the
temporary is removed (a raising task would return control while sibling parts still write into
it). The first error marks the job stopped, and the other parts of this process end at their next
slice instead of predicting rows that will be thrown away.
"""

import os
import posixpath
import secrets
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import dask
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sklearn
from dask.callbacks import Callback
from sklearn.base import BaseEstimator

from outofcore._files import (
    _discard,
    _display,
    _list_files,
    _open,
    _publish,
    _refuse_existing,
    _temp_sibling,
)
from outofcore._distributed import compute
from outofcore._tables import _check_args, _check_parts, _matrix
from outofcore.io import _parquet_footer
from outofcore.progress import RowProgress
from outofcore.threads import guarded, thread_guard

_METHODS = ("predict", "predict_proba", "decision_function", "transform")
# Rows predicted at once: a quarter of the readers' blocks. Each thread's slice of decoded columns,
# block and outputs stays small, so a fresh process touches less new memory (5M x 20 float32,
# first call, scikit-learn Scaler + SGD: 9-10k minor faults and 0.34-0.60 s of system time
# against 39-41k and 0.66-1.01 s with 1M-row slices).
PREDICT_BLOCK_ROWS = 2**18
_PREFIX = {"predict": "prediction", "predict_proba": "proba", "decision_function": "decision",
           "transform": "component"}


@dataclass(frozen=True)
class _Job:
    """What every part task shares."""

    method: str
    features: tuple
    keep: tuple
    dtype: np.dtype
    check_finite: bool
    block_rows: int
    as_frame: bool
    names_out: object  # transform's get_feature_names_out(), when the model has it
    src_fs: object
    dest_fs: object
    token: str  # names the job in _STOPPED


# Tokens of jobs that failed or were interrupted; their part tasks in this process stop early.
_STOPPED = set()


class _Stopped(Exception):
    """A part ended early because another part failed."""


class _Buffers:
    """Block buffers lent to one slice at a time, so a job allocates one per thread, not one per
    slice: every fresh block is first-touch page faults again (5M rows in 500k-row slices, two
    threads, compiled model: 0.22-0.25 s of system time against 0.27-0.53 s). Pickled (to cluster
    workers) it starts empty.
    """

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


def _output_names(model, job, width):
    """Column names for a model output with ``width`` columns (None for a 1-D output)."""
    prefix = _PREFIX[job.method]
    if width is None:
        return [prefix]
    labels = job.names_out if job.method == "transform" else getattr(model, "classes_", None)
    if job.method == "predict" or labels is None or len(labels) != width:
        return [f"{prefix}_{i}" for i in range(width)]
    return [str(c) if job.method == "transform" else f"{prefix}_{c}" for c in labels]


def _predict_table(model, job, table, display, where, block):
    """The output table of one slice; its block is built into ``block``."""
    X = _matrix(table, job.features, job.dtype, job.check_finite, where, out=block)
    if job.as_frame:
        X = pd.DataFrame(X, columns=list(job.features), copy=False)
    # The block was checked for NaN and inf above; scikit-learn need not check it again in every
    # step (Scaler + SGD on 500k rows: 27 -> 24 ms).
    with sklearn.config_context(assume_finite=True) if job.check_finite else nullcontext():
        out = getattr(model, job.method)(X)
    out = np.asarray(out.toarray() if hasattr(out, "toarray") else out)
    if np.may_share_memory(out, block):  # a view of the block, which is lent again next slice
        out = out.copy()
    if out.ndim not in (1, 2) or len(out) != table.num_rows:
        raise ValueError(
            f"{type(model).__name__}.{job.method} returned shape {out.shape} for "
            f"{table.num_rows} rows of {display}; predict_to_parquet writes 1-D or 2-D outputs "
            f"with one row per input row"
        )
    names = _output_names(model, job, None if out.ndim == 1 else out.shape[1])
    clash = sorted(set(names) & set(job.keep))
    if clash:
        raise ValueError(f"keep columns {clash} clash with the output columns; rename them first")
    arrays = [table.column(k) for k in job.keep]
    arrays += [pa.array(out)] if out.ndim == 1 else [pa.array(col) for col in out.T]
    return pa.table(arrays, names=list(job.keep) + names)


def _dictionary_columns(schema):
    # Dictionary encoding pays off for labels and strings; on unique floats and ids pyarrow tries
    # it and falls back, 8x slower (250k rows x 22 columns: 0.46 s against 0.05 s).
    return [f.name for f in schema
            if not (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
            or f.name == "prediction"]


def _batches(pf, rg, job, columns, display):
    """Record batches of one row group; read errors name the file and row group."""
    # Decoded in this thread: the job already runs a thread per core, and arrow's own pool beside
    # them made 5M rows 22% slower (0.73 against 0.57 s, 7 alternating rounds), its buffers freed
    # in other threads than the ones that made them. (The fit keeps arrow's threads: its epoch
    # reads one block at a time beside partial_fit, 2.59 against 3.00 s without them.)
    reader = pf.iter_batches(job.block_rows, row_groups=[rg], columns=columns, use_threads=False)
    while True:
        try:
            batch = next(reader)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as e:
            raise ValueError(
                f"cannot read row group {rg} of {display}: {e}. The file is truncated or "
                f"corrupt; rewrite it or move it out of the data set"
            ) from e
        yield batch


def _predict_part(model, job, path, display, out_path, buffers):
    """Write the outputs of one input part: their schema, or None for a part without rows."""
    columns = list(dict.fromkeys(job.keep + job.features))
    writer = None
    with _open(job.src_fs, path) as src, _open(job.dest_fs, out_path, "wb") as sink:
        try:
            pf, first = pq.ParquetFile(src), 0
            for rg in range(pf.metadata.num_row_groups):
                # One output row group per input row group, whatever the slices: the outputs of
                # its slices are collected (a few values a row) and written together.
                pieces = []
                for batch in _batches(pf, rg, job, columns, display):
                    if job.token in _STOPPED:
                        raise _Stopped
                    if not batch.num_rows:
                        continue

                    def where(r, first=first, rg=rg):
                        return f"row {first + r} of {display} (row group {rg})"

                    with buffers.block(batch.num_rows) as block:
                        table = _predict_table(model, job, pa.Table.from_batches([batch]),
                                               display, where, block)
                    if writer is None:
                        dictionary = _dictionary_columns(table.schema)
                        writer = pq.ParquetWriter(sink, table.schema, use_dictionary=dictionary)
                    pieces.append(table.cast(writer.schema))
                    first += batch.num_rows
                if pieces:
                    writer.write_table(pa.concat_tables(pieces))
        finally:
            if writer is not None:
                writer.close()
    return None if writer is None else writer.schema


def _part_outcome(model, job, path, display, out_path, buffers):
    """Run one part: ``(schema, None)``, or ``(None, error)`` after marking the job stopped."""
    try:
        if job.token in _STOPPED:
            raise _Stopped
        return _predict_part(model, job, path, display, out_path, buffers), None
    except Exception as e:
        _STOPPED.add(job.token)
        return None, e


class _PartsDone(Callback):
    """Moves the progress by a part's rows when the local scheduler finishes its task."""

    def __init__(self, rows, progress):
        super().__init__()
        self._rows, self._progress = rows, progress

    def _posttask(self, key, result, dsk, state, worker_id):
        if key in self._rows:
            self._progress.update(self._rows[key], part=key)


def _schema_without_rows(model, job, schema0, source):
    """Output schema when no part has rows, from the model's classes or output names."""
    classes = getattr(model, "classes_", None)
    if job.method == "predict":
        kind = pa.float64() if classes is None else (
            pa.string() if np.asarray(classes).dtype.kind in "OU" else
            pa.from_numpy_dtype(np.asarray(classes).dtype))
        outputs = [("prediction", kind)]
    elif job.method == "transform" and job.names_out is not None:
        outputs = [(str(c), pa.float64()) for c in job.names_out]
    elif job.method == "decision_function" and classes is not None and len(classes) == 2:
        outputs = [("decision", pa.float64())]
    elif classes is not None and job.method != "transform":
        outputs = [(n, pa.float64()) for n in _output_names(model, job, len(classes))]
    else:
        raise ValueError(
            f"{source!r} has no rows, and the columns {type(model).__name__}.{job.method} would "
            f"write cannot be known without rows"
        )
    return pa.schema([schema0.field(k) for k in job.keep] + outputs)


def _model_feature_names(model):
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def predict_to_parquet(model, source, dest, *, method="predict", columns=None, keep=None,
                       overwrite=False, dtype="float32", block_rows=PREDICT_BLOCK_ROWS,
                       check_finite=True, device=None, storage_options=None, verbose=False,
                       callback=None):
    """Write ``model.<method>`` of parquet rows to parquet, part by part, rows in input order.

    Parameters
    ----------
    model : object
        Anything with ``predict`` / ``predict_proba`` / ``decision_function`` / ``transform`` on
        2-D arrays: a fitted scikit-learn estimator or pipeline, or a compiled pipeline.
        scikit-learn estimators fitted with feature names get a DataFrame with those names;
        everything else gets the numpy block.
    source : str or path-like
        A parquet file, folder, glob or fsspec URL, as in :func:`outofcore.read_parquet`.
    dest : str or path-like
        A file when ``source`` is one file; otherwise a folder holding one part per input part,
        under the same relative names.
    method : {"predict", "predict_proba", "decision_function", "transform"}
    columns : list of str, optional
        Feature columns fed to the model. Default: the model's ``feature_names_in_`` when it has
        them, else every column but ``keep``.
    keep : list of str, optional
        Columns (ids) copied through, written first.
    overwrite : bool
        Replace an existing ``dest``; without it an existing ``dest`` is an error.
    dtype, check_finite, storage_options
        As in :func:`outofcore.read_parquet`.
    block_rows : int, default=262144
        Most rows predicted at once. Each output row group holds the rows of one input row
        group, whatever the slices.
    device : str or torch.device, optional
        Move a compiled model there first (``model.to(device)``).
    verbose : bool or "auto", default=False
        Progress bar (rows/s, ETA) on stderr as parts finish; "auto": only on a terminal.
    callback : callable, optional
        Called with a dict (``rows``, ``total``, ``seconds``, ``part``) each time a part is written.
        Progress is reported by the local schedulers; on a distributed cluster, watch its dashboard.

    Returns
    -------
    str
        ``dest``. Its columns: ``keep``, then ``prediction`` (``prediction_<i>`` for several
        outputs), ``proba_<class>``, ``decision`` or ``decision_<class>``, or for ``transform`` the
        model's ``get_feature_names_out()`` (else ``component_<i>``).

    Examples
    --------
    >>> predict_to_parquet(pipe, "data/test.parquet", "out/pred.parquet",
    ...                    keep=["id"], method="predict_proba")          # doctest: +SKIP
    'out/pred.parquet'
    """
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not one of {list(_METHODS)}")
    if not callable(getattr(model, method, None)):
        raise TypeError(f"{type(model).__name__} has no {method}(); pick another method=")
    if device is not None:
        if not callable(getattr(model, "to", None)):
            raise TypeError(
                f"device={device!r} needs a compiled model with .to(device); "
                f"{type(model).__name__} has none (compile it with outofcore.compile_pipeline, or "
                f"leave device=None)"
            )
        moved = model.to(device)
        model = model if moved is None else moved
    dtype = _check_args(dtype, block_rows)
    keep = [keep] if isinstance(keep, str) else list(keep or [])
    src_fs, files, single = _list_files(source, "parquet", storage_options)
    dest_fs, dest_path = fsspec.core.url_to_fs(os.fspath(dest), **(storage_options or {}))
    _refuse_existing(dest_fs, dest_path, overwrite)

    displays = [_display(src_fs, p) for p in files]
    footers = [_parquet_footer(src_fs, p, d) for p, d in zip(files, displays, strict=True)]
    schemas = [schema for _, schema, _ in footers]
    for d, schema in zip(displays, schemas, strict=True):
        missing = [k for k in keep if k not in schema.names]
        if missing:
            raise ValueError(
                f"keep column(s) {missing} not found in {d}; available columns: {schema.names}")
    fitted_names = _model_feature_names(model)
    if columns is None:
        columns = fitted_names
    features, _ = _check_parts(list(zip(displays, schemas, strict=True)), None, columns, keep)
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and n_in != len(features):
        raise ValueError(
            f"{type(model).__name__} was fitted on {n_in} features but {len(features)} columns "
            f"{features} were selected from {displays[0]}; pass columns=[...]"
        )
    names_out = None
    if method == "transform" and hasattr(model, "get_feature_names_out"):
        try:
            names_out = tuple(str(n) for n in model.get_feature_names_out())
        except (AttributeError, ValueError):  # a step without output names, or not fitted
            names_out = None
    as_frame = isinstance(model, BaseEstimator) and fitted_names == features
    job = _Job(method, tuple(features), tuple(keep), dtype, check_finite, block_rows, as_frame,
               names_out, src_fs, dest_fs, secrets.token_hex(8))

    tmp = _temp_sibling(dest_fs, dest_path)
    try:
        if single:
            outs = [tmp]
        else:
            root = posixpath.commonpath([posixpath.dirname(p) for p in files])
            outs = [posixpath.join(tmp, posixpath.relpath(p, root)) for p in files]
            for out in outs:
                dest_fs.makedirs(posixpath.dirname(out), exist_ok=True)
        # The model is put in the graph once under a fixed name: hashing a large model is slow.
        model_task = dask.delayed(model, name=f"model-{secrets.token_hex(8)}", traverse=False)
        # Compiled models that read column-ordered blocks as they are get them: no transpose.
        takes_columns = getattr(model, "_takes_columns", None)
        order = "F" if takes_columns is not None and takes_columns(method) else "C"
        buffers = dask.delayed(_Buffers(len(features), dtype, order), name=f"buffers-{job.token}",
                               traverse=False)
        keys = [f"predict-part-{i}-{secrets.token_hex(4)}" for i in range(len(files))]
        tasks = [dask.delayed(guarded(_part_outcome), pure=False)(model_task, job, p, d, out,
                                                                   buffers, dask_key_name=key)
                 for p, d, out, key in zip(files, displays, outs, keys, strict=True)]
        rows = {key: meta.num_rows for key, (meta, _, _) in zip(keys, footers, strict=True)}
        with thread_guard(), RowProgress(sum(rows.values()), "predict", verbose=verbose,
                                         callback=callback) as progress, _PartsDone(rows, progress):
            outcomes = compute(*tasks)
        _STOPPED.discard(job.token)  # every part has returned
        errors = [e for _, e in outcomes if e is not None and not isinstance(e, _Stopped)]
        if errors:
            raise errors[0]
        written = [schema for schema, _ in outcomes]
        template = next((s for s in written if s is not None), None)
        if template is None:
            template = _schema_without_rows(model, job, schemas[0], os.fspath(source))
        for schema, out in zip(written, outs, strict=True):
            if schema is None:
                with _open(dest_fs, out, "wb") as sink:
                    pq.write_table(template.empty_table(), sink)
        _publish(dest_fs, tmp, dest_path, overwrite)
    except BaseException as e:
        if not isinstance(e, Exception):
            # Ctrl-C returns while parts still run in this process: they end at their next slice.
            _STOPPED.add(job.token)
        _discard(dest_fs, tmp)
        raise
    return os.fspath(dest)
