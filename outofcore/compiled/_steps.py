"""Torch modules of the transform steps (``_spec.Node`` records): tensor math only.

Every module holds its constants as non-persistent buffers (never trainable parameters), and
anything that depends on settings is resolved in ``__init__``, so ``forward`` has no string tests.
"""

import torch
from torch import nn

from . import _fuse
from ._inputs import as_slice


class Module(nn.Module):
    """A module whose buffers are the node's arrays (floats in the compute dtype) and whose plain
    attributes are its attrs."""

    def __init__(self, node, dtype, device):
        super().__init__()
        for name, value in node.attrs.items():
            setattr(self, name, value)
        for name, value in node.arrays.items():
            tensor = torch.as_tensor(value, device=device)
            self.register_buffer(name, tensor.to(dtype) if tensor.is_floating_point() else tensor,
                                 persistent=False)


class Affine(Module):
    """``x * scale + offset``, optionally clipped (the scalers), computed as ``(x - centre) * scale``
    where every scale is nonzero: a feature far from zero cancels exactly in the subtraction, as in
    scikit-learn's ``(x - mean) / scale``, where ``x * scale + offset`` would round ``x * scale``
    first and keep its error after the cancellation."""

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        centre = _fuse.centre(node)
        self.centred = centre is not None
        if self.centred:
            self.register_buffer("centre", torch.as_tensor(centre, device=device).to(dtype), persistent=False)

    def forward(self, x):
        out = (x - self.centre).mul_(self.scale) if self.centred else torch.addcmul(self.offset, x, self.scale)
        return out if self.clip is None else out.clamp_(*self.clip)


class Linear(Module):
    """``x @ weight + bias`` (PCA, folded scalers, a layer pushed into a branch)."""

    def forward(self, x):
        return torch.addmm(self.bias, x, self.weight)


class Impute(Module):
    """SimpleImputer: kept columns with missing entries filled, then the indicator columns."""

    def mask(self, x):
        return x.isnan() if self.missing is None else x == self.missing

    def forward(self, x):
        kept = x.index_select(1, self.keep)
        out = torch.where(self.mask(kept), self.fill, kept)
        if not len(self.indicator):
            return out
        return torch.cat([out, self.mask(x.index_select(1, self.indicator)).to(out.dtype)], dim=1)


_NORMS = {"l1": 1.0, "l2": 2.0, "max": float("inf")}  # the ord of torch.linalg.vector_norm


class Normalize(Module):
    """Normalizer: rows divided by their l1, l2 or max norm; rows of norm 0 stay as they are.
    With a ``weight`` (a linear layer pushed into it), the rows times it, divided by the norm."""

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        self.ord = _NORMS[self.norm]
        self.project = "weight" in node.arrays

    def forward(self, x):
        norm = torch.linalg.vector_norm(x, ord=self.ord, dim=1, keepdim=True)
        return (x @ self.weight if self.project else x) / norm.masked_fill_(norm == 0, 1.0)


class Poly(Module):
    """PolynomialFeatures: products of input columns (a column of ones pads lower degrees)."""

    def forward(self, x):
        x1 = torch.nn.functional.pad(x, (0, 1), value=1.0)
        out = x1.index_select(1, self.factors[:, 0])
        for d in range(1, self.factors.shape[1]):
            out = out * x1.index_select(1, self.factors[:, d])
        return out


class Quadratic(Module):
    """Degree-2 products times a weight matrix: output ``c`` is ``x1' form[:, :, c] x1``, x1 = [x, 1],
    as ``(x1 @ form)`` times x1 summed (two steps: torch's einsum spends tens of microseconds a
    call planning its contraction)."""

    def forward(self, x):
        x1 = torch.nn.functional.pad(x, (0, 1), value=1.0)
        n = x1.shape[1]
        return (x1 @ self.form.view(n, -1)).view(-1, n, self.n_out).mul_(x1.unsqueeze(2)).sum(dim=1)


class Binarize(Module):
    """``x > threshold`` as 0/1 (BernoulliNB's ``binarize``)."""

    def forward(self, x):
        return (x > self.threshold).to(x.dtype)


