"""The one small step of the fold: check a block, shuffle its rows, call ``partial_fit``.

Plain functions and a frozen dataclass of (estimator, block), so the step runs wherever its block
is: in the client's fold locally, or on the worker that holds the block.
"""

import inspect
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np


def takes(estimator, name):
    """Whether ``estimator.partial_fit`` accepts the keyword ``name``."""
    params = inspect.signature(estimator.partial_fit).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                 for p in params.values())


def check_partial_fit_params(estimator, params):
    """Raise before any block is read if ``partial_fit`` cannot take these keyword arguments."""
    missing = sorted(k for k in params if not takes(estimator, k))
    if missing:
        accepted = [p for p in inspect.signature(estimator.partial_fit).parameters
                    if p not in ("self", "X", "y")]
        raise TypeError(
            f"{type(estimator).__name__}.partial_fit does not accept {', '.join(missing)}; it "
            f"takes {', '.join(accepted) or 'no keyword arguments'}."
        )


# Base classes whose ``partial_fit`` permutes its rows when ``shuffle=True``: sklearn's SGD family
# (with Perceptron and PassiveAggressive*) and the MLPs. Matched by package and name, so
# subclasses count and no private module is imported.
_SHUFFLING_BASES = {("sklearn.linear_model", "BaseSGD"),
                    ("sklearn.neural_network", "BaseMultilayerPerceptron")}


def shuffles_each_call(estimator):
    """Whether ``estimator.partial_fit`` shuffles the rows it is given."""
    for cls in type(estimator).__mro__:
        package = ".".join(cls.__module__.split(".")[:2])
        if (package, cls.__name__) in _SHUFFLING_BASES:
            return getattr(estimator, "shuffle", False) is True
    return False


@contextmanager
def rows_shuffled_once(owner, shuffle_rows):
    """While the fold runs, turn off the estimator's own shuffle when the fold shuffles the rows.

    A fold with ``shuffle_rows`` hands each ``partial_fit`` a uniformly permuted block; permuting
    it again inside ``partial_fit`` gives the same distribution of row orders at two thirds of
    SGD's step, on the fold's critical path, where the fold's own permutation runs beside it in
    the thread that produces the block. ``owner.estimator_`` gets its ``shuffle=True`` back when
    the fold ends, however it ends.
    """
    off = shuffle_rows and shuffles_each_call(owner.estimator)
    if off:
        owner.estimator_.set_params(shuffle=False)
    try:
        yield
    finally:
        if off:
            owner.estimator_.set_params(shuffle=True)


def _first_bad(block, allow_nan):
    """(row, column) of the first value the estimator cannot take, or None."""
    import scipy.sparse as sp

    if sp.issparse(block):
        data = block.data
        bad = np.isinf(data) if allow_nan else ~np.isfinite(data)
        if not bad.any():
            return None
        coo = block.tocoo()
        k = int(np.flatnonzero(np.isinf(coo.data) if allow_nan else ~np.isfinite(coo.data))[0])
        return int(coo.row[k]), int(coo.col[k])
    if block.dtype.kind != "f" or np.isfinite(block).all():
        return None
    bad = np.isinf(block) if allow_nan else ~np.isfinite(block)
    if not bad.any():
        return None
    if block.ndim == 1:
        return int(np.flatnonzero(bad)[0]), 0
    column = int(np.flatnonzero(bad.any(axis=0))[0])
    return int(np.flatnonzero(bad[:, column])[0]), column


def check_block(block, where, names=None, *, allow_nan=False, what="X"):
    """Raise ValueError naming the row (``where(row)``) and column of the first NaN or infinite
    value of a block (NaN passes when the estimator takes missing values)."""
    found = _first_bad(block, allow_nan)
    if found is None:
        return
    row, column = found
    value = block[row, column] if block.ndim == 2 else block[row]
    if hasattr(value, "toarray"):
        value = value.toarray().ravel()[0]
    label = "" if block.ndim == 1 else (
        f", column {column}" if names is None else f", column {names[column]!r}")
    missing = np.isnan(value)
    todo = ("impute it (ooc.SimpleImputer in the pipeline) or drop those rows" if missing
            else "replace or drop those rows")
    shown = "NaN" if missing else value
    raise ValueError(f"{what} holds {shown} at {where(row)}{label}; {todo} before fitting.")


