"""Timestamps to numeric calendar and clock fields, with arrow's vectorised temporal kernels.

One implementation for :class:`~outofcore.DateTimeFeatures` and for compiled models, which read
these fields from their input table before the tensor program. Imports neither scikit-learn nor
dask, so a process serving a compiled model loads only arrow and NumPy for it.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from outofcore.io import convert

# Feature -> arrow kernel; each matches the pandas ``Series.dt`` field in the comment.
FIELDS = {
    "year": pc.year,  # .dt.year
    "quarter": pc.quarter,  # .dt.quarter
    "month": pc.month,  # .dt.month
    "week": pc.iso_week,  # .dt.isocalendar().week
    "day": pc.day,  # .dt.day
    "day_of_week": pc.day_of_week,  # .dt.day_of_week (Monday=0)
    "day_of_year": pc.day_of_year,  # .dt.day_of_year
    "hour": pc.hour,  # .dt.hour
    "minute": pc.minute,  # .dt.minute
    "second": pc.second,  # .dt.second
}
FEATURES = list(FIELDS) + ["epoch"]
UNITS = {"D": 86400.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def _at(i):
    return f"row {i}"


def timestamps(name, values, unit, where=_at):
    """Column ``name`` as an arrow timestamp array.

    ``values`` is an arrow array, a pandas Series or a NumPy array. Timestamps and dates are read
    as they are (dates as midnight); numbers only with ``unit`` (a count of ``unit`` since
    1970-01-01); anything else is a TypeError saying what to do. ``where(i)`` names row ``i`` in
    messages.
    """
    if hasattr(values, "combine_chunks"):
        values = values.combine_chunks()
    elif not isinstance(values, (np.ndarray, pa.Array)):  # a pandas Series: NaT becomes null
        try:
            values = pa.array(values, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise TypeError(f"column {name!r} holds objects that are not all timestamps; "
                            "DateTimeFeatures reads timestamps") from None
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "M":
            return pa.array(values)
        if values.dtype.kind == "O" and unit is None:
            try:
                values = pa.array(values, from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                raise TypeError(f"column {name!r} holds objects that are not all timestamps; "
                                "DateTimeFeatures reads timestamps") from None
        else:
            return _from_numbers(name, np.asarray(values, dtype=np.float64), unit, where)
    t = values.type
    if pa.types.is_dictionary(t):
        values, t = values.cast(t.value_type), t.value_type
    if pa.types.is_timestamp(t):
        return values
    if pa.types.is_date(t):
        return values.cast(pa.timestamp("s"))
    if pa.types.is_null(t):
        return pa.nulls(len(values), pa.timestamp("s"))
    if convert.is_numeric(t):
        return _from_numbers(name, values.to_numpy(zero_copy_only=False).astype(np.float64),
                             unit, where)
    raise TypeError(f"column {name!r} holds {convert.kind_of(t)} values ({t}) and "
                    "DateTimeFeatures reads timestamps; parse it into timestamps first "
                    "(pandas.to_datetime, or write the column as a timestamp)")


def _from_numbers(name, values, unit, where):
    if unit is None:
        raise TypeError(f"column {name!r} holds numbers and DateTimeFeatures reads timestamps; "
                        "give unit='s' (or 'ms', 'us', 'ns', 'D') to read numbers as time since "
                        "1970-01-01, or pass a timestamp column")
    bad = np.flatnonzero(np.isinf(values))
    if bad.size:
        raise ValueError(f"Input contains infinity: column {name!r} holds {values[bad[0]]} "
                         f"at {where(int(bad[0]))}, which is no time")
    ns = values * (UNITS[unit] * 1e9)
    big = np.flatnonzero(np.abs(ns) >= 2**63)
    if big.size:
        raise ValueError(f"column {name!r} holds {values[big[0]]} at {where(int(big[0]))}: "
                         f"{values[big[0]]} {unit} after 1970-01-01 is beyond the timestamps "
                         "of nanoseconds (years 1677 to 2262)")
    whole = np.where(np.isnan(ns), 0, np.round(ns)).astype(np.int64)
    return pa.array(whole, pa.timestamp("ns"), mask=np.isnan(ns))


def field(stamps, feature):
    """One feature of an arrow timestamp array as float64 (NaN where a timestamp is missing).

    Timestamps with a time zone give the fields of their local time, as pandas does; "epoch" is
    the stored count of seconds since 1970-01-01 UTC.
    """
    if feature == "epoch":
        ticks = stamps.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
        return ticks / {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[stamps.type.unit]
    return FIELDS[feature](stamps).to_numpy(zero_copy_only=False).astype(np.float64)
