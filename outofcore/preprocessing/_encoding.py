"""What OneHotEncoder and OrdinalEncoder share: counting categories in one reduction, and
finalizing them (given or found, infrequent ones grouped) as scikit-learn's encoders do.

Each block is summarised by the value counts of its columns (:func:`categories.count`), the
counts are added up in a dask tree reduction, and :meth:`_Encoder._fit_finalize` derives from
them what scikit-learn derives from all the rows at once. The encoders then keep, per column,
one lookup table from a category's position to its output, with one more entry at the end for
unknown values; a block's output is that table indexed by the positions its values take.
"""

import numbers

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from outofcore.io.inputs import is_dask_collection
from outofcore.preprocessing import categories, vocabulary
from outofcore.preprocessing.missing import is_nan
from outofcore.preprocessing.base import BlockwiseTransformer


def _check_frequency(est):
    name = type(est).__name__
    m, k = est.min_frequency, est.max_categories
    if not (m is None or isinstance(m, numbers.Integral) and not isinstance(m, bool) and m >= 1
            or isinstance(m, numbers.Real) and not isinstance(m, numbers.Integral) and 0 < m < 1):
        raise ValueError(f"The 'min_frequency' parameter of {name} must be an int >= 1, a float "
                         f"in (0, 1) or None. Got {m!r} instead.")
    if not (k is None or isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1):
        raise ValueError(f"The 'max_categories' parameter of {name} must be an int >= 1 or "
                         f"None. Got {k!r} instead.")
    if not (isinstance(est.categories, str) and est.categories == "auto"
            or isinstance(est.categories, list)):
        raise ValueError(f"The 'categories' parameter of {name} must be 'auto' or a list of "
                         f"array-likes, one per column. Got {est.categories!r} instead.")


