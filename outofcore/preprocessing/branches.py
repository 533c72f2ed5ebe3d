"""A ColumnTransformer's branches: what runs on one block while fitting and transforming.

A branch is a group of columns and its chain of steps. :class:`Pass` holds the chunk and combine
of one fitting pass (every due branch's next step at once); :func:`stack` is the transform of one
block (every branch's output, stacked).
"""

import numpy as np
import pyarrow as pa
from sklearn.base import clone

from outofcore.io import convert
from outofcore.preprocessing import stats
from outofcore.preprocessing.base import as_matrix
from outofcore.runtime.scheduler import compute


def is_blockwise(step):
    return all(callable(getattr(step, m, None)) for m in
               ("_fit_chunk", "_fit_combine", "_fit_finalize", "_transform_block"))


def _takes_table(step):
    """Whether a blockwise step reads arrow tables (encoders, imputers); else float matrices."""
    return getattr(step, "_takes_table", False)


class Branch:
    """One branch while fitting: its columns, steps (clones) and how many are fitted."""

    def __init__(self, name, transformer, columns, weight):
        self.name, self.transformer, self.columns, self.weight = name, transformer, columns, weight
        if isinstance(transformer, str):  # "passthrough"
            self.names, self.steps = [], []
        elif hasattr(transformer, "steps"):  # a Pipeline
            self.names = [n for n, _ in transformer.steps]
            self.steps = [None if s in (None, "passthrough") else clone(s)
                          for _, s in transformer.steps]
        else:
            self.names, self.steps = [name], [clone(transformer)]
        self.fitted = 0
        self.widths = []  # output width after each fitted step

    def run(self, block, where, upto, float_dtype):
        """The output of the first ``upto`` steps on a block (an arrow table of all columns)."""
        x = block.select(self.columns)
        for step in self.steps[:upto]:
            x = _apply(step, x, where, float_dtype)
        return x

    def feed(self, step, x, float_dtype, where=str):
        """``x`` as the step takes it: an arrow table or a float matrix."""
        if step is None or _takes_table(step) or not is_blockwise(step):
            return x
        return as_matrix(x, float_dtype, where) if isinstance(x, pa.Table) else x


def _apply(step, x, where, float_dtype):
    if step is None:
        return x
    if is_blockwise(step):
        if not _takes_table(step) and isinstance(x, pa.Table):
            x = as_matrix(x, float_dtype, where)
        return step._transform_block(x, where)
    # A stateless scikit-learn step: what scikit-learn would give it.
    return step.transform(x.to_pandas() if isinstance(x, pa.Table) else x)


def _output(x, float_dtype, where=str):
    """A branch's final output as a NumPy array or a scipy.sparse matrix."""
    if isinstance(x, pa.Table):
        convert.check_numeric(x.schema, x.schema.names, "the input", param="remainder")
        return as_matrix(x, numbers_dtype(x.schema, float_dtype), where)
    return x if hasattr(x, "tocsr") else np.asarray(x)


