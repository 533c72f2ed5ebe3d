"""Parquet and CSV files -> aligned ``(X, y)`` dask arrays with known chunks, planned cheaply.

A parquet read is planned from the footers alone: the files are listed, their schemas checked and
their row groups grouped into blocks. Each block is one task that reads its rows with pyarrow once
and returns both the X block and the y block, so X and y line up by construction and computing them
together reads every row group once. CSV has no footer: planning counts lines (a byte scan, no
parsing) and cuts each file into byte ranges of ``block_rows`` lines.

Block policy: consecutive row groups of one file are merged while the block stays within
``block_rows`` rows; a larger row group is split into even slices, each decoding the row group up
to the end of its slice (memory follows the slice, the decoding is repeated). By default the
merging stops at about 32 MiB of features (``_BLOCK_BYTES``: 419k rows of 20 float32 features),
so memory follows the row width, and only row groups above 2**20 rows, pyarrow's own default
row-group size, are split: files that pyarrow wrote are never split. A fit's peak memory is a
few blocks: with 2**20-row blocks of 20 float32 features a 20M-row fit passed 1 GB, with 250k
rows it peaked at 585 MB (benchmarks/README.md).

The ``_``-prefixed helpers for listing, validating and atomically writing files are shared with
``outofcore.predict`` and ``outofcore.data``.
"""

import io
import os
import re
import secrets
from dataclasses import dataclass
from functools import partial

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from outofcore._arrays import register_feature_names, register_labels

DEFAULT_BLOCK_ROWS = 2**20
# Features per block when block_rows is not given; row groups merge up to it (see the module notes).
_BLOCK_BYTES = 1 << 25
_SUFFIXES = {"parquet": (".parquet", ".parq", ".pq"), "csv": (".csv",)}
# CSV column types are inferred from this much of each file; later values must convert to them.
_CSV_SAMPLE_BYTES = 1 << 20
_SCAN_BYTES = 1 << 24


# ---------------------------------------------------------------------------------------- files
def _list_files(path, kind, storage_options=None):
    """Resolve a file, folder, glob or URL to ``(fs, paths in natural order, is_single_file)``."""
    url = os.fspath(path)
    fs, root = fsspec.core.url_to_fs(url, **(storage_options or {}))
    if any(c in root for c in "*?["):
        found = fs.glob(root, detail=True)
        files, single = [p for p, info in found.items() if info["type"] == "file"], False
    elif fs.isdir(root):
        files, single = [p for p in fs.find(root) if _is_part(p, kind)], False
    elif fs.isfile(root):
        files, single = [root], True
    else:
        raise FileNotFoundError(
            f"{url!r} does not exist; pass a {kind} file, a folder of {kind} parts, a glob such "
            f"as 'data/*{_SUFFIXES[kind][0]}', or an fsspec URL (storage_options= for credentials)"
        )
    if not files:
        raise FileNotFoundError(
            f"no {kind} files in {url!r} (parts must end in {' or '.join(_SUFFIXES[kind])}; "
            f"names starting with '_' or '.' are skipped)"
        )
    return fs, sorted(files, key=_natural_key), single


def _is_part(path, kind):
    name = path.rsplit("/", 1)[-1]
    return not name.startswith(("_", ".")) and name.endswith(_SUFFIXES[kind])


def _natural_key(path):
    # part-2 before part-10: digit runs compare as numbers.
    return [(0, int(s), "") if s.isdigit() else (1, 0, s) for s in re.split(r"(\d+)", path)]


def _display(fs, path):
    return path if isinstance(fs, LocalFileSystem) else fs.unstrip_protocol(path)


def _temp_sibling(fs, dest):
    """A fresh name beside dest: written first, renamed to dest once everything succeeded."""
    dest = dest.rstrip("/")
    if "/" in dest.lstrip("/"):
        fs.makedirs(dest.rsplit("/", 1)[0], exist_ok=True)
    return f"{dest}.tmp-{secrets.token_hex(4)}"


def _refuse_existing(fs, dest, overwrite):
    if not overwrite and fs.exists(dest):
        raise FileExistsError(
            f"{_display(fs, dest)!r} already exists; pass overwrite=True to replace it, or choose "
            f"another destination"
        )


def _publish(fs, tmp, dest, overwrite):
    """Rename the finished tmp to dest; an old dest is moved aside first and removed last."""
    _refuse_existing(fs, dest, overwrite)
    if fs.exists(dest):
        old = f"{dest.rstrip('/')}.old-{secrets.token_hex(4)}"
        fs.mv(dest, old, recursive=True)
        fs.mv(tmp, dest, recursive=True)
        fs.rm(old, recursive=True)
    else:
        fs.mv(tmp, dest, recursive=True)


