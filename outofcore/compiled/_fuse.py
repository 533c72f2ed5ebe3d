"""Build-time folding of steps into the linear layer that follows them.

A scaler followed by a linear model is one matrix product: ``(x * s + o) @ W + b ==
x @ (s[:, None] * W) + (o @ W + b)``. A ColumnTransformer followed by one is a sum over its
branches, ``concat(B_1(x), ..., B_n(x)) @ W == B_1(x) @ W_1 + ... + B_n(x) @ W_n``, and a one-hot
branch times its rows of ``W`` is a gather of those rows: no one-hot matrix is ever built. Folding
is done in float64 on the NumPy records, before any module exists, and only where the algebra is
exact: a clipping scaler is never folded (its branch keeps it, then multiplies).

Nor is a scaler whose offsets are large folded into a matrix product: standardizing a feature
whose mean is 1000 of its standard deviations from zero, ``x @ (s W)`` sums terms 1000 times
larger than the result before the bias cancels them, and float32 loses those digits (scores off
by 2.5e-5 of their scale folded, 1.3e-7 not). Applied on its own the scaler subtracts the centre
first (``_steps.Affine``), which cancels exactly, as scikit-learn's ``(x - mean) / scale`` does.
"""

import numpy as np

from ._spec import Node

_FOLDABLE_HEADS = {"linear_model": ("weight", "bias"), "mlp": ("weight0", "bias0")}
_LARGEST_OFFSET = 4.0  # in units of the scaled output; see the module notes


def _foldable(node):
    return node.op == "linear" or (node.op == "affine" and node.attrs.get("clip") is None)


def _into_product(node):
    """Whether ``node`` may be folded into a matrix product that follows it."""
    return _foldable(node) and (node.op != "affine" or
                                np.abs(node.arrays["offset"]).max(initial=0) <= _LARGEST_OFFSET)


def centre(node):
    """``c`` of a scaler (an ``affine`` node) that is ``(x - c) * scale``: None where a scale is 0."""
    scale = node.arrays["scale"]
    return -node.arrays["offset"] / scale if np.all(scale != 0) else None


def _linear(weight, bias=None):
    return Node("linear", {}, {"weight": weight, "bias": np.zeros(weight.shape[1]) if bias is None else bias})


def _merge(first, second):
    """One node computing ``second(first(x))`` for two foldable nodes."""
    if first.op == "affine" and second.op == "affine":
        s1, o1 = first.arrays["scale"], first.arrays["offset"]
        s2, o2 = second.arrays["scale"], second.arrays["offset"]
        return Node("affine", dict(first.attrs), {"scale": s1 * s2, "offset": o1 * s2 + o2})
    w2, b2 = ((second.arrays["weight"], second.arrays["bias"]) if second.op == "linear" else
              (np.diag(second.arrays["scale"]), second.arrays["offset"]))
    if first.op == "affine":
        s, o = first.arrays["scale"], first.arrays["offset"]
        return _linear(s[:, None] * w2, o @ w2 + b2)
    w1, b1 = first.arrays["weight"], first.arrays["bias"]
    return _linear(w1 @ w2, b1 @ w2 + b2)


def _quadratic(node):
    """A PolynomialFeatures of degree 2 (converted with its input width)."""
    return node.op == "poly" and node.arrays["factors"].shape[1] == 2 and "n_in" in node.attrs


def _push(node, weight):
    """Nodes computing ``node(x) @ weight``."""
    k = weight.shape[1]
    if _into_product(node):
        return [_merge(node, _linear(weight))]
    if node.op == "onehot":
        table = np.vstack([weight, np.zeros((1, k))])  # row -1: no column set
        return [Node("embed", {"n_out": k, "accepts": "codes"}, {"table": table})]
    if node.op == "normalize":  # (x / |x|) @ W == (x @ W) / |x|: the normalised rows are never built
        return [Node("normalize", dict(node.attrs, n_out=k), {"weight": weight})]
    if _quadratic(node):
        # Degree-2 products times W: per output the quadratic form x1' A x1 of x1 = [x, 1], with
        # A[a, b] the weight of the product of columns a and b; the products are never built.
        n = node.attrs["n_in"] + 1
        form = np.zeros((n, n, k))
        np.add.at(form, (node.arrays["factors"][:, 0], node.arrays["factors"][:, 1]), weight)
        return [Node("quadratic", {"n_out": k}, {"form": form})]
    if node.op == "columns":
        branches, start = [], 0
        for branch in node.children:
            rows, chain = weight[start:start + branch.attrs["n_out"]], branch.children
            start += branch.attrs["n_out"]
            chain = chain[:-1] + _push(chain[-1], rows) if chain else [_linear(rows)]
            branches.append(Node("chain", dict(branch.attrs, n_out=k), children=chain))
        return [Node("columns", {"n_out": k, "mode": "sum"}, children=branches)]
    return [node, _linear(weight)]


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
        # Two scalers always merge; one far from zero is not folded into a product (module notes).
        if out and _foldable(out[-1]) and _foldable(node) and (node.op == "affine" or _into_product(out[-1])):
            out[-1] = _merge(out[-1], node)
        else:
            out.append(node)
    if head is None or head.op not in _FOLDABLE_HEADS or not out:
        return out, head
    wkey, bkey = _FOLDABLE_HEADS[head.op]
    weight, last = head.arrays[wkey], out[-1]
    arrays, attrs = dict(head.arrays), dict(head.attrs)
    if _into_product(last):
        merged = _merge(out.pop(), _linear(weight, head.arrays[bkey]))
        arrays.update({wkey: merged.arrays["weight"], bkey: merged.arrays["bias"]})
    elif head.op == "linear_model" and last.op == "affine" and _foldable(last) and centre(last) is not None:
        # (x - c) * s @ W + b == (x - c) @ (s W) + b: the centre is subtracted first, so nothing
        # cancels, and the scaler costs no pass of its own over the block.
        arrays.update({wkey: out.pop().arrays["scale"][:, None] * weight, "centre": centre(last)})
    elif last.op in ("onehot", "columns", "normalize") or _quadratic(last):
        out[-1:] = _push(out[-1], weight)
        del arrays[wkey]  # the steps now end in the layer's pre-activation, less its bias
        attrs["fused_input"] = True
    return out, Node(head.op, attrs, arrays, head.children)
