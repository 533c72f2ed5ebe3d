"""Out-of-core StandardScaler, MinMaxScaler and MaxAbsScaler.

Each scaler accepts what scikit-learn's does (NumPy arrays, pandas DataFrames) and behaves the same
on it, and also accepts dask arrays and dask DataFrames:

* ``fit``/``partial_fit`` on dask input is one parallel pass: every block is summarised by
  :func:`outofcore.preprocessing.stats.chunk` and the summaries are merged in a tree by ``dask.array.reduction``;
  a later ``partial_fit`` merges into what was seen before.
* ``transform``/``inverse_transform`` on dask input are lazy: they return a dask array built
  with ``map_blocks`` (a dask DataFrame comes back as a dask array with the same columns).
  Nothing is read until the result is computed; every output block is a new array, so input
  blocks shared with other computations are never written to.

Fitted attributes have scikit-learn's names and values, so code written for scikit-learn's scalers
reads these. ``_transform_block(block)`` applies the fitted transform to one NumPy block without any
validation, for callers that fuse scaling into their own block loop.

The plumbing the three share (validation, the dask reduction that fits, the ``map_blocks`` that
transforms) lives in :mod:`outofcore.preprocessing._scaling`; each class here names its statistics, its fitted
attributes and its per-column block maths.
"""

import numpy as np

from outofcore.preprocessing import scaler_attributes
from outofcore.preprocessing._scaling import _BaseScaler

__all__ = ["StandardScaler", "MinMaxScaler", "MaxAbsScaler"]


