"""Torch modules that run the records of ``_spec``: transforms and prediction heads.

Every module holds its constants as buffers (never trainable parameters) and does tensor math
only; anything that depends on settings (activation, probability link, whether an output is 1-D)
is resolved into plain attributes or functions in ``__init__``, so ``forward`` has no string tests.

Heads expose one function per scikit-learn method through :meth:`method`. Classifier heads return
class *indices* from ``predict`` (bool for a two-class sign test, integers otherwise); mapping
them to labels happens outside, where string labels can live.
"""

import numpy as np
import torch
from torch import nn

_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "logistic": torch.sigmoid_,
}


_NUMPY_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0, out=z),
    "tanh": lambda z: np.tanh(z, out=z),
}


class _Module(nn.Module):
    def __init__(self, node, dtype, device):
        super().__init__()
        for name, value in node.arrays.items():
            tensor = torch.as_tensor(value, device=device)
            if tensor.is_floating_point():
                tensor = tensor.to(dtype)
            self.register_buffer(name, tensor, persistent=False)


class Affine(_Module):
    """``x * scale + offset``, optionally clipped (the scalers)."""

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        clip = node.attrs.get("clip")
        self.lo, self.hi = (None, None) if clip is None else clip

    def forward(self, x):
        out = torch.addcmul(self.offset, x, self.scale)
        return out if self.lo is None else out.clamp_(self.lo, self.hi)


class Linear(_Module):
    """``x @ weight + bias`` (PCA, and scalers folded into a projection)."""

    def forward(self, x):
        return torch.addmm(self.bias, x, self.weight)


def _sq_distances(x, centers):
    # Direct differences, not the ||x||^2 - 2x.c + ||c||^2 expansion: that one cancels badly in
    # float32 when the data sit far from the origin. (Written out rather than torch.cdist, which
    # has no ONNX export.)
    diff = x[:, None, :] - centers
    return (diff * diff).sum(dim=2)


class Distances(_Module):
    """Euclidean distance to each k-means centre (``KMeans.transform``)."""

    def forward(self, x):
        return _sq_distances(x, self.centers).sqrt_()


class Chain(nn.Module):
    """Transforms applied one after the other."""

    def __init__(self, modules):
        super().__init__()
        self.steps = nn.ModuleList(modules)

    def forward(self, x):
        for step in self.steps:
            x = step(x)
        return x


class Columns(nn.Module):
    """ColumnTransformer: each branch sees its own columns; outputs are concatenated in order."""

    def __init__(self, node, dtype, device):
        super().__init__()
        self.branches = nn.ModuleList(build_transform(c, dtype, device) for c in node.children)
        for i, child in enumerate(node.children):
            cols = torch.as_tensor(child.attrs["columns"], dtype=torch.int64, device=device)
            self.register_buffer(f"cols{i}", cols, persistent=False)

    def forward(self, x):
        parts = [branch(x.index_select(1, getattr(self, f"cols{i}")))
                 for i, branch in enumerate(self.branches)]
        return torch.cat(parts, dim=1)


def build_transform(node, dtype, device):
    """The module of one transform record (affine, linear, distances, chain or columns)."""
    if node.op == "chain":
        return Chain([build_transform(c, dtype, device) for c in node.children])
    if node.op == "columns":
        return Columns(node, dtype, device)
    return {"affine": Affine, "linear": Linear, "distances": Distances}[node.op](node, dtype, device)


def _two_columns(p):
    return torch.stack([1.0 - p, p], dim=1)


def _normalise_rows(prob):
    # sklearn's one-vs-rest normalisation: rows that are all zero become uniform.
    total = prob.sum(dim=1, keepdim=True)
    zero = total == 0
    prob = torch.where(zero, torch.ones_like(prob), prob)
    return prob / torch.where(zero, torch.full_like(total, prob.shape[1]), total)


def _logistic_ovr(s):
    p = torch.sigmoid(s)
    return _two_columns(p[:, 0]) if p.shape[1] == 1 else _normalise_rows(p)