def _discard(fs, tmp):
    if fs.exists(tmp):
        fs.rm(tmp, recursive=True)


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


def _matrix(table, names, dtype, check_finite, where):
    """The C-ordered ``dtype`` block of columns ``names`` of an arrow table.

    Built a tile of rows at a time: the columns' rows are copied into a small (features, rows)
    scratch that stays in cache, and its transpose is written into the block. That costs what
    one transposing copy of the whole block costs, without holding the block twice (1M x 20
    float32: 80 MB less at the peak of every read); filling the C-ordered block column by column
    is twice as slow and ``np.column_stack`` three times. ``where(row)`` describes a row's
    location for error messages.
    """
    n, k = table.num_rows, len(names)
    pieces = _column_pieces(table, names)
    lo = np.full(k, np.inf)
    hi = np.full(k, -np.inf)
    out = np.empty((n, k), dtype=dtype)
    scratch = np.empty((k, min(n, _TILE_ROWS)), dtype=dtype)
    # Values beyond float32's range become inf, which check_finite reports with its location.
    with np.errstate(over="ignore"):
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


def _read_one(plan_block, read, spec):
    out = np.empty(1, dtype=object)
    out[0] = read(spec, *plan_block[0])
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
            _read_one, read, spec, dtype=object, meta=np.empty(0, object), name=f"read-{token}")
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


# -------------------------------------------------------------------------------------- parquet
def _parquet_footer(fs, path, display):
    """(footer, arrow schema, rows per row group) of one parquet file."""
    try:
        with fs.open(path, "rb") as f:
            meta = pq.read_metadata(f)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(
            f"cannot read the parquet footer of {display}: {e}. The file is truncated or not "
            f"parquet; rewrite it or move it out of the data set"
        ) from e
    rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    return meta, meta.schema.to_arrow_schema(), rows


