"""Compiled models on dask input: one ``map_blocks`` task per row block with explicit output meta,
and scores of lazy predictions. dask is imported only here, when a dask collection comes in; with
the registry's table, the only place compiled/ takes names from the rest of outofcore.
"""

import functools

import numpy as np

from ._inputs import _require, _width


def output_spec(model, method):
    """(dtype, trailing shape) of ``method``'s output, read from the fitted model, not guessed."""
    graph, head, float_dtype = model.graph, model.graph.head, model._np_dtype
    if method == "min_sq_distance":
        return float_dtype, ()
    if method == "transform":
        if head is not None and head.op == "kmeans":
            return float_dtype, (len(head.arrays["centers"]),)
        width = len(graph.inputs) if graph.inputs is not None else graph.n_features_in
        for node in graph.steps:
            width = node.width(width)
        return float_dtype, (width,)
    if method == "predict_proba":
        return float_dtype, (len(model.classes_),)
    if method == "predict" and model._task == "classifier":
        return model.classes_.dtype, ()
    if method == "predict" and model._task == "clusterer":
        return np.dtype(np.int32), ()
    # regression values and decision scores: one column per value of the last bias (trees: base)
    last = "base" if head.op == "trees" else f"bias{head.attrs['n_layers'] - 1}" if head.op == "mlp" else "bias"
    n_out = len(head.arrays[last])
    # Tree classifiers saved before every head recorded ``ravel`` have one column when they ravel.
    return float_dtype, (() if head.attrs.get("ravel", head.op == "trees" and n_out == 1) else (n_out,))


def _apply_block(model, method, block):
    return model._run(method, np.asarray(block))


def _apply_table(block, where, model, method, names):
    # An arrow block goes in as it is: strings and timestamps are looked up by the model itself.
    try:
        return model._run(method, block if names is None else block.select(names))
    except ValueError as e:
        row = getattr(e, "row", None)
        raise ValueError(f"{e} (at {where(row if isinstance(row, int) else 0)})") from e


def run_dask(model, method, X):
    """``model.<method>(X)`` for a dask array, a dask DataFrame or an outofcore Table, as a lazy
    dask array. Frames and Tables go block by block as arrow tables, so string, category and
    timestamp columns reach the model's own lookups; arrays, and any input of a model that reads
    numbers only, go as NumPy blocks."""
    from outofcore.io.inputs import as_array as as_dask_array
    from outofcore.io.inputs import as_table, is_dask_frame
    from outofcore.io.table import Table

    dtype, trailing = output_spec(model, method)
    meta = np.empty((0,) * (1 + len(trailing)), dtype=dtype)
    names = model.graph.feature_names_in
    if model.graph.inputs is None:  # numbers only: one float matrix a block, converted by io
        if names is not None and hasattr(X, "columns"):
            X = X[names]
    elif isinstance(X, Table) or is_dask_frame(X):
        table = as_table(X)
        if names is not None:
            _require(model, names, table.columns)
        elif len(table.columns) != model.n_features_in_:
            raise ValueError(f"X has {len(table.columns)} columns, but this compiled "
                             f"{model.graph.source} expects {model.n_features_in_} features")
        return table.map_blocks(_apply_table, model, method, names, dtype=dtype,
                                width=trailing[0] if trailing else None, meta=meta)
    arr = as_dask_array(X)
    _width(model, arr.shape)
    return arr.map_blocks(functools.partial(_apply_block, model, method), dtype=dtype,
                          chunks=(arr.chunks[0], *trailing), drop_axis=None if trailing else 1, meta=meta)


def dask_score(pred, y, sample_weight, kind):
    """A score of lazy predictions (see ``_pipeline._score``), reduced by dask and computed once."""
    from outofcore.io.inputs import align_to
    from outofcore.runtime.scheduler import compute
    from outofcore.training.scoring import dask_prediction_score

    w = None if sample_weight is None else align_to(pred, sample_weight, name="sample_weight")
    if kind == "inertia":
        total = pred.astype(np.float64) if w is None else w * pred.astype(np.float64)
        return -float(compute(total.sum())[0])
    return dask_prediction_score(pred, align_to(pred, y, name="y"), w, kind=kind)