def _modified_huber(s):
    p = (s.clamp(-1.0, 1.0) + 1.0) / 2.0
    return _two_columns(p[:, 0]) if p.shape[1] == 1 else _normalise_rows(p)


_PROBA_LINKS = {
    "logistic_ovr": _logistic_ovr,
    "modified_huber": _modified_huber,
    "softmax": lambda s: torch.softmax(s, dim=1),
}


class Head(_Module):
    """Base of the final-estimator modules: ``method(name)`` returns the function for a method."""

    # Bytes of intermediates per chunk of rows on the CPU: sized to the caches, so a step's
    # output is still cached when the next step reads it. (k-means distances, 1M x 20 rows and
    # 16 centres: 213 ms in 4 MiB chunks, 835-859 ms in 8-32 MiB.)
    cpu_chunk_bytes = 4 << 20

    def method(self, name, export=False):
        """The function for sklearn method ``name``; ``export`` asks for pure tensor code."""
        return getattr(self, f"m_{name}")

    def streams(self, method):
        """Whether ``method`` reads each input row once and keeps only a few values per row.

        Such a method gains nothing from chunks sized to the CPU caches (nothing is read twice)
        and pays each chunk's dispatch and output copy: Scaler+SGD on 1M rows ran in 7.3 ms in
        cache-sized chunks and 5.1 ms in one call. Layered heads re-read their intermediates and
        keep the small chunks.
        """
        return False

    def takes_columns(self, method):
        """Whether ``method`` reads a column-ordered (Fortran) block as it is, without a copy."""
        return False

    def numpy_predict(self):
        """A NumPy twin of ``m_predict`` for a few rows on the CPU, or None where there is none.

        For a handful of rows torch's dispatch (a few microseconds an operation) is most of a call
        and NumPy's is a fraction of it: Scaler+MLP(64,32), one row, 9 us against 19 us. Same
        formulas and dtypes as the tensor code, on the same (shared) buffers.
        """
        return None


class LinearModel(Head):
    """Linear classifiers and regressors, and multinomial naive Bayes: ``x @ weight + bias``."""

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        a = node.attrs
        self.single = self.weight.shape[1] == 1 and a["ravel"]
        if self.single:
            # A matrix-vector product: much cheaper than a one-column matrix product on CPU. The
            # intercept is a 0-d tensor: comparing with one is ~2x cheaper than with a Python float.
            self.w = self.weight[:, 0].contiguous()
            self.b = self.bias[0].clone()
            self.neg_b = -self.b
        self.link = _PROBA_LINKS.get(a.get("proba"))
        self.classifier = a["task"] == "classifier"

    def scores(self, x):
        if self.single:
            return torch.mv(x, self.w).add_(self.b)
        return torch.addmm(self.bias, x, self.weight)

    def m_decision_function(self, x):
        return self.scores(x)

    def streams(self, method):
        return method in ("predict", "decision_function")

    def takes_columns(self, method):
        # BLAS reads a column-ordered block as fast as a row-ordered one in a matrix-vector or
        # matrix product (262k x 20 float32: 0.7 ms either way).
        return self.streams(method)

    def m_predict(self, x):
        if not self.classifier:
            return self.scores(x)
        if self.single:
            return torch.mv(x, self.w) > self.neg_b
        return self.scores(x).argmax(dim=1)

    def m_predict_proba(self, x):
        s = self.scores(x)
        return self.link(s[:, None] if self.single else s)

    def numpy_predict(self):
        if self.bias.device.type != "cpu":
            return None
        if self.single:
            w, b, neg_b = self.w.numpy(), self.b.numpy(), self.neg_b.numpy()
            if self.classifier:
                return lambda x: x @ w > neg_b
            return lambda x: x @ w + b
        weight, bias = self.weight.numpy(), self.bias.numpy()
        if self.classifier:
            return lambda x: (x @ weight + bias).argmax(axis=1)
        return lambda x: x @ weight + bias


