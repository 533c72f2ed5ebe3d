"""What the parquet and CSV readers share: schema checks, arrow tables to blocks, dask arrays.

* Schemas: every part's columns are checked against the first part's, and the feature columns
  and the target's dtype are resolved once per read (``_check_parts``, ``_check_args``).
* Blocks: one arrow table becomes a C-ordered float block of features and a target vector
  (``_matrix``, ``_target``, ``_split``), with errors naming the column, file and row.
* Assembly: the block descriptions of a read become aligned ``(X, y)`` dask arrays with known
  chunks, one read task per block (``_assemble``).
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from outofcore._arrays import register_feature_names
from outofcore.cache import cached_read

# Most rows in a block: read_csv's default, and the row-group size above which parquet splits one.
DEFAULT_BLOCK_ROWS = 2**20


# -------------------------------------------------------------------------------------- schemas
def _is_numeric(t):
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t) or pa.types.is_null(t))


def _target_dtype(t, display, target):
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return np.dtype(object)
    if pa.types.is_null(t):
        return np.dtype(np.float64)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return np.dtype(t.to_pandas_dtype())
    raise TypeError(f"target {target!r} is {t} in {display}; it must be numeric, boolean or string")


def _resolve_features(schema, display, target, columns, exclude):
    """Feature names for one file's schema; errors name the file and the available columns."""
    names = list(schema.names)
    wanted = ([target] if target is not None else []) + list(
        exclude if columns is None else columns)
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValueError(f"column(s) {missing} not found in {display}; available columns: {names}")
    if columns is None:
        # A pandas index stored as a column (``__index_level_0__`` or a named index) is not data.
        index = [c for c in (schema.pandas_metadata or {}).get("index_columns", [])
                 if isinstance(c, str)]
        features = [n for n in names if n != target and n not in exclude and n not in index]
    else:
        features = list(columns)
        if target in features or len(set(features)) != len(features):
            raise ValueError(f"columns={features} repeats a name or contains the target {target!r}")
    if not features:
        raise ValueError(f"no feature columns left in {display} (columns: {names})")
    for name in features:
        t = schema.field(name).type
        if not _is_numeric(t):
            raise TypeError(
                f"column {name!r} is {t} in {display}; features must be numeric. Cast it, or "
                f"leave it out with columns=[...] (or exclude=[...])"
            )
    return features


def _check_parts(schemas, target, columns, exclude):
    """Check ``[(display, arrow schema)]`` of all parts against the first: (features, y dtype).

    Later parts must hold the used columns; with the default feature set (``columns=None``) they
    must hold no other columns either, and the target must have one type everywhere.
    """
    display0, schema0 = schemas[0]
    features = _resolve_features(schema0, display0, target, columns, exclude)
    used = features + ([target] if target is not None else [])
    for display, schema in schemas[1:]:
        missing = [c for c in used if c not in schema.names]
        extra = [c for c in schema.names if c not in schema0.names] if columns is None else []
        if missing or extra:
            raise ValueError(
                f"parts have different schemas: {display} lacks {missing} and has extra {extra} "
                f"compared with {display0}; rewrite the odd part, or pick shared columns with "
                f"columns=[...]"
            )
        if target is not None and schema.field(target).type != schema0.field(target).type:
            raise ValueError(
                f"parts have different schemas: target {target!r} is {schema.field(target).type} "
                f"in {display} but {schema0.field(target).type} in {display0}; cast it to one type"
            )
        _resolve_features(schema, display, target, columns, exclude)
    if target is None:
        return features, np.dtype(np.float64)
    return features, _target_dtype(schema0.field(target).type, display0, target)


def _check_args(dtype, block_rows, *, auto=False):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype={dtype} is not a floating type; use 'float32' or 'float64'")
    if auto and block_rows is None:
        return dtype
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) \
            or block_rows < 1:
        raise ValueError(f"block_rows={block_rows!r} must be a positive integer")
    return dtype


