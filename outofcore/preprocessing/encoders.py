"""Out-of-core OneHotEncoder and OrdinalEncoder: scikit-learn's encoders, fitted by one reduction.

Fitting counts the values of every column block by block and adds the counts up in one parallel
pass (:mod:`outofcore.preprocessing.categories`); the categories, the infrequent ones
(``min_frequency``, ``max_categories``) and the dropped ones follow from those counts exactly
as scikit-learn finds them from all the rows. ``transform`` is lazy on a Table or dask input:
each block's values are looked up in the fitted categories in one vectorised hash lookup, and
a one-hot block is a scipy.sparse CSR matrix (``sparse_output=True``) or a dense array.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import OneToOneFeatureMixin
from sklearn.utils.validation import check_is_fitted

from outofcore.preprocessing._encoding import _check_frequency, _Encoder
from outofcore.preprocessing.missing import is_nan

__all__ = ["OneHotEncoder", "OrdinalEncoder"]

# A dense one-hot block above this many bytes is refused (see OneHotEncoder's sparse_output).
DENSE_BLOCK_LIMIT = 512 * 2**20


class OneHotEncoder(_Encoder):
    """Encode categorical columns as one-hot numeric columns, out of core.

    scikit-learn's :class:`~sklearn.preprocessing.OneHotEncoder` with the same parameters,
    fitted attributes and output, for Tables and dask DataFrames as well as NumPy and pandas
    input. ``fit`` is one parallel pass that counts the values of every column; ``transform``
    is lazy on a Table or dask input, one block at a time.

    Strings, pandas categoricals (arrow dictionaries), integers, floats and booleans are
    categories; a missing value is a category of its own, ``nan`` (and, in an in-memory object
    column, ``None``), as scikit-learn makes it. Integers and booleans with missing values are
    read as floats, as pandas reads them. A timestamp column is refused: give it to
    :class:`DateTimeFeatures`.

    Parameters
    ----------
    categories : 'auto' or list of array-like, default='auto'
        Categories per column: found in the data, or ``categories[i]`` for column ``i``
        (numbers sorted; ``np.nan`` last).
    drop : {'first', 'if_binary'}, array-like of shape (n_features,) or None, default=None
        A category to drop per column: the first, the first of two, or the one given.
        With infrequent categories, dropping happens after grouping them.
    sparse_output : bool, default=True
        Return scipy.sparse CSR blocks. With False, a dense block of more than 512 MiB
        (rows x output columns x itemsize) is refused: keep sparse output for high-cardinality
        columns, group rare categories with ``min_frequency``/``max_categories``, or read
        smaller blocks.
    dtype : number type, default=np.float64
        The dtype of the output.
    handle_unknown : {'error', 'ignore', 'infrequent_if_exist', 'warn'}, default='error'
        A value not seen in fit: raise an error naming it, its column and where it is;
        encode it as all zeros; as the infrequent category if there is one (else zeros);
        or that, with a warning.
    min_frequency : int or float, default=None
        Categories seen fewer times (int), or in a smaller share of the rows (float), are
        grouped into one infrequent category.
    max_categories : int, default=None
        Most output columns per input column, the infrequent one included.
    feature_name_combiner : 'concat' or callable, default='concat'
        ``f(feature, category) -> str`` naming the output columns; 'concat' joins them with "_".

    Attributes
    ----------
    categories_ : list of ndarray
        Categories of each column, as scikit-learn's (same values, order and dtype).
    drop_idx_ : ndarray of object or None
        Per column, the position in ``categories_[i]`` of the dropped category (or None).
    infrequent_categories_ : list of (ndarray or None)
        The infrequent categories of each column (only with ``min_frequency`` or
        ``max_categories``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Column names, when the input has string column names.

    See Also
    --------
    OrdinalEncoder, SimpleImputer, DateTimeFeatures

    Examples
    --------
    >>> import pandas as pd
    >>> from outofcore import OneHotEncoder
    >>> X = pd.DataFrame({"city": ["Oslo", "Lima", None, "Oslo"], "n": [1, 2, 1, 1]})
    >>> enc = OneHotEncoder(sparse_output=False).fit(X)
    >>> enc.categories_
    [array(['Lima', 'Oslo', nan], dtype=object), array([1, 2])]
    >>> enc.transform(X)[:2]
    array([[0., 1., 0., 1., 0.],
           [1., 0., 0., 0., 1.]])
    >>> enc.get_feature_names_out()
    array(['city_Lima', 'city_Oslo', 'city_nan', 'n_1', 'n_2'], dtype=object)
    """

    _lenient = "handle_unknown='ignore' (or 'infrequent_if_exist')"

    def __init__(self, *, categories="auto", drop=None, sparse_output=True, dtype=np.float64,
                 handle_unknown="error", min_frequency=None, max_categories=None,
                 feature_name_combiner="concat"):
        self.categories = categories
        self.drop = drop
        self.sparse_output = sparse_output
        self.dtype = dtype
        self.handle_unknown = handle_unknown
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.feature_name_combiner = feature_name_combiner

    def _check_params(self):
        _check_frequency(self)
        if self.handle_unknown not in ("error", "ignore", "infrequent_if_exist", "warn"):
            raise ValueError(f"The 'handle_unknown' parameter of OneHotEncoder must be one of "
                             f"'error', 'ignore', 'infrequent_if_exist', 'warn'. Got "
                             f"{self.handle_unknown!r} instead.")
        if isinstance(self.drop, str) and self.drop not in ("first", "if_binary"):
            raise ValueError(f"The 'drop' parameter of OneHotEncoder must be 'first', "
                             f"'if_binary', an array-like or None. Got {self.drop!r} instead.")
        if not isinstance(self.sparse_output, (bool, np.bool_)):
            raise ValueError(f"The 'sparse_output' parameter of OneHotEncoder must be a bool. "
                             f"Got {self.sparse_output!r} instead.")
        if not (callable(self.feature_name_combiner) or self.feature_name_combiner == "concat"):
            raise ValueError(f"The 'feature_name_combiner' parameter of OneHotEncoder must be "
                             f"'concat' or a callable. Got {self.feature_name_combiner!r} "
                             f"instead.")

    # ----------------------------------------------------------------------- finalizing
    def _finish(self, counts, unknown, rows, largest):
        self._set_drop_idx()
        tables, widths, nnz, start = [], [], 0, 0
        for i, cats in enumerate(self.categories_):
            mapping = self._mappings[i]
            grouped = mapping if mapping is not None else np.arange(len(cats))
            d = None if self._drop_after is None else self._drop_after[i]
            out = grouped.copy()
            if d is not None:
                out = np.where(grouped == d, -1, np.where(grouped > d, grouped - 1, grouped))
            to = -1  # where unknown values go: no output, or the infrequent category's
            if mapping is not None and self.handle_unknown in ("infrequent_if_exist", "warn"):
                to = out[self._infrequent_indices[i][0]]
            table = np.append(out, to)
            width = int(grouped.max()) + 1 - (d is not None) if len(grouped) else 0
            nnz += int(counts[i][out >= 0].sum()) + (unknown[i] if to >= 0 else 0)
            tables.append(np.where(table >= 0, table + start, -1))
            widths.append(width)
            start += width
        self._tables, self._width, self._nnz = tables, start, nnz
        self._check_dense(largest)

    def _set_drop_idx(self):
        """``drop_idx_`` (positions in ``categories_``) and ``_drop_after`` (positions after
        infrequent categories are grouped), as scikit-learn defines them."""
        cats = self.categories_
        if self.drop is None:
            after = None
        elif isinstance(self.drop, str) and self.drop == "first":
            after = np.zeros(len(cats), dtype=object)
        elif isinstance(self.drop, str):
            outputs = [len(c) if m is None else int(m.max()) + 1
                       for c, m in zip(cats, self._mappings, strict=True)]
            after = np.array([0 if n == 2 else None for n in outputs], dtype=object)
        else:
            drops = np.asarray(self.drop, dtype=object)
            if len(drops) != len(cats):
                raise ValueError(f"`drop` should have length equal to the number of features "
                                 f"({len(cats)}), got {len(drops)}")
            after, missing = [], []
            for i, (value, c) in enumerate(zip(drops, cats, strict=True)):
                if is_nan(value):
                    found = [len(c) - 1] if len(c) and is_nan(c[-1]) else []
                else:
                    found = [j for j, v in enumerate(c) if v is value or v is not None
                             and value is not None and not is_nan(v) and v == value]
                if not found:
                    missing.append(f"Category: {value}, Feature: {i}")
                    continue
                j, mapping = found[0], self._mappings[i]
                if mapping is not None:
                    if j in self._infrequent_indices[i]:
                        raise ValueError(f"Unable to drop category {c[j]!r} from feature {i} "
                                         f"because it is infrequent")
                    j = mapping[j]
                after.append(j)
            if missing:
                raise ValueError("The following categories were supposed to be dropped, but "
                                 "were not found in the training data.\n" + "\n".join(missing))
            after = np.array(after, dtype=object)
        self._drop_after = after
        if after is None or not self._infrequent_enabled:
            self.drop_idx_ = after
            return
        self.drop_idx_ = np.array(
            [d if d is None or m is None else int(np.flatnonzero(m == d)[0])
             for d, m in zip(after, self._mappings, strict=True)], dtype=object)

    def _check_dense(self, rows):
        size = rows * self._width * np.dtype(self.dtype).itemsize
        if not self.sparse_output and size > DENSE_BLOCK_LIMIT:
            raise ValueError(
                f"OneHotEncoder(sparse_output=False) would make dense blocks of {rows:,} rows x "
                f"{self._width:,} columns ({size / 2**20:,.0f} MiB each); keep "
                f"sparse_output=True (scipy.sparse blocks), group rare categories with "
                f"min_frequency= or max_categories=, or read smaller blocks (block_rows=)")

    def _fit_nnz(self):
        """Stored values of the output on the data it was fitted on (from the fitted counts)."""
        check_is_fitted(self)
        return self._nnz

    def _output_spec(self):
        return np.dtype(self.dtype), self._width, bool(self.sparse_output)

    # ------------------------------------------------------------------------ transform
    def _transform_block(self, block, where):
        codes, unknown = self._codes(block, where)
        n = len(codes[0])
        self._check_dense(n)
        if unknown and (self.handle_unknown == "warn" or self.drop is not None
                        and self.handle_unknown in ("ignore", "infrequent_if_exist")):
            as_ = ("the infrequent category" if self.handle_unknown != "ignore" else "all zeros")
            warnings.warn(f"Found unknown categories in columns {unknown} during transform. "
                          f"These unknown categories will be encoded as {as_}.", UserWarning)
        out = np.empty((n, len(codes)), dtype=np.int64)
        for i, c in enumerate(codes):
            out[:, i] = self._tables[i][c]  # position -1 (unknown) takes the table's last entry
        valid = out >= 0
        if valid.all():
            indices, per_row = out.ravel(), np.full(n, len(codes))
        else:
            indices, per_row = out[valid], valid.sum(axis=1)
        dtype = np.dtype(self.dtype)
        if not self.sparse_output:
            dense = np.zeros((n, self._width), dtype=dtype)
            dense[np.repeat(np.arange(n), per_row), indices] = 1
            return dense
        index = np.int32 if max(len(indices), self._width) < 2**31 else np.int64
        indptr = np.zeros(n + 1, dtype=index)
        np.cumsum(per_row, out=indptr[1:])
        return sp.csr_matrix((np.ones(len(indices), dtype=dtype), indices.astype(index), indptr),
                             shape=(n, self._width))

    def get_feature_names_out(self, input_features=None):
        """Output column names: ``feature_name_combiner(column, category)`` of each output,
        ``infrequent_sklearn`` naming the infrequent category.

        Parameters
        ----------
        input_features : array-like of str, optional
            Input column names; default ``feature_names_in_`` or ``x0``, ``x1``, ...

        Returns
        -------
        ndarray of str objects
        """
        names = OneToOneFeatureMixin.get_feature_names_out(self, input_features)
        combine = self.feature_name_combiner
        if combine == "concat":
            def combine(feature, category):
                return feature + "_" + str(category)
        elif not isinstance(combine("feature", "category"), str):
            raise TypeError(f"When `feature_name_combiner` is a callable, it should return a "
                            f"Python string. Got {type(combine('feature', 'category'))} "
                            f"instead.")
        out = []
        for i, cats in enumerate(self.categories_):
            mapping = self._mappings[i]
            if mapping is not None:
                cats = np.concatenate([cats[mapping < mapping.max()],
                                       np.array(["infrequent_sklearn"], dtype=object)])
            if self._drop_after is not None and self._drop_after[i] is not None:
                cats = np.delete(cats, self._drop_after[i])
            out += [combine(names[i], c) for c in cats]
        return np.array(out, dtype=object)


class OrdinalEncoder(OneToOneFeatureMixin, _Encoder):
    """Encode categorical columns as integer codes, out of core.

    scikit-learn's :class:`~sklearn.preprocessing.OrdinalEncoder` with the same parameters,
    fitted attributes and output, for Tables and dask DataFrames as well as NumPy and pandas
    input; ``fit`` is one parallel pass, ``transform`` lazy (see :class:`OneHotEncoder` for
    the column types read). A missing value is encoded as ``encoded_missing_value``.

    Parameters
    ----------
    categories : 'auto' or list of array-like, default='auto'
        Categories per column: found in the data, or ``categories[i]`` for column ``i``.
    dtype : number type, default=np.float64
        The dtype of the output.
    handle_unknown : {'error', 'use_encoded_value'}, default='error'
        A value not seen in fit: raise an error naming it, its column and where it is, or
        encode it as ``unknown_value``.
    unknown_value : int or np.nan, default=None
        The code of unknown values with ``handle_unknown='use_encoded_value'``.
    encoded_missing_value : int or np.nan, default=np.nan
        The code of missing values.
    min_frequency : int or float, default=None
        Categories seen fewer times (int), or in a smaller share of the rows (float), share
        one code, the last.
    max_categories : int, default=None
        Most codes per column, the infrequent one included (missing and unknown values apart).

    Attributes
    ----------
    categories_ : list of ndarray
        Categories of each column, as scikit-learn's (same values, order and dtype).
    infrequent_categories_ : list of (ndarray or None)
        Only with ``min_frequency`` or ``max_categories``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import numpy as np
    >>> from outofcore import OrdinalEncoder
    >>> X = np.array([["b", 1], ["a", 3], [np.nan, 1]], dtype=object)
    >>> enc = OrdinalEncoder(encoded_missing_value=-1).fit(X)
    >>> enc.categories_
    [array(['a', 'b', nan], dtype=object), array([1, 3], dtype=object)]
    >>> enc.transform(X)
    array([[ 1.,  0.],
           [ 0.,  1.],
           [-1.,  0.]])
    """

    _lenient = "handle_unknown='use_encoded_value' with an unknown_value"
    _excludes_missing = True

    def __init__(self, *, categories="auto", dtype=np.float64, handle_unknown="error",
                 unknown_value=None, encoded_missing_value=np.nan, min_frequency=None,
                 max_categories=None):
        self.categories = categories
        self.dtype = dtype
        self.handle_unknown = handle_unknown
        self.unknown_value = unknown_value
        self.encoded_missing_value = encoded_missing_value
        self.min_frequency = min_frequency
        self.max_categories = max_categories

    def _check_params(self):
        _check_frequency(self)
        if self.handle_unknown not in ("error", "use_encoded_value"):
            raise ValueError(f"The 'handle_unknown' parameter of OrdinalEncoder must be "
                             f"'error' or 'use_encoded_value'. Got {self.handle_unknown!r} "
                             f"instead.")
        if self.handle_unknown == "use_encoded_value":
            if is_nan(self.unknown_value):
                if np.dtype(self.dtype).kind != "f":
                    raise ValueError(f"When unknown_value is np.nan, the dtype parameter should "
                                     f"be a float dtype. Got {self.dtype}.")
            elif not _is_int(self.unknown_value):
                raise TypeError(f"unknown_value should be an integer or np.nan when "
                                f"handle_unknown is 'use_encoded_value', got "
                                f"{self.unknown_value}.")
        elif self.unknown_value is not None:
            raise TypeError(f"unknown_value should only be set when handle_unknown is "
                            f"'use_encoded_value', got {self.unknown_value}.")
        if not (is_nan(self.encoded_missing_value) or _is_int(self.encoded_missing_value)):
            raise ValueError(f"The 'encoded_missing_value' parameter of OrdinalEncoder must be "
                             f"an int or np.nan. Got {self.encoded_missing_value!r} instead.")

    def _finish(self, counts, unknown, rows, largest):
        # Codes per column, as scikit-learn counts them when checking the codes given for
        # unknown and missing values: infrequent categories and missing values left out.
        infrequent = getattr(self, "infrequent_categories_", [None] * len(self.categories_))
        sizes = [len(c) - (0 if f is None else len(f)) - (i in self._missing_at)
                 for i, (c, f) in enumerate(zip(self.categories_, infrequent, strict=True))]
        if self.handle_unknown == "use_encoded_value" and any(
                0 <= self.unknown_value < n for n in sizes):
            raise ValueError(f"The used value for unknown_value {self.unknown_value} is one of "
                             f"the values already used for encoding the seen categories.")
        missing = list(self._missing_at)
        if missing and np.dtype(self.dtype).kind != "f" and is_nan(self.encoded_missing_value):
            raise ValueError(f"There are missing values in features {missing}. For "
                             f"OrdinalEncoder to encode missing values with dtype: {self.dtype}, "
                             f"set encoded_missing_value to a non-nan value, or set dtype to a "
                             f"float")
        if missing and not is_nan(self.encoded_missing_value):
            clash = [i for i in missing if 0 <= self.encoded_missing_value < sizes[i]]
            if clash:
                names = getattr(self, "feature_names_in_", None)
                clash = names[clash] if names is not None else clash
                raise ValueError(f"encoded_missing_value ({self.encoded_missing_value}) is "
                                 f"already used to encode a known category in features: {clash}")
        self._tables = []
        for i, cats in enumerate(self.categories_):
            present = len(cats) - (i in self._missing_at)
            mapping = self._mappings[i]
            table = np.empty(len(cats) + 1, dtype=np.float64)
            table[:present] = mapping if mapping is not None else np.arange(present)
            if i in self._missing_at:
                table[present] = self.encoded_missing_value
            table[-1] = self.unknown_value if self.handle_unknown != "error" else np.nan
            self._tables.append(table if np.isnan(table).any() else table.astype(self.dtype))

    def _output_spec(self):
        return np.dtype(self.dtype), len(self.categories_), False

    def _transform_block(self, block, where):
        codes, _ = self._codes(block, where)
        out = np.empty((len(codes[0]), len(codes)), dtype=self.dtype)
        for i, c in enumerate(codes):
            out[:, i] = self._tables[i][c]  # position -1 (unknown) takes the table's last entry
        return out


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