@dataclass(frozen=True)
class FoldStep:
    """One step of the fold, in two halves: ``prepare`` needs only the block, ``fit`` the model.

    ``prepare`` checks the block (finite values, known labels), keeps its training rows and
    shuffles them; ``fit`` calls ``partial_fit``. A local fold runs ``prepare`` in the thread
    that produces the blocks, so only ``partial_fit`` stays on the fold's critical path. Calling
    the step runs both halves where the block is (a cluster worker). ``seed`` draws the row
    permutation, so the same seed gives the same order wherever it runs.

    Parameters
    ----------
    classes : ndarray or None
        Every label; a label outside them is an error naming its row.
    shuffle_rows : bool
    params : dict
        Keyword arguments of every ``partial_fit`` call (``classes`` is added when set).
    names : sequence of str or None
        Column names, for messages.
    allow_nan : bool
        The estimator takes NaN (its ``allow_nan`` tag).
    holdout : outofcore.training.holdout.RowHoldout or None
        Rows kept for validation inside each block (early stopping on few blocks).
    """

    classes: object
    shuffle_rows: bool
    params: dict
    names: object = None
    allow_nan: bool = False
    holdout: object = None

    def prepare(self, index, Xb, yb, wb, *, seed, where):
        """Check block ``index``, keep its training rows, shuffle them: ``(Xb, yb, wb)``."""
        check_block(Xb, where, self.names, allow_nan=self.allow_nan)
        if yb is not None:
            check_block(yb, where, what="y")
            if self.classes is not None:
                import pandas as pd

                # A hash pass: np.unique sorts, which is much slower on string labels.
                labels = pd.unique(yb.ravel())
                unknown = ~np.isin(labels, self.classes)
                if unknown.any():
                    label = labels[unknown][0]
                    label = label.item() if hasattr(label, "item") else label
                    row = int(np.flatnonzero(yb == label)[0])
                    raise ValueError(
                        f"y holds the label {label!r} at {where(row)}, which is not in "
                        f"classes={self.classes.tolist()}. Pass every label in classes=, or "
                        f"leave classes=None to find them in one pass over y."
                    )
        mask = None if self.holdout is None else self.holdout.train_mask(index, Xb.shape[0])
        keep = None if mask is None else np.flatnonzero(mask)
        if self.shuffle_rows and Xb.shape[0]:
            perm = np.random.default_rng(seed).permutation(Xb.shape[0])
            keep = perm if mask is None else perm[mask[perm]]
        if keep is not None:
            Xb, yb, wb = (None if a is None else _rows(a, keep) for a in (Xb, yb, wb))
        elif getattr(Xb, "flags", None) is not None and not Xb.flags.writeable:
            # A cached block serves every pass; partial_fit may write into its input.
            Xb = Xb.copy()
            wb = None if wb is None else wb.copy()
        return Xb, yb, wb

    def fit(self, estimator, Xb, yb, wb):
        """``partial_fit`` on a prepared block; returns the model."""
        params = dict(self.params)
        if self.classes is not None:
            params["classes"] = self.classes
        if wb is not None:
            params["sample_weight"] = wb
        if yb is None:
            estimator.partial_fit(Xb, **params)
        else:
            estimator.partial_fit(Xb, yb, **params)
        return estimator

    def __call__(self, estimator, index, Xb, yb, wb, *, seed, where):
        return self.fit(estimator, *self.prepare(index, Xb, yb, wb, seed=seed, where=where))


def _rows(a, index):
    # take() gathers rows faster than fancy indexing on dense arrays.
    if isinstance(a, np.ndarray):
        return np.take(a, index, axis=0)
    return a[index]
