"""CompiledPipeline: a fitted pipeline as torch modules, with scikit-learn's prediction methods.

Inputs may be NumPy arrays, pandas DataFrames, torch tensors (outputs stay torch, on the model's
device) or dask arrays/DataFrames (outputs are lazy ``map_blocks`` results). Large batches are cut
into chunks so that intermediate tensors stay within a fixed memory budget.
"""

import functools

import numpy as np
import torch

from . import _modules as m
from ._spec import Graph, Node, labels_from_json
from ._tree_modules import STRATEGIES, TreeEnsemble

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_HEADS = {"linear_model": m.LinearModel, "gaussian_nb": m.GaussianNB, "mlp": m.MLP, "kmeans": m.KMeans}
_ALL_METHODS = ("predict", "predict_proba", "decision_function", "transform", "score")
# Intermediate memory allowed per chunk of rows on GPUs: large launches. On the CPU each head says
# (``Head.cpu_chunk_bytes``: sized to the caches, so a step's output is still cached when the next
# reads it). Heads that read each row once (``Head.streams``) take chunks up to the memory budget
# on the CPU too.
_CHUNK_BYTES = {"cuda": 2 << 30}
_STREAM_BYTES = 256 << 20
# Rows up to which ``predict`` on the CPU runs the head's NumPy twin, when it has one: below it
# torch's per-operation dispatch outweighs its faster kernels.
_NUMPY_ROWS = 16


def _resolve_dtype(dtype):
    key = dtype if isinstance(dtype, str) else {torch.float32: "float32", torch.float64: "float64",
                                                np.float32: "float32", np.float64: "float64"}.get(dtype)
    if key not in _DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported; use 'float32' (default) or 'float64'")
    return key


class _Method:
    """A method that exists only when the compiled model supports it (like sklearn's available_if)."""

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        name = self.fn.__name__
        if name not in obj._methods:
            raise AttributeError(
                f"this compiled {obj.graph.source} has no {name}(); it offers {', '.join(obj._methods)}"
            )
        # Cache the bound method on the instance: later lookups skip this descriptor entirely
        # (it defines no __set__), which matters for single-row latency.
        bound = obj.__dict__[name] = functools.partial(self.fn, obj)
        return bound


def _width(node, width):
    return node.n_out if node.op in ("affine", "linear", "distances", "columns", "chain") else width