class StandardScaler(_BaseScaler):
    """Standardize features by removing the mean and scaling to unit variance, out of core.

    Same parameters, attributes and results as :class:`sklearn.preprocessing.StandardScaler` on
    dense NumPy and pandas input. On dask input ``fit`` is one parallel pass accumulating float64
    means and sums of squared deviations, merged with the parallel formula of Chan et al., and
    ``transform`` is lazy (see the module docstring). NaN is ignored in fit and kept in transform.

    Parameters
    ----------
    copy : bool, default=True
        If False, ``transform`` on a float NumPy array scales it in place, as scikit-learn does.
        Dask blocks are never modified.
    with_mean : bool, default=True
        Center the data before scaling.
    with_std : bool, default=True
        Scale the data to unit variance.

    Attributes
    ----------
    scale_ : ndarray of shape (n_features,) or None
        Per-feature scale, ``sqrt(var_)``, with 1 for (near) constant features.
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean; None when ``with_mean`` and ``with_std`` are both False.
    var_ : ndarray of shape (n_features,) or None
        Per-feature variance; None when ``with_std`` is False.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a (pandas or dask) DataFrame seen during fit, when all are strings.
    n_samples_seen_ : int, float or ndarray of shape (n_features,)
        Non-NaN values seen per feature (the sum of their weights with ``sample_weight``); one
        number when it is the same for all features.

    See Also
    --------
    MinMaxScaler, MaxAbsScaler

    References
    ----------
    T. F. Chan, G. H. Golub and R. J. LeVeque, "Algorithms for computing the sample variance:
    analysis and recommendations", The American Statistician 37(3), 242-247, 1983.

    Examples
    --------
    >>> import dask.array as da
    >>> from outofcore import StandardScaler
    >>> X = da.from_array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [6.0, 7.0]], chunks=(2, 2))
    >>> scaler = StandardScaler().fit(X)
    >>> scaler.mean_
    array([3., 4.])
    >>> scaler.transform(X).compute()[0].round(3)
    array([-1.342, -1.342])
    """

    _parts = {"moments": True, "extrema": False}
    _attributes = ("mean_", "var_", "scale_")

    def __init__(self, *, copy=True, with_mean=True, with_std=True):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None, sample_weight=None):
        """Compute the mean and standard deviation of X, forgetting any earlier fit.

        Parameters
        ----------
        X : array-like, pandas or dask DataFrame, or dask array of shape (n_samples, n_features)
            Training data; NaN values are ignored.
        y : None
            Ignored.
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Weights of the rows. With dask X, they are rechunked to X's row blocks.

        Returns
        -------
        self : StandardScaler
        """
        self._reset()
        return self.partial_fit(X, y, sample_weight)

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the mean and standard deviation with the rows of X.

        Parameters
        ----------
        X : array-like, pandas or dask DataFrame, or dask array of shape (n_samples, n_features)
            More training data; NaN values are ignored.
        y : None
            Ignored.
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        self : StandardScaler
        """
        return self._partial_fit(X, sample_weight)

    def _weighs_rows(self):
        # With nothing to estimate, scikit-learn counts rows whatever their weights.
        return self.with_mean or self.with_std

    def _fitted_attributes(self, record, dtype, weighted):
        if self.with_mean or self.with_std:
            count_dtype = np.float64
        else:
            count_dtype = dtype if weighted else np.int64
        return scaler_attributes.standard_attributes(
            record, with_mean=self.with_mean, with_std=self.with_std, count_dtype=count_dtype
        )

    def _steps(self, dtype, *, inverse):
        steps = []
        if self.with_mean:
            steps.append((np.add if inverse else np.subtract, self.mean_.astype(dtype)))
        if self.with_std:
            steps.append((np.multiply if inverse else np.divide, self.scale_.astype(dtype)))
        return (steps[::-1] if inverse else steps), None

    def transform(self, X, copy=None):
        """Center and scale X.

        Parameters
        ----------
        X : array-like, pandas or dask DataFrame, or dask array of shape (n_samples, n_features)
            Data to scale.
        copy : bool, default=None
            Overrides ``self.copy`` for this call (NumPy input only).

        Returns
        -------
        X_tr : ndarray or dask array of shape (n_samples, n_features)
            A lazy dask array for dask input. Float32 input stays float32, other non-float input
            becomes float64.
        """
        return self._map(X, copy=self.copy if copy is None else copy, inverse=False)

    def inverse_transform(self, X, copy=None):
        """Scale X back to the original representation.

        Parameters
        ----------
        X : array-like or dask array of shape (n_samples, n_features)
            Scaled data.
        copy : bool, default=None
            Overrides ``self.copy`` for this call (NumPy input only).

        Returns
        -------
        X_original : ndarray or dask array of shape (n_samples, n_features)
            A lazy dask array for dask input.
        """
        return self._map(X, copy=self.copy if copy is None else copy, inverse=True)


class MinMaxScaler(_BaseScaler):
    """Scale each feature to ``feature_range`` using its minimum and maximum, out of core.

    Same parameters, attributes and results as :class:`sklearn.preprocessing.MinMaxScaler` on
    NumPy and pandas input. On dask input ``fit`` is one parallel pass and ``transform`` is lazy
    (see the module docstring). NaN is ignored in fit and kept in transform.

    Parameters
    ----------
    feature_range : tuple (min, max), default=(0, 1)
        Desired range of the transformed data.
    copy : bool, default=True
        If False, ``transform`` on a float NumPy array scales it in place, as scikit-learn does.
        Dask blocks are never modified.
    clip : bool, default=False
        Clip transformed values of held-out data to ``feature_range``.

    Attributes
    ----------
    min_ : ndarray of shape (n_features,)
        Per-feature offset, ``min - data_min_ * scale_``.
    scale_ : ndarray of shape (n_features,)
        Per-feature factor, ``(max - min) / data_range_`` (``max - min`` for constant features).
    data_min_, data_max_, data_range_ : ndarray of shape (n_features,)
        Per-feature minimum, maximum and their difference, in the dtype of the fitted data.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a (pandas or dask) DataFrame seen during fit, when all are strings.
    n_samples_seen_ : int
        Number of rows seen.

    See Also
    --------
    StandardScaler, MaxAbsScaler

    Examples
    --------
    >>> import dask.array as da
    >>> from outofcore import MinMaxScaler
    >>> X = da.from_array([[-1.0, 2.0], [-0.5, 6.0], [0.0, 10.0], [1.0, 18.0]], chunks=(3, 2))
    >>> scaler = MinMaxScaler().fit(X)
    >>> scaler.data_max_
    array([ 1., 18.])
    >>> scaler.transform(X).compute()[1]
    array([0.25, 0.25])
    """

    _parts = {"moments": False, "extrema": True}
    _attributes = ("scale_", "min_", "data_min_", "data_max_", "data_range_")

    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False):
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip

    def _check_params(self):
        try:
            low, high = self.feature_range
            ordered = float(low) < float(high)
        except (TypeError, ValueError):
            ordered = False
        if not ordered:
            raise ValueError(
                "feature_range must be a pair (min, max) with min smaller than max, got "
                f"{self.feature_range!r}."
            )

    def _fitted_attributes(self, record, dtype, weighted):
        return scaler_attributes.minmax_attributes(record, feature_range=self.feature_range,
                                                   dtype=dtype)

    def _steps(self, dtype, *, inverse):
        if inverse:
            return [(np.subtract, self.min_), (np.divide, self.scale_)], None
        clip = self._clip_bounds(self.feature_range, dtype)
        return [(np.multiply, self.scale_), (np.add, self.min_)], clip


class MaxAbsScaler(_BaseScaler):
    """Scale each feature by its maximum absolute value, out of core.

    Same parameters, attributes and results as :class:`sklearn.preprocessing.MaxAbsScaler` on
    dense NumPy and pandas input. On dask input ``fit`` is one parallel pass and ``transform`` is
    lazy (see the module docstring). NaN is ignored in fit and kept in transform.

    Parameters
    ----------
    copy : bool, default=True
        If False, ``transform`` on a float NumPy array scales it in place, as scikit-learn does.
        Dask blocks are never modified.
    clip : bool, default=False
        Clip transformed values of held-out data to [-1, 1] (scikit-learn 1.9 added it).

    Attributes
    ----------
    scale_ : ndarray of shape (n_features,)
        Per-feature divisor: ``max_abs_``, with 1 for all-zero features.
    max_abs_ : ndarray of shape (n_features,)
        Per-feature maximum absolute value, in the dtype of the fitted data.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a (pandas or dask) DataFrame seen during fit, when all are strings.
    n_samples_seen_ : int
        Number of rows seen.

    See Also
    --------
    StandardScaler, MinMaxScaler

    Examples
    --------
    >>> import dask.array as da
    >>> from outofcore import MaxAbsScaler
    >>> X = da.from_array([[1.0, -1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 1.0, -1.0]], chunks=(2, 3))
    >>> MaxAbsScaler().fit(X).transform(X).compute()[2]
    array([ 0. ,  1. , -0.5])
    """

    _parts = {"moments": False, "extrema": True}
    _attributes = ("scale_", "max_abs_")

    def __init__(self, *, copy=True, clip=False):
        self.copy = copy
        self.clip = clip

    def _fitted_attributes(self, record, dtype, weighted):
        return scaler_attributes.maxabs_attributes(record, dtype=dtype)

    def _steps(self, dtype, *, inverse):
        if inverse:
            return [(np.multiply, self.scale_)], None
        return [(np.divide, self.scale_)], self._clip_bounds((-1.0, 1.0), dtype)
