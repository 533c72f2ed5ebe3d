"""NaN and infinity in the input: refused where scikit-learn refuses them, column by column.

What a column may hold is decided by the first step that reads it (``Node.attrs["accepts"]``):
scalers pass NaN on to the next step but refuse infinity; SimpleImputer and the classic trees
accept NaN; HistGradientBoosting accepts anything; every other step wants finite values.
Classic trees also refuse values beyond float32's range, which scikit-learn's cast to float32
turns into infinity. Columns of category codes are the lookups' business.
"""

import functools

import numpy as np
import torch



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
            for columns in frame:
                for i in columns:
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
        part = x if columns is None else x[:, columns]
        if not part.shape[0]:
            continue
        if isinstance(part, np.ndarray) and part.size <= 1 << 16:
            # A few rows: one NumPy reduction costs least. A finite sum means finite values (NaN
            # and infinity make it NaN or infinite), except against the float32 range.
            if limit == "finite":
                total = float(part.sum())
                lo = hi = 0.0 if total - total == 0 else total
            else:
                lo, hi = part.min(), part.max()
            dtype = part.dtype
        else:
            t = part if isinstance(part, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(part))
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


def _raise(model, value, row, column):
    graph = model.graph
    source = column if graph.inputs is None else graph.inputs[column]["source"]
    name = graph.feature_names_in[source] if graph.feature_names_in else source
    what = "NaN" if value != value else ("infinity" if np.isinf(value) else
                                         f"{value!r}, too large for float32")
    raise ValueError(
        f"Input X contains {what} in column {name!r} (row {row}), which this compiled "
        f"{graph.source} does not accept, as scikit-learn does not: impute or drop such values "
        "first (SimpleImputer), or use a model that accepts NaN (HistGradientBoosting, trees)")
