"""``DateTimeFeatures``: timestamp columns -> numeric calendar and clock features, per block.

outofcore never reads a timestamp as a number by itself (the readers and the numeric steps refuse
one, naming this transformer); this step says which numbers a timestamp becomes. Every feature
is one of pandas' ``Series.dt`` fields, computed with arrow's vectorised temporal kernels.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.utils.validation import check_is_fitted, validate_data

from outofcore.io import convert
from outofcore.io.inputs import is_dask_collection
from outofcore.preprocessing.base import BlockwiseTransformer, as_arrow

__all__ = ["DateTimeFeatures"]

# Feature -> arrow kernel; each matches the pandas ``Series.dt`` field in the comment.
_FIELDS = {
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
_UNITS = {"D": 86400.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


class DateTimeFeatures(BlockwiseTransformer):
    """Turn timestamp columns into numeric features: year, month, day of week, hour, ...

    Each input column gives ``len(features)`` output columns, in the order of ``features``.
    Timestamps with a time zone give the fields of their local time, as pandas does; a missing
    timestamp gives NaN in every feature. Dates read as midnight. A Table's timestamp and date
    columns, pandas datetime columns and NumPy ``datetime64`` arrays are read as they are;
    numbers only with ``unit`` (a count of ``unit`` since 1970-01-01); strings are refused
    (parse them into timestamps first). The step learns nothing but the input's width and
    names, so ``fit`` costs one check of the column types.

    Parameters
    ----------
    features : tuple of str, default=("year", "month", "day", "day_of_week", "day_of_year", "hour")
        Features per column, each a pandas ``Series.dt`` field: "year", "quarter", "month",
        "week" (ISO week, ``.dt.isocalendar().week``), "day", "day_of_week" (Monday=0),
        "day_of_year", "hour", "minute", "second"; or "epoch", the seconds since
        1970-01-01 UTC (a trend feature).
    unit : {"D", "s", "ms", "us", "ns"} or None, default=None
        How numbers are read: None refuses numeric columns (so that a number is never taken
        for a time by mistake), else they count ``unit`` since 1970-01-01.
    dtype : float type, default=np.float64
        The dtype of the output.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    OneHotEncoder : one-hot encode a feature such as the day of week afterwards.

    Examples
    --------
    >>> import pandas as pd
    >>> from outofcore import DateTimeFeatures
    >>> X = pd.DataFrame({"t": pd.to_datetime(["2024-03-01 08:30", None])})
    >>> dt = DateTimeFeatures(features=("day_of_week", "hour")).fit(X)
    >>> dt.transform(X)
    array([[ 4.,  8.],
           [nan, nan]])
    >>> dt.get_feature_names_out()
    array(['t_day_of_week', 't_hour'], dtype=object)
    """

    # Nothing to learn from the rows: a ColumnTransformer fits it without a pass over the data.
    _learns = False

    _takes_table = True

    def __init__(self, *, features=("year", "month", "day", "day_of_week", "day_of_year", "hour"),
                 unit=None, dtype=np.float64):
        self.features = features
        self.unit = unit
        self.dtype = dtype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _check_params(self):
        known = list(_FIELDS) + ["epoch"]
        features = [self.features] if isinstance(self.features, str) else list(self.features)
        unknown = [f for f in features if f not in known]
        if not features or unknown or len(set(features)) != len(features):
            raise ValueError(f"features={self.features!r} must be distinct names among {known}"
                             + (f"; {unknown} are not" if unknown else ""))
        if self.unit is not None and self.unit not in _UNITS:
            raise ValueError(f"unit={self.unit!r} must be None or one of {list(_UNITS)}")
        if np.dtype(self.dtype).kind != "f":
            raise ValueError(f"dtype={self.dtype!r} must be a float type (missing timestamps "
                             f"give NaN)")

    def _features(self):
        return [self.features] if isinstance(self.features, str) else list(self.features)

    def _input(self, X, *, reset):
        """In memory, a DataFrame as arrow (its datetime columns typed), other input as one
        NumPy array."""
        if is_dask_collection(X):
            return super()._input(X, reset=reset)
        if hasattr(X, "iloc"):
            validate_data(self, X, reset=reset, skip_check_array=True)
            return as_arrow(X), None
        return validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False), None

    def _timestamps(self, block, where):
        """Each column of a block as an arrow timestamp array."""
        if isinstance(block, pa.Table):
            return [self._timestamp(n, c.combine_chunks(), where)
                    for n, c in zip(block.schema.names, block.columns, strict=True)]
        if hasattr(block, "toarray"):
            block = block.toarray()
        block = np.asarray(block)
        names = getattr(self, "feature_names_in_", [f"x{i}" for i in range(block.shape[1])])
        return [self._timestamp(names[i], block[:, i], where) for i in range(block.shape[1])]

    def _timestamp(self, name, values, where):
        if isinstance(values, np.ndarray):
            if values.dtype.kind == "M":
                return pa.array(values)
            if values.dtype.kind == "O" and self.unit is None:
                try:
                    values = pa.array(values, from_pandas=True)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    raise TypeError(f"column {name!r} holds objects that are not all "
                                    f"timestamps; DateTimeFeatures reads timestamps") from None
            else:
                return self._from_numbers(name, np.asarray(values, dtype=np.float64), where)
        t = values.type
        if pa.types.is_dictionary(t):
            values, t = values.cast(t.value_type), t.value_type
        if pa.types.is_timestamp(t):
            return values
        if pa.types.is_date(t):
            return values.cast(pa.timestamp("s"))
        if convert.is_numeric(t) and not pa.types.is_null(t):
            return self._from_numbers(name, values.to_numpy(zero_copy_only=False).astype(
                np.float64), where)
        if pa.types.is_null(t):
            return pa.nulls(len(values), pa.timestamp("s"))
        todo = ("give unit='s' (or 'ms', 'us', 'ns', 'D') to read numbers as time since "
                "1970-01-01" if convert.is_numeric(t) else
                "parse it into timestamps first (pandas.to_datetime, or write the column as a "
                "timestamp)")
        raise TypeError(f"column {name!r} holds {convert.kind_of(t)} values ({t}) and "
                        f"DateTimeFeatures reads timestamps; {todo}")

    def _from_numbers(self, name, values, where):
        if self.unit is None:
            raise TypeError(f"column {name!r} holds numbers and DateTimeFeatures reads "
                            f"timestamps; give unit='s' (or 'ms', 'us', 'ns', 'D') to read "
                            f"numbers as time since 1970-01-01, or pass a timestamp column")
        bad = np.flatnonzero(np.isinf(values))
        if bad.size:
            raise ValueError(f"Input contains infinity: column {name!r} holds {values[bad[0]]} "
                             f"at {where(int(bad[0]))}, which is no time")
        ns = values * (_UNITS[self.unit] * 1e9)
        big = np.flatnonzero(np.abs(ns) >= 2**63)
        if big.size:
            raise ValueError(f"column {name!r} holds {values[big[0]]} at {where(int(big[0]))}: "
                             f"{values[big[0]]} {self.unit} after 1970-01-01 is beyond the "
                             f"timestamps of nanoseconds (years 1677 to 2262)")
        whole = np.where(np.isnan(ns), 0, np.round(ns)).astype(np.int64)
        return pa.array(whole, pa.timestamp("ns"), mask=np.isnan(ns))

    # ---------------------------------------------------------------- fitting (types only)
    def _fit_chunk(self, block, where):
        self._timestamps(block, where)
        return None

    def _fit_combine(self, records):
        return None

    def _fit_finalize(self, record):
        """Nothing to learn beyond the input's width and names."""

    def _output_spec(self):
        return np.dtype(self.dtype), self.n_features_in_ * len(self._features()), False

    def _transform_block(self, block, where):
        stamps = self._timestamps(block, where)
        features = self._features()
        n = len(stamps[0]) if stamps else 0
        out = np.empty((n, len(stamps) * len(features)), dtype=self.dtype)
        for i, ts in enumerate(stamps):
            for j, feature in enumerate(features):
                if feature == "epoch":
                    # The stored count of the unit since 1970 (UTC); nulls become NaN.
                    ticks = ts.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64)
                    field = ticks / {"s": 1, "ms": 1e3, "us": 1e6, "ns": 1e9}[ts.type.unit]
                else:
                    field = _FIELDS[feature](ts).to_numpy(zero_copy_only=False)
                out[:, i * len(features) + j] = field
        return out

    def get_feature_names_out(self, input_features=None):
        """``<column>_<feature>`` for every column and feature, in output order.

        Parameters
        ----------
        input_features : array-like of str, optional
            Input column names; default ``feature_names_in_`` or ``x0``, ``x1``, ...

        Returns
        -------
        ndarray of str objects
        """
        from sklearn.base import OneToOneFeatureMixin

        check_is_fitted(self)
        names = OneToOneFeatureMixin.get_feature_names_out(self, input_features)
        return np.asarray([f"{n}_{f}" for n in names for f in self._features()], dtype=object)
