"""The block functions of :class:`~outofcore.io.table.Table`'s dask graph.

Every block of a Table is a one-element object array holding a ``pyarrow.Table`` (dask.array's
blockwise machinery then runs, optimizes and fuses Table tasks as it does array tasks); these
functions read, select, cut, convert and reduce such blocks, and turn the results back into pandas.
"""

from functools import partial

import numpy as np
import pyarrow as pa

from outofcore.io import convert


def hold(value):
    out = np.empty(1, dtype=object)
    out[0] = value
    return out


def flat(parts):
    if isinstance(parts, list):
        return [p for part in parts for p in flat(part)]
    return [parts]


def read_block(plan, source, columns, cache):
    index = int(plan[0])
    if cache is None:
        return hold(source.read(index, columns))
    return hold(cache.get_or_compute((source.token, columns, index),
                                      lambda: source.read(index, columns)))


def select(block, names):
    return hold(block[0].select(list(names)))


def cut(block, bounds):
    lo, hi = bounds[0]
    return hold(block[0].slice(lo, hi - lo))


def where(source, offsets, origin, block, row):
    if source is not None:
        if origin is not None:
            block, row = origin[block][0], origin[block][1] + row
        return source.where(block, row)
    return f"row {int(offsets[block]) + row} (row {row} of block {block})"


def matrix_block(table, where, names, dtype):
    return convert.matrix(table, names, dtype, where)


def apply(block, func, locate, args, block_id=None):
    return func(block[0], partial(locate, block_id[0] if block_id else 0), *args)


class Chunk:
    """:meth:`Table.reduce`'s chunk step, with the block's locator."""

    def __init__(self, chunk, locate):
        self.chunk, self.locate = chunk, locate

    def __call__(self, block, block_id=None):
        return hold(self.chunk(block[0], partial(self.locate, block_id[0] if block_id else 0)))


def identity(records, axis, keepdims):
    return records


class Combine:
    """``dask.array.reduction``'s combine and aggregate steps for :meth:`Table.reduce`."""

    def __init__(self, combine):
        self.combine = combine

    def __call__(self, parts, axis, keepdims):
        return hold(self.combine([p[0] for p in flat(parts)]))


def to_pandas(results, schema):
    tables = [t for part in flat(list(results)) for t in np.ravel(part)]
    if not tables:
        return schema.empty_table().to_pandas()
    return pa.concat_tables(tables).to_pandas()


def table_of_matrix(block, names):
    if hasattr(block, "toarray"):
        block = block.toarray()
    return hold(pa.table({n: pa.array(block[:, i], from_pandas=block.dtype == object)
                           for i, n in enumerate(names)}))


def arrow_from_pandas(frame):
    frame = frame.rename(columns=str)
    return pa.Table.from_pandas(frame, preserve_index=False)
