"""``Table``: the lazy collection the readers return, a block at a time, names and types known.

A Table is the rows of a data set cut into blocks, each block one dask task that returns a
``pyarrow.Table``. It carries what the estimators downstream need without a pass over the data:
the column names and arrow types (``columns``, ``schema``, ``dtypes``), the rows of every block
(``chunks``), the float dtype numbers are read as, and, for a file read, the block plan
(:class:`outofcore.io.plan.Source`) that says where each row lives. Nothing about it is kept in
process-wide tables: it is all on the object.

It is a dask collection (``dask.compute(X)`` gives a pandas DataFrame) with a small API of its own:
``X[columns]`` selects columns (a parquet read then reads only those), ``X[start:stop]`` selects
rows, ``X.to_dask_array()`` gives the numeric columns as a float dask array with known chunks,
``X.map_blocks`` and ``X.reduce`` run a function on every block, ``X.head()`` reads the first rows.
"""

from functools import partial

import dask.threaded
import numpy as np
import pyarrow as pa
from dask.array.optimization import optimize
from dask.base import DaskMethodsMixin

from outofcore.io import convert
from outofcore.io import table_tasks as tasks


class Table(DaskMethodsMixin):
    """Rows of a table in blocks, read lazily: names, types and block lengths known up front.

    Made by :func:`outofcore.read_parquet` and :func:`outofcore.read_csv`; the estimators of
    outofcore also accept pandas and dask DataFrames and turn them into one.

    Parameters
    ----------
    raw : dask.array.Array of object
        One element per block, each a ``pyarrow.Table`` holding at least the schema's columns.
    schema : pyarrow.Schema
        Names and types of the columns, in order.
    rows : tuple of int
        Rows of each block.
    float_dtype : numpy dtype, default=float32
        The dtype numbers are read as (:meth:`to_dask_array`).
    source : outofcore.io.plan.Source, optional
        The block plan of a file read: where rows live, and how to read other columns.
    cache : outofcore.io.cache.BlockCache, optional
        Where the read keeps decoded blocks for later passes.
    origin : tuple of (int, int), optional
        For a selection of rows: each block's block in ``source`` and its first row there.

    Examples
    --------
    >>> import pandas as pd
    >>> X = Table.from_pandas(pd.DataFrame({"city": ["a", "b", None], "n": [1.0, 2.0, None]}))
    >>> X
    Table(3 rows in 1 block; city: string, n: double)
    >>> X[["n"]].to_dask_array().compute().ravel()
    array([ 1.,  2., nan], dtype=float32)
    """

    def __init__(self, raw, schema, rows, *, float_dtype=np.float32, source=None, cache=None,
                 origin=None, selected=None):
        self._raw = raw
        self.schema = schema
        self.rows = tuple(int(r) for r in rows)
        self.float_dtype = np.dtype(float_dtype)
        self.source = source
        self.cache = cache
        self._origin = origin
        self._selected = selected  # raw holds other columns too: blocks select these

    # ------------------------------------------------------------------------ construction
    @classmethod
    def from_source(cls, source, columns, *, float_dtype=np.float32, cache=None):
        """The columns ``columns`` of a planned read, one read task per block."""
        import dask.array as da

        schema = pa.schema([source.schema.field(c) for c in columns])
        if not source.blocks:  # every part is empty: one empty block keeps the types
            empty = cls.from_pandas(schema.empty_table().to_pandas(), float_dtype=float_dtype)
            return cls(empty._raw, schema, (0,), float_dtype=float_dtype, cache=cache)
        plan = np.arange(len(source.blocks), dtype=object)
        token = _tokenize(source.token, tuple(columns))
        raw = da.from_array(plan, chunks=1, name=f"plan-{token}").map_blocks(
            tasks.read_block, source, tuple(columns), cache, dtype=object, meta=np.empty(0, object),
            name=f"read-{token}")
        return cls(raw, schema, source.rows, float_dtype=float_dtype, source=source, cache=cache)

    @classmethod
    def from_pandas(cls, frame, *, float_dtype=np.float32):
        """One block holding a pandas DataFrame (column names become strings)."""
        import dask.array as da

        table = tasks.arrow_from_pandas(frame)
        return cls(da.from_array(tasks.hold(table), chunks=1, name=False), table.schema,
                   (table.num_rows,), float_dtype=float_dtype)

    @classmethod
    def from_dask_dataframe(cls, frame, *, float_dtype=np.float32):
        """A dask DataFrame's partitions as blocks; their lengths cost one pass when unknown."""
        import dask
        import dask.array as da

        from outofcore.runtime.scheduler import compute

        schema = tasks.arrow_from_pandas(frame._meta).schema
        parts = frame.to_delayed()
        lengths = compute(*[dask.delayed(len)(p) for p in parts])
        tables = [dask.delayed(tasks.arrow_from_pandas)(p) for p in parts]
        raw = da.concatenate([da.from_delayed(dask.delayed(tasks.hold)(t), shape=(1,), dtype=object,
                                              meta=np.empty(0, object)) for t in tables])
        return cls(raw, schema, lengths, float_dtype=float_dtype)

    @classmethod
    def from_dask_array(cls, array, *, float_dtype=np.float32):
        """A 2-D dask array's row blocks as blocks, columns named ``x0``, ``x1``, ..."""
        array = array.rechunk({1: -1}) if len(array.chunks[1]) > 1 else array
        names = [f"x{i}" for i in range(array.shape[1])]
        raw = array.map_blocks(tasks.table_of_matrix, names, drop_axis=1,
                               chunks=((1,) * array.numblocks[0],), dtype=object,
                               meta=np.empty(0, object))
        schema = pa.schema([(n, pa.from_numpy_dtype(array.dtype)) for n in names]) \
            if array.dtype != object else pa.schema([(n, pa.string()) for n in names])
        return cls(raw, schema, array.chunks[0], float_dtype=float_dtype)

    def _like(self, **changes):
        fields = dict(raw=self._raw, schema=self.schema, rows=self.rows,
                      float_dtype=self.float_dtype, source=self.source, cache=self.cache,
                      origin=self._origin, selected=self._selected)
        fields.update(changes)
        return Table(fields.pop("raw"), fields.pop("schema"), fields.pop("rows"), **fields)

    # ------------------------------------------------------------------------------ shape
    @property
    def columns(self):
        """Column names, in order."""
        return list(self.schema.names)

    @property
    def dtypes(self):
        """pandas dtypes of the columns, as ``DataFrame.dtypes`` would give them."""
        return self.meta.dtypes

    @property
    def meta(self):
        """An empty pandas DataFrame with these columns and dtypes."""
        return self.schema.empty_table().to_pandas()

    @property
    def shape(self):
        return (sum(self.rows), len(self.schema))

    @property
    def ndim(self):
        return 2

    @property
    def chunks(self):
        """Rows of each block and the number of columns, as a dask array's chunks."""
        return (self.rows, (len(self.schema),))

    @property
    def numblocks(self):
        return len(self.rows)

    @property
    def offsets(self):
        """The first row of each block, and the total rows last."""
        return np.concatenate([[0], np.cumsum(self.rows)]).astype(np.int64)

    def __len__(self):
        return sum(self.rows)

    def __repr__(self):
        n = len(self.rows)
        cols = ", ".join(f"{f.name}: {f.type}" for f in list(self.schema)[:12])
        more = f", ... ({len(self.schema)} columns)" if len(self.schema) > 12 else ""
        return f"Table({sum(self.rows):,} rows in {n} block{'s' * (n != 1)}; {cols}{more})"

    @property
    def locate(self):
        """``locate(block, row)``: where a row lives, for messages (a small picklable function)."""
        return partial(tasks.where, self.source, self.offsets, self._origin)

    def where(self, block, row):
        """Where row ``row`` of block ``block`` lives, for messages."""
        return self.locate(block, row)

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            f"this {self!r} is read out of core and is not turned into one NumPy array "
            f"implicitly; give it to an outofcore step (ooc.StandardScaler, "
            f"ooc.make_column_transformer, ooc.Incremental, ...), take its numbers lazily with "
            f"X.to_dask_array(), or load it whole with X.compute()"
        )

    # -------------------------------------------------------------------------- selection
    def __getitem__(self, key):
        """``X["c"]`` or ``X[["a", "b"]]``: those columns (a parquet read reads only them);
        ``X[start:stop]``: those rows."""
        if isinstance(key, slice):
            return self._slice_rows(key)
        names = [key] if isinstance(key, str) else list(key)
        if not all(isinstance(n, str) for n in names):
            raise TypeError(f"select columns by name (X['c'] or X[['a', 'b']]) or rows by a "
                            f"slice (X[100:200]); got {key!r}")
        missing = [n for n in names if n not in self.schema.names]
        if missing:
            raise KeyError(f"columns {missing} are not in this table; it has {self.columns}")
        if len(set(names)) != len(names):
            raise ValueError(f"columns {names} repeat a name")
        if self.source is not None and self.source.kind == "parquet" and self._origin is None:
            return Table.from_source(self.source, names, float_dtype=self.float_dtype,
                                     cache=self.cache)
        return self._like(schema=pa.schema([self.schema.field(n) for n in names]),
                          selected=tuple(names))

    def _slice_rows(self, key):
        import dask.array as da

        start, stop, step = key.indices(len(self))
        if step != 1:
            raise ValueError(f"rows are selected by a contiguous slice; got step {step}")
        offsets, picks = self.offsets, []
        for i, n in enumerate(self.rows):
            lo, hi = max(start, offsets[i]), min(stop, offsets[i] + n)
            if lo < hi:
                picks.append((i, int(lo - offsets[i]), int(hi - offsets[i])))
        if not picks:
            empty = Table.from_pandas(self.meta, float_dtype=self.float_dtype)
            return empty._like(schema=self.schema)
        cuts = np.empty(len(picks), dtype=object)
        cuts[:] = [(lo, hi) for _, lo, hi in picks]
        raw = da.map_blocks(tasks.cut, self.blocks[[i for i, _, _ in picks]],
                            da.from_array(cuts, chunks=1, name=False), dtype=object,
                            meta=np.empty(0, object))
        base = self._origin or [(i, 0) for i in range(len(self.rows))]
        origin = tuple((base[i][0], base[i][1] + lo) for i, lo, _ in picks)
        return self._like(raw=raw, rows=[hi - lo for _, lo, hi in picks], origin=origin,
                          selected=None)

    @property
    def blocks(self):
        """A dask object array, one ``pyarrow.Table`` of exactly these columns per block."""
        if self._selected is None:
            return self._raw
        return self._raw.map_blocks(tasks.select, self._selected, dtype=object,
                                    meta=np.empty(0, object))

    # -------------------------------------------------------------------------- conversion
    def to_dask_array(self, dtype=None, *, param="exclude"):
        """The columns as a float dask array with known chunks (numbers only; NaN where missing).

        A string, category or timestamp column is a TypeError naming it and what to do about it
        (``param`` is how the caller's interface leaves a column out).
        """
        dtype = self.float_dtype if dtype is None else np.dtype(dtype)
        where = self.source.displays[0] if self.source is not None else "the input"
        convert.check_numeric(self.schema, self.schema.names, where, param=param)
        return self.map_blocks(tasks.matrix_block, tuple(self.schema.names), dtype, dtype=dtype,
                               width=len(self.schema))

    def map_blocks(self, func, *args, dtype, width=None, meta=None):
        """``func(block, where, *args)`` of every block as a dask array with known chunks.

        ``block`` is a ``pyarrow.Table``, ``where(row)`` names a row's location for messages;
        ``func`` returns ``block.num_rows`` rows: a 1-D array (``width=None``) or ``width``
        columns (a NumPy array, or a scipy.sparse matrix when ``meta`` is one).
        """
        if width is None:
            meta = np.empty(0, dtype) if meta is None else meta
            return self.blocks.map_blocks(tasks.apply, func, self.locate, args, chunks=(self.rows,),
                                          dtype=dtype, meta=meta)
        meta = np.empty((0, width), dtype) if meta is None else meta
        return self.blocks.map_blocks(tasks.apply, func, self.locate, args,
                                      chunks=(self.rows, (width,)), new_axis=1, dtype=dtype,
                                      meta=meta)

    def reduce(self, chunk, combine, *, split_every=8):
        """``combine`` of ``chunk(block, where)`` over every block, as a dask delayed value.

        ``combine`` takes a list of results and returns one; it must not care how the blocks
        are grouped (a tree of combines runs in parallel).
        """
        import dask.array as da

        records = self.blocks.map_blocks(tasks.Chunk(chunk, self.locate), dtype=object,
                                         meta=np.empty(0, object))
        reduced = da.reduction(records, tasks.identity, tasks.Combine(combine),
                               combine=tasks.Combine(combine), axis=0, keepdims=True, dtype=object, concatenate=False,
                               split_every=split_every, meta=np.empty(0, object))
        return reduced.to_delayed()[0][0]  # the one block's one element

    def head(self, n=5):
        """The first ``n`` rows as a pandas DataFrame (reads only the blocks it needs)."""
        from outofcore.runtime.scheduler import compute

        tables, seen = [], 0
        blocks = self.blocks.to_delayed().ravel()
        for i, rows in enumerate(self.rows):
            if seen >= n:
                break
            if rows:
                tables.append(compute(blocks[i])[0][0])
                seen += rows
        if not tables:
            return self.meta
        return pa.concat_tables(tables).slice(0, n).to_pandas()

    # ---------------------------------------------------------------- the dask protocol
    def __dask_graph__(self):
        return self.blocks.__dask_graph__()

    def __dask_keys__(self):
        return self.blocks.__dask_keys__()

    def __dask_layers__(self):
        return self.blocks.__dask_layers__()

    def __dask_tokenize__(self):
        return ("outofcore.Table", self.blocks.name, self.float_dtype.str)

    def __dask_postcompute__(self):
        return tasks.to_pandas, (self.schema,)

    def __dask_postpersist__(self):
        rebuild, args = self.blocks.__dask_postpersist__()
        return _rebuild_table, (rebuild, args, self)

    # The same functions as dask arrays', so Tables and arrays computed together are
    # optimized together and share their reads.
    __dask_optimize__ = staticmethod(optimize)
    __dask_scheduler__ = staticmethod(dask.threaded.get)



def _tokenize(*args):
    from dask.base import tokenize

    return tokenize(*args)


def _rebuild_table(dsk, rebuild, args, like, rename=None):
    return like._like(raw=rebuild(dsk, *args, rename=rename), selected=None)