class CompiledPipeline:
    """A fitted scikit-learn model compiled to torch: same predictions, faster, no sklearn needed.

    Build one with :func:`~outofcore.compile_pipeline` or :func:`~outofcore.load_compiled`.

    Parameters
    ----------
    graph : Graph
        The converted model.
    device : str or torch.device
        Where the tensors live (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    dtype : {"float32", "float64"}
        Compute precision.
    tree_strategy : {"auto", "gemm", "perfect", "traversal"}
        How tree ensembles are evaluated; ``"auto"`` picks by depth, device and batch size.
    batch_size : int, optional
        Rows per chunk; by default chosen so intermediate tensors stay within a fixed budget.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, for classifiers.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Present when the model was fitted on named columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> import outofcore as ooc
    >>> X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    >>> model = LogisticRegression().fit(X, X[:, 0] > 0)
    >>> compiled = ooc.compile_pipeline(model)
    >>> bool((compiled.predict(X) == model.predict(X)).all())
    True
    """

    def __init__(self, graph, *, device="cpu", dtype="float32", tree_strategy="auto", batch_size=None):
        if tree_strategy not in STRATEGIES:
            raise ValueError(f"tree_strategy={tree_strategy!r} is not one of {STRATEGIES}")
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.graph = graph
        self.device = torch.device(device)
        self.dtype = _resolve_dtype(dtype)
        self.tree_strategy, self.batch_size = tree_strategy, batch_size
        tdtype = _DTYPES[self.dtype]
        self._tdtype, self._np_dtype = tdtype, np.dtype(self.dtype)
        self._on_cpu = self.device.type == "cpu"
        self._steps = m.Chain([m.build_transform(n, tdtype, self.device) for n in graph.steps]).eval()
        head = graph.head
        if head is None:
            self._head = m.TransformOnly(Node("identity"), tdtype, self.device)
            self._methods = ("transform",)
        elif head.op == "trees":
            self._head = TreeEnsemble(head, tdtype, self.device, tree_strategy)
            self._methods = tuple(head.attrs["methods"])
        else:
            self._head = _HEADS[head.op](head, tdtype, self.device)
            self._methods = tuple(head.attrs["methods"])
        self._head.eval()
        self.n_features_in_ = graph.n_features_in
        if graph.feature_names_in is not None:
            self.feature_names_in_ = np.asarray(graph.feature_names_in, dtype=object)
        self._task = None if head is None else head.attrs.get("task")
        if self._task == "classifier":
            self.classes_ = labels_from_json(head.attrs["classes"])
            numeric = self.classes_.dtype.kind in "iufb"
            self._classes_t = torch.as_tensor(self.classes_, device=self.device) if numeric else None
            # Labels 0..k-1 (the usual integer classes) are their own indices: a cast, no lookup.
            self._labels_are_indices = numeric and np.array_equal(self.classes_,
                                                                  np.arange(len(self.classes_)))
        widths = [graph.n_features_in]
        for node in graph.steps:
            widths.append(_width(node, widths[-1]))
        self._n_transformed = widths[-1]
        self._step_bytes = sum(widths) * tdtype.itemsize
        self._fns = {name: self._head.method(name) for name in self._methods if name != "score"}
        # A few rows skip torch where every step was fused into the head and it has a NumPy twin.
        self._numpy_predict = (self._head.numpy_predict()
                               if self._on_cpu and not graph.steps and "predict" in self._fns
                               else None)
        self._fixed_bytes = self._step_bytes + self._head_bytes()
        if self._task == "clusterer":
            self._fns["min_sq_distance"] = self._head.method("min_sq_distance")

    def __repr__(self):
        return (f"CompiledPipeline({self.graph.source}, device={str(self.device)!r}, "
                f"dtype={self.dtype!r}, methods={list(self._methods)})")

    def __reduce__(self):
        # Dask's distributed scheduler ships tasks by pickling them; rebuild from the spec rather
        # than pickling torch modules (which hold lambdas chosen at build time).
        doc, arrays = self.graph.to_json()
        options = {"device": str(self.device), "dtype": self.dtype, "tree_strategy": self.tree_strategy,
                   "batch_size": self.batch_size}
        return _rebuild, (doc, arrays, options)

    # ----------------------------------------------------------------- public methods
    @_Method
    def predict(self, X):
        """Predicted labels (classifiers), values (regressors) or cluster indices, like sklearn's."""
        return self._run("predict", X)

    @_Method
    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``."""
        return self._run("predict_proba", X)

    @_Method
    def decision_function(self, X):
        """Raw decision scores: 1-D for two classes, one column per class otherwise."""
        return self._run("decision_function", X)

    @_Method
    def transform(self, X):
        """The transformed features (scalers, PCA, ColumnTransformer) or k-means distances."""
        return self._run("transform", X)

    @_Method
    def score(self, X, y=None, sample_weight=None):
        """Accuracy (classifiers), R^2 (regressors) or minus the inertia (k-means), as sklearn's."""
        from ._scores import score

        if self._task == "clusterer":
            return score(self._run("min_sq_distance", X), None, sample_weight, kind="inertia")
        kind = "accuracy" if self._task == "classifier" else "r2"
        return score(self.predict(X), y, sample_weight, kind=kind)

    def to(self, device):
        """A copy of this compiled pipeline on another device."""
        return CompiledPipeline(self.graph, device=device, dtype=self.dtype,
                                tree_strategy=self.tree_strategy, batch_size=self.batch_size)

    def save(self, path):
        """Write the model to ``path`` (safetensors + JSON; loads without pickle or sklearn)."""
        from ._serialize import save

        save(self, path)

    def to_onnx(self, path, *, method=None, opset=None):
        """Export to ONNX (``label``/``probabilities``, ``variable`` or ``transformed`` outputs)."""
        from ._onnx import to_onnx

        return to_onnx(self, path, method=method, opset=opset)

    # ----------------------------------------------------------------- machinery
    def _rows_per_chunk(self, n, method):
        if self.batch_size is not None:
            return self.batch_size
        per_row = self._fixed_bytes
        if isinstance(self._head, TreeEnsemble):
            per_row += self._head.chunk_bytes(n)
        budget = (self._head.cpu_chunk_bytes if self._on_cpu
                  else _CHUNK_BYTES.get(self.device.type, _CHUNK_BYTES["cuda"]))
        if not self.graph.steps and self._head.streams(method):
            budget = max(budget, _STREAM_BYTES)
        return max(1024, budget // per_row)

    def _head_bytes(self):
        head = self.graph.head
        if head is None:
            return 0
        widths = [a.shape[-1] for a in head.arrays.values() if a.ndim == 2]
        if head.op == "gaussian_nb":
            widths = [head.arrays["theta"].size * 2]
        elif head.op == "kmeans":  # scores and matches: one value per centre and row each
            widths = [len(head.arrays["centers"])]
        return sum(widths) * self._tdtype.itemsize * 2

    def _compute(self, fn, x, method):
        # No autograd context is entered (it costs ~1-2 us a call): the buffers never require
        # gradients and tensor inputs are detached, so nothing is recorded anyway.
        n = x.shape[0]
        if n <= 1024:  # below every chunk size: skip the bookkeeping (single-row latency)
            return fn(x)
        rows = self._rows_per_chunk(n, method)
        if n <= rows:
            return fn(x)
        first = fn(x[:rows])
        out = first.new_empty((n,) + tuple(first.shape[1:]))
        out[:rows] = first
        for start in range(rows, n, rows):
            out[start:start + rows] = fn(x[start:start + rows])
        return out

    def _is_plain(self, X):
        """Whether X is a 2-D NumPy array of the compute dtype and the fitted width (usable as is)."""
        return (type(X) is np.ndarray and X.dtype == self._np_dtype and X.ndim == 2
                and X.shape[1] == self.n_features_in_)

    def _takes_columns(self, method):
        """Whether ``method`` runs on a column-ordered NumPy block without copying it (CPU, every
        step fused into a head that reads columns as fast); ``predict_to_parquet`` then builds
        its blocks in that order, which costs half the time."""
        return self._on_cpu and not self.graph.steps and self._head.takes_columns(method)

    def _tensor(self, X, method):
        """X as a 2-D tensor of the compute dtype on the model's device, checked against the fit."""
        if self._on_cpu and self._is_plain(X) and (
                X.flags.c_contiguous or (X.flags.f_contiguous and self._takes_columns(method))):
            return torch.from_numpy(X)  # the common case, without copies or further checks
        if isinstance(X, torch.Tensor):
            x = X.detach().to(device=self.device, dtype=self._tdtype)
        else:
            names = getattr(self, "feature_names_in_", None)
            if names is not None and hasattr(X, "columns") and hasattr(X, "to_numpy"):
                missing = [c for c in names if c not in X.columns]
                if missing:
                    raise ValueError(
                        f"columns {missing} are missing from the input; this compiled "
                        f"{self.graph.source} was fitted on {list(names)}"
                    )
                X = X[list(names)]
            if hasattr(X, "to_numpy"):
                X = X.to_numpy(dtype=self._np_dtype)
            x = torch.from_numpy(np.ascontiguousarray(X, dtype=self._np_dtype)).to(self.device)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            shape = tuple(x.shape)
            raise ValueError(
                f"X has shape {shape}, but this compiled {self.graph.source} expects 2-D input with "
                f"{self.n_features_in_} features; reshape a single row with X.reshape(1, -1)"
            )
        return x if x.is_contiguous() else x.contiguous()

    def _run(self, method, X):
        if (method == "predict" and self._numpy_predict is not None and self._is_plain(X)
                and X.shape[0] <= _NUMPY_ROWS):
            out = self._numpy_predict(X)
            return self._numpy_labels(out) if self._task == "classifier" else out
        if hasattr(X, "__dask_graph__"):
            from ._dask import run_dask

            return run_dask(self, method, X)
        x = self._tensor(X, method)
        fn = self._fns[method]
        if self.graph.steps:
            steps = self._steps.forward
            out = self._compute(lambda chunk: fn(steps(chunk)), x, method)
        else:
            out = self._compute(fn, x, method)
        if method == "predict" and self._task == "classifier":
            return self._labels(out, torch_out=isinstance(X, torch.Tensor))
        return out if isinstance(X, torch.Tensor) else out.cpu().numpy()

    def _labels(self, index, torch_out):
        if torch_out and self._classes_t is not None:
            return self._classes_t[index.long()]
        return self._numpy_labels(index.cpu().numpy())

    def _numpy_labels(self, index):
        if self._labels_are_indices:
            return index.astype(self.classes_.dtype)
        return self.classes_.take(index.view(np.uint8) if index.dtype == bool else index)


def _rebuild(doc, arrays, options):
    return CompiledPipeline(Graph.from_json(doc, arrays), **options)


def compile_pipeline(model, *, device="cpu", dtype="float32", tree_strategy="auto", batch_size=None,
                     fuse=True):
    """Compile a fitted scikit-learn model (or pipeline, or ``Incremental``) to torch.

    Parameters
    ----------
    model : estimator
        A fitted estimator, ``Pipeline``, ``ColumnTransformer`` over numeric columns, or
        :class:`~outofcore.Incremental`. Unsupported steps raise ``TypeError`` naming the class
        and listing the supported ones.
    device : str or torch.device
        ``"cpu"`` (default) or a CUDA device.
    dtype : {"float32", "float64"}
        Compute precision; float32 by default.
    tree_strategy : {"auto", "gemm", "perfect", "traversal"}
        Tree-ensemble evaluation (see :mod:`outofcore.compiled._tree_modules`).
    batch_size : int, optional
        Rows per chunk; by default sized to keep intermediate tensors within a memory budget.
    fuse : bool
        Fold scalers and projections into the following linear layer (exact algebra).

    Returns
    -------
    CompiledPipeline

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import SGDRegressor
    >>> import outofcore as ooc
    >>> X = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    >>> pipe = make_pipeline(StandardScaler(), SGDRegressor(random_state=0)).fit(X, X @ [1, 2, 3, 4])
    >>> compiled = ooc.compile_pipeline(pipe)
    >>> bool(np.allclose(compiled.predict(X), pipe.predict(X), rtol=1e-4, atol=1e-4))
    True
    """
    from ._fuse import fuse as fuse_steps
    from ._registry import convert

    graph = convert(model)
    if fuse:
        graph.steps, graph.head = fuse_steps(graph.steps, graph.head)
    return CompiledPipeline(graph, device=device, dtype=dtype, tree_strategy=tree_strategy,
                            batch_size=batch_size)
