"""Category counts of table columns: the mergeable statistic behind the encoders and the imputer.

A column reaches a step as arrow (a block of a Table: strings, large strings, dictionaries from
pandas categoricals, numbers, booleans) or in memory as one NumPy column, which is what
scikit-learn's encoders work on. :func:`columns` turns a block into :class:`Column` views;
:func:`count` summarises one into a :class:`Counts` record (its distinct values and how often
each occurs, missing values apart); :func:`merge` adds records up in any grouping;
:func:`categories` sorts the values as scikit-learn does (:mod:`~outofcore.preprocessing.vocabulary`
looks rows up in such a list).

Missing values follow what scikit-learn sees on the same data in pandas: a null of an arrow
column and a NaN are the category ``nan`` (pandas reads arrow strings with NaN for missing);
an in-memory object column keeps ``None`` and ``nan`` apart, ``None`` first, as scikit-learn
does. Integers and booleans with missing values become floats, as pandas makes them.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from outofcore.io import convert


@dataclass(frozen=True, eq=False)
class Column:
    """One column of a block.

    Parameters
    ----------
    name : str
        Its name, for messages.
    chunks : tuple of pyarrow.Array
        Its values in order; nulls (and NaN in floats) are missing.
    dtype : numpy dtype or None
        The dtype scikit-learn sees the column as (object for strings); None for a column of
        nulls only.
    none : ndarray of bool or None
        Rows that hold ``None`` in an in-memory object column (their other missing rows hold NaN).
    """

    name: str
    chunks: tuple
    dtype: np.dtype | None
    none: np.ndarray | None = None

    def __len__(self):
        return sum(len(c) for c in self.chunks)

    def value(self, row):
        """The value at ``row``, as a Python object (for messages)."""
        for chunk in self.chunks:
            if row < len(chunk):
                if self.none is not None and self.none[row]:
                    return None
                value = chunk[row].as_py()
                return float("nan") if value is None else value
            row -= len(chunk)
        raise IndexError(row)


@dataclass(frozen=True, eq=False)
class Counts:
    """How often each value of a column occurs (a mergeable record).

    ``values`` (a ``pyarrow.Array`` without missing values, each once) and ``counts`` (int64)
    go together; ``none`` and ``nan`` count the missing values; ``dtype`` is the column's
    NumPy dtype (None when only nulls were seen).
    """

    name: str
    values: pa.Array
    counts: np.ndarray
    none: int
    nan: int
    dtype: np.dtype | None

    @property
    def rows(self):
        return int(self.counts.sum()) + self.none + self.nan


def is_stringlike(t):
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def refuse_temporal(name, kind, where):
    """The TypeError for a timestamp column given to a step that reads categories or numbers."""
    raise TypeError(
        f"column {name!r} holds {kind} values in {where}; an encoder or imputer does not read "
        f"timestamps as categories or numbers: turn them into features with "
        f"ooc.DateTimeFeatures() (year, month, day of week, hour, ...) and give it that column")


def _dtype_of(t, name):
    """What scikit-learn sees an arrow type as, in pandas: strings are objects."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if is_stringlike(t):
        return np.dtype(object)
    if pa.types.is_null(t):
        return None
    if pa.types.is_decimal(t):
        return np.dtype(np.float64)
    if convert.is_numeric(t):
        return np.dtype(t.to_pandas_dtype())
    if convert.is_temporal(t):
        refuse_temporal(name, f"{convert.kind_of(t)} ({t})", "the input")
    raise TypeError(f"column {name!r} holds {t} values; encode strings, categories, numbers or "
                    f"booleans")


def _arrow_column(name, chunked):
    chunks = tuple(c if not pa.types.is_decimal(c.type) else c.cast(pa.float64())
                   for c in chunked.chunks if len(c))
    return Column(name, chunks, _dtype_of(chunked.type, name))