# --------------------------------------------------------------------------------------- blocks
def _numeric(chunk):
    """A float or int numpy array of one arrow chunk; nulls become NaN."""
    t = chunk.type
    if not (pa.types.is_floating(t) or pa.types.is_integer(t)) or (
            chunk.null_count and not pa.types.is_floating(t)):
        chunk = chunk.cast(pa.float64(), safe=False)
    return chunk.to_numpy(zero_copy_only=False)


# Rows transposed at a time into a C-ordered block; the (features, rows) scratch stays in cache.
_TILE_ROWS = 8192


def _column_pieces(table, names):
    """Per name, the numpy arrays of its arrow chunks with their first rows."""
    pieces = []
    for name in names:
        pos, arrays = 0, []
        for chunk in table.column(name).chunks:
            if len(chunk):
                arrays.append((pos, _numeric(chunk)))
                pos += len(chunk)
        pieces.append(arrays)
    return pieces


def _copy_rows(dest, arrays, start, stop):
    """Rows ``start:stop`` of a column held as ``[(first row, array)]`` into the 1-D ``dest``."""
    if len(arrays) == 1:
        dest[:] = arrays[0][1][start:stop]
        return
    for first, values in arrays:
        if first >= stop:
            break
        lo, hi = max(start, first), min(stop, first + len(values))
        if lo < hi:
            dest[lo - start:hi - start] = values[lo - first:hi - first]


def _fill_rows(out, pieces, check_finite, lo, hi):
    """Fill the C-ordered ``out`` a tile of rows at a time; ``lo``/``hi`` take column min/max."""
    n, k = out.shape
    scratch = np.empty((k, min(n, _TILE_ROWS)), dtype=out.dtype)
    for start in range(0, n, _TILE_ROWS):
        stop = min(start + _TILE_ROWS, n)
        tile = scratch[:, :stop - start]
        for j, arrays in enumerate(pieces):
            _copy_rows(tile[j], arrays, start, stop)
        out[start:stop] = tile.T
        if check_finite:
            # min and max propagate NaN and reach +-inf, checked while the tile is hot.
            np.minimum(lo, tile.min(axis=1), out=lo)
            np.maximum(hi, tile.max(axis=1), out=hi)


def _matrix(table, names, dtype, check_finite, where, out=None):
    """The ``dtype`` block of columns ``names`` of an arrow table: C-ordered, or written into
    ``out`` (a ``(rows, len(names))`` array of that dtype, C- or column-ordered) when given.

    Built a tile of rows at a time: the columns' rows are copied into a small (features, rows)
    scratch that stays in cache, and its transpose is written into the block. That costs what
    one transposing copy of the whole block costs, without holding the block twice (1M x 20
    float32: 80 MB less at the peak of every read); filling the C-ordered block column by column
    is twice as slow and ``np.column_stack`` three times. ``where(row)`` describes a row's
    location for error messages.

    An ``out`` in column order (Fortran) is filled a column at a time: plain copies, half the
    time of the C-ordered build (262k x 20 float32: 4.2 against 9.5 ms), for models that read
    column-ordered blocks as fast (a compiled linear model's matrix-vector product).
    """
    n, k = table.num_rows, len(names)
    pieces = _column_pieces(table, names)
    lo = np.full(k, np.inf)
    hi = np.full(k, -np.inf)
    out = np.empty((n, k), dtype=dtype) if out is None else out
    # Values beyond float32's range become inf, which check_finite reports with its location.
    with np.errstate(over="ignore"):
        if k > 1 and out.flags.f_contiguous:
            for j, arrays in enumerate(pieces):
                _copy_rows(out[:, j], arrays, 0, n)
                if check_finite and n:
                    lo[j], hi[j] = out[:, j].min(), out[:, j].max()
        else:
            _fill_rows(out, pieces, check_finite, lo, hi)
    if check_finite and n:
        ok = np.isfinite(lo) & np.isfinite(hi)
        if not ok.all():
            j = int(np.flatnonzero(~ok)[0])
            r = int(np.flatnonzero(~np.isfinite(out[:, j]))[0])
            hint = " (or a value beyond the float32 range: pass dtype='float64')" if (
                np.isinf(out[r, j]) and out.dtype == np.float32) else ""
            raise ValueError(
                f"column {names[j]!r} holds {out[r, j]}{hint} at {where(r)}; drop or impute "
                f"those rows, or pass check_finite=False to read them as they are"
            )
    return out


