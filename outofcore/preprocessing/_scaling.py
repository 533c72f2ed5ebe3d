"""Plumbing shared by the out-of-core scalers of :mod:`outofcore.scalers`.

``_BaseScaler`` holds ``fit``, ``partial_fit``, ``transform`` and ``inverse_transform`` for
in-memory and dask input; a scaler subclass names the statistics it needs and its per-column
block maths. The functions around it are the dask side of that work: turning a collection into
row blocks, the chunk and combine steps of the ``dask.array.reduction`` that fits, and the block
function that ``map_blocks`` applies to transform.
"""

import numbers
from functools import partial

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import FLOAT_DTYPES, check_array, check_is_fitted, validate_data

from outofcore.io import convert
from outofcore.io.inputs import align_to, as_array, feature_names, is_dask_collection
from outofcore.io.table import Table
from outofcore.preprocessing import stats as _stats
from outofcore.runtime.scheduler import compute


def _float_dtype(dtype):
    """The dtype scikit-learn's scalers work in: float dtypes are kept, anything else is float64."""
    dtype = np.dtype(dtype)
    return dtype if dtype in FLOAT_DTYPES else np.dtype(np.float64)


def _row_blocks(X, *, lengths):
    """A dask collection as a 2-D dask array whose blocks span all columns.

    Row lengths are only worked out when ``lengths`` is set: they cost a pass over the data when
    unknown (as for a dask DataFrame), and neither a reduction nor ``map_blocks`` needs them.
    """
    import dask.array as da

    if lengths or isinstance(X, Table):
        X = as_array(X)
    else:
        if hasattr(X, "to_dask_array"):
            X = X.to_dask_array()
        if isinstance(X, da.Array) and X.ndim == 2 and len(X.chunks[1]) > 1:
            X = X.rechunk({1: -1})
    if not isinstance(X, da.Array):
        raise TypeError(
            f"Expected a dask array or a dask DataFrame, got {type(X).__name__}. Convert it with "
            "dask.array.from_delayed or dask.dataframe.from_delayed first."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array or a dask DataFrame, got a {X.ndim}-D array of shape "
            f"{X.shape}. Reshape a single feature with X.reshape(-1, 1)."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"The scalers need numeric columns, got dtype {X.dtype}. Cast the columns to numbers, "
            "or select the numeric ones, before scaling."
        )
    return X


def _packed_chunk(block, weights=None, *, axis, keepdims, parts, names):
    """``dask.array.reduction`` chunk step: one block to its packed statistic record."""
    # The reduction broadcasts the (n, 1) weights to the block's shape; one column holds them all.
    sample_weight = None if weights is None else weights[:, 0]
    record = _stats.chunk(block, sample_weight, feature_names=names, **parts)
    return _stats.pack(record)


def _packed_combine(packed, *, axis, keepdims, parts):
    """``dask.array.reduction`` combine/aggregate step: stacked packed records to one."""
    size = _stats.n_packed_rows(**parts)
    pieces = packed.reshape(-1, size, packed.shape[-1])
    return _stats.pack(_stats.combine(_stats.unpack(p, **parts) for p in pieces))


def _checked_block(block, block_fn, names):
    """Reject infinite values as scikit-learn's scalers do, then scale into a new array."""
    _stats.has_missing(block, names)
    return block_fn(block)


def _scaled_table(table, where, names, dtype, block_fn):
    """A Table block's numbers as a new float block, checked and scaled in place."""
    block = convert.matrix(table, names, dtype, where)
    _stats.has_missing(block, names, where)
    return block_fn(block, out=block)


def _table_record(table, where, names, dtype, parts):
    return _stats.chunk(convert.matrix(table, names, dtype, where), feature_names=names,
                        where=where, **parts)


def _scale_block(block, out=None, *, steps, clip=None):
    """Apply per-column ``(ufunc, operand)`` steps to a block, then clip to ``clip`` if given.

    The first step reads ``block``, the others update ``out`` in place; ``out`` is a new array in
    the block's float dtype unless given (pass ``out=block`` to scale in place). Operand dtypes
    and the order of operations are those of scikit-learn's in-place code, so results agree with
    it bit for bit.
    """
    if out is None:
        out = np.empty(block.shape, dtype=_float_dtype(block.dtype))
    source = block
    for ufunc, operand in steps:
        ufunc(source, operand, out=out)
        source = out
    if source is not out:
        np.copyto(out, block)
    if clip is not None:
        np.clip(out, *clip, out=out)
    return out


def _as_float_block(block):
    """A block from the step before (NumPy, or a sparse matrix densified) as a float array."""
    if hasattr(block, "toarray"):
        block = block.toarray()
    block = np.asarray(block)
    return block if block.dtype in FLOAT_DTYPES else block.astype(np.float64)


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
        blocks = _row_blocks(X, lengths=sample_weight is not None)
        if blocks.shape[1] == 0 or blocks.shape[0] == 0:
            raise ValueError(
                f"Found array with shape {blocks.shape}; the scalers need at least one row and "
                "one column."
            )
        names = self._check_dask_features(X, blocks, reset)
        dtype = _float_dtype(blocks.dtype)
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
            partial(_packed_chunk, parts=self._parts, names=names),
            partial(_packed_combine, parts=self._parts),
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
        (record,) = compute(X.reduce(partial(_table_record, names=names, dtype=dtype,
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
        return partial(_scale_block, steps=steps, clip=clip)

    # ------------------------------------------------- the blockwise protocol (ColumnTransformer)
    def _fit_begin(self, stand_in):
        """Forget any fit and take the input's width and names from ``stand_in``."""
        self._reset()
        self._check_params()
        validate_data(self, stand_in, reset=True, skip_check_array=True)

    def _fit_chunk(self, block, where):
        """The statistics record and float dtype of one float block."""
        names = getattr(self, "feature_names_in_", None)
        block = _as_float_block(block)
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
        block = _as_float_block(block)
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
            dtype = _float_dtype(X.float_dtype)
            return X.map_blocks(_scaled_table, tuple(X.columns), dtype,
                                self._block_function(dtype), dtype=dtype, width=X.shape[1])
        if is_dask_collection(X):
            blocks = _row_blocks(X, lengths=False)
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
            dtype = _float_dtype(blocks.dtype)
            block_fn = self._block_function(dtype, inverse=inverse)
            return blocks.map_blocks(
                _checked_block, block_fn, names, dtype=dtype, meta=np.empty((0, 0), dtype=dtype)
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
