"""The input table to the 2-D array the tensor program reads, and the values it must not hold.

Input is a NumPy array, a pandas DataFrame (numeric, object, ``str``/string and ``category``
columns; None, NaN or ``pd.NA`` missing), a pyarrow Table/RecordBatch or a torch tensor, matched by
column name where the model was fitted on names. An encoded column is mapped to codes by one
vectorised lookup (``pyarrow.compute.index_in`` for arrow, ``pandas.Index.get_indexer`` else).

NaN and infinity are refused where scikit-learn refuses them, as the first step reading a column
says (``Node.attrs["accepts"]``): scalers pass NaN on but refuse infinity; SimpleImputer and
classic trees accept NaN (trees refuse values past float32's range, which their cast makes
infinite); HistGradientBoosting accepts anything; other steps want finite values.
"""

import contextlib
import functools
import warnings

import numpy as np
import torch


def _is_arrow(column):
    return type(column).__module__.startswith("pyarrow")


def _values(column):
    if _is_arrow(column):
        return column.to_numpy(zero_copy_only=False)
    return column.to_numpy() if hasattr(column, "to_numpy") else np.asarray(column)


class Lookup:
    """One input column's categories to numbers (a lookup spec of ``_convert_encoders``). Positions
    in the code table: the keys, then NaN (and ``pd.NA``), None, arrow's null, unknown."""
    FEW_ROWS = 64  # rows looked up in the dict: a vectorised lookup costs tens of microseconds to set up

    def __init__(self, spec, dtype):
        import pandas as pd

        self.spec, self.n = spec, len(spec["keys"])
        self.index = pd.Index(spec["keys"], dtype=object if any(isinstance(k, str) for k in spec["keys"])
                              else None)
        extra = [spec["unknown"] if spec[k] == "unknown" else spec[k] for k in ("nan", "none", "null", "unknown")]
        values = [np.nan if v is None or v == "error" else v for v in spec["codes"] + extra]
        self.table = np.asarray(values, dtype=dtype)
        self.arrow_keys, self.positions = None, {key: i for i, key in enumerate(spec["keys"])}

    def _positions(self, column):
        import pandas as pd

        n, null = self.n, self.n + 2
        dtype = None if _is_arrow(column) else getattr(column, "dtype", None)
        if isinstance(dtype, pd.CategoricalDtype):
            # Each category looked up once; a missing value (code -1) is pandas' NaN.
            pos = np.append(self._positions(column.categories.array), n)
            return pos[column.codes]
        pandas_arrow = isinstance(dtype, pd.ArrowDtype) or getattr(dtype, "storage", None) == "pyarrow"
        if pandas_arrow or _is_arrow(column):
            import pyarrow as pa
            import pyarrow.compute as pc

            if pandas_arrow:
                column, null = pa.array(column), n  # no copy; its nulls are pandas' NaN or NA
            try:
                if len(column) <= self.FEW_ROWS:
                    pos = self._few(column.to_pylist())
                else:
                    self.arrow_keys = pa.array(self.spec["keys"]) if self.arrow_keys is None else self.arrow_keys
                    found = pc.fill_null(pc.index_in(column, value_set=self.arrow_keys), -1)
                    pos = np.array(found.to_numpy(zero_copy_only=False), np.int64)
                pos[np.asarray(pc.is_null(column, nan_is_null=True).to_numpy(zero_copy_only=False))] = null
                return pos
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
                column = column.to_pandas().array  # keys and column of different types: pandas compares
        values = _values(column)  # objects as an Index of objects: a bare array is first inferred (10x the lookup)
        if values.dtype == bool and self.index.dtype.kind in "iuf":
            values = values.astype(np.int8)  # True is 1 to scikit-learn, at any row count
        pos = self._few(values) if len(values) <= self.FEW_ROWS else self.index.get_indexer(
            pd.Index(values, dtype=object if values.dtype == object else None))
        # Missing values are among the rows not found: only those are looked at again.
        unfound = np.flatnonzero(pos < 0)
        if len(unfound):
            values = values[unfound]
            missing = np.asarray(pd.isna(values), bool)
            pos[unfound[missing]] = np.where(np.equal(values[missing], None), n + 1, n)
        return pos

    def _few(self, values):
        """Positions by the dict (-1: not a key): Python's equality, as scikit-learn's encoders match."""
        return np.array([self.positions.get(v, -1) for v in values], np.int64)

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
    """``(n_rows, column getter)`` for a DataFrame (its columns as arrays), an arrow table, or a 2-D array."""
    names = getattr(model, "feature_names_in_", None)
    arrow = hasattr(X, "column_names") and hasattr(X, "num_rows")  # pyarrow Table or RecordBatch
    if arrow or (hasattr(X, "columns") and hasattr(X, "iloc")):  # or a pandas DataFrame
        # pandas' own getter: a Series or an Index lookup costs tens of microseconds, most of a small call.
        get = X.column if arrow else getattr(X, "_get_column_array", None) or (lambda i: X.iloc[:, i].array)
        n, columns = (X.num_rows, X.column_names) if arrow else (len(X), X.columns.tolist())
        if names is not None:
            where = _require(model, list(names), columns)
            return n, lambda i: get(where[i])
        _width(model, (n, len(columns)))
        return n, get
    X = np.asarray(X)
    _width(model, X.shape)
    return X.shape[0], lambda i: X[:, i]