def numpy_column(name, values):
    """A Column of a 1-D NumPy array, read as scikit-learn reads it."""
    kind = values.dtype.kind
    if kind in "mM":
        refuse_temporal(name, f"timestamp ({values.dtype})", "the input")
    if kind != "O":
        return Column(name, (pa.array(values),), values.dtype)
    missing = np.asarray(pd.isna(values), dtype=bool)
    none = None
    if missing.any():
        rows = np.flatnonzero(missing)
        none = np.zeros(len(values), dtype=bool)
        none[rows] = [values[r] is None for r in rows]
    try:
        array = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        types = sorted({type(v).__qualname__ for v in values[~missing]})
        raise TypeError(f"Encoders require their input argument must be uniformly strings or "
                        f"numbers. Got {types} in column {name!r}") from None
    if convert.is_temporal(array.type):
        refuse_temporal(name, f"timestamp ({array.type})", "the input")
    return Column(name, (array,), np.dtype(object), none if none is not None and none.any()
                  else None)


def columns(block, names=None):
    """The columns of a block: a ``pyarrow.Table``, a pandas DataFrame (each column read by
    scikit-learn's ``check_array``, as its encoders do), or a 2-D NumPy array or sparse matrix."""
    if isinstance(block, pa.Table):
        return [_arrow_column(n, block.column(i)) for i, n in enumerate(block.schema.names)]
    if hasattr(block, "iloc"):
        from sklearn.utils import check_array

        return [numpy_column(str(n), check_array(block.iloc[:, i], ensure_2d=False, dtype=None,
                                                 ensure_all_finite=False))
                for i, n in enumerate(block.columns)]
    if hasattr(block, "toarray"):
        block = block.toarray()
    block = np.asarray(block)
    names = names if names is not None else [f"x{i}" for i in range(block.shape[1])]
    return [numpy_column(names[i], block[:, i]) for i in range(block.shape[1])]


def missing_mask(array):
    """Rows of an arrow array that are null, or NaN in a float array (NumPy bool or None)."""
    mask = None
    if array.null_count:
        mask = array.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_floating(array.type):
        nan = pc.is_nan(array).fill_null(False).to_numpy(zero_copy_only=False)
        mask = nan if mask is None else mask | nan
    return mask


def check_finite(column, where):
    """Infinity is not a category: a ValueError naming the column and the row."""
    pos = 0
    for chunk in column.chunks:
        if pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_decode()
        if pa.types.is_floating(chunk.type) and pc.any(pc.is_inf(chunk)).as_py():
            inf = pc.is_inf(chunk).fill_null(False).to_numpy(zero_copy_only=False)
            row = int(np.flatnonzero(inf)[0])
            raise ValueError(f"Input contains infinity: column {column.name!r} holds "
                             f"{chunk[row].as_py()} at {where(pos + row)}; replace it or drop "
                             f"the row")
        pos += len(chunk)


def _value_counts(array):
    """(distinct values, their counts) of an arrow array, nulls and NaN included."""
    if pa.types.is_dictionary(array.type):
        counts = np.bincount(array.indices.drop_null().to_numpy(zero_copy_only=False),
                             minlength=len(array.dictionary)).astype(np.int64)
        values = array.dictionary
        if array.null_count:
            values = pa.concat_arrays([values, pa.nulls(1, values.type)])
            counts = np.append(counts, array.null_count)
        return values, counts
    grouped = pa.table({"v": array}).group_by("v").aggregate(
        [("v", "count", pc.CountOptions(mode="all"))])
    return grouped.column(0).combine_chunks(), grouped.column(1).to_numpy()


def count(column):
    """The :class:`Counts` record of one column."""
    parts, nan = [], 0
    for chunk in column.chunks:
        values, counts = _value_counts(chunk)
        missing = missing_mask(values)
        keep = counts > 0
        if missing is not None:
            nan += int(counts[missing].sum())
            keep &= ~missing
        parts.append(Counts(column.name, values.filter(pa.array(keep)), counts[keep], 0, 0,
                            column.dtype))
    none = int(column.none.sum()) if column.none is not None else 0
    merged = _sum(parts, column.name, column.dtype)
    return Counts(column.name, merged.values, merged.counts, none, nan - none, column.dtype)


