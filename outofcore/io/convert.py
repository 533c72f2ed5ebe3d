"""Arrow tables to NumPy: the numeric matrix of a block, its target vector, and which columns are
numbers.

A block arrives from a reader as a ``pyarrow.Table``. Estimators that learn from numbers get a
C-ordered float matrix of its numeric columns (:func:`matrix`); a string, categorical or timestamp
column is never silently turned into numbers (:func:`check_numeric` names it and says what to do).
Missing values become NaN: imputing or refusing them is the business of the step that reads them.
"""

import numpy as np
import pyarrow as pa


def is_numeric(t):
    """Whether an arrow type reads as numbers: integers, floats, decimals, booleans, nulls, and
    dictionaries of those."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)
            or pa.types.is_decimal(t) or pa.types.is_null(t))


def is_temporal(t):
    return pa.types.is_temporal(t)


def kind_of(t):
    """A word for an arrow type in messages: number, boolean, string, category, timestamp, ..."""
    if pa.types.is_dictionary(t):
        return "category"
    if pa.types.is_boolean(t):
        return "boolean"
    if is_numeric(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "timestamp"
    return str(t)


def check_numeric(schema, columns, where, param="exclude"):
    """Raise TypeError for the first of ``columns`` whose type in ``schema`` is not numeric.

    ``where`` names the file (or input) the schema belongs to; ``param`` how the user leaves a
    column out (``exclude`` for readers, ``--exclude`` on the command line).
    """
    for name in columns:
        t = schema.field(name).type
        if is_numeric(t):
            continue
        kind = kind_of(t)
        if kind == "timestamp":
            todo = ("turn it into numbers with ooc.DateTimeFeatures() (hour, day of week, day of "
                    "year, ...) inside ooc.make_column_transformer")
        else:
            todo = ("encode it with ooc.OneHotEncoder() or ooc.OrdinalEncoder() inside "
                    "ooc.make_column_transformer")
        raise TypeError(
            f"column {name!r} holds {kind} values ({t}) in {where}, and this step needs "
            f"numbers; {todo}, or leave it out with {param}=[{name!r}]"
        )


def _numeric(chunk):
    """A float or int NumPy array of one arrow chunk; nulls become NaN."""
    t = chunk.type
    if pa.types.is_dictionary(t):
        chunk = chunk.dictionary_decode()
        t = chunk.type
    if not (pa.types.is_floating(t) or pa.types.is_integer(t)) or (
            chunk.null_count and not pa.types.is_floating(t)):
        chunk = chunk.cast(pa.float64(), safe=False)
    # to_numpy gives NaN for the nulls of a float array.
    return chunk.to_numpy(zero_copy_only=False)


# Rows transposed at a time into a C-ordered block; the (features, rows) scratch stays in cache.
_TILE_ROWS = 8192


def _column_pieces(table, names):
    """Per name, the NumPy arrays of its arrow chunks with their first rows."""
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


def matrix(table, names, dtype, where, out=None):
    """The ``dtype`` matrix of numeric columns ``names`` of an arrow table, C-ordered, or written
    into ``out`` (a ``(rows, len(names))`` array of that dtype, C- or column-ordered).

    Built a tile of rows at a time: the columns' rows are copied into a small (features, rows)
    scratch that stays in cache, and its transpose is written into the block, which costs what
    one transposing copy costs without holding the block twice (``np.column_stack`` is three
    times slower). A column-ordered ``out`` is filled a column at a time (plain copies). A value
    beyond the range of ``dtype`` is an error naming its column and ``where(row)``.
    """
    n = table.num_rows
    out = np.empty((n, len(names)), dtype=dtype) if out is None else out
    return Columns(table, names).fill(out, 0, where)


class Columns:
    """The numeric columns ``names`` of an arrow table as NumPy arrays, taken once, from which
    blocks of consecutive rows are filled (:meth:`fill`): a caller that predicts a table a few
    thousand rows at a time pays for the arrow-to-NumPy views once."""

    def __init__(self, table, names):
        self.names = list(names)
        self.num_rows = table.num_rows
        self.pieces = _column_pieces(table, self.names)

    def fill(self, out, start, where):
        """Write rows ``start : start + len(out)`` into ``out`` (``(rows, len(names))``, C- or
        column-ordered) and return it; ``where(row)`` names a row of the table in errors."""
        n, k = out.shape[0], len(self.names)
        stop = start + n
        try:
            with np.errstate(over="raise"):
                if k > 1 and out.flags.f_contiguous:
                    for j, arrays in enumerate(self.pieces):
                        _copy_rows(out[:, j], arrays, start, stop)
                else:
                    scratch = np.empty((k, min(n, _TILE_ROWS)), dtype=out.dtype)
                    for lo in range(start, stop, _TILE_ROWS):
                        hi = min(lo + _TILE_ROWS, stop)
                        tile = scratch[:, :hi - lo]
                        for j, arrays in enumerate(self.pieces):
                            _copy_rows(tile[j], arrays, lo, hi)
                        out[lo - start:hi - start] = tile.T
        except FloatingPointError:
            self._raise_beyond_range(out.dtype, start, stop, where)
            raise
        return out

    def _raise_beyond_range(self, dtype, start, stop, where):
        for j, arrays in enumerate(self.pieces):
            for first, values in arrays:
                lo, hi = max(start - first, 0), min(stop - first, len(values))
                if lo >= hi:
                    continue
                part = values[lo:hi]
                big = np.flatnonzero(np.isfinite(part) & (np.abs(part) > np.finfo(dtype).max))
                if big.size:
                    r = first + lo + int(big[0])
                    raise ValueError(
                        f"column {self.names[j]!r} holds {values[r - first]} at {where(r)}, "
                        f"beyond the range of {np.dtype(dtype).name}; read with dtype='float64'"
                    ) from None


def target_dtype(t):
    """The NumPy dtype of a target column of arrow type ``t``, or None when it cannot be one."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return np.dtype(object)
    if pa.types.is_null(t):
        return np.dtype(np.float64)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t):
        return np.dtype(t.to_pandas_dtype())
    return None


def target(column, name, dtype, where):
    """The target vector of a block from its arrow column; a missing label is an error."""
    if column.null_count:
        r = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"target {name!r} is missing at {where(r)}; drop those rows")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return np.asarray(column.to_numpy(), dtype=dtype)
