"""``read_parquet`` and ``read_csv``: files -> a lazy :class:`~outofcore.io.table.Table` of the
features and, with ``target=``, the aligned target as a dask array.

Both plan their blocks without reading the data (parquet from its footers, CSV from a line count)
and hand the plan to the collections, so block lengths are known and X and y line up by
construction: the same block of each covers the same rows. A parquet read of the target reads
that column alone, so finding a classifier's labels never decodes the features.
"""

import numpy as np
import pyarrow as pa

from outofcore.io import convert
from outofcore.io.cache import make_cache
from outofcore.io.plan import DEFAULT_BLOCK_ROWS, check_parts, plan_csv, plan_parquet
from outofcore.io.table import Table


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype={dtype} is not a floating type; use 'float32' or 'float64'")
    return dtype


def _check_block_rows(block_rows):
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) \
            or block_rows < 1:
        raise ValueError(f"block_rows={block_rows!r} must be a positive integer")


def resolve_columns(schema, name, target, columns, exclude):
    """The feature columns of a read, from the first part's ``schema`` (named ``name``)."""
    names = list(schema.names)
    if isinstance(exclude, str):
        exclude = [exclude]
    wanted = ([target] if target is not None else []) + list(
        exclude if columns is None else columns)
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValueError(f"column(s) {missing} not found in {name}; available columns: {names}")
    if columns is None:
        # A pandas index stored as a column (``__index_level_0__`` or a named index) is not data.
        index = [c for c in (schema.pandas_metadata or {}).get("index_columns", [])
                 if isinstance(c, str)]
        features = [n for n in names if n != target and n not in exclude and n not in index]
    else:
        features = [columns] if isinstance(columns, str) else list(columns)
        if target in features or len(set(features)) != len(features):
            raise ValueError(f"columns={features} repeats a name or contains the target {target!r}")
    if not features:
        raise ValueError(f"no feature columns left in {name} (columns: {names})")
    return features


def _target_dtype(source, target):
    """The target's NumPy dtype; its arrow type must be the same in every part."""
    first = source.part_schemas[0].field(target).type
    for name, schema in zip(source.displays[1:], source.part_schemas[1:], strict=True):
        t = schema.field(target).type
        plain = [x.value_type if pa.types.is_dictionary(x) else x for x in (first, t)]
        if plain[0] != plain[1]:
            raise ValueError(
                f"parts have different schemas: target {target!r} is {t} in {name} but {first} "
                f"in {source.displays[0]}; cast it to one type"
            )
    dtype = convert.target_dtype(first)
    if dtype is None:
        raise TypeError(f"target {target!r} is {first} in {source.displays[0]}; it must be "
                        f"numeric, boolean or string")
    return dtype


def _target_block(block, where, name, dtype):
    return convert.target(block.column(0), name, dtype, where)


def _split(source, features, target, float_dtype, cache, strict):
    check_parts(source, features + ([target] if target is not None else []), strict=strict)
    if target is None:
        return Table.from_source(source, features, float_dtype=float_dtype, cache=cache)
    y_dtype = _target_dtype(source, target)
    if source.kind == "parquet":
        # Columns are stored apart: the target read alone costs nothing extra, and a pass over
        # y alone (the labels of a classifier) never decodes the features.
        X = Table.from_source(source, features, float_dtype=float_dtype, cache=cache)
        y_table = Table.from_source(source, [target], float_dtype=float_dtype, cache=cache)
    else:
        # A CSV line is parsed whole: one parse per block serves X and y.
        both = Table.from_source(source, features + [target], float_dtype=float_dtype,
                                 cache=cache)
        X, y_table = both[features], both[[target]]
    y = y_table.map_blocks(_target_block, target, y_dtype, dtype=y_dtype)
    return X, y