class GaussianNB(Head):
    """Gaussian naive Bayes: per-class log-likelihood, arg-max and softmax."""

    def jll(self, x):
        diff = x[:, None, :] - self.theta
        return self.const - 0.5 * (diff * diff * self.inv_var).sum(dim=2)

    def m_predict(self, x):
        return self.jll(x).argmax(dim=1)

    def m_predict_proba(self, x):
        return torch.softmax(self.jll(x), dim=1)


class MLP(Head):
    """Multi-layer perceptron: dense layers with the fitted activation, then the output function."""

    # Larger than the default: the layers' matrix products run faster on more rows a call, more
    # than the outputs lose by leaving L2. 1M x 20 rows, 2 threads, 4 / 8 / 16 / 32 MiB chunks:
    # Scaler+MLP(64,32) 129 / 93 / 83 / 103 ms, MLP(256,128) 718 / 565 / 563 / 614 ms, tanh
    # MLP(64,32) 245 / 210 / 198 / 198 ms, Scaler+PCA+MLP(64) 55 / 45 / 34 / 37 ms.
    cpu_chunk_bytes = 16 << 20

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        a = node.attrs
        n = a["n_layers"]
        self.layers = [(getattr(self, f"weight{i}"), getattr(self, f"bias{i}")) for i in range(n)]
        self.activation = a["activation"]
        self.act = _ACTIVATIONS[self.activation]
        self.classifier = a["task"] == "classifier"
        self.binary = a["out"] == "logistic"
        self.ravel = bool(a.get("ravel", False))

    def logits(self, x):
        *hidden, (w, b) = self.layers
        for wi, bi in hidden:
            x = self.act(torch.addmm(bi, x, wi))
        return torch.addmm(b, x, w)

    def m_predict(self, x):
        return self._decide(self.logits(x))

    def _decide(self, z):
        """Predictions from the logits ``z`` (a tensor or a NumPy array)."""
        if self.classifier:
            # sigmoid(z) > 0.5 exactly when z > 0; the arg-max of softmax is that of the logits.
            return z[:, 0] > 0 if self.binary else z.argmax(1)
        return z[:, 0] if self.ravel else z

    def m_predict_proba(self, x):
        z = self.logits(x)
        return _two_columns(torch.sigmoid(z[:, 0])) if self.binary else torch.softmax(z, dim=1)

    def numpy_predict(self):
        if self.layers[0][0].device.type != "cpu":
            return None
        from ._tree_modules import native_available

        if native_available():  # one compiled loop over the layers: a fifth of NumPy's dispatch
            from ._native import dense_rows

            weights = tuple(w.numpy() for w, _ in self.layers)
            biases = tuple(b.numpy() for _, b in self.layers)
            return lambda x: self._decide(dense_rows(x, weights, biases, self.activation))
        act = _NUMPY_ACTIVATIONS.get(self.activation)
        if act is None:
            return None  # (logistic: NumPy's exp would warn on overflow where torch's does not)
        *hidden, (w, b) = [(wi.numpy(), bi.numpy()) for wi, bi in self.layers]

        def predict(x):
            for wi, bi in hidden:
                x = x @ wi
                x += bi
                act(x)
            z = x @ w
            z += b
            return self._decide(z)

        return predict


