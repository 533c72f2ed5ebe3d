"""Out-of-core SimpleImputer: scikit-learn's, its statistics merged over blocks.

Each block is summarised per column by mergeable statistics: the count of missing values, and,
for the strategy, the sum and count of the present values (mean), a median summary
(:mod:`outofcore.preprocessing.quantiles`), or value counts (most frequent,
:mod:`outofcore.preprocessing.categories`). A dask tree reduction merges them; ``transform``
fills each block lazily and appends the missing-value indicator columns.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import OneToOneFeatureMixin
from sklearn.impute import MissingIndicator
from sklearn.utils.validation import check_is_fitted, validate_data

from outofcore.io import convert
from outofcore.io.inputs import is_dask_collection
from outofcore.preprocessing import categories, missing, quantiles
from outofcore.preprocessing.base import BlockwiseTransformer, as_arrow

__all__ = ["SimpleImputer"]

_STRATEGIES = ("mean", "median", "most_frequent", "constant")


def _common(dtypes):
    dtypes = [d for d in dtypes if d is not None]
    if any(d == object for d in dtypes):
        return np.dtype(object)
    return np.result_type(*dtypes) if dtypes else None


class SimpleImputer(BlockwiseTransformer):
    """Replace missing values by a per-column statistic, out of core.

    scikit-learn's :class:`~sklearn.impute.SimpleImputer` with the same parameters, fitted
    attributes and output, for Tables and dask DataFrames as well as NumPy and pandas input.
    ``fit`` is one parallel pass; ``transform`` is lazy on a Table or dask input.

    On a Table, a null (and NaN) is the missing value when ``missing_values`` is ``np.nan``,
    ``None`` or ``pd.NA``; numbers, booleans (as 0 and 1) and pandas categoricals of numbers are
    numeric columns, strings and categoricals of strings are object columns. The output dtype
    is the one scikit-learn gives the same data in pandas: a float type for 'mean' and 'median'
    (float32 columns stay float32), integers stay integers with 'most_frequent' and
    'constant' when nothing is missing, objects when a column holds strings.

    ``strategy='median'`` is exact in memory and for data of one block or of at most 32,768
    values per column. Fitted on more, the median is that of a mergeable summary whose rank
    differs from the true median's by at most ``(N / 2**15) * ceil(log2(N / 2**15))`` over ``N``
    values (for 20M values, between the 49.97th and 50.03rd percentiles; see
    :mod:`outofcore.preprocessing.quantiles`).

    Parameters
    ----------
    missing_values : int, float, str, np.nan, None or pandas.NA, default=np.nan
        The placeholder of missing values.
    strategy : {'mean', 'median', 'most_frequent', 'constant'}, default='mean'
        The statistic each column's missing values are replaced by ('most_frequent': the
        smallest of the most frequent values). A callable, which needs all of a column's values
        at once, is refused.
    fill_value : str or number, default=None
        The value of 'constant': default 0 for numbers, "missing_value" for strings.
    copy : bool, default=True
        With False, an in-memory float array is filled in place. Blocks of a Table or dask
        input are never modified.
    add_indicator : bool, default=False
        Append one column per column with missing values in fit: True where a value was
        missing.
    keep_empty_features : bool, default=False
        Keep columns with no value in fit, filled with 0 (or ``fill_value``); else they are
        dropped from the output, with a warning.

    Attributes
    ----------
    statistics_ : ndarray of shape (n_features_in_,)
        The fill value of each column (NaN for a dropped column), as scikit-learn's.
    indicator_ : sklearn.impute.MissingIndicator or None
        Fitted ``MissingIndicator`` whose ``features_`` are the columns with missing values in
        fit (None without ``add_indicator``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from outofcore import SimpleImputer
    >>> X = np.array([[7, 2, 3], [4, np.nan, 6], [10, 5, 9]])
    >>> imp = SimpleImputer(add_indicator=True).fit(X)
    >>> imp.statistics_
    array([7. , 3.5, 6. ])
    >>> imp.transform([[np.nan, np.nan, 1.0]])
    array([[7. , 3.5, 1. , 1. ]])
    """

    _takes_table = True

    def __init__(self, *, missing_values=np.nan, strategy="mean", fill_value=None, copy=True,
                 add_indicator=False, keep_empty_features=False):
        self.missing_values = missing_values
        self.strategy = strategy
        self.fill_value = fill_value
        self.copy = copy
        self.add_indicator = add_indicator
        self.keep_empty_features = keep_empty_features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = missing.is_nan(self.missing_values)
        tags.input_tags.string = self.strategy in ("most_frequent", "constant")
        return tags

    def _check_params(self):
        if callable(self.strategy):
            raise ValueError("strategy=<callable> needs all the values of a column at once and "
                             "is not fitted out of core; use 'mean', 'median', 'most_frequent' "
                             "or 'constant' (or sklearn.impute.SimpleImputer in memory)")
        if self.strategy not in _STRATEGIES:
            raise ValueError(f"The 'strategy' parameter of SimpleImputer must be one of "
                             f"{_STRATEGIES}. Got {self.strategy!r} instead.")
        mv = self.missing_values
        if not (missing.is_na(mv) or isinstance(mv, (numbers.Real, str))):
            raise ValueError(f"The 'missing_values' parameter of SimpleImputer must be an int, a "
                             f"float, a str, np.nan, None or pd.NA. Got {mv!r} instead.")
        for name in ("copy", "add_indicator", "keep_empty_features"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"The {name!r} parameter of SimpleImputer must be a bool. Got "
                                 f"{getattr(self, name)!r} instead.")

    def _input(self, X, *, reset):
        """In memory, X validated as scikit-learn's SimpleImputer validates it."""
        if is_dask_collection(X):
            return super()._input(X, reset=reset)
        if self.strategy in ("most_frequent", "constant"):
            strings = isinstance(X, list) and any(isinstance(v, str) for row in X for v in row)
            dtype = object if strings else None
        else:
            dtype = (np.float64, np.float32, np.float16)
        if not reset and self._fit_dtype.kind == "O":
            dtype = self._fit_dtype
        try:
            X = validate_data(self, X, reset=reset, dtype=dtype, copy=self.copy,
                              force_writeable=True if not reset else None,
                              ensure_all_finite="allow-nan" if missing.is_na(self.missing_values)
                              and self.missing_values is not None else True)
        except ValueError as e:
            if "could not convert" in str(e):
                raise ValueError(f"Cannot use {self.strategy} strategy with non-numeric data:\n"
                                 f"{e}") from None
            raise
        if X.dtype.kind in "iuf" and not (missing.is_na(self.missing_values)
                                         or isinstance(self.missing_values, numbers.Real)):
            raise ValueError(f"'X' and 'missing_values' types are expected to be both "
                             f"numerical. Got X.dtype={X.dtype} and  "
                             f"type(missing_values)={type(self.missing_values)}.")
        if X.dtype.kind not in "iufO":
            raise ValueError(f"SimpleImputer does not support data with dtype {X.dtype}. Please "
                             f"provide either a numeric array (with a floating point or integer "
                             f"dtype) or categorical data represented either as an array with "
                             f"integer dtype or an array of string values with an object dtype.")
        if not reset and self.strategy == "constant" and not np.can_cast(
                self._fit_dtype, X.dtype, casting="same_kind"):
            raise ValueError(f"The dtype of the filling value (i.e. {self._fit_dtype!r}) cannot "
                             f"be cast to the input data that is {X.dtype!r}. Make sure that "
                             f"the dtypes of the input data are of the same kind between fit "
                             f"and transform.")
        return X, None

    def _columns(self, block, where):
        numeric = self.strategy if self.strategy in ("mean", "median") else None
        block = block if isinstance(block, np.ndarray) else as_arrow(block)
        return missing.columns(block, self.missing_values, numeric, where)

    # ------------------------------------------------------------------------- fitting
    def _fit_chunk(self, block, where):
        cols = self._columns(block, where)
        record = {"rows": len(cols[0][0]) if cols else 0, "dtypes": [c[2] for c in cols],
                  "missing": np.array([int(m.sum()) for _, m, _ in cols], dtype=np.int64)}
        present = [v[~m] for v, m, _ in cols]
        if self.strategy == "mean":
            record["sum"] = np.array([np.sum(v, dtype=np.float64) for v in present])
            record["count"] = np.array([len(v) for v in present], dtype=np.int64)
        elif self.strategy == "median":
            record["sketch"] = [quantiles.sketch(v) for v in present]
        elif self.strategy == "most_frequent":
            record["counts"] = [categories.count(categories.numpy_column(f"x{j}", v))
                                for j, v in enumerate(present)]
        return record

    def _fit_combine(self, records):
        merged = {"rows": sum(r["rows"] for r in records),
                  "dtypes": [_common(d) for d in zip(*(r["dtypes"] for r in records))],
                  "missing": np.sum([r["missing"] for r in records], axis=0)}
        if self.strategy == "mean":
            merged["sum"] = np.sum([r["sum"] for r in records], axis=0)
            merged["count"] = np.sum([r["count"] for r in records], axis=0)
        elif self.strategy == "median":
            merged["sketch"] = [quantiles.merge(s) for s in zip(*(r["sketch"] for r in records))]
        elif self.strategy == "most_frequent":
            merged["counts"] = [categories.merge(list(c))
                                for c in zip(*(r["counts"] for r in records))]
        return merged

    def _fit_finalize(self, record):
        if record["rows"] == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required by "
                             "SimpleImputer: every block of the data is empty")
        dtypes = [d if d is not None else np.dtype(np.float64) for d in record["dtypes"]]
        dtype = _common(dtypes)
        if self.strategy in ("mean", "median") and dtype.kind != "f":
            dtype = np.dtype(np.float64)
        self._fit_dtype = dtype
        n_missing = record["missing"]
        empty = n_missing == record["rows"]
        fill = self.fill_value if self.fill_value is not None else (
            "missing_value" if dtype == object else 0)
        if self.strategy == "constant" and self.fill_value is not None and not np.can_cast(
                type(fill), dtype, casting="same_kind"):
            raise ValueError(f"fill_value={fill!r} (of type {type(fill)!r}) cannot be cast to "
                             f"the input data that is {dtype!r}. If fill_value is a Python "
                             f"scalar, instead pass  a numpy scalar (e.g. fill_value=np.uint8(0) "
                             f"if your data is of type np.uint8). Make sure that both dtypes "
                             f"are of the same kind.")
        gone = 0 if self.keep_empty_features else np.nan
        if self.strategy == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                stats = record["sum"] / record["count"]
        elif self.strategy == "median":
            stats = np.array([quantiles.median(s) for s in record["sketch"]]).astype(dtype)
        elif self.strategy == "most_frequent":
            stats = np.empty(len(dtypes), dtype=object if dtype == object else np.float64)
            stats[:] = [_mode(c) for c in record["counts"]]
        else:
            stats = np.full(len(dtypes), fill, dtype=object)
            gone = fill if self.keep_empty_features else np.nan
        stats[empty] = gone
        self.statistics_ = stats
        self._keep = np.flatnonzero(~missing.mask(stats, np.nan) if stats.dtype == object
                                    else ~np.isnan(stats))
        self.indicator_ = None
        if self.add_indicator:
            indicator = MissingIndicator(missing_values=self.missing_values, error_on_new=False)
            self.indicator_ = indicator.fit(self._stand_in(n_missing > 0))

    def _stand_in(self, has_missing):
        """One row with a missing value exactly in the columns that had some: what the
        indicator is fitted on."""
        mv = self.missing_values
        if isinstance(mv, numbers.Real) and not missing.is_na(mv):
            row = np.where(has_missing, mv, mv + 1)
        else:
            row = np.empty(len(has_missing), dtype=np.float64 if missing.is_nan(mv) else object)
            row[:] = 0 if row.dtype != object else (mv + "_" if isinstance(mv, str) else "")
            row[has_missing] = mv
        return row.reshape(1, -1)

    def _output_spec(self):
        extra = len(self.indicator_.features_) if self.indicator_ is not None else 0
        return self._fit_dtype, len(self._keep) + extra, False

    # ------------------------------------------------------------------------ transform
    def transform(self, X):
        """Fill the missing values of X; append the indicator columns with ``add_indicator``.

        Parameters
        ----------
        X : Table, dask DataFrame or array, pandas DataFrame or array-like of shape
            (n_samples, n_features)

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples, n_output)
            A lazy dask array for a Table or dask input. Columns with no value in fit are left
            out (with a warning) unless ``keep_empty_features``.
        """
        check_is_fitted(self)
        if len(self._keep) < len(self.statistics_):
            gone = np.flatnonzero(np.isin(np.arange(len(self.statistics_)), self._keep,
                                          invert=True))
            names = getattr(self, "feature_names_in_", None)
            warnings.warn(f"Skipping features without any observed values: "
                          f"{names[gone] if names is not None else gone}. At least one "
                          f"non-missing value is needed for imputation with "
                          f"strategy='{self.strategy}'.", UserWarning)
        return super().transform(X)

    def _transform_block(self, block, where):
        keep, fill = self._keep, self.statistics_[self._keep].astype(self._fit_dtype)
        features = self.indicator_.features_ if self.indicator_ is not None else []
        if isinstance(block, np.ndarray):
            # The in-memory input, already copied by validation unless copy=False.
            mask = missing.mask(block, self.missing_values)
            out = block if len(keep) == block.shape[1] else block[:, keep]
            indicator = mask[:, features]
            np.copyto(out, fill, where=mask[:, keep])
            return np.hstack([out, indicator]) if self.indicator_ is not None else out
        block = as_arrow(block)
        names = block.schema.names
        # The output is allocated once; the kept columns are read straight into its left part
        # and the indicator written into its right part.
        out = np.empty((block.num_rows, len(keep) + len(features)), dtype=self._fit_dtype)
        X = out[:, :len(keep)]
        if self._fit_dtype == object:
            cols = self._columns(block, where)
            for p, j in enumerate(keep):
                X[:, p] = cols[j][0]
            mask = np.column_stack([cols[j][1] for j in keep]) if len(keep) else \
                np.empty(X.shape, dtype=bool)
        else:
            kept = [names[j] for j in keep]
            convert.check_numeric(block.schema, kept, "the input")
            if self._fit_dtype.kind in "iu":
                missing.refuse_in_integers(block, kept, where)
            convert.matrix(block, kept, self._fit_dtype, where, out=X)
            mask = missing.numbers_mask(X, kept, self.missing_values, where)
        at = {j: p for p, j in enumerate(keep)}
        if all(j in at for j in features):
            out[:, len(keep):] = mask[:, [at[j] for j in features]]
        else:
            for c, j in enumerate(features):
                # A column dropped for having no value in fit still has its indicator.
                out[:, len(keep) + c] = mask[:, at[j]] if j in at else \
                    self._columns(block.select([names[j]]), where)[0][1]
        np.copyto(X, fill, where=mask)
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of the kept columns, then ``missingindicator_<name>`` of the indicator columns.

        Parameters
        ----------
        input_features : array-like of str, optional
            Input column names; default ``feature_names_in_`` or ``x0``, ``x1``, ...

        Returns
        -------
        ndarray of str objects
        """
        names = OneToOneFeatureMixin.get_feature_names_out(self, input_features)
        out = list(names[self._keep])
        if self.indicator_ is not None:
            out += [f"missingindicator_{names[j]}" for j in self.indicator_.features_]
        return np.asarray(out, dtype=object)


def _mode(record):
    """The most frequent value of a column (the smallest among ties), NaN when it has none."""
    cats, counts = categories.categories(record)
    return cats[int(np.argmax(counts))] if len(counts) else np.nan
