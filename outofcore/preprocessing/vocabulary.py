"""Lists of categories as the encoders use them: every row's position in a list found in one
vectorised lookup (:func:`encode`, :func:`tally`), and a list saved as a few plain arrays
(:func:`pack`, :func:`unpack`) so a fitted encoder saves and loads without pickling objects.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outofcore.io import convert
from outofcore.preprocessing.categories import is_stringlike, missing_mask
from outofcore.preprocessing.missing import is_nan


def _text_state(array):
    """A string array without nulls as plain NumPy arrays: its UTF-8 bytes and their offsets."""
    array = array.cast(pa.large_string())
    first = array.offset
    offsets = np.frombuffer(array.buffers()[1], np.int64)[first:first + len(array) + 1]
    data = array.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return {"utf8": data[offsets[0]:offsets[-1]].copy(), "offsets": offsets - offsets[0]}


def _text_array(state):
    """The string array of :func:`_text_state`."""
    offsets = np.asarray(state["offsets"], dtype=np.int64)
    return pa.LargeStringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(np.asarray(state["utf8"], np.uint8)))


def pack(values):
    """A categories array as few plain arrays: ``{"utf8", "offsets", "nan_at", "none_at"}`` for
    an object array of strings (with at most one NaN and one None), else ``values`` unchanged.

    Saved models (skops) store an object array element by element, one record per string: a
    100k-value column made a 90 MB model that took 9 s to load. Packed, it is two arrays.
    """
    if not (isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1):
        return values
    missing, texts = {}, []
    for i, value in enumerate(values):
        if isinstance(value, str):
            texts.append(value)
        elif value is None and "none_at" not in missing:
            missing["none_at"] = i
        elif is_nan(value) and "nan_at" not in missing:
            missing["nan_at"] = i
        else:
            return values
    try:
        text = pa.array(texts, type=pa.large_string())
    except (pa.ArrowException, UnicodeEncodeError):  # a lone surrogate: saved as it is
        return values
    return {**_text_state(text), "nan_at": missing.get("nan_at", -1),
            "none_at": missing.get("none_at", -1)}


def unpack(values):
    """The object array :func:`pack` packed (anything else as it is)."""
    if not (isinstance(values, dict) and "utf8" in values):
        return values
    texts = _text_array(values).to_pylist()
    at = {int(values["nan_at"]): np.nan, int(values["none_at"]): None}
    at.pop(-1, None)
    out = np.empty(len(texts) + len(at), dtype=object)
    keep = np.ones(len(out), dtype=bool)
    for i, value in at.items():
        out[i], keep[i] = value, False
    out[keep] = np.array(texts, dtype=object)
    return out


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """A list of categories as :func:`encode` looks values up in it.

    ``values`` holds the categories that are not missing (an arrow array), ``positions`` their
    places in the list, and ``none_at``/``nan_at`` the places of ``None`` and ``nan`` (-1 when
    absent).
    """

    values: pa.Array
    positions: np.ndarray
    none_at: int
    nan_at: int

    def __getstate__(self):
        # Saved models hold plain values (skops loads them without trusting arrow's types).
        values = self.values
        numeric = pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
        text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
        return {"values": values.to_numpy(zero_copy_only=False) if numeric else
                _text_state(values) if text else values.to_pylist(),
                "positions": self.positions, "none_at": self.none_at, "nan_at": self.nan_at}

    def __setstate__(self, state):
        values = state["values"]
        if isinstance(values, dict):  # text, as _text_state keeps it
            values = _text_array(values).cast(pa.string())
        else:
            text = isinstance(values, list) and all(isinstance(v, str) for v in values)
            values = pa.array(values, type=pa.string() if text else None)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "positions", np.asarray(state["positions"], dtype=np.int64))
        object.__setattr__(self, "none_at", int(state["none_at"]))
        object.__setattr__(self, "nan_at", int(state["nan_at"]))


def vocabulary(cats):
    """The :class:`Vocabulary` of an array of categories."""
    none_at = nan_at = -1
    present = []
    for i, value in enumerate(cats):
        if value is None:
            none_at = i
        elif is_nan(value):
            nan_at = i
        else:
            present.append(i)
    positions = np.asarray(present, dtype=np.int64)
    values = pa.array(cats[positions] if cats.dtype != object else list(cats[positions]))
    return Vocabulary(values, positions, none_at, nan_at)


def _lookup(array, vocab):
    """Positions of an arrow array's values among the vocabulary's values (-1: not there)."""
    target = vocab.values
    a, b = array.type, target.type
    if a != b and not pa.types.is_null(a) and not pa.types.is_null(b):
        if is_stringlike(a) and is_stringlike(b):
            target = target.cast(a)
        elif convert.is_numeric(a) and convert.is_numeric(b):
            array, target = array.cast(pa.float64()), target.cast(pa.float64())
        else:
            return None
    if pa.types.is_null(array.type) or not len(target):
        return np.full(len(array), -1, dtype=np.int64)
    found = pc.index_in(array, value_set=target).fill_null(-1).to_numpy(zero_copy_only=False)
    return np.append(vocab.positions, -1)[found]


def encode(column, vocab):
    """Each row's position in the categories of ``vocab``: int64, -1 for a value not there.

    Raises TypeError when the column holds numbers and the categories strings, or the reverse.
    """
    codes = np.empty(len(column), dtype=np.int64)
    pos = 0
    for chunk in column.chunks:
        n = len(chunk)
        if pa.types.is_dictionary(chunk.type):
            known = _lookup(chunk.dictionary, vocab)
            if known is None:
                break
            missing = missing_mask(chunk.dictionary)
            if missing is not None:
                known[missing] = vocab.nan_at
            indices = chunk.indices
            part = known[indices.fill_null(0).to_numpy(zero_copy_only=False)] if len(known) \
                else np.full(n, -1, dtype=np.int64)
            if indices.null_count:
                part[indices.is_null().to_numpy(zero_copy_only=False)] = vocab.nan_at
        else:
            part = _lookup(chunk, vocab)
            if part is None:
                break
            missing = missing_mask(chunk)
            if missing is not None:
                part[missing] = vocab.nan_at
        codes[pos:pos + n] = part
        pos += n
    else:
        if column.none is not None:
            codes[column.none] = vocab.none_at
        return codes
    raise TypeError(f"column {column.name!r} holds {chunk.type} values, and the categories "
                    f"fitted for it are {vocab.values.type}; give it values of the type it was "
                    f"fitted on")


def tally(record, vocab, size):
    """Counts of a record's values at their positions in a list of ``size`` categories, and
    the count of values not in it."""
    counts = np.zeros(size, dtype=np.int64)
    if len(record.values):
        at = _lookup(record.values, vocab)
        if at is None:
            raise TypeError(f"column {record.name!r} holds {record.values.type} values and its "
                            f"categories are {vocab.values.type}; give categories of the "
                            f"column's type")
        np.add.at(counts, at[at >= 0], record.counts[at >= 0])
    for missing, at in ((record.none, vocab.none_at), (record.nan, vocab.nan_at)):
        if at >= 0:
            counts[at] += missing
    return counts, record.rows - int(counts.sum())