def _require(model, names, columns):
    """The position of each of ``names`` in ``columns``; ValueError naming those missing or repeated."""
    where = {c: i for i, c in enumerate(columns)}
    missing = [c for c in names if c not in where]
    if missing:
        raise ValueError(f"columns {missing} are missing from the input; this compiled "
                         f"{model.graph.source} was fitted on {names}")
    twice = [] if len(where) == len(columns) else [c for c in names if list(columns).count(c) > 1]
    if twice:
        raise ValueError(f"columns {twice} appear more than once in the input; this compiled "
                         f"{model.graph.source} reads each by its name: rename or drop the copies")
    return [where[c] for c in names]


def _width(model, shape):
    if len(shape) != 2 or shape[1] != model.n_features_in_:
        raise ValueError(
            f"X has shape {tuple(shape)}, but this compiled {model.graph.source} expects 2-D input "
            f"with {model.n_features_in_} features; reshape a single row with X.reshape(1, -1)")


def _numbers(column, dtype, name):
    if isinstance(column, np.ndarray) and column.dtype.kind in "fiub":
        return column  # cast as it is copied
    if hasattr(column, "to_numpy") and not _is_arrow(column):
        with contextlib.suppress(TypeError, ValueError):
            return column.to_numpy(dtype=dtype, na_value=np.nan)
    column = _values(column)
    try:
        return np.asarray(column, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"column {name!r} holds values that are not numbers ({exc}); this model "
                         "reads it as numbers: encode it (OneHotEncoder, OrdinalEncoder) in the "
                         "pipeline, or cast it") from None


@np.errstate(over="ignore")  # a value past float32's range becomes infinite: refused by name later
def to_array(model, X):
    """``X`` as the 2-D array of the columns the tensor program reads (a tensor for torch input).
    Numbers keep float64 where the model compares in float64 (HistGradientBoosting), else they
    are converted to the model's dtype."""
    dtype = model._np_dtype
    if isinstance(X, torch.Tensor):
        if model.graph.inputs is not None:
            raise TypeError("this compiled model encodes categories or reads timestamps; pass a "
                            "DataFrame, arrow table or NumPy array, not a tensor")
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
    specs = model.graph.inputs or [{"source": i} for i in range(model.n_features_in_)]
    out = np.empty((n, len(specs)), dtype)
    numeric = [j for j, spec in enumerate(specs) if len(spec) == 1]  # {"source": i} alone
    block = np.empty((len(numeric), n), dtype)  # a row per column (contiguous copies), then runs of columns
    for k, j in enumerate(numeric):
        block[k] = _numbers(column(specs[j]["source"]), dtype, names[specs[j]["source"]])
    for start, stop in _runs(numeric):  # slices: a column list copies 8x slower
        out[:, numeric[start]:numeric[stop - 1] + 1] = block[start:stop].T
    stamps = {}
    for j, spec in enumerate(specs):
        if "lookup" in spec:
            out[:, j] = model._lookups[j](column(spec["source"]))
        elif "time" in spec:
            from outofcore.preprocessing import timefields

            i, unit = spec["source"], spec["time"]["unit"]
            if (i, unit) not in stamps:
                stamps[i, unit] = timefields.timestamps(names[i], column(i), unit)
            out[:, j] = timefields.field(stamps[i, unit], spec["time"]["feature"])
    return out


def _runs(positions):
    """``(start, stop)`` index ranges of ``positions`` over which they go up by one."""
    cuts = [k for k in range(len(positions)) if k == 0 or positions[k] != positions[k - 1] + 1]
    return list(zip(cuts, cuts[1:] + [len(positions)]))


def as_slice(columns):
    """``columns`` as a slice where they are consecutive (indexing by it is a view), else as they are."""
    return slice(columns[0], columns[-1] + 1) if len(_runs(columns)) == 1 else columns


def _rule(node):
    """``(NaN allowed, range)`` for a node's inputs, or a marker. The range is ``"finite"``,
    ``"float32"`` (finite once cast to float32) or None (anything)."""
    accepts = node.attrs.get("accepts", "finite")
    if accepts in ("passthrough", "codes"):
        return accepts
    limit = "float32" if node.op == "trees" and node.attrs.get("compare") == "float32" else "finite"
    return {"finite": (False, limit), "nan": (True, limit), "any": (True, None)}[accepts]


