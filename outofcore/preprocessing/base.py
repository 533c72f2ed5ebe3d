"""Blockwise steps: fitted by one reduction over blocks, applied to each block lazily.

A blockwise step learns a statistic of its input columns as three pure steps, in the manner of
dask's reductions: ``_fit_chunk(block, where)`` summarises one block, ``_fit_combine(records)``
merges summaries in any grouping, ``_fit_finalize(record)`` sets the fitted attributes; then
``_transform_block(block, where)`` maps a block to its output. :class:`BlockwiseTransformer` turns
those into scikit-learn's ``fit``/``transform`` for every input: a Table, a dask collection
(one parallel reduction, then a lazy ``map_blocks``), or a NumPy array or pandas DataFrame (one
block, eagerly). The ColumnTransformer of :mod:`outofcore.preprocessing.compose` calls the same
four methods to fit all of its branches in shared passes over the data.

A block is what the step is given: a ``pyarrow.Table`` of its input columns when it reads a
table, or the NumPy (or scipy.sparse) output of the step before it in a pipeline;
:func:`as_arrow` and :func:`as_matrix` turn either into what a step works on.
"""

import numpy as np
import pyarrow as pa
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from outofcore.io import convert
from outofcore.io.inputs import as_table, feature_names, is_dask_collection
from outofcore.runtime.scheduler import compute


def as_arrow(block):
    """A block as a ``pyarrow.Table``: arrow as it is, pandas by column, NumPy columns as
    ``x0``, ``x1``, ... (None and NaN become nulls in object columns)."""
    if isinstance(block, pa.Table):
        return block
    if hasattr(block, "iloc"):
        return pa.Table.from_pandas(block.rename(columns=str), preserve_index=False)
    if hasattr(block, "toarray"):
        block = block.toarray()
    block = np.asarray(block)
    return pa.table({f"x{i}": pa.array(block[:, i], from_pandas=block.dtype == object)
                     for i in range(block.shape[1])})


def as_matrix(block, dtype, where=str):
    """A block as a float NumPy matrix of ``dtype`` (arrow tables must hold numbers only)."""
    if isinstance(block, pa.Table):
        convert.check_numeric(block.schema, block.schema.names, "the input")
        return convert.matrix(block, block.schema.names, dtype, where)
    if hasattr(block, "toarray"):
        block = block.toarray()
    return np.asarray(block, dtype=dtype)


def forget_fit(estimator, scratch=()):
    """Delete ``estimator``'s fitted attributes (``name_``) and the ``scratch`` ones: a fit
    starts from nothing, as scikit-learn's ``clone(est).fit`` does."""
    for name in [n for n in vars(estimator) if n in scratch or (
            n.endswith("_") and not n.startswith("_"))]:
        delattr(estimator, name)


class BlockwiseTransformer(TransformerMixin, BaseEstimator):
    """``fit``/``transform`` for steps defined by chunk, combine, finalize and a block transform.

    Subclasses define ``_fit_chunk``, ``_fit_combine``, ``_fit_finalize``,
    ``_transform_block`` and ``_output_spec`` (see the module notes), and may define
    ``_check_params`` (called first in ``fit``) and ``_fitted`` (the attribute that marks the
    step fitted). In-memory input is validated with scikit-learn's ``validate_data``
    (``_validate`` keyword arguments; strings and missing values pass by default).
    """

    _validate = {"dtype": None, "ensure_all_finite": False}

    def _check_params(self):
        """Raise ValueError for parameter values scikit-learn's twin would refuse."""

    def _output_spec(self):
        """``(dtype, width, sparse)`` of the fitted step's output."""
        raise NotImplementedError

    def _fit_begin(self, stand_in):
        """Forget any fit, check the parameters, and take the input's width and names from
        ``stand_in`` (what a ColumnTransformer calls before feeding blocks)."""
        forget_fit(self)
        self._check_params()
        validate_data(self, stand_in, reset=True, skip_check_array=True)

    def _input(self, X, *, reset):
        """``(in-memory block, None)`` or ``(None, Table)`` for X, its features checked."""
        if is_dask_collection(X):
            table = as_table(X)
            names = feature_names(X)
            stand_in = table.meta if names is not None else np.empty((0, table.shape[1]))
            validate_data(self, stand_in, reset=reset, skip_check_array=True)
            return None, table
        if hasattr(X, "iloc"):
            validate_data(self, X, reset=reset, skip_check_array=True)
            return as_arrow(X), None
        X = validate_data(self, X, reset=reset, **self._validate)
        return as_arrow(X), None

    def fit(self, X, y=None):
        """Learn the step's statistics from X: one parallel pass over the blocks of a Table or
        dask collection, or directly from in-memory X.

        Parameters
        ----------
        X : Table, dask DataFrame or array, pandas DataFrame or array-like of shape
            (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        forget_fit(self)
        self._check_params()
        block, table = self._input(X, reset=True)
        if table is None:
            record = self._fit_chunk(block, _in_memory)
        else:
            (record,) = compute(table.reduce(self._fit_chunk, self._fit_combine))
        self._fit_finalize(record)
        return self

    def transform(self, X):
        """The step's output for X: a lazy dask array (dense, or with scipy.sparse blocks) for a
        Table or dask collection, else an array or sparse matrix.

        Parameters
        ----------
        X : Table, dask DataFrame or array, pandas DataFrame or array-like of shape
            (n_samples, n_features)

        Returns
        -------
        ndarray, scipy.sparse matrix or dask.array.Array of shape (n_samples, n_output)
        """
        check_is_fitted(self)
        block, table = self._input(X, reset=False)
        if table is None:
            return self._transform_block(block, _in_memory)
        dtype, width, sparse = self._output_spec()
        meta = None
        if sparse:
            import scipy.sparse as sp

            meta = sp.csr_matrix((0, width), dtype=dtype)
        return table.map_blocks(_transform, self, dtype=dtype, width=width, meta=meta)


def _in_memory(row):
    return f"row {row}"


def _transform(block, where, step):
    return step._transform_block(block, where)