class _Encoder(BlockwiseTransformer):
    """Fitting of the encoders; subclasses define ``_finish`` and ``_transform_block``."""

    _takes_table = True
    _excludes_missing = False  # OrdinalEncoder leaves nan out of infrequent grouping
    _lenient = ""  # the parameters that encode unknown values, for messages

    _PACKED = ("categories_", "infrequent_categories_")

    def __getstate__(self):
        # A copy: BaseEstimator returns the instance's own __dict__ outside scikit-learn.
        state = dict(super().__getstate__())
        for name in self._PACKED:
            if state.get(name) is not None:
                state[name] = [vocabulary.pack(v) for v in state[name]]
        return state

    def __setstate__(self, state):
        for name in self._PACKED:
            if state.get(name) is not None:
                state[name] = [vocabulary.unpack(v) for v in state[name]]
        super().__setstate__(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        return tags

    def _input(self, X, *, reset):
        """In memory, the columns scikit-learn's encoders read: a DataFrame as it is (each
        column keeps its dtype), other input as one array, lists of strings as objects."""
        if is_dask_collection(X):
            return super()._input(X, reset=reset)
        if not hasattr(X, "iloc"):
            checked = check_array(X, dtype=None, ensure_all_finite=False)
            if not hasattr(X, "dtype") and checked.dtype.kind == "U":
                checked = check_array(X, dtype=object, ensure_all_finite=False)
            X = checked
        validate_data(self, X, reset=reset, skip_check_array=True)
        return X, None

    def _columns(self, block, where):
        cols = categories.columns(block, self._names())
        for col in cols:
            categories.check_finite(col, where)
        return cols

    def _names(self):
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return list(names)
        n = getattr(self, "n_features_in_", None)
        return None if n is None else [f"x{i}" for i in range(n)]

    # ------------------------------------------------------------------------- fitting
    def _fit_chunk(self, block, where):
        cols = self._columns(block, where)
        # Values outside given categories are refused where they are; a wrong number of
        # category lists is refused by _fit_finalize.
        if self.categories != "auto" and self.handle_unknown == "error" \
                and len(self.categories) == len(cols):
            for i, col in enumerate(cols):
                given = np.asarray(list(self.categories[i]), dtype=object)
                self._refuse_unknown(i, col, vocabulary.vocabulary(given), where, "fit")
        rows = len(cols[0]) if cols else 0
        return {"rows": rows, "largest": rows, "counts": [categories.count(c) for c in cols]}

    def _fit_combine(self, records):
        return {"rows": sum(r["rows"] for r in records),
                "largest": max(r["largest"] for r in records),
                "counts": [categories.merge([r["counts"][i] for r in records])
                           for i in range(len(records[0]["counts"]))]}

    def _fit_finalize(self, record):
        rows, counted = record["rows"], record["counts"]
        if rows == 0:
            raise ValueError(f"Found array with 0 sample(s) while a minimum of 1 is required by "
                             f"{type(self).__name__}: every block of the data is empty")
        given = self.categories != "auto"
        if given and len(self.categories) != len(counted):
            raise ValueError("Shape mismatch: if categories is an array, it has to be of shape "
                             "(n_features,).")
        cats, counts, unknown = [], [], []
        for i, c in enumerate(counted):
            if given:
                found = self._given(i, categories.final_dtype(c))
                n, rest = vocabulary.tally(c, vocabulary.vocabulary(found), len(found))
            else:
                (found, n), rest = categories.categories(c), 0
            cats.append(found)
            counts.append(n)
            unknown.append(rest)
        self.categories_ = cats
        self._vocab = [vocabulary.vocabulary(c) for c in cats]
        self._infrequent_enabled = (self.max_categories is not None and self.max_categories >= 1
                                    or self.min_frequency is not None)
        self._missing_at = {i: len(c) - 1 for i, c in enumerate(cats)
                            if self._excludes_missing and len(c) and is_nan(c[-1])}
        self._mappings = [None] * len(cats)
        if self._infrequent_enabled:
            infrequent = []
            for i, n in enumerate(counts):
                if i in self._missing_at:
                    n = n[:-1]
                idx = self._infrequent(n, rows)
                infrequent.append(idx)
                if idx is not None:
                    mapping = np.empty(len(n), dtype=np.int64)
                    frequent = np.setdiff1d(np.arange(len(n)), idx)
                    mapping[frequent] = np.arange(len(frequent))
                    mapping[idx] = len(frequent)
                    self._mappings[i] = mapping
            self._infrequent_indices = infrequent
            self.infrequent_categories_ = [None if idx is None else c[idx]
                                           for c, idx in zip(cats, infrequent, strict=True)]
        self._finish(counts, unknown, rows, record["largest"])

    def _given(self, i, dtype):
        """The categories given for column ``i``, checked as scikit-learn checks them."""
        dtype = np.dtype(object) if dtype.kind in "OUS" else dtype
        cats = np.array(self.categories[i], dtype=dtype)
        if any(is_nan(c) for c in cats[:-1]):
            raise ValueError(f"Nan should be the last element in user provided categories, see "
                             f"categories {cats} in column #{i}")
        keys = {("nan",) if is_nan(c) else c for c in cats}
        if len(keys) != len(cats):
            raise ValueError(f"In column {i}, the predefined categories contain duplicate "
                             f"elements.")
        if dtype.kind not in "OUS":
            stop = -1 if len(cats) and is_nan(cats[-1]) else None
            if np.any(np.sort(cats)[:stop] != cats[:stop]):
                raise ValueError("Unsorted categories are not supported for numerical "
                                 "categories")
        if not len(cats):
            raise ValueError(f"categories[{i}] is empty; give at least one category per column")
        return cats

    def _infrequent(self, counts, rows):
        """Positions of the infrequent categories among ``counts`` (None when there are none),
        by ``min_frequency`` then ``max_categories`` (the rarest first, ties in order)."""
        if isinstance(self.min_frequency, numbers.Integral):
            infrequent = counts < self.min_frequency
        elif isinstance(self.min_frequency, numbers.Real):
            infrequent = counts < rows * self.min_frequency
        else:
            infrequent = np.zeros(len(counts), dtype=bool)
        if self.max_categories is not None and \
                self.max_categories < len(counts) - infrequent.sum() + 1:
            # max_categories counts the infrequent category among the outputs.
            frequent = self.max_categories - 1
            if frequent == 0:
                infrequent[:] = True
            else:
                infrequent[np.argsort(counts, kind="mergesort")[:-frequent]] = True
        idx = np.flatnonzero(infrequent)
        return idx if idx.size else None

    # ------------------------------------------------------------------------ transform
    def _codes(self, block, where):
        """Each column's category positions in a block (-1 for unknown values), and the
        columns where unknown values occur; 'error' raises for them."""
        cols = self._columns(block, where)
        codes, unknown = [], []
        for i, col in enumerate(cols):
            c = vocabulary.encode(col, self._vocab[i])
            if (c < 0).any():
                if self.handle_unknown == "error":
                    self._refuse_unknown(i, col, self._vocab[i], where, "transform", c)
                unknown.append(i)
            codes.append(c)
        return codes, unknown

    def _refuse_unknown(self, i, col, vocab, where, during, codes=None):
        codes = vocabulary.encode(col, vocab) if codes is None else codes
        rows = np.flatnonzero(codes < 0)
        if not rows.size:
            return
        seen = []
        for r in rows[:1000]:
            value = col.value(int(r))
            if not any(value is v or value == v or is_nan(value) and is_nan(v) for v in seen):
                seen.append(value)
            if len(seen) == 5:
                break
        todo = ("refit on data that holds them" if during == "transform" else
                "add them to categories")
        raise ValueError(
            f"Found unknown categories {seen} in column {i} ({col.name!r}) during {during}, "
            f"first at {where(int(rows[0]))}; {todo}, or set {self._lenient} to encode "
            f"unknown values")
