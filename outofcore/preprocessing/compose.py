"""``ColumnTransformer``: each group of columns through its own steps, fitted in shared passes.

Every branch of a ColumnTransformer (a step, or a Pipeline of steps, over some columns) is a chain
of blockwise steps (:mod:`outofcore.preprocessing.base`). Fitting proceeds in passes: in each
pass, every branch's next unfitted step summarises its input (the branch's columns, through the
steps fitted before it) and all of these summaries are computed in ONE reduction over the data,
so each block is read once per pass. A branch ``SimpleImputer -> StandardScaler`` beside a
``OneHotEncoder`` takes two passes: the imputer's and the encoder's statistics, then the
scaler's on imputed values. ``transform`` is one task per block that runs every branch and
stacks their outputs (dense, or scipy.sparse by scikit-learn's ``sparse_threshold`` rule).

Stateless scikit-learn steps (``FunctionTransformer``) may sit in a branch; a scikit-learn step
that learns from its data cannot be fitted out of core and is refused with the outofcore
counterpart to use.
"""

import numpy as np
import pyarrow as pa
from sklearn.base import TransformerMixin, clone
from sklearn.utils import Bunch, get_tags
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted, validate_data

from outofcore.io.inputs import as_table, is_dask_collection
from outofcore.preprocessing.base import as_arrow, forget_fit
from outofcore.preprocessing.branches import (
    Branch,
    Pass,
    first_block,
    is_blockwise,
    job_for,
    numbers_dtype,
    stack,
)
from outofcore.runtime.scheduler import compute


