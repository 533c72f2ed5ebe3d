"""Which values of a block are missing, as scikit-learn's SimpleImputer finds them.

``missing_values`` is np.nan, None, pd.NA, a number or a string. In arrow (a Table's block), a
null, and a NaN in a float column, is missing when ``missing_values`` is np.nan, None or pd.NA;
with a number or string placeholder, a null is an error naming its column and row (as
scikit-learn refuses NaN then). In memory, :func:`mask` follows scikit-learn on the validated
array.
"""

import numbers

import numpy as np
import pandas as pd
import pyarrow as pa

from outofcore.io import convert
from outofcore.preprocessing import categories


def is_na(value):
    """Whether ``missing_values`` names missing values as arrow has them (nan, None, pd.NA)."""
    return value is None or is_nan(value) or value is pd.NA


def is_nan(value):
    return isinstance(value, (float, np.floating)) and value != value


def mask(X, missing_values):
    """Where an in-memory array holds ``missing_values``, as scikit-learn finds them: NaN in
    floats; in objects NaN and, for None or pd.NA, those; else equal values."""
    if not is_na(missing_values):
        return np.asarray(X == missing_values, dtype=bool)
    if X.dtype.kind == "f":
        return np.isnan(X)
    if X.dtype.kind in "iu":
        return np.zeros(X.shape, dtype=bool)
    missing = np.asarray(pd.isna(X), dtype=bool)
    if missing_values is None:
        return missing & np.equal(X, None).astype(bool)
    if missing.any() and missing_values is not pd.NA:
        missing &= ~np.equal(X, None).astype(bool)
    return missing


def numbers_mask(values, names, missing_values, where):
    """Where numbers (a column, or a matrix of the columns ``names``) are missing."""
    if is_na(missing_values):
        return np.isnan(values)
    if not isinstance(missing_values, numbers.Real):
        raise ValueError(f"'X' and 'missing_values' types are expected to be both numerical. "
                         f"Got column {names[0]!r} of numbers and "
                         f"type(missing_values)={type(missing_values)}.")
    refuse(np.isnan(values), names, missing_values, where)
    return values == missing_values


def refuse(missing, names, missing_values, where):
    """With a placeholder for missing values, a null (or NaN) in the data is an error."""
    rows, cols = np.nonzero(missing.reshape(len(missing), -1))
    if rows.size:
        raise ValueError(f"Input contains NaN: column {names[cols[0]]!r} is missing a value at "
                         f"{where(int(rows[0]))}, and missing_values={missing_values!r}; set "
                         f"missing_values=np.nan to impute missing values too")


def refuse_in_integers(block, names, where):
    """A null in a column whose output stays integers is an error naming it and its row."""
    for name in names:
        column = block.column(name)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise ValueError(f"column {name!r} is missing a value at {where(row)} and had none "
                             f"in fit, where its values were integers and stayed integers; "
                             f"refit on data with missing values in it")


def columns(block, missing_values, numeric, where):
    """Per column of a block: ``(values, missing mask, dtype)``.

    Values are a float NumPy array for numbers (NaN where null), an object array otherwise;
    the dtype is what scikit-learn sees the column as in pandas. ``numeric`` refuses string
    columns (for the 'mean' and 'median' strategies).
    """
    if isinstance(block, np.ndarray):
        found = mask(block, missing_values)
        return [(block[:, j], found[:, j], block.dtype) for j in range(block.shape[1])]
    names = block.schema.names
    numbers_at = [j for j, t in enumerate(block.schema.types)
                  if convert.is_numeric(t.value_type if pa.types.is_dictionary(t) else t)]
    # All numeric columns in one pass, column-ordered so that each column is contiguous.
    matrix = np.empty((block.num_rows, len(numbers_at)), dtype=np.float64, order="F")
    if numbers_at:
        convert.matrix(block, [names[j] for j in numbers_at], np.float64, where, out=matrix)
    out = []
    for j, (name, chunked) in enumerate(zip(names, block.columns, strict=True)):
        t = chunked.type.value_type if pa.types.is_dictionary(chunked.type) else chunked.type
        if j in numbers_at:
            values = matrix[:, numbers_at.index(j)]
            plain = not (chunked.null_count or pa.types.is_boolean(t) or pa.types.is_null(t)
                         or pa.types.is_decimal(t))
            dtype = np.dtype(t.to_pandas_dtype()) if plain else np.dtype(np.float64)
            out.append((values, numbers_mask(values, [name], missing_values, where), dtype))
            continue
        if convert.is_temporal(t):
            categories.refuse_temporal(name, f"{convert.kind_of(t)} ({t})", where(0))
        if numeric:
            raise ValueError(f"Cannot use {numeric} strategy with non-numeric data: column "
                             f"{name!r} holds {convert.kind_of(t)} values ({t}) in {where(0)}; "
                             f"use strategy='most_frequent' or 'constant' for it")
        if pa.types.is_dictionary(chunked.type):
            # to_numpy of a dictionary array gives its first value where the index is null.
            chunked = chunked.cast(t)
        values = chunked.to_numpy(zero_copy_only=False)
        nulls = chunked.is_null().to_numpy(zero_copy_only=False)
        if is_na(missing_values):
            found = nulls
        else:
            refuse(nulls, [name], missing_values, where)
            found = np.asarray(values == missing_values, dtype=bool)
        out.append((values, found, np.dtype(object)))
    return out
