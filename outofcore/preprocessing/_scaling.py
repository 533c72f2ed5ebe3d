"""What the out-of-core scalers of :mod:`outofcore.preprocessing.scalers` share.

``_BaseScaler`` holds ``fit``, ``partial_fit``, ``transform`` and ``inverse_transform`` for
in-memory and dask input; a scaler subclass names the statistics it needs and its per-column
block maths. The dask side of that work (row blocks, the reduction's chunk and combine steps,
the transform's block function) is :mod:`~outofcore.preprocessing.scaler_blocks`.
"""

import numbers
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted, validate_data

from outofcore.io import convert
from outofcore.io.inputs import align_to, feature_names, is_dask_collection
from outofcore.io.table import Table
from outofcore.preprocessing import stats as _stats
from outofcore.preprocessing.scaler_blocks import (
    as_float_block,
    checked_block,
    float_dtype,
    packed_chunk,
    packed_combine,
    row_blocks,
    scale_block,
    scaled_table,
    table_record,
)
from outofcore.runtime.scheduler import compute


def _as_sample_weight(sample_weight, n_rows, dtype):
    """In-memory sample weights checked as scikit-learn checks them: 1-D, one per row, not all 0.

    They are returned in X's float dtype (float64 for float16 X), as scikit-learn uses them.
    """
    dtype = dtype if dtype in (np.float32, np.float64) else np.float64
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_rows, sample_weight, dtype=dtype)
    sample_weight = check_array(
        sample_weight, ensure_2d=False, dtype=dtype, input_name="sample_weight"
    )
    if sample_weight.shape != (n_rows,):
        raise ValueError(
            f"sample_weight has shape {sample_weight.shape}, expected {(n_rows,)}: pass one "
            "weight per row of X."
        )
    _reject_all_zero(sample_weight.any())
    return sample_weight


def _reject_all_zero(any_nonzero):
    if not any_nonzero:
        raise ValueError(
            "Sample weights must contain at least one non-zero number; every weight is 0."
        )