def _check_csv_target(sample, target, name, first_line):
    """Refuse a CSV target read as text whose values are numbers but for a few (a stray quote
    or a typo would otherwise add a class such as '1"' silently)."""
    column = sample.column(target)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return
    import pyarrow.compute as pc

    text = pc.utf8_trim_whitespace(column)
    numeric = pc.match_substring_regex(text, r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
    numeric = np.asarray(numeric.fill_null(True))
    if numeric.any() and not numeric.all():
        row = int(np.flatnonzero(~numeric)[0])
        raise ValueError(
            f"target {target!r} holds {column[row].as_py()!r} at line {first_line + row} of "
            f"{name}, where its other values are numbers; fix that line (a stray quote?) or "
            f"make every label text"
        )


def read_parquet(path, target=None, columns=None, *, exclude=(), dtype="float32",
                 block_rows=None, cache=False, storage_options=None):
    """Read parquet files into a lazy :class:`~outofcore.Table` ``X`` and, with ``target``, the
    aligned target ``y``.

    Parameters
    ----------
    path : str, path-like or list of them
        One file, a folder of parts (searched recursively; names starting with ``_`` or ``.``
        are skipped), a glob, an fsspec URL such as ``s3://bucket/data/``, or a list of files
        and globs. A folder's parts are read in natural order (``part-2`` before ``part-10``).
    target : str, optional
        The target column. Without it only ``X`` is returned.
    columns : list of str, optional
        Feature columns, in this order. Default: every column but the target, ``exclude`` and
        a pandas index written as a column.
    exclude : sequence of str
        Columns left out of the default feature set, such as row ids.
    dtype : {"float32", "float64"}
        The float dtype numbers are read as when a step needs a numeric matrix. ``y`` keeps
        the target's own type (strings become an object array).
    block_rows : int, optional
        Most rows in a block. Default: whole row groups merged up to about 32 MiB of numbers
        (419k rows of 20 float32 columns), a row group above 2**20 rows split.
    cache : bool, int or str, default=False
        Keep decoded blocks in memory for later passes (the statistics of each fitted step,
        then every epoch): ``True``/``"auto"`` up to a quarter of the available memory, or a
        budget in bytes (``"8GiB"``). Memory then grows with the data up to the budget.
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoints).

    Returns
    -------
    X : Table
        Rows in file order; strings, categories, booleans, integers with gaps and timestamps
        keep their types. Lazy: nothing is read until a step computes.
    y : dask.array.Array of shape (n_rows,)
        Chunked like X's blocks. Only when ``target`` is given; a missing label is an error
        naming its file and row.

    Examples
    --------
    >>> X, y = read_parquet("data/train.parquet", target="target", exclude=["id"])  # doctest: +SKIP
    >>> X.chunks[0] == y.chunks[0]                                                  # doctest: +SKIP
    True
    """
    float_dtype = _float_dtype(dtype)
    if block_rows is not None:
        _check_block_rows(block_rows)

    def select(schema, name):
        return resolve_columns(schema, name, target, columns, exclude)

    source, features = plan_parquet(path, select=select, itemsize=float_dtype.itemsize,
                                    block_rows=block_rows, storage_options=storage_options)
    return _split(source, features, target, float_dtype, make_cache(cache), columns is None)


def read_csv(path, target=None, columns=None, *, exclude=(), dtype="float32",
             block_rows=DEFAULT_BLOCK_ROWS, cache=False, delimiter=",", storage_options=None):
    """Read CSV files, each with a header line, into a lazy Table ``X`` and the aligned ``y``.

    Takes the parameters of :func:`read_parquet`, plus ``delimiter``. Planning reads every byte
    once to count lines (no parsing) and cuts each file into blocks of ``block_rows`` lines, so
    block lengths are known. Column types are inferred from the first MiB of the first part
    with rows (a column empty there is read as numbers); a later value that does not convert is
    an error naming the file and line. Rows with the wrong number of fields and quoted values
    spanning lines are errors; an empty field is a missing value. Compressed CSV is not
    supported (convert it to parquet).

    Examples
    --------
    >>> X, y = read_csv("data/train.csv", target="target", exclude=["id"])  # doctest: +SKIP
    """
    float_dtype = _float_dtype(dtype)
    _check_block_rows(block_rows)
    samples = []
    source = plan_csv(path, block_rows=block_rows, delimiter=delimiter,
                      storage_options=storage_options, samples=samples)
    features = resolve_columns(source.schema, source.displays[0], target, columns, exclude)
    if target is not None:
        for name, first_line, sample in samples:
            _check_csv_target(sample, target, name, first_line)
    return _split(source, features, target, float_dtype, make_cache(cache), columns is None)