def numbers_dtype(schema, float_dtype):
    """What scikit-learn's hstack gives columns passed through: their common float type."""
    found = [np.dtype(t.to_pandas_dtype()) for t in schema.types
             if convert.is_numeric(t) and not pa.types.is_null(t) and not pa.types.is_dictionary(t)]
    dtype = np.result_type(*found) if found else np.dtype(float_dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


class Job:
    """One step's share of a fitting pass; :class:`ImputeThenScale` fits two steps at once."""

    steps = 1

    def __init__(self, step):
        self.step = step

    def begin(self, stand):
        self.step._fit_begin(stand)

    def chunk(self, x, where):
        return self.step._fit_chunk(x, where)

    def combine(self, records):
        return self.step._fit_combine(records)

    def finalize(self, record):
        self.step._fit_finalize(record)
        return [self.step._output_spec()[1]]


class ImputeThenScale(Job):
    """A SimpleImputer and the scaler after it, fitted in one pass.

    The imputed values of a column are its present values and, for each missing one, the
    column's fill value: so the scaler's statistics are the present values' (NaN is ignored by
    the statistics) merged with a constant record of the fill values (Chan et al.'s merge,
    exact), and the missing-value indicators' are counts. One pass instead of two.
    """

    steps = 2

    def __init__(self, imputer, scaler):
        super().__init__(imputer)
        self.scaler = scaler

    @staticmethod
    def applies(step, after):
        from outofcore.preprocessing import missing
        from outofcore.preprocessing._scaling import _BaseScaler
        from outofcore.preprocessing.impute import SimpleImputer

        return (type(step) is SimpleImputer and isinstance(after, _BaseScaler)
                and step.strategy in ("mean", "median")
                and missing.is_nan(step.missing_values))

    def chunk(self, x, where):
        present = stats.chunk(as_matrix(x, np.float64, where), **self.scaler._parts)
        return self.step._fit_chunk(x, where), present

    def combine(self, records):
        return (self.step._fit_combine([r[0] for r in records]),
                stats.combine([r[1] for r in records]))

    def finalize(self, record):
        imputed, present = record
        imputer, parts = self.step, self.scaler._parts
        imputer._fit_finalize(imputed)
        keep = imputer._keep
        n_missing = np.asarray(imputed["missing"], dtype=np.float64)
        fill = imputer.statistics_[keep].astype(imputer._fit_dtype).astype(np.float64)
        columns = stats.combine([_columns(present, keep),
                                 _constant(fill, n_missing[keep], parts)])
        if imputer.indicator_ is not None:
            flagged = imputer.indicator_.features_
            columns = _side_by_side(columns, _indicators(n_missing[flagged], present.n_rows,
                                                         parts))
        dtype, width, _ = imputer._output_spec()
        self.scaler._fit_begin(np.empty((0, width)))
        self.scaler._fit_finalize((columns, dtype))
        return [width, width]


def _columns(record, keep):
    pick = {name: None if getattr(record, name) is None else getattr(record, name)[keep]
            for name in ("count", "mean", "m2", "min", "max")}
    return stats.Record(n_rows=record.n_rows, **pick)


def _constant(values, counts, parts):
    """The record of ``counts[j]`` copies of ``values[j]`` per column (no rows of their own)."""
    has = counts > 0
    return stats.Record(
        n_rows=0, count=counts,
        mean=np.where(has, values, 0.0) if parts["moments"] else None,
        m2=np.zeros(len(values)) if parts["moments"] else None,
        min=np.where(has, values, np.inf) if parts["extrema"] else None,
        max=np.where(has, values, -np.inf) if parts["extrema"] else None)


def _indicators(n_missing, rows, parts):
    """The record of 0/1 columns with ``n_missing`` ones out of ``rows``."""
    p = n_missing / rows
    return stats.Record(
        n_rows=rows, count=np.full(len(n_missing), float(rows)),
        mean=p if parts["moments"] else None,
        m2=rows * p * (1 - p) if parts["moments"] else None,
        min=np.where(n_missing < rows, 0.0, 1.0) if parts["extrema"] else None,
        max=np.where(n_missing > 0, 1.0, 0.0) if parts["extrema"] else None)


def _side_by_side(a, b):
    joined = {name: None if getattr(a, name) is None else np.concatenate(
        [getattr(a, name), getattr(b, name)]) for name in ("count", "mean", "m2", "min", "max")}
    return stats.Record(n_rows=a.n_rows, **joined)


def job_for(branch):
    """The fitting job of a branch's next step (with the step after it, when they fuse)."""
    step = branch.steps[branch.fitted]
    after = branch.steps[branch.fitted + 1] if branch.fitted + 1 < len(branch.steps) else None
    if ImputeThenScale.applies(step, after):
        return ImputeThenScale(step, after)
    return Job(step)


class Pass:
    """The chunk and combine of one fitting pass: every due branch's next job at once."""

    def __init__(self, due, jobs, float_dtype):
        self.due, self.jobs, self.float_dtype = due, jobs, float_dtype

    def chunk(self, block, where):
        records = []
        for b, job in zip(self.due, self.jobs, strict=True):
            x = b.feed(job.step, b.run(block, where, b.fitted, self.float_dtype),
                       self.float_dtype, where)
            records.append(job.chunk(x, where))
        return records

    def combine(self, parts):
        return [job.combine([p[i] for p in parts]) for i, job in enumerate(self.jobs)]


def stack(block, where, ct):
    """The ColumnTransformer's output of one arrow block."""
    outputs = []
    for _, columns, steps, weight in ct._layout_:
        x = block.select(columns)
        for step in steps:
            x = _apply(step, x, where, ct._float_dtype)
        x = _output(x, ct._float_dtype, where)
        outputs.append(x if weight is None else x * weight)
    if not outputs:
        return np.empty((block.num_rows, 0), dtype=ct._dtype)
    if ct.sparse_output_:
        return hstack_csr(outputs, ct._dtype)
    return np.hstack([x.toarray() if hasattr(x, "toarray") else x for x in outputs]).astype(
        ct._dtype, copy=False)


def hstack_csr(parts, dtype):
    """Dense arrays and sparse matrices (the list ``parts``, emptied of dense arrays as it
    goes) side by side as one CSR matrix.

    Dense parts become CSR matrices of their nonzero values first (:func:`_nonzero_csr`), so
    that scipy stacks CSR matrices only, a single pass in its compiled code; scipy's own
    conversion of a dense part goes through a sorted COO matrix, several times slower.
    """
    import scipy.sparse as sp

    for i, x in enumerate(parts):  # in place: each dense part is freed once converted
        parts[i] = x.tocsr() if sp.issparse(x) else _nonzero_csr(np.asarray(x))
    return sp.hstack(parts, format="csr", dtype=dtype)


def _nonzero_csr(x):
    """The nonzero values of a dense 2-D array as a CSR matrix (row-major order, no sort)."""
    import scipy.sparse as sp

    x = np.ascontiguousarray(x)
    mask = x != 0
    flat = np.flatnonzero(mask)
    indptr = np.zeros(x.shape[0] + 1, np.int64)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    out = sp.csr_matrix((x.ravel()[flat], flat % max(x.shape[1], 1), indptr), shape=x.shape)
    out.has_sorted_indices = True
    return out


def first_block(table):
    """The first block with rows, as an arrow table (for fitting stateless steps)."""
    blocks = table.blocks.to_delayed().ravel()
    for i, n in enumerate(table.rows):
        if n:
            return compute(blocks[i])[0][0]
    return table.schema.empty_table()