@functools.lru_cache(maxsize=None)
def _bound(limit, dtype):
    """The largest magnitude ``limit`` allows, as a value of ``dtype`` (no overflow in casts)."""
    top = float(np.finfo(dtype).max)
    return min(top, float(np.finfo(np.float32).max)) if limit == "float32" else top


def input_policy(graph):
    """Groups ``(columns or None for all, NaN allowed, limit)`` of the tensor columns to check."""
    n = len(graph.inputs) if graph.inputs is not None else graph.n_features_in
    nan, limit = {}, {}

    def run(nodes, frame):
        # frame[j]: the tensor columns whose values reach column j unchanged (NaN included).
        for node in nodes:
            if node.op == "chain":
                frame = run(node.children, frame)
                continue
            if node.op == "columns":
                parts = [run(b.children, frame if b.attrs["columns"] is None else
                             [frame[i] for i in b.attrs["columns"]]) for b in node.children]
                frame = [c for p in parts for c in p] if node.attrs.get("mode") != "sum" else [
                    set().union(*cs) for cs in zip(*parts)]
                continue
            rule = _rule(node)
            for i in set().union(*frame):
                if rule == "passthrough":
                    limit.setdefault(i, "finite")
                elif rule != "codes":
                    nan.setdefault(i, rule[0])
                    limit.setdefault(i, rule[1])
            if rule != "passthrough":
                frame = [set() for _ in range(node.width(len(frame)))]
        return frame

    run(graph.steps + ([graph.head] if graph.head is not None else []), [{i} for i in range(n)])
    lookups = {i for i, spec in enumerate(graph.inputs or []) if "lookup" in spec}
    groups = {}
    for i in range(n):
        rule = (nan.get(i, True), limit.get(i))
        if i not in lookups and rule != (True, None):
            groups.setdefault(rule, []).append(i)
    return [(None if cols == list(range(n)) else cols, allow, lim) for (allow, lim), cols in groups.items()]


def check(x, policy, model):
    """Raise ValueError naming the first refused value of ``x`` (an array or a tensor)."""
    for columns, allow_nan, limit in policy:
        part = x if columns is None else x[:, as_slice(columns)]
        if not part.shape[0]:
            continue
        numpy = isinstance(part, np.ndarray)
        if numpy and (limit == "finite" or part.dtype.itemsize <= 4) and finite(part):
            continue  # finite values (NaN and infinity make a sum NaN or infinite); float32 ones fit float32
        if numpy and part.size <= 1 << 16:  # a few rows: NumPy's reductions cost least
            lo, hi, dtype = part.min(), part.max(), part.dtype
        else:
            t = part if isinstance(part, torch.Tensor) else torch.from_numpy(part)
            if allow_nan and limit == "finite":  # NaN would make a minimum NaN: look for inf
                if not bool(torch.isinf(t).any()):
                    continue
                lo = hi = float("inf")
            else:
                lo, hi = (v.item() for v in torch.aminmax(t))
            dtype = t.cpu()[:0].numpy().dtype
        bound = _bound(limit, dtype)
        if lo >= -bound and hi <= bound:  # False for NaN: then the slow look below
            continue
        a = part.cpu().numpy() if isinstance(part, torch.Tensor) else np.asarray(part)
        bound = a.dtype.type(bound)
        bad = np.abs(a) > bound if allow_nan else ~(np.abs(a) <= bound)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            _raise(model, a[row, col], row, col if columns is None else columns[col])


def finite(a):
    """Whether every value of ``a`` is finite: a sum is NaN or infinite otherwise (or when it
    overflows, which only sends the caller to a closer look)."""
    # NumPy's ufunc itself: ndarray.sum wraps it in Python, which costs more than one row's check.
    total = float(np.add.reduce(a, axis=None) if isinstance(a, np.ndarray) else a.sum())
    return total - total == 0


def _raise(model, value, row, column):
    graph = model.graph
    source = int(column if graph.inputs is None else graph.inputs[column]["source"])
    name = graph.feature_names_in[source] if graph.feature_names_in else source
    if value != value:
        what, advice = "NaN", ("impute or drop such values first (SimpleImputer), or use a model "
                               "that accepts NaN (HistGradientBoosting, trees)")
    else:
        what = "infinity" if np.isinf(value) else f"{float(value)!r}, too large for float32"
        advice = "clip, replace or drop such values first"
    error = ValueError(
        f"Input X contains {what} in column {name!r} (row {row} of this batch), which this "
        f"compiled {graph.source} does not accept, as scikit-learn does not: {advice}")
    error.row = int(row)  # a caller that knows where the batch came from names the row there
    raise error