class Recode(Module):
    """Category numbers to codes by binary search over each column's sorted categories."""

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        self.bounds = node.arrays["starts"].tolist()  # plain ints: slicing needs no tensor reads

    def forward(self, x):
        parts = []
        for j in range(x.shape[1]):
            keys = self.keys[self.bounds[j]:self.bounds[j + 1]]
            codes = self.codes[self.bounds[j]:self.bounds[j + 1]]
            v = x[:, j].contiguous()
            pos = torch.searchsorted(keys, v).clamp_(max=max(len(keys) - 1, 0))
            found = keys[pos] == v if len(keys) else torch.zeros_like(v, dtype=torch.bool)
            value = codes[pos] if len(keys) else v
            parts.append(torch.where(v.isnan(), self.missing[j], torch.where(found, value, self.unknown[j])))
        return torch.stack(parts, dim=1)


class OneHot(Module):
    """One-hot columns from per-column output indices (-1: no column set)."""

    def forward(self, x):
        idx = torch.where(x < 0, self.n_out, x).long()
        out = torch.zeros((x.shape[0], self.n_out + 1), dtype=x.dtype, device=x.device)
        return out.scatter_(1, idx, 1.0)[:, :self.n_out]


class Embed(Module):
    """A one-hot block times a weight matrix: the sum of the weight rows the codes name (a bag of
    rows per input row; row -1, the table's last, is zeros)."""

    def forward(self, x):
        return torch.nn.functional.embedding_bag(x.long() % self.table.shape[0], self.table, mode="sum")


class Distances(Module):
    """Euclidean distance to each k-means centre ``c``, about the centres' mean ``m`` (float32 keeps
    the digits ``|x|^2 - 2x.c + |c|^2`` cancels far from the origin):
    ``|x - m|^2 - 2(x - m).(c - m) + |c - m|^2``."""

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        rel = node.arrays["centers"] - node.arrays["centers"].mean(axis=0)
        arrays = (node.arrays["centers"].mean(axis=0), -2.0 * rel, (rel * rel).sum(axis=1))
        self.expansion = tuple(torch.as_tensor(a).to(dtype).numpy() for a in arrays)  # the CPU kernel's
        for name, value in zip(("shift", "weight", "bias"), self.expansion):
            self.register_buffer(name, torch.as_tensor(value, device=device), persistent=False)

    def forward(self, x):
        # Products summed per centre: a matrix product's rounding follows the batch's shape (BLAS).
        x = x - self.shift
        sq = (x[:, None, :] * self.weight).sum(dim=2) + self.bias + (x * x).sum(dim=1, keepdim=True)
        return sq.clamp_(min=0).sqrt_()


class Columns(nn.Module):
    """ColumnTransformer: each branch reads its columns; outputs side by side, or summed where a
    linear layer was pushed into the branches (``mode="sum"``)."""

    def __init__(self, node, dtype, device):
        super().__init__()
        self.branches = nn.ModuleList(build(c, dtype, device) for c in node.children)
        self.sum = node.attrs.get("mode") == "sum"
        self.select = []  # per branch: None (every column), (start, width) of a run, or an index buffer
        for i, child in enumerate(node.children):
            cols = None if child.attrs["columns"] is None else as_slice(child.attrs["columns"])
            if isinstance(cols, slice):
                cols = (cols.start, cols.stop - cols.start)  # for narrow: a view, cheaper than slicing
            elif isinstance(cols, list):
                self.register_buffer(f"cols{i}", torch.as_tensor(cols, device=device), persistent=False)
                cols = f"cols{i}"
            self.select.append(cols)

    def _columns(self, x, i):
        cols = self.select[i]
        return x if cols is None else x.narrow(1, *cols) if isinstance(cols, tuple) else x.index_select(
            1, getattr(self, cols))

    def forward(self, x):
        parts = [branch(self._columns(x, i)) for i, branch in enumerate(self.branches)]
        return sum(parts[1:], parts[0]) if self.sum else torch.cat(parts, dim=1)


_MODULES = {"affine": Affine, "linear": Linear, "impute": Impute, "normalize": Normalize, "poly": Poly,
            "quadratic": Quadratic, "binarize": Binarize, "recode": Recode, "onehot": OneHot, "embed": Embed,
            "distances": Distances, "columns": Columns}


def build(node, dtype, device):
    """The module of one transform record."""
    if node.op == "chain":
        return nn.Sequential(*(build(c, dtype, device) for c in node.children))
    return _MODULES[node.op](node, dtype, device)
