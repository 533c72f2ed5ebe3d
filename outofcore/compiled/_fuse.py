"""Build-time folding of affine steps into the layer that follows them.

A scaler followed by a linear model is one matrix product: ``(x * s + o) @ W + b ==
x @ (s[:, None] * W) + (o @ W + b)``. Folding is done in float64 on the NumPy records, before any
module exists, and only where the algebra is exact: a clipping MinMaxScaler is never folded.
"""

import numpy as np

from ._spec import Node

_FOLDABLE_HEADS = {"linear_model": ("weight", "bias"), "mlp": ("weight0", "bias0")}


def _as_linear(node):
    if node.op == "linear":
        return node.arrays["weight"], node.arrays["bias"]
    scale, offset = node.arrays["scale"], node.arrays["offset"]
    return np.diag(scale), offset


def _foldable(node):
    return node.op == "linear" or (node.op == "affine" and node.attrs.get("clip") is None)


def _merge(first, second):
    if first.op == "affine" and second.op == "affine":
        s1, o1 = first.arrays["scale"], first.arrays["offset"]
        s2, o2 = second.arrays["scale"], second.arrays["offset"]
        return Node("affine", {"clip": None}, {"scale": s1 * s2, "offset": o1 * s2 + o2})
    if second.op == "affine":
        w, b = _as_linear(first)
        s, o = second.arrays["scale"], second.arrays["offset"]
        return Node("linear", {}, {"weight": w * s, "bias": b * s + o})
    w2, b2 = second.arrays["weight"], second.arrays["bias"]
    if first.op == "affine":
        s, o = first.arrays["scale"], first.arrays["offset"]
        return Node("linear", {}, {"weight": s[:, None] * w2, "bias": o @ w2 + b2})
    w1, b1 = first.arrays["weight"], first.arrays["bias"]
    return Node("linear", {}, {"weight": w1 @ w2, "bias": b1 @ w2 + b2})


def fuse(steps, head):
    """Return ``(steps, head)`` with runs of foldable steps merged, and the last one folded into head.

    Examples
    --------
    >>> import numpy as np
    >>> scaler = Node("affine", {"clip": None}, {"scale": np.full(2, 2.0), "offset": np.ones(2)})
    >>> model = Node("linear_model", {}, {"weight": np.ones((2, 1)), "bias": np.zeros(1)})
    >>> steps, head = fuse([scaler], model)
    >>> steps, head.arrays["weight"].ravel().tolist(), head.arrays["bias"].tolist()
    ([], [2.0, 2.0], [2.0])
    """
    out = []
    for node in steps:
        if out and _foldable(out[-1]) and _foldable(node):
            out[-1] = _merge(out[-1], node)
        else:
            out.append(node)
    if head is not None and head.op in _FOLDABLE_HEADS and out and _foldable(out[-1]):
        wkey, bkey = _FOLDABLE_HEADS[head.op]
        layer = Node("linear", {}, {"weight": head.arrays[wkey], "bias": head.arrays[bkey]})
        merged = _merge(out.pop(), layer)
        arrays = dict(head.arrays, **{wkey: merged.arrays["weight"], bkey: merged.arrays["bias"]})
        head = Node(head.op, head.attrs, arrays, head.children)
    return out, head