class _BaseScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fit, partial_fit and transform plumbing; subclasses name their statistics and block maths.

    Subclasses set ``_parts`` (which parts of :class:`outofcore._stats.Record` they need) and
    ``_attributes`` (the fitted attributes ``_finalize`` sets), and define ``_fitted_attributes``
    (record to a dict of attributes) and ``_steps`` (the per-column operations of the transform
    and its inverse, and the bounds to clip to, from ``_clip_bounds``).
    ``fit``, ``partial_fit``, ``transform`` and ``inverse_transform`` live here; StandardScaler
    extends their signatures with ``sample_weight`` and ``copy`` as scikit-learn's does.
    """

    _parts = {"moments": False, "extrema": False}
    _attributes = ()

    def _reset(self):
        for name in ("n_samples_seen_", "_record", "_dtype", *self._attributes):
            if hasattr(self, name):
                delattr(self, name)

    def _check_params(self):
        """Validate parameters that scikit-learn would reject; called at the top of fit."""

    def _weighs_rows(self):
        """Whether sample weights enter the statistics (they are still validated when not)."""
        return True

    def _partial_fit(self, X, sample_weight=None):
        self._check_params()
        first_call = not hasattr(self, "n_samples_seen_")
        if is_dask_collection(X):
            record, dtype = self._dask_record(X, sample_weight, reset=first_call)
        else:
            record, dtype = self._in_memory_record(X, sample_weight, reset=first_call)
        if not first_call:
            record = _stats.combine([self._record, record])
            dtype = np.result_type(self._dtype, dtype)
        self._record, self._dtype = record, dtype
        self._finalize(record, dtype, weighted=sample_weight is not None)
        return self

    def _finalize(self, record, dtype, weighted):
        """Set the fitted attributes that the subclass computes from the merged record."""
        for name, value in self._fitted_attributes(record, dtype, weighted).items():
            setattr(self, name, value)

    def _clip_bounds(self, bounds, dtype):
        """``bounds`` as scalars of the block ``dtype`` when ``clip`` is set, else None."""
        return tuple(np.asarray(v, dtype=dtype) for v in bounds) if self.clip else None

    def _in_memory_record(self, X, sample_weight, reset):
        # Infinity passes validation here so that chunk() can name the offending column.
        X = validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES, ensure_all_finite=False)
        if sample_weight is not None:
            sample_weight = _as_sample_weight(sample_weight, X.shape[0], X.dtype)
            if not self._weighs_rows():
                sample_weight = None
        names = getattr(self, "feature_names_in_", None)
        return _stats.chunk(X, sample_weight, feature_names=names, **self._parts), X.dtype

    def _check_dask_features(self, X, blocks, reset):
        """Set or check ``n_features_in_``/``feature_names_in_`` with scikit-learn's own rules."""
        names = feature_names(X)
        if names is None:
            stand_in = np.empty((0, blocks.shape[1]))
        else:
            import pandas as pd

            # A zero-row frame with X's column names: sklearn reads names and width from it alone.
            stand_in = pd.DataFrame(columns=list(names))
        validate_data(self, stand_in, reset=reset, skip_check_array=True)
        return names

    def _dask_record(self, X, sample_weight, reset):
        import dask.array as da

        if not self._weighs_rows():
            sample_weight = None
        if isinstance(X, Table) and sample_weight is None:
            return self._table_record(X, reset)
        blocks = row_blocks(X, lengths=sample_weight is not None)
        if blocks.shape[1] == 0 or blocks.shape[0] == 0:
            raise ValueError(
                f"Found array with shape {blocks.shape}; the scalers need at least one row and "
                "one column."
            )
        names = self._check_dask_features(X, blocks, reset)
        dtype = float_dtype(blocks.dtype)
        weights = {}
        if sample_weight is not None:
            sample_weight = align_to(blocks, sample_weight, name="sample_weight")
            if sample_weight.ndim != 1:
                raise ValueError(
                    f"sample_weight must be 1-D with one weight per row, got shape "
                    f"{sample_weight.shape}."
                )
            # Weights are taken in X's float dtype, as scikit-learn does.
            sample_weight = sample_weight.astype(dtype if dtype != np.float16 else np.float64)
            weights["weights"] = sample_weight[:, None]
        names = None if names is None else tuple(names)
        packed = da.reduction(
            blocks,
            partial(packed_chunk, parts=self._parts, names=names),
            partial(packed_combine, parts=self._parts),
            axis=0,
            keepdims=True,
            output_size=_stats.n_packed_rows(**self._parts),
            dtype=np.float64,
            meta=np.empty((0, 0), dtype=np.float64),
            **weights,
        )
        if sample_weight is None:
            (packed,) = compute(packed)
        else:
            packed, any_nonzero = compute(packed, sample_weight.any())
            _reject_all_zero(any_nonzero)
        record = _stats.unpack(packed, **self._parts)
        if record.n_rows == 0:
            raise ValueError(
                "Found array with 0 sample(s) while a minimum of 1 is required: every partition "
                "of X is empty."
            )
        return record, dtype

    def _table_record(self, X, reset):
        """The record of a Table's numbers, errors naming the file and row."""
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"Found array with shape {X.shape}; the scalers need at least one "
                             f"row and one column.")
        where = X.source.displays[0] if X.source is not None else "the input"
        convert.check_numeric(X.schema, X.columns, where)
        names = self._check_dask_features(X, X, reset)
        names = None if names is None else tuple(names)
        dtype = X.float_dtype
        (record,) = compute(X.reduce(partial(table_record, names=names, dtype=dtype,
                                             parts=self._parts), _stats.combine))
        if record.n_rows == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required: "
                             "every block of X is empty.")
        return record, dtype

    def _block_function(self, dtype, *, inverse=False):
        """The fitted (inverse) transform of one block of float ``dtype`` as a plain function.

        It captures the fitted values as they are now, so a lazy result does not change when
        the scaler is refitted before it is computed.
        """
        steps, clip = self._steps(np.dtype(dtype), inverse=inverse)
        return partial(scale_block, steps=steps, clip=clip)

    # ------------------------------------------------- the blockwise protocol (ColumnTransformer)
    def _fit_begin(self, stand_in):
        """Forget any fit and take the input's width and names from ``stand_in``."""
        self._reset()
        self._check_params()
        validate_data(self, stand_in, reset=True, skip_check_array=True)

    def _fit_chunk(self, block, where):
        """The statistics record and float dtype of one float block."""
        names = getattr(self, "feature_names_in_", None)
        block = as_float_block(block)
        return _stats.chunk(block, feature_names=names, **self._parts), block.dtype

    def _fit_combine(self, records):
        return (_stats.combine([r for r, _ in records]),
                np.result_type(*[dtype for _, dtype in records]))

    def _fit_finalize(self, record):
        record, dtype = record
        if record.n_rows == 0:
            raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required: "
                             "every block is empty.")
        self._record, self._dtype = record, dtype
        self._finalize(record, dtype, weighted=False)

    def _transform_block(self, block, where=None):
        """Transform one float block without validation into a new array."""
        block = as_float_block(block)
        _stats.has_missing(block, getattr(self, "feature_names_in_", None))
        return self._block_function(block.dtype)(block)

    def _output_spec(self):
        return np.dtype(self._dtype), self.n_features_in_, False

    def fit(self, X, y=None):
        """Compute the statistics of X used for scaling, forgetting any earlier fit.

        Parameters
        ----------
        X : array-like, pandas or dask DataFrame, or dask array of shape (n_samples, n_features)
            Training data; NaN values are ignored.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        self._reset()
        return self.partial_fit(X, y)

    def partial_fit(self, X, y=None):
        """Update the statistics used for scaling with the rows of X.

        Parameters
        ----------
        X : array-like, pandas or dask DataFrame, or dask array of shape (n_samples, n_features)
            More training data; NaN values are ignored.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted scaler.
        """
        return self._partial_fit(X)

    def transform(self, X):
        """Scale X with the fitted statistics.

        Parameters
        ----------
        X : array-like, pandas or dask DataFrame, or dask array of shape (n_samples, n_features)
            Data to scale.

        Returns
        -------
        X_tr : ndarray or dask array of shape (n_samples, n_features)
            A lazy dask array for dask input. Float32 input stays float32, other non-float input
            becomes float64.
        """
        return self._map(X, copy=self.copy, inverse=False)

    def inverse_transform(self, X):
        """Scale X back to the original representation.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            Scaled data.

        Returns
        -------
        X_original : ndarray or dask array of shape (n_samples, n_features)
            A lazy dask array for dask input.
        """
        return self._map(X, copy=self.copy, inverse=True)

    def _map(self, X, *, copy, inverse):
        """Shared body of transform and inverse_transform."""
        # Fit sets n_features_in_ before its pass over the data, so that alone does not mean fitted.
        check_is_fitted(self, "n_samples_seen_")
        if isinstance(X, Table) and not inverse:
            names = self._check_dask_features(X, X, reset=False)
            where = X.source.displays[0] if X.source is not None else "the input"
            convert.check_numeric(X.schema, X.columns, where)
            dtype = float_dtype(X.float_dtype)
            return X.map_blocks(scaled_table, tuple(X.columns), dtype,
                                self._block_function(dtype), dtype=dtype, width=X.shape[1])
        if is_dask_collection(X):
            blocks = row_blocks(X, lengths=False)
            if inverse:
                names = None
                if blocks.shape[1] != self.n_features_in_:
                    raise ValueError(
                        f"X has {blocks.shape[1]} features, but {type(self).__name__} is "
                        f"expecting {self.n_features_in_} features as input."
                    )
            else:
                names = self._check_dask_features(X, blocks, reset=False)
                names = None if names is None else tuple(names)
            dtype = float_dtype(blocks.dtype)
            block_fn = self._block_function(dtype, inverse=inverse)
            return blocks.map_blocks(
                checked_block, block_fn, names, dtype=dtype, meta=np.empty((0, 0), dtype=dtype)
            )
        check = dict(
            copy=copy, dtype=FLOAT_DTYPES, force_writeable=True, ensure_all_finite="allow-nan"
        )
        if inverse:
            X = check_array(X, **check)
        else:
            X = validate_data(self, X, reset=False, **check)
        return self._block_function(X.dtype, inverse=inverse)(X, out=X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