class KMeans(Head):
    """Nearest centre, distances to the centres, and per-row squared distance for the score."""

    def __init__(self, node, dtype, device):
        super().__init__(node, dtype, device)
        centers = torch.as_tensor(node.arrays["centers"], dtype=torch.float64)
        # argmin_c |x - c|^2 == argmin_c (|c'|^2 + 2 m.c') - 2 x.c' with c' = c - m, m the mean
        # centre: one matrix product, and centring keeps the float32 cancellation small.
        mean = centers.mean(dim=0)
        shifted = centers - mean
        bias = (shifted * shifted).sum(dim=1) + 2.0 * shifted @ mean
        # Scores are laid out (centres, rows): the minimum over the short first axis is vectorised
        # along the rows, where torch's arg-min over a short last axis is not (2-3x slower).
        self.register_buffer("w", (-2.0 * shifted).to(device, dtype), persistent=False)
        self.register_buffer("b", bias[:, None].to(device, dtype), persistent=False)
        self.register_buffer("w_t", self.w.T.contiguous(), persistent=False)
        self.register_buffer("b_row", self.b[:, 0].contiguous(), persistent=False)
        k = len(centers)
        self.k = k
        from ._tree_modules import native_available

        # On CPU the IR kernel of _nearest (all scores of a row in vector registers) is fastest;
        # the numba tile arg-min next (see _native.kmeans_labels); then the matrix product.
        self.nearest = None
        if torch.device(device).type == "cpu":
            from . import _nearest

            w, b = self.w.numpy(), self.b_row.numpy()
            self.nearest = _nearest.labeller(k, w.dtype)
            if self.nearest is not None:
                self._padded = _nearest.prepare(w, b, w.dtype)
        self.native = native_available()
        if self.native:
            from ._native import kmeans_labels

            self._native_labels = kmeans_labels
        # ``k - max(hit * (k - j))`` is the first j that attains the minimum, as argmin's tie rule.
        self.register_buffer("rank", torch.arange(k, 0, -1, dtype=torch.int32, device=device)[:, None],
                             persistent=False)

    def streams(self, method):
        # The CPU kernels hold a row or a tile of rows at a time; the tensor program's scores do
        # not.
        return (method == "predict" and self.w.device.type == "cpu"
                and (self.nearest is not None or self.native))

    def method(self, name, export=False):
        # An exported graph holds tensor operations only, not the CPU kernels.
        return self._tensor_predict if export and name == "predict" else super().method(name)

    def m_predict(self, x):
        if x.device.type == "cpu" and not torch.jit.is_scripting():
            if self.nearest is not None:
                out = np.empty(x.shape[0], np.int32)
                self.nearest(np.ascontiguousarray(x.numpy()), *self._padded, out,
                             torch.get_num_threads())
                return torch.from_numpy(out)
            if self.native and x.shape[0] > 64:
                return self._native_labels(x, self.w.numpy(), self.b_row.numpy())
        return self._tensor_predict(x)

    def _tensor_predict(self, x):
        if x.shape[0] <= 64:  # a few rows: fewer kernel launches beat vectorisation
            scores = torch.addmm(self.b_row, x, self.w_t)
            labels = scores.argmin(dim=1).int()
            # As below: a row with a NaN score (amin propagates it) gets the last label.
            return torch.where(scores.amin(dim=1) < float("inf"), labels, self.k - 1)
        scores = torch.addmm(self.b, self.w, x.T)
        hit = (scores == scores.amin(dim=0)).to(torch.int32).mul_(self.rank)
        # A NaN row matches no centre; it gets the last label instead of an out-of-range one.
        # int32 labels, as sklearn's KMeans.predict returns.
        return (self.k - hit.amax(dim=0)).clamp_(max=self.k - 1)

    def numpy_predict(self):
        if self.w_t.device.type != "cpu":
            return None
        w_t, b_row, last = self.w_t.numpy(), self.b_row.numpy(), self.k - 1

        def predict(x):
            scores = x @ w_t
            scores += b_row
            if np.isfinite(scores).all():
                return scores.argmin(axis=1).astype(np.int32)
            # The CPU kernels' rule: NaN scores never win; no score below +inf, the last label.
            scores[np.isnan(scores)] = np.inf
            labels = scores.argmin(axis=1).astype(np.int32)
            labels[~(scores.min(axis=1) < np.inf)] = last
            return labels

        return predict

    def m_transform(self, x):
        return _sq_distances(x, self.centers).sqrt_()

    def m_min_sq_distance(self, x):
        return _sq_distances(x, self.centers).min(dim=1).values


class TransformOnly(Head):
    """The head of a pipeline that ends with a transformer: ``transform`` is the identity."""

    def m_transform(self, x):
        return x