def _block_limits(block_rows, n_features, dtype):
    """(rows up to which row groups merge, rows above which one is split) for a read."""
    if block_rows is not None:
        return block_rows, block_rows
    budget = max(1, _BLOCK_BYTES // (max(1, n_features) * dtype.itemsize))
    return min(budget, DEFAULT_BLOCK_ROWS), DEFAULT_BLOCK_ROWS


def _plan_row_groups(rg_rows, block_rows, split_rows=None):
    """Blocks of one file as ``(row groups, lo, hi, first row)``; lo:hi slices a split row group.

    Row groups merge while a block stays within ``block_rows``; one above ``split_rows`` (default
    ``block_rows``) is split evenly, one in between is a block of its own.
    """
    split_rows = block_rows if split_rows is None else split_rows
    blocks, run, run_rows, offset = [], [], 0, 0
    for i, n in enumerate(rg_rows):
        if run and run_rows + n > block_rows:
            blocks.append((tuple(run), None, None, offset - run_rows))
            run, run_rows = [], 0
        if n > split_rows:
            size = -(-n // -(-n // split_rows))
            blocks += [((i,), lo, min(lo + size, n), offset + lo) for lo in range(0, n, size)]
        elif n > block_rows:
            blocks.append(((i,), None, None, offset))
        elif n:
            run.append(i)
            run_rows += n
        offset += n
    if run:
        blocks.append((tuple(run), None, None, offset - run_rows))
    return blocks


def _read_parquet_block(spec, path, display, meta, row_groups, rg_rows, lo, hi, first_row):
    columns = list(spec.features) + ([spec.target] if spec.target is not None else [])
    try:
        with spec.fs.open(path, "rb") as f:
            # The footer parsed at planning is reused: parsing it in every task costs time
            # quadratic in the row groups (5000 row groups of 10 rows: 80 s against 5 s).
            pf = pq.ParquetFile(f, metadata=meta)
            if lo is None:
                table = pf.read_row_groups(list(row_groups), columns=columns)
            else:
                batches, seen = [], 0
                for batch in pf.iter_batches(hi - lo, row_groups=list(row_groups),
                                             columns=columns):
                    if seen + batch.num_rows > lo:
                        batches.append(batch)
                    seen += batch.num_rows
                    if seen >= hi:
                        break
                table = pa.Table.from_batches(batches)
                table = table.slice(lo - (seen - table.num_rows), hi - lo)
    except (pa.ArrowException, OSError) as e:
        raise ValueError(
            f"cannot read row group(s) {list(row_groups)} of {display}: {e}. The file is "
            f"truncated or corrupt; rewrite it or move it out of the data set"
        ) from e
    bounds = np.cumsum(rg_rows)

    def where(r):
        rg = row_groups[int(np.searchsorted(bounds, (lo or 0) + r, side="right"))]
        return f"row {first_row + r} of {display} (row group {rg})"

    return _split(table, spec, where)


def read_parquet(path, target=None, columns=None, dtype="float32", *, exclude=(),
                 block_rows=None, check_finite=True, storage_options=None):
    """Read parquet files into aligned dask arrays ``(X, y)`` with known chunks.

    Parameters
    ----------
    path : str or path-like
        One file, a folder of parts (searched recursively; names starting with ``_`` or ``.``
        are skipped), a glob, or an fsspec URL such as ``s3://bucket/data/`` or
        ``memory://train``. Parts are read in natural order (``part-2`` before ``part-10``).
    target : str, optional
        The target column. Without it only ``X`` is returned.
    columns : list of str, optional
        Feature columns, in this order. Default: every column but the target, ``exclude`` and a
        pandas index written as a column.
    dtype : {"float32", "float64"}
        dtype of X. y keeps the target's own type (strings become an object array).
    exclude : sequence of str
        Columns left out of the default feature set, such as row ids.
    block_rows : int, optional
        Most rows in a block. Default: whole row groups merged up to about 32 MiB of features
        (419k rows of 20 float32 features), a row group above 2**20 rows split (see the module
        notes on how row groups map to blocks).
    check_finite : bool
        Raise on a NaN, missing or infinite feature or target when its block is read, naming
        the column, file, row and row group.
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoints).

    Returns
    -------
    X : dask.array.Array of shape (n_rows, n_features)
        Rows in file order. Its feature names are registered, so estimators fitted on X get
        ``feature_names_in_``.
    y : dask.array.Array of shape (n_rows,)
        Chunked like X's rows. Only when ``target`` is given.

    Examples
    --------
    >>> X, y = read_parquet("data/train.parquet", target="target", exclude=["id"])  # doctest: +SKIP
    >>> X.chunks[0] == y.chunks[0]                                                  # doctest: +SKIP
    True
    """
    dtype = _check_args(dtype, block_rows, auto=True)
    fs, files, _ = _list_files(path, "parquet", storage_options)
    displays = [_display(fs, p) for p in files]
    footers = [_parquet_footer(fs, p, d) for p, d in zip(files, displays, strict=True)]
    schemas = [(d, schema) for d, (_, schema, _) in zip(displays, footers, strict=True)]
    features, y_dtype = _check_parts(schemas, target, columns, exclude)
    merge_rows, split_rows = _block_limits(block_rows, len(features), dtype)
    blocks = []
    for p, d, (meta, _, rg_rows) in zip(files, displays, footers, strict=True):
        for rgs, lo, hi, first in _plan_row_groups(rg_rows, merge_rows, split_rows):
            sizes = tuple(rg_rows[i] for i in rgs)
            n = sum(sizes) if lo is None else hi - lo
            blocks.append(((p, d, meta, rgs, sizes, lo, hi, first), n))
    spec = _Spec(fs, tuple(features), target, dtype, y_dtype, check_finite)
    token = _token("parquet", fs, files, features, target, dtype.str, check_finite, merge_rows,
                   split_rows)
    arrays = _assemble(_read_parquet_block, spec, blocks, token)
    if target is not None:
        register_labels(arrays[1], partial(_parquet_labels, fs, tuple(files), target, y_dtype))
    return arrays


def _parquet_labels(fs, files, target, y_dtype):
    """Distinct values of the target column, reading that column alone (one task per file)."""
    import dask

    def distinct(path):
        with fs.open(path, "rb") as f:
            column = pq.read_table(f, columns=[target]).column(0)
        return np.unique(column.to_numpy(zero_copy_only=False).astype(y_dtype, copy=False))

    parts = dask.compute(*[dask.delayed(distinct)(p) for p in files])
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=y_dtype)


# ------------------------------------------------------------------------------------------ CSV
def _scan_csv(fs, path, display, block_rows, delimiter):
    """(sampled arrow schema, [(start byte, stop byte, rows)]) of one CSV file."""
    with fs.open(path, "rb") as f:
        header = f.readline()
        if not header.strip():
            raise ValueError(f"{display} is empty; every CSV part needs a header line")
        body = f.read(_CSV_SAMPLE_BYTES)
        if len(body) == _CSV_SAMPLE_BYTES:
            body = body[:body.rfind(b"\n") + 1]
        # The sample only settles the types: malformed lines are reported, with their number,
        # when their block is read.
        options = pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=lambda row: "skip")
        try:
            schema = pacsv.read_csv(io.BytesIO(header.rstrip(b"\r\n") + b"\n" + body),
                                    parse_options=options).schema
        except pa.ArrowInvalid as e:
            raise ValueError(f"cannot parse the first lines of {display}: {e}") from e
        f.seek(len(header))
        blocks, start, pos, pending, last = [], len(header), len(header), 0, b"\n"
        # Counting newlines needs no parsing; quoted values spanning lines are caught when read.
        while buf := f.read(_SCAN_BYTES):
            newlines = np.flatnonzero(np.frombuffer(buf, np.uint8) == ord("\n"))
            for end in newlines[block_rows - pending - 1::block_rows]:
                blocks.append((start, pos + int(end) + 1, block_rows))
                start = pos + int(end) + 1
            pending = (pending + len(newlines)) % block_rows
            pos, last = pos + len(buf), buf[-1:]
    pending += last != b"\n" and pos > start
    if pending:
        blocks.append((start, pos, pending))
    return schema, blocks