class ColumnTransformer(TransformerMixin, _BaseComposition):
    """Apply steps to groups of columns of a table out of core, and stack their outputs.

    scikit-learn's :class:`~sklearn.compose.ColumnTransformer`, for Tables and dask DataFrames
    (and pandas and NumPy in memory): the same parameters, fitted attributes and outputs. Each
    branch is an outofcore step (``ooc.OneHotEncoder``, ``ooc.SimpleImputer``, the scalers,
    ...), a Pipeline of them, a stateless scikit-learn step, ``"passthrough"`` or ``"drop"``.
    All branches are fitted in shared passes over the data (one reduction per pass: the longest
    Pipeline's length); ``transform`` is lazy, one task per block.

    Parameters
    ----------
    transformers : list of (name, transformer, columns) tuples
        ``columns``: a name, a list of names, integer positions, a boolean mask, a slice, or a
        callable such as :func:`sklearn.compose.make_column_selector` (given an empty frame with
        the input's column types).
    remainder : {"drop", "passthrough"} or transformer, default="drop"
        What happens to the columns no transformer names.
    sparse_threshold : float, default=0.3
        The output is a sparse matrix (scipy.sparse blocks on dask) when a branch outputs one
        and the overall density on the fitted data is below this. Densities come from the
        steps' fitted counts, with no extra pass.
    n_jobs : None
        Accepted for compatibility: dask runs the blocks in parallel.
    transformer_weights : dict, default=None
        Multiplies each named branch's output.
    verbose : bool, default=False
        Accepted for compatibility.
    verbose_feature_names_out : bool, default=True
        Prefix output names with the branch name, as scikit-learn does.

    Attributes
    ----------
    transformers_ : list of (name, fitted transformer, columns)
        Columns as resolved names; the remainder, when it has columns, last.
    named_transformers_ : Bunch
    sparse_output_ : bool
    output_indices_ : dict of name to slice
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Examples
    --------
    >>> import pandas as pd
    >>> import outofcore as ooc
    >>> X = pd.DataFrame({"city": ["Oslo", "Lima", "Oslo"], "km": [1.0, None, 3.0]})
    >>> ct = ooc.make_column_transformer(
    ...     (ooc.OneHotEncoder(sparse_output=False), ["city"]),
    ...     (ooc.SimpleImputer(), ["km"]))
    >>> ct.fit_transform(X)
    array([[0., 1., 1.],
           [1., 0., 2.],
           [0., 1., 3.]])
    """

    def __init__(self, transformers, *, remainder="drop", sparse_threshold=0.3, n_jobs=None,
                 transformer_weights=None, verbose=False, verbose_feature_names_out=True):
        self.transformers = transformers
        self.remainder = remainder
        self.sparse_threshold = sparse_threshold
        self.n_jobs = n_jobs
        self.transformer_weights = transformer_weights
        self.verbose = verbose
        self.verbose_feature_names_out = verbose_feature_names_out

    # ----------------------------------------------------------------- parameters (nested)
    # Nested parameters (``"onehot__min_frequency"``) and replacing a transformer by its name are
    # scikit-learn's own composition rules, over (name, transformer) pairs as its ColumnTransformer
    # keeps them.
    @property
    def _transformers(self):
        try:
            return [(name, trans) for name, trans, _ in self.transformers]
        except (TypeError, ValueError):  # not a list of triples: fit will say so
            return self.transformers

    @_transformers.setter
    def _transformers(self, value):
        self.transformers = [(name, trans, columns) for (name, trans), (_, _, columns)
                             in zip(value, self.transformers, strict=True)]

    def get_params(self, deep=True):
        """Parameters, with each transformer's under its name (``"onehot__min_frequency"``)."""
        return self._get_params("_transformers", deep=deep)

    def set_params(self, **params):
        """Set parameters, replacing a transformer by its name or setting its own parameters."""
        return self._set_params("_transformers", **params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.two_d_array = True
        return tags

    # ---------------------------------------------------------------------------- fitting
    def _check(self):
        names = [t[0] for t in self.transformers]
        if len(set(names)) != len(names) or "remainder" in names or any("__" in n for n in names):
            raise ValueError(f"transformer names {names} must be unique, not 'remainder', and "
                             f"without '__'")
        for name, trans, _ in self.transformers:
            if not (isinstance(trans, str) and trans in ("drop", "passthrough")
                    or hasattr(trans, "fit")):
                raise TypeError(f"transformer {name!r} is {trans!r}: give an estimator with fit "
                                f"and transform, 'passthrough' or 'drop'")
        if not (isinstance(self.remainder, str) and self.remainder in ("drop", "passthrough")
                or hasattr(self.remainder, "fit")):
            raise ValueError(f"remainder={self.remainder!r} must be 'drop', 'passthrough' or an "
                             f"estimator")
        if not 0 <= self.sparse_threshold <= 1:
            raise ValueError(f"sparse_threshold={self.sparse_threshold!r} must be in [0, 1]")

    def _input(self, X, *, reset):
        """``(in-memory arrow block, None, float dtype)`` or ``(None, Table, float dtype)``."""
        if is_dask_collection(X):
            table = as_table(X)
            validate_data(self, table.meta, reset=reset, skip_check_array=True)
            return None, table, table.float_dtype
        if not hasattr(X, "iloc"):
            X = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        else:
            validate_data(self, X, reset=reset, skip_check_array=True)
        block = as_arrow(X)
        return block, None, numbers_dtype(block.schema, np.float64)

    def _resolve(self, spec, names, meta):
        """A column spec as a list of names."""
        if callable(spec):
            spec = spec(meta)
        if isinstance(spec, str):
            spec = [spec]
        if isinstance(spec, slice):
            if isinstance(spec.start, str) or isinstance(spec.stop, str):
                start = None if spec.start is None else names.index(spec.start)
                stop = None if spec.stop is None else names.index(spec.stop) + 1
                return names[start:stop]
            return names[spec]
        spec = list(np.asarray(spec).tolist()) if not isinstance(spec, list) else spec
        if spec and all(isinstance(c, bool) for c in spec):
            return [n for n, keep in zip(names, spec, strict=True) if keep]
        if spec and all(isinstance(c, int) for c in spec):
            bad = [c for c in spec if not -len(names) <= c < len(names)]
            if bad:
                raise ValueError(f"column positions {bad} are out of range for an input of "
                                 f"{len(names)} feature(s)")
            return [names[c] for c in spec]
        missing = [c for c in spec if c not in names]
        if missing:
            raise ValueError(f"columns {missing} are not in the input; its columns: {names}")
        return list(spec)

    def _branches(self, names, meta):
        """The branches to fit, and the dropped column groups ``[(name, columns)]``."""
        weights = self.transformer_weights or {}
        branches, dropped, used = [], [], set()
        for name, trans, spec in self.transformers:
            columns = self._resolve(spec, names, meta)
            used.update(columns)
            if isinstance(trans, str) and trans == "drop":
                dropped.append((name, columns))
            elif columns:
                branches.append(Branch(name, trans, columns, weights.get(name)))
        rest = [n for n in names if n not in used]
        if rest and isinstance(self.remainder, str) and self.remainder == "drop":
            dropped.append(("remainder", rest))
        elif rest:
            branches.append(Branch("remainder", self.remainder, rest, weights.get("remainder")))
        return branches, dropped

    def fit(self, X, y=None):
        """Fit every branch in shared passes over X (see the module notes).

        Parameters
        ----------
        X : Table, dask DataFrame, pandas DataFrame or array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self
        """
        forget_fit(self)
        self._check()
        block, table, float_dtype = self._input(X, reset=True)
        names = table.columns if table is not None else block.schema.names
        meta = table.meta if table is not None else block.slice(0, 0).to_pandas()
        branches, dropped = self._branches(names, meta)
        rows = sum(table.rows) if table is not None else block.num_rows
        while True:
            due = [b for b in branches
                   if self._fit_stateless(b, block, table, float_dtype, meta)]
            if not due:
                break
            self._fit_pass(due, block, table, float_dtype, meta)
        self._finish(branches, dropped, rows, float_dtype)
        return self

    def _fit_stateless(self, branch, block, table, float_dtype, meta):
        """Fit the branch's stateless steps up to its next blockwise one; True if it has one."""
        while branch.fitted < len(branch.steps):
            step = branch.steps[branch.fitted]
            if step is None:
                branch.fitted += 1
                continue
            if is_blockwise(step) and getattr(step, "_learns", True):
                return True
            if is_blockwise(step):  # nothing to learn: fitted on its input's names and types
                stand = self._stand_in(branch, meta)
                step._fit_begin(stand)
                empty = as_arrow(stand) if hasattr(stand, "iloc") else stand
                step._fit_finalize(step._fit_combine([step._fit_chunk(empty, str)]))
                branch.fitted += 1
                branch.widths.append(step._output_spec()[1])
                continue
            if get_tags(step).requires_fit and type(step).__name__ != "FunctionTransformer":
                raise TypeError(
                    f"{type(step).__name__} in transformer {branch.name!r} learns from all its "
                    f"rows at once and cannot be fitted out of core; use outofcore's "
                    f"counterpart (ooc.SimpleImputer, ooc.OneHotEncoder, ooc.OrdinalEncoder, "
                    f"ooc.StandardScaler, ...) or fit it in memory"
                )
            sample = block if block is not None else first_block(table)
            x = branch.run(sample, str, branch.fitted, float_dtype)
            step.fit(x.to_pandas() if isinstance(x, pa.Table) else x)
            branch.fitted += 1
        return False

    def _fit_pass(self, due, block, table, float_dtype, meta):
        """One reduction over the data fits the next blockwise step of every branch in ``due``
        (two steps of a branch when they fuse: an imputer and its scaler)."""
        jobs = [job_for(branch) for branch in due]
        for branch, job in zip(due, jobs, strict=True):
            job.begin(self._stand_in(branch, meta))
        pass_ = Pass(due, jobs, float_dtype)
        if table is None:
            records = pass_.chunk(block, str)
        else:
            (records,) = compute(table.reduce(pass_.chunk, pass_.combine))
        for branch, job, record in zip(due, jobs, records, strict=True):
            branch.widths += job.finalize(record)
            branch.fitted += job.steps

    @staticmethod
    def _stand_in(branch, meta):
        """What the branch's next step validates its input against: the branch's columns (with
        their types) for its first step, an array of the width before it otherwise."""
        if all(s is None for s in branch.steps[:branch.fitted]):
            return meta[branch.columns]
        return np.empty((0, branch.widths[-1]))

    def _finish(self, branches, dropped, rows, float_dtype):
        """Fitted attributes: transformers_, the output layout, sparse_output_."""
        fitted, indices, start, nnz, sparse, dtypes = [], {}, 0, 0, False, []
        for b in branches:
            trans = b.transformer
            if hasattr(trans, "steps"):
                trans = clone(trans)
                trans.steps = list(zip(b.names, [s if s is not None else "passthrough"
                                                 for s in b.steps], strict=True))
            elif not isinstance(trans, str):
                trans = b.steps[0]
            fitted.append((b.name, trans, b.columns))
            dtype, width, is_sparse = self._spec(b, float_dtype)
            dtypes.append(dtype)
            indices[b.name] = slice(start, start + width)
            start += width
            last = b.steps[-1] if b.steps else None
            counted = getattr(last, "_fit_nnz", None) if is_sparse else None
            nnz += counted() if counted is not None else rows * width
            sparse |= is_sparse
        by_name = {t[0]: t for t in fitted + [(n, "drop", c) for n, c in dropped]}
        order = [name for name, _, _ in self.transformers] + ["remainder"]
        fitted = [by_name[name] for name in order if name in by_name]
        for name, _, _ in self.transformers:
            indices.setdefault(name, slice(0, 0))
        indices.setdefault("remainder", slice(0, 0))
        self.transformers_ = fitted
        self.output_indices_ = indices
        # What transform runs per block: plain tuples of fitted steps (saved models hold them).
        self._layout_ = [(b.name, b.columns, b.steps, b.weight) for b in branches]
        self._width, self._float_dtype = start, np.dtype(float_dtype)
        self._dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
        density = nnz / (rows * start) if rows and start else 1.0
        self.sparse_output_ = bool(sparse and density < self.sparse_threshold)

    def _spec(self, branch, float_dtype):
        """(dtype, width, sparse) of a fitted branch's output."""
        last = next((s for s in reversed(branch.steps) if s is not None), None)
        if last is None:
            return np.dtype(float_dtype), len(branch.columns), False
        if is_blockwise(last):
            return last._output_spec()
        out = getattr(last, "get_feature_names_out", None)
        width = len(out()) if out is not None else len(branch.columns)
        return np.dtype(np.float64), width, False

    @property
    def named_transformers_(self):
        """The fitted transformers by name."""
        check_is_fitted(self)
        return Bunch(**{name: trans for name, trans, _ in self.transformers_})

    # ------------------------------------------------------------------------- transform
    def transform(self, X):
        """Every branch's output for X, stacked: a lazy dask array (with scipy.sparse blocks
        when ``sparse_output_``) for a Table or dask input, else an array or sparse matrix.

        Parameters
        ----------
        X : Table, dask DataFrame, pandas DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray, scipy.sparse matrix or dask.array.Array of shape (n_samples, n_output)
        """
        check_is_fitted(self)
        block, table, _ = self._input(X, reset=False)
        if table is None:
            return stack(block, str, self)
        meta = None
        if self.sparse_output_:
            import scipy.sparse as sp

            meta = sp.csr_matrix((0, self._width), dtype=self._dtype)
        return table.map_blocks(stack, self, dtype=self._dtype, width=self._width, meta=meta)

    def fit_transform(self, X, y=None, **params):
        """Fit, then transform X (lazily for Table or dask input)."""
        return self.fit(X, y).transform(X)

    def get_feature_names_out(self, input_features=None):
        """Output feature names, ``{branch}__{feature}`` unless ``verbose_feature_names_out``
        is False."""
        check_is_fitted(self)
        out = []
        for name, columns, steps, _ in self._layout_:
            features = np.asarray(columns, dtype=object)
            for step in steps:
                if step is not None:
                    features = step.get_feature_names_out(features)
            prefix = f"{name}__" if self.verbose_feature_names_out else ""
            out += [f"{prefix}{f}" for f in features]
        if not self.verbose_feature_names_out and len(set(out)) != len(out):
            raise ValueError(f"Output feature names {out} are not unique; set "
                             f"verbose_feature_names_out=True")
        return np.asarray(out, dtype=object)


def make_column_transformer(*transformers, remainder="drop", sparse_threshold=0.3, n_jobs=None,
                            verbose=False, verbose_feature_names_out=True):
    """A :class:`ColumnTransformer` from ``(transformer, columns)`` pairs, named after their
    classes as :func:`sklearn.compose.make_column_transformer` names them.

    Examples
    --------
    >>> import outofcore as ooc
    >>> ooc.make_column_transformer((ooc.StandardScaler(), ["a"]), ("passthrough", ["b"]))
    ColumnTransformer(transformers=[('standardscaler', StandardScaler(), ['a']),
                                    ('passthrough', 'passthrough', ['b'])])
    """
    names = [t if isinstance(t, str) else type(t).__name__.lower() for t, _ in transformers]
    counts = {n: names.count(n) for n in names}
    seen = {}
    for i, name in enumerate(names):
        if counts[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            names[i] = f"{name}-{seen[name]}"
    return ColumnTransformer([(n, t, c) for n, (t, c) in zip(names, transformers, strict=True)],
                             remainder=remainder, sparse_threshold=sparse_threshold, n_jobs=n_jobs,
                             verbose=verbose, verbose_feature_names_out=verbose_feature_names_out)