def _common_type(types, name):
    types = [t for t in types if not pa.types.is_null(t)]
    if not types or all(t == types[0] for t in types):
        return types[0] if types else pa.null()
    if all(is_stringlike(t) for t in types):
        binary = [pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in types]
        if any(binary) and not all(binary):
            raise TypeError(f"column {name!r} holds strings in some blocks and bytes in others")
        return pa.large_binary() if all(binary) else pa.large_string()
    if all(convert.is_numeric(t) for t in types):
        if any(pa.types.is_floating(t) for t in types):
            return pa.float64()
        if any(pa.types.is_integer(t) for t in types):
            return pa.int64()
        return pa.bool_()
    raise TypeError(f"column {name!r} holds strings in some blocks and numbers in others; cast "
                    f"it to one type")


def _common_dtype(dtypes, name):
    dtypes = [d for d in dtypes if d is not None]
    if not dtypes:
        return None
    objects = [d == object for d in dtypes]
    if any(objects):
        if not all(objects):
            raise TypeError(f"column {name!r} holds strings in some blocks and numbers in "
                            f"others; cast it to one type")
        return np.dtype(object)
    return np.result_type(*dtypes)


def _sum(records, name, dtype):
    records = [r for r in records if len(r.values)]
    if len(records) <= 1:
        values = records[0].values if records else pa.array([], pa.null())
        counts = records[0].counts if records else np.zeros(0, np.int64)
        return Counts(name, values, counts, 0, 0, dtype)
    common = _common_type([r.values.type for r in records], name)
    values = pa.concat_arrays([r.values.cast(common) for r in records])
    grouped = pa.table({"v": values, "c": np.concatenate([r.counts for r in records])}).group_by(
        "v").aggregate([("c", "sum")])
    return Counts(name, grouped.column(0).combine_chunks(), grouped.column(1).to_numpy(), 0, 0,
                  dtype)


def merge(records):
    """One :class:`Counts` record of several of the same column (any grouping, any order)."""
    name = records[0].name
    dtype = _common_dtype([r.dtype for r in records], name)
    merged = _sum(records, name, dtype)
    return Counts(name, merged.values, merged.counts, sum(r.none for r in records),
                  sum(r.nan for r in records), dtype)


def final_dtype(record):
    """The dtype of a column's categories: floats for integers and booleans with missing values
    (as pandas reads them), objects for strings and for a column of nulls only."""
    dtype = record.dtype if record.dtype is not None else np.dtype(object)
    if dtype.kind in "iub" and (record.nan or record.none):
        return np.dtype(np.float64)
    return dtype


def categories(record):
    """``(categories, counts)`` as scikit-learn finds them: the values sorted, then ``None``,
    then ``nan``."""
    dtype = final_dtype(record)
    order = pc.sort_indices(record.values) if len(record.values) else pa.array([], pa.int64())
    values = record.values.take(order)
    counts = record.counts[order.to_numpy(zero_copy_only=False)]
    if dtype.kind == "f" and not pa.types.is_floating(values.type):
        values = values.cast(pa.float64())
    present = values.to_numpy(zero_copy_only=False)
    missing = [None] * (record.none > 0) + [np.nan] * (record.nan > 0)
    if dtype == object:
        cats = np.empty(len(present) + len(missing), dtype=object)
        cats[:len(present)] = present.astype(object) if present.dtype != object else present
        cats[len(present):] = missing
    else:
        cats = np.concatenate([present.astype(dtype), np.asarray(missing, dtype=dtype)])
    extra = [record.none] * (record.none > 0) + [record.nan] * (record.nan > 0)
    return cats, np.concatenate([counts, np.asarray(extra, dtype=np.int64)])


