"""The input table to the 2-D array the tensor program reads: numbers, and categories as codes.

Input arrives as a NumPy array, a pandas DataFrame (numeric, object, ``str``/string and
``category`` columns, with None, NaN or ``pd.NA`` for missing values), a ``pyarrow.Table`` /
``RecordBatch``, or a torch tensor. Columns are matched by name when the model was fitted on
named columns. Each categorical column is mapped to codes by one vectorised lookup
(``pyarrow.compute.index_in`` for arrow columns, ``pandas.Index.get_indexer`` otherwise); every
missing value (None, NaN, ``pd.NA``) is the missing category.
"""

import warnings

import numpy as np
import torch


def _is_arrow(column):
    return type(column).__module__.startswith("pyarrow")


def _values(column):
    """A column as a NumPy array (arrow and pandas columns converted)."""
    if _is_arrow(column):
        return column.to_numpy(zero_copy_only=False)
    return column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)


class Lookup:
    """One input column's categories to numbers (a lookup spec of ``_convert_encoders``).

    Positions in the code table: the keys, then NaN (and ``pd.NA``), None, arrow's null, unknown.
    """

    def __init__(self, spec, dtype):
        import pandas as pd

        self.spec, self.n = spec, len(spec["keys"])
        self.index = pd.Index(spec["keys"], dtype=object if any(isinstance(k, str) for k in spec["keys"])
                              else None)
        extra = [spec[k] for k in ("nan", "none", "null")] + [spec["unknown"]]
        extra = [spec["unknown"] if v == "unknown" else v for v in extra]
        values = [np.nan if v is None or v == "error" else v for v in spec["codes"] + extra]
        self.table = np.asarray(values, dtype=dtype)
        self.arrow_keys = None

    def _positions(self, column):
        n = self.n
        if _is_arrow(column):
            import pyarrow as pa
            import pyarrow.compute as pc

            try:
                if self.arrow_keys is None:
                    self.arrow_keys = pa.array(self.spec["keys"])
                found = pc.fill_null(pc.index_in(column, value_set=self.arrow_keys), -1)
                pos = np.array(found.to_numpy(zero_copy_only=False), np.int64)
                pos[np.asarray(pc.is_null(column, nan_is_null=True).to_numpy(zero_copy_only=False))] = n + 2
                return pos
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
                column = column.to_pandas()  # keys and column of different types: pandas compares
        import pandas as pd

        pos = self.index.get_indexer(column)
        missing = np.flatnonzero(np.asarray(pd.isna(column), bool))
        if len(missing):
            values = _values(column)[missing]
            pos[missing] = np.where(np.equal(values, None), n + 1, n)  # None, else NaN or pd.NA
        return pos

    def __call__(self, column):
        pos, spec = self._positions(column), self.spec
        unknown = pos < 0
        for k, marker in enumerate(("nan", "none", "null")):
            if spec[marker] == "unknown":  # a missing value the encoder never saw
                unknown |= pos == self.n + k
        pos[unknown] = self.n + 3
        if spec["unknown"] == "error" and unknown.any():
            found = sorted({str(v) for v in _values(column)[unknown][:1000]})[:10]
            raise ValueError(f"Found unknown categories {found} in column {spec['index']} during "
                             f"transform (input column {spec['name']!r}); refit the encoder with "
                             "them, or set handle_unknown to encode unknown categories")
        if spec.get("warn") and unknown.any():
            warnings.warn(spec["warn"], UserWarning, stacklevel=4)
        return self.table[pos]


def _names_and_getter(model, X):
    """``(n_rows, column getter)`` for a DataFrame, an arrow table, or a 2-D array."""
    names = getattr(model, "feature_names_in_", None)
    if hasattr(X, "column_names") and hasattr(X, "num_rows"):  # pyarrow Table or RecordBatch
        if names is not None:
            _require(model, list(names), list(X.column_names))
            return X.num_rows, lambda i: X.column(str(names[i]))
        _width(model, (X.num_rows, X.num_columns))
        return X.num_rows, X.column
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # pandas DataFrame
        if names is not None:
            _require(model, list(names), list(X.columns))
            return len(X), lambda i: X[names[i]]
        _width(model, X.shape)
        return len(X), lambda i: X.iloc[:, i]
    X = np.asarray(X)
    _width(model, X.shape)
    return X.shape[0], lambda i: X[:, i]


def _require(model, names, columns):
    missing = [c for c in names if c not in columns]
    if missing:
        raise ValueError(f"columns {missing} are missing from the input; this compiled "
                         f"{model.graph.source} was fitted on {names}")


def _width(model, shape):
    if len(shape) != 2 or shape[1] != model.n_features_in_:
        raise ValueError(
            f"X has shape {tuple(shape)}, but this compiled {model.graph.source} expects 2-D input "
            f"with {model.n_features_in_} features; reshape a single row with X.reshape(1, -1)")


def _numbers(column, dtype, name):
    if hasattr(column, "to_numpy") and not _is_arrow(column):
        try:
            return column.to_numpy(dtype=dtype, na_value=np.nan)
        except (TypeError, ValueError):
            pass
    column = _values(column)
    try:
        return np.asarray(column, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} holds values that are not numbers ({exc}); this model "
                         "reads it as numbers: encode it (OneHotEncoder, OrdinalEncoder) in the "
                         "pipeline, or cast it") from None


def to_array(model, X):
    """``X`` as the 2-D array of the columns the tensor program reads (a tensor for torch input).

    Numbers keep float64 where the model compares in float64 (HistGradientBoosting), else they
    are converted to the model's dtype.
    """
    dtype = model._np_dtype
    if isinstance(X, torch.Tensor):
        if model.graph.inputs is not None:
            raise TypeError("this compiled model encodes categories; pass a DataFrame, arrow table "
                            "or NumPy array, not a tensor")
        _width(model, tuple(X.shape))
        keep = model._keep_float64 and X.dtype == torch.float64
        return X.detach().to(device=model.device, dtype=X.dtype if keep else model._tdtype)
    if model._keep_float64 and getattr(X, "dtype", None) != np.float32:
        dtype = np.dtype(np.float64)
    if model.graph.inputs is None and type(X) is np.ndarray and X.dtype.kind in "fiub":
        _width(model, X.shape)
        return X if X.dtype == dtype else X.astype(dtype)
    n, column = _names_and_getter(model, X)
    names = model.graph.feature_names_in or [str(i) for i in range(model.n_features_in_)]
    if model.graph.inputs is None:
        if hasattr(X, "columns") and hasattr(X, "iloc"):
            frame = X[list(model.feature_names_in_)] if model.graph.feature_names_in else X
            try:
                return frame.to_numpy(dtype=dtype, na_value=np.nan)
            except (TypeError, ValueError):
                pass  # a column that is not numbers: found and named below
        specs = [{"source": i} for i in range(model.n_features_in_)]
    else:
        specs = model.graph.inputs
    out = np.empty((n, len(specs)), dtype)
    for j, spec in enumerate(specs):
        source = spec["source"]
        if "lookup" in spec:
            out[:, j] = model._lookups[j](column(source))
        else:
            out[:, j] = _numbers(column(source), dtype, names[source])
    return out
