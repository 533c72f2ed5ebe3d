"""``DateTimeFeatures``: timestamp columns -> numeric calendar and clock features, per block.

outofcore never reads a timestamp as a number by itself (the readers and the numeric steps refuse
one, naming this transformer); this step says which numbers a timestamp becomes. Every feature
is one of pandas' ``Series.dt`` fields, computed with arrow's vectorised temporal kernels.
"""

import numpy as np
import pyarrow as pa
from sklearn.utils.validation import check_is_fitted, validate_data

from outofcore.io.inputs import is_dask_collection
from outofcore.preprocessing import timefields
from outofcore.preprocessing.base import BlockwiseTransformer, as_arrow

__all__ = ["DateTimeFeatures"]


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
        known = timefields.FEATURES
        features = [self.features] if isinstance(self.features, str) else list(self.features)
        unknown = [f for f in features if f not in known]
        if not features or unknown or len(set(features)) != len(features):
            raise ValueError(f"features={self.features!r} must be distinct names among {known}"
                             + (f"; {unknown} are not" if unknown else ""))
        if self.unit is not None and self.unit not in timefields.UNITS:
            raise ValueError(f"unit={self.unit!r} must be None or one of {list(timefields.UNITS)}")
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
            return [timefields.timestamps(n, c, self.unit, where)
                    for n, c in zip(block.schema.names, block.columns, strict=True)]
        if hasattr(block, "toarray"):
            block = block.toarray()
        block = np.asarray(block)
        names = getattr(self, "feature_names_in_", [f"x{i}" for i in range(block.shape[1])])
        return [timefields.timestamps(names[i], block[:, i], self.unit, where)
                for i in range(block.shape[1])]

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
                out[:, i * len(features) + j] = timefields.field(ts, feature)
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
