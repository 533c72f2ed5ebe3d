"""A ColumnTransformer's branches: what runs on one block while fitting and transforming.

A branch is a group of columns and its chain of steps. :class:`Pass` holds the chunk and combine
of one fitting pass (every due branch's next step at once); :func:`stack` is the transform of one
block (every branch's output, stacked).
"""

import numpy as np
import pyarrow as pa
from sklearn.base import clone

from outofcore.io import convert
from outofcore.preprocessing.base import as_matrix
from outofcore.runtime.scheduler import compute


def is_blockwise(step):
    return all(callable(getattr(step, m, None)) for m in
               ("_fit_chunk", "_fit_combine", "_fit_finalize", "_transform_block"))


def _takes_table(step):
    """Whether a blockwise step reads arrow tables (encoders, imputers); else float matrices."""
    return getattr(step, "_takes_table", False)


def stand_in(columns, kinds):
    """What a step's ``_fit_begin`` validates: a frame with the input names, or an array."""
    if columns is not None:
        import pandas as pd

        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    return np.empty((0, kinds))


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


class Pass:
    """The chunk and combine of one fitting pass: every due branch's next step at once."""

    def __init__(self, due, float_dtype):
        self.due, self.float_dtype = due, float_dtype

    def chunk(self, block, where):
        records = []
        for b in self.due:
            step = b.steps[b.fitted]
            x = b.feed(step, b.run(block, where, b.fitted, self.float_dtype), self.float_dtype,
                       where)
            records.append(step._fit_chunk(x, where))
        return records

    def combine(self, parts):
        return [b.steps[b.fitted]._fit_combine([p[i] for p in parts])
                for i, b in enumerate(self.due)]


def stack(block, where, ct):
    """The ColumnTransformer's output of one arrow block."""
    import scipy.sparse as sp

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
        return sp.hstack([sp.csr_matrix(x) for x in outputs], format="csr", dtype=ct._dtype)
    return np.hstack([x.toarray() if hasattr(x, "toarray") else x for x in outputs]).astype(
        ct._dtype, copy=False)


def first_block(table):
    """The first block with rows, as an arrow table (for fitting stateless steps)."""
    blocks = table.blocks.to_delayed().ravel()
    for i, n in enumerate(table.rows):
        if n:
            return compute(blocks[i])[0][0]
    return table.schema.empty_table()