def _target(table, target, dtype, check_finite, where):
    col = table.column(target)
    if col.null_count:
        r = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"target {target!r} is missing at {where(r)}; drop those rows")
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    y = np.asarray(col.to_numpy(), dtype=dtype)
    if check_finite and y.dtype.kind == "f" and not np.isfinite(y).all():
        r = int(np.flatnonzero(~np.isfinite(y))[0])
        raise ValueError(f"target {target!r} holds {y[r]} at {where(r)}; drop those rows")
    return y


@dataclass(frozen=True)
class _Spec:
    """What every block task of one read shares."""

    fs: object
    features: tuple
    target: object
    dtype: np.dtype
    y_dtype: np.dtype
    check_finite: bool
    csv: object = None  # (header names, {column: arrow type}, delimiter) for CSV reads


def _split(table, spec, where):
    X = _matrix(table, spec.features, spec.dtype, spec.check_finite, where)
    if spec.target is None:
        return X, None
    return X, _target(table, spec.target, spec.y_dtype, spec.check_finite, where)


def _read_one(plan_block, read, spec, token, block_id=None):
    out = np.empty(1, dtype=object)
    # Inside ``cache_blocks`` a block decoded by an earlier pass comes from memory.
    out[0] = cached_read((token, block_id[0]), lambda: read(spec, *plan_block[0]))
    return out


def _pick(raw_block, i):
    return raw_block[0][i]


def _assemble(read, spec, blocks, token):
    """``[(read arguments, rows)]`` -> (X, y) dask arrays with known chunks, one read per block.

    The block descriptions form an object dask array, one element per chunk. Mapping the reader
    over it gives one task per block whose result holds both the X and the y block; X and y are
    two selections from those same tasks, so they line up and computing them together reads each
    block once. All of it is blockwise, so the graph costs no Python work per block (5000 blocks:
    7.7 s to build with one ``dask.delayed`` and ``from_delayed`` per block).
    """
    import dask.array as da

    k = len(spec.features)
    x_meta, y_meta = np.empty((0, k), spec.dtype), np.empty((0,), spec.y_dtype)
    if not blocks:
        X, y = da.from_array(x_meta, chunks=(0, k)), da.from_array(y_meta, chunks=0)
    else:
        plan = np.empty(len(blocks), dtype=object)
        for i, (args, _) in enumerate(blocks):
            plan[i] = args
        rows = tuple(n for _, n in blocks)
        raw = da.from_array(plan, chunks=1, name=f"plan-{token}").map_blocks(
            _read_one, read, spec, token, dtype=object, meta=np.empty(0, object),
            name=f"read-{token}")
        X = raw.map_blocks(_pick, 0, chunks=(rows, (k,)), new_axis=1, dtype=spec.dtype,
                           meta=x_meta, name=f"X-{token}")
        y = raw.map_blocks(_pick, 1, chunks=(rows,), dtype=spec.y_dtype, meta=y_meta,
                           name=f"y-{token}")
    register_feature_names(X, spec.features)
    return X if spec.target is None else (X, y)


def _token(kind, fs, files, *args):
    from dask.base import tokenize

    # ukey changes when a file is rewritten, so a re-read of changed files gets new keys.
    return f"{kind}-" + tokenize([(p, fs.ukey(p)) for p in files], *args)
