"""Prediction heads: the final estimator of a compiled pipeline, as a tensor program or a CPU kernel.

A head computes its raw output (scores, logits, distances) with its tensor program or, decided when
it is built, its family's CPU kernel (``_kernels``). Links and decisions are written once against
:class:`Ops` (torch on tensors, NumPy on a kernel's arrays). Classifier heads return class
*indices* (bool for a two-class sign test); labels are mapped outside, where strings can live.
"""

import numpy as np
import torch
from scipy.special import expit, softmax
from torch import nn

from . import _kernels
from ._inputs import finite
from ._steps import Distances, Module


class Ops:
    """The few array functions links need, for torch tensors (``TORCH``) or NumPy arrays (``NUMPY``)."""

    def __init__(self, torch_side):
        self.torch = torch_side

    def sigmoid(self, s):
        return torch.sigmoid(s) if self.torch else expit(s)  # one ufunc, no overflow warning

    def softmax(self, s):
        return torch.softmax(s, dim=1) if self.torch else softmax(s, axis=1)

    def where(self, cond, a, b):
        return torch.where(cond, a, b) if self.torch else np.where(cond, a, b)

    def array(self, x):
        """``x`` in this side's array type (a CPU kernel reads C-ordered NumPy arrays)."""
        if self.torch:
            return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
        return np.ascontiguousarray(x.numpy() if isinstance(x, torch.Tensor) else x)


TORCH, NUMPY = Ops(True), Ops(False)


def both_classes(ops, s):
    """Scores ``s`` of the second class, one column, as ``[-s, s]``: a two-class link maps them
    to both probabilities at once (``sigmoid(-s) == 1 - sigmoid(s)``, the clip alike)."""
    return torch.cat((-s, s), dim=1) if ops.torch else np.concatenate((-s, s), axis=1)


def _one_vs_rest(link):
    """The link of one-vs-rest scores: ``link`` of both classes' scores for two classes, else of each
    class's, rows normalised as scikit-learn does (rows that are all zero become uniform)."""

    def proba(ops, s):
        if s.shape[1] == 1:
            return link(ops, both_classes(ops, s))
        p = link(ops, s)
        total = p.sum(axis=1, keepdims=True)
        zero = total == 0
        return ops.where(zero, 1.0 / p.shape[1], p / ops.where(zero, 1.0, total))
    return proba


LINKS = {"logistic_ovr": _one_vs_rest(lambda ops, s: ops.sigmoid(s)),
         "modified_huber": _one_vs_rest(lambda ops, s: (s.clip(-1.0, 1.0) + 1.0) / 2.0),
         "softmax": lambda ops, s: ops.softmax(s),
         "logistic": lambda ops, s: ops.sigmoid(both_classes(ops, s[:, :1])),
         # GradientBoosting's exponential loss: p = expit(2 * raw).
         "exp_logistic": lambda ops, s: ops.sigmoid(both_classes(ops, 2.0 * s[:, :1]))}


class Head(Module):
    """Base of the heads: ``method(name)`` is the function for scikit-learn method ``name``."""

    # Families with a CPU kernel set this: the kernel runs when the head is on the CPU and numba runs.
    has_kernel = False
    # Heads that see a refused input as they compute set ``watches`` (NaN or infinity reaches linear
    # scores and k-means distances; the tree kernel reads every value): with no steps before them, the
    # pipeline sets ``refused(x)``, which raises naming the value, so accepted batches cost no extra pass.
    watches = False
    refused = None

    def __init__(self, node, dtype, device, kernel=True):
        super().__init__(node, dtype, device)
        self.kernel = kernel and self.has_kernel and _kernels.AVAILABLE and torch.device(device).type == "cpu"
        self.ops = NUMPY if self.kernel else TORCH
        self.np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        self.classifier = node.attrs.get("task") == "classifier"
        self.ravel = bool(node.attrs.get("ravel"))
        self.fused = bool(node.attrs.get("fused_input"))  # the steps end in the first layer's x @ W

    def method(self, name):
        return getattr(self, f"m_{name}")