def _parse_csv(data, spec, threads, on_invalid=None):
    names, types, delimiter = spec.csv
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=threads),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(include_columns=list(types), column_types=types))


def _read_csv_block(spec, path, display, start, stop, n_rows, first_line):
    with spec.fs.open(path, "rb") as f:
        f.seek(start)
        data = f.read(stop - start)
    try:
        # Threads parse 1.7x faster but lose line numbers: a failing block is parsed again alone.
        table = _parse_csv(data, spec, threads=True)
    except pa.ArrowInvalid:
        invalid = []
        try:
            _parse_csv(data, spec, False, lambda row: invalid.append(row) or "error")
        except pa.ArrowInvalid as e:
            if invalid:
                row, line = invalid[0], first_line + (invalid[0].number or 1) - 1
                what = f"{row.actual_columns} fields where the header has {row.expected_columns}"
            else:
                found = re.search(r"Row #(\d+)", str(e))
                line = first_line + int(found.group(1)) - 1 if found else first_line
                what = re.sub(r"Row #\d+: ", "", str(e))
            raise ValueError(f"cannot parse line {line} of {display}: {what}. Fix or remove it") \
                from e
        raise
    if table.num_rows != n_rows:
        raise ValueError(
            f"lines {first_line}-{first_line + n_rows - 1} of {display} parsed into "
            f"{table.num_rows} rows, not {n_rows}: quoted values spanning lines are not "
            f"supported; convert the file to parquet"
        )
    return _split(table, spec, lambda r: f"line {first_line + r} of {display}")


def read_csv(path, target=None, columns=None, dtype="float32", *, exclude=(),
             block_rows=DEFAULT_BLOCK_ROWS, check_finite=True, delimiter=",",
             storage_options=None):
    """Read CSV files, each with a header line, into aligned dask arrays ``(X, y)``.

    Takes the parameters of :func:`read_parquet`, plus ``delimiter``. Planning reads every byte
    once to count lines (no parsing) and cuts each file into blocks of ``block_rows`` lines
    (2**20 by default: the lines are cut before the feature columns are known), so the chunks
    are known. Column types are inferred from each file's first MiB; a later value that
    does not convert raises an error naming the file and line. Rows with the wrong number of
    fields and quoted values spanning lines are errors; a blank line is a row of missing values.
    Compressed CSV is not supported (convert it to parquet).

    Examples
    --------
    >>> X, y = read_csv("data/train.csv", target="target", exclude=["id"])  # doctest: +SKIP
    """
    dtype = _check_args(dtype, block_rows)
    fs, files, _ = _list_files(path, "csv", storage_options)
    displays = [_display(fs, p) for p in files]
    scans = [_scan_csv(fs, p, d, block_rows, delimiter)
             for p, d in zip(files, displays, strict=True)]
    header = scans[0][0].names
    for d, (schema, _) in zip(displays, scans, strict=True):
        if schema.names != header:
            raise ValueError(
                f"parts have different schemas: {d} has header {schema.names} but {displays[0]} "
                f"has {header}; every part needs the same header"
            )
    # A header-only part says nothing about types: types are checked on the parts with rows.
    typed = [(d, schema) for d, (schema, blocks) in zip(displays, scans, strict=True) if blocks]
    typed = typed or [(displays[0], scans[0][0])]
    features, y_dtype = _check_parts(typed, target, columns, exclude)
    types = {name: pa.from_numpy_dtype(dtype) for name in features}
    if target is not None:
        sampled = typed[0][1].field(target).type
        types[target] = pa.float64() if pa.types.is_null(sampled) else sampled
    blocks = []
    for p, d, (_, file_blocks) in zip(files, displays, scans, strict=True):
        line = 2
        for start, stop, n in file_blocks:
            blocks.append(((p, d, start, stop, n, line), n))
            line += n
    spec = _Spec(fs, tuple(features), target, dtype, y_dtype, check_finite,
                 csv=(header, types, delimiter))
    token = _token("csv", fs, files, features, target, dtype.str, check_finite, block_rows,
                   delimiter)
    return _assemble(_read_csv_block, spec, blocks, token)