class LinearModel(Head):
    """Linear classifiers and regressors, multinomial and Bernoulli naive Bayes: ``x @ W + b``
    (with ``fused_input`` the weights were pushed into the steps: the input is ``x @ W``; with a
    ``centre``, a scaler folded in: ``(x - centre) @ W + b``)."""

    has_kernel = watches = True

    def __init__(self, node, dtype, device, kernel=True):
        super().__init__(node, dtype, device, kernel)
        self.link = LINKS.get(node.attrs.get("proba"))
        self.centre = getattr(self, "centre", None)  # a buffer where a scaler was folded in
        if self.kernel:  # the kernel's constants by input dtype
            b, w = self.bias.numpy(), None if self.fused else self.weight.numpy()
            c = np.zeros(len(w)) if self.centre is None and w is not None else self.centre
            self.consts = {np.dtype(t): (None if w is None else np.asarray(c, t),
                                         None if w is None else np.ascontiguousarray(w.T, t),
                                         b.astype(t)) for t in (np.float32, np.float64)}

    def scores(self, x):
        if not (self.kernel and isinstance(x, np.ndarray) and x.flags.f_contiguous):
            x = self.ops.array(x)  # the kernel reads column-ordered blocks as they are
        if not self.kernel:
            s = x if self.centre is None else x - self.centre
            s = s + self.bias if self.fused else torch.addmm(self.bias, s, self.weight)
            if self.refused and not finite(s):
                self.refused(x)
            return s
        c, wt, b = self.consts[x.dtype]
        if self.fused:
            return x + b
        s = np.empty((x.shape[0], len(b)), x.dtype)
        if not _kernels.run(_kernels.linear, x, (c, wt, b), (s,)) and self.refused:
            self.refused(x)
        return s

    def m_decision_function(self, x):
        s = self.scores(x)
        return s[:, 0] if self.ravel else s

    def m_predict(self, x):
        s = self.scores(x)
        if not self.classifier:
            return s[:, 0] if self.ravel else s
        return s[:, 0] > 0 if self.ravel else s.argmax(axis=1)

    def m_predict_proba(self, x):
        return self.link(self.ops, self.scores(x))


_ACTIVATIONS = {"identity": lambda z: z, "relu": torch.relu, "tanh": torch.tanh, "logistic": torch.sigmoid}


class MLP(Head):
    """Multi-layer perceptron: dense layers with the fitted activation, then the output function."""

    has_kernel = True

    def __init__(self, node, dtype, device, kernel=True):
        super().__init__(node, dtype, device, kernel)
        self.layers = [(getattr(self, f"weight{i}", None), getattr(self, f"bias{i}")) for i in range(self.n_layers)]
        self.act = _ACTIVATIONS[self.activation]
        self.binary = self.out == "logistic"
        if self.kernel:  # the kernel's constants by input dtype: all layers in one buffer
            shapes = np.array([(0 if w is None else w.shape[0], len(b)) for w, b in self.layers])
            weights = np.concatenate([np.zeros(0) if w is None else w.numpy().ravel() for w, _ in self.layers])
            biases = np.concatenate([b.numpy() for _, b in self.layers])
            self.consts = {np.dtype(t): (weights.astype(t), shapes, biases.astype(t),
                                         _kernels.ACTIVATIONS[self.activation], self.fused)
                           for t in (np.float32, np.float64)}

    def logits(self, x):
        x = self.ops.array(x)
        if self.kernel:
            out = np.empty((x.shape[0], self.layers[-1][1].shape[0]), x.dtype)
            _kernels.run(_kernels.mlp, x, self.consts[x.dtype], (out,))
            return out
        *hidden, (w, b) = self.layers
        for wi, bi in hidden:
            x = self.act(x + bi if wi is None else torch.addmm(bi, x, wi))
        return x + b if w is None else torch.addmm(b, x, w)

    def m_predict(self, x):
        z = self.logits(x)
        if self.classifier:
            # sigmoid(z) > 0.5 exactly when z > 0; the arg-max of softmax is that of the logits.
            return z[:, 0] > 0 if self.binary else z.argmax(axis=1)
        return z[:, 0] if self.ravel else z

    def m_predict_proba(self, x):
        z = self.logits(x)
        return self.ops.sigmoid(both_classes(self.ops, z)) if self.binary else self.ops.softmax(z)


class KMeans(Head, Distances):
    """Nearest centre (predict), distances (transform), squared distance to it (score): one
    formula (:class:`Distances`); the label is the first arg-min of what ``transform`` returns."""

    has_kernel = watches = True

    def method(self, name):
        return lambda x: self.distances(x, name)

    def distances(self, x, want):
        x = self.ops.array(x)
        if self.kernel:
            labels, nearest = np.empty(len(x), np.int32), np.empty(len(x), x.dtype)
            dist = np.empty((len(x) if want == "transform" else 0, len(self.expansion[2])), x.dtype)
            ok = _kernels.run(_kernels.nearest, x, self.expansion, (labels, nearest, dist))
        else:
            nearest, labels = (dist := self(x)).min(dim=1)
            ok = not self.refused or finite(nearest)
        if not ok and self.refused:
            self.refused(x)
        return {"predict": labels if self.kernel else labels.int(), "transform": dist,
                "min_sq_distance": nearest * nearest}[want]


class GaussianNB(Head):
    """Gaussian naive Bayes: per-class log-likelihood, arg-max and softmax (tensor program only)."""

    def jll(self, x):
        diff = self.ops.array(x)[:, None, :] - self.theta
        return self.const - 0.5 * (diff * diff * self.inv_var).sum(dim=2)

    def m_predict(self, x):
        return self.jll(x).argmax(dim=1)

    def m_predict_proba(self, x):
        return torch.softmax(self.jll(x), dim=1)


class TransformOnly(nn.Module):
    """The head of a pipeline that ends with a transformer: ``transform`` is the identity."""

    kernel = watches = False

    def method(self, name):
        return lambda x: x
