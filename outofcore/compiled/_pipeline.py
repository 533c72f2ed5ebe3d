"""CompiledPipeline: a fitted pipeline as torch modules, with scikit-learn's prediction methods.

A call builds the input array and checks it for values scikit-learn refuses (``_inputs``), runs
the steps and the head (in chunks that bound the tensor program's intermediates), and maps class
indices to labels. Torch input gives torch output; dask input, lazy ``map_blocks`` results.
"""

import functools

import numpy as np
import torch

from . import _steps
from ._heads import MLP, GaussianNB, KMeans, LinearModel, TransformOnly
from ._spec import Graph, Node, labels_from_json, write
from ._inputs import Lookup, check, input_policy, to_array
from ._trees import TreeEnsemble

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_HEADS = {"linear_model": LinearModel, "gaussian_nb": GaussianNB, "mlp": MLP, "kmeans": KMeans,
          "trees": TreeEnsemble}
# Intermediate bytes allowed per chunk of rows: cache-sized on the CPU (a step's output is still
# cached when the next one reads it), large launches on GPUs.
_CHUNK_BYTES = {"cpu": 16 << 20, "cuda": 2 << 30}


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
                f"this compiled {obj.graph.source} has no {name}(); it offers {', '.join(obj._methods)}")
        # Cached on the instance: later lookups skip this descriptor (it defines no __set__).
        bound = obj.__dict__[name] = functools.partial(self.fn, obj)
        return bound


def _score(pred, y, sample_weight, *, kind):
    """Accuracy, R^2 (averaged over outputs, as ``sklearn.metrics.r2_score``) or minus the inertia
    (``pred`` holds squared distances), without scikit-learn."""
    if hasattr(pred, "__dask_graph__"):
        from ._dask import dask_score

        return dask_score(pred, y, sample_weight, kind)
    n = len(pred)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if len(w) != n:
        raise ValueError(f"sample_weight has {len(w)} values for {n} rows")
    if kind == "inertia":
        return -float((w * np.asarray(pred, dtype=np.float64)).sum())
    if y is None or len(y) != n:
        raise ValueError(f"y has {None if y is None else len(y)} values for {n} rows of X")
    from outofcore.training.scoring import finish, prediction_sums

    return finish([prediction_sums(pred, np.asarray(y), w, kind=kind)], kind)


def _row_floats(nodes, width):
    """Intermediate floats per row of a tensor program (to size its chunks)."""
    total = 0
    for node in nodes:
        total += sum(_row_floats(c.children, width) for c in node.children)
        big = {"distances": "centers", "kmeans": "centers", "gaussian_nb": "theta"}.get(node.op)
        per_output = width + 1 if node.op == "quadratic" else 1  # a quadratic's padded input times its form
        total += node.arrays[big].size if big else (  # differences to every centre or class
            6 * len(node.arrays["roots"]) if node.op == "trees" else node.width(width) * per_output)
        width = node.width(width)
    return total


class CompiledPipeline:
    """A fitted scikit-learn model compiled to torch: same predictions, faster, no sklearn needed.

    Build one with :func:`~outofcore.compile_pipeline` or :func:`~outofcore.load_compiled`.

    Parameters
    ----------
    graph : Graph
        The converted model.
    device, dtype, batch_size, cpu_kernels
        As in :func:`~outofcore.compile_pipeline`.

    Attributes
    ----------
    classes_ : ndarray
        Class labels, for classifiers.
    n_features_in_, feature_names_in_
        As the fitted model's (the names when it was fitted on named columns).

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

    def __init__(self, graph, *, device="cpu", dtype="float32", batch_size=None, cpu_kernels=True):
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        key = dtype if isinstance(dtype, str) else {torch.float32: "float32", torch.float64: "float64",
                                                    np.float32: "float32", np.float64: "float64"}.get(dtype)
        if key not in _DTYPES:
            raise ValueError(f"dtype={dtype!r} is not supported; use 'float32' (default) or 'float64'")
        self.graph, self.device = graph, torch.device(device)
        self.dtype, self.batch_size, self.cpu_kernels = key, batch_size, cpu_kernels
        self._tdtype, self._np_dtype = _DTYPES[self.dtype], np.dtype(self.dtype)
        self._steps = _steps.build(Node("chain", children=graph.steps), self._tdtype, self.device).eval()
        head = graph.head
        if head is None:
            self._head, self._methods, self._task = TransformOnly(), ("transform",), None
        else:
            self._head = _HEADS[head.op](head, self._tdtype, self.device, cpu_kernels).eval()
            self._methods, self._task = tuple(head.attrs["methods"]), head.attrs.get("task")
        self.n_features_in_ = graph.n_features_in
        if graph.feature_names_in is not None:
            self.feature_names_in_ = np.asarray(graph.feature_names_in, dtype=object)
        if self._task == "classifier":
            self.classes_ = labels_from_json(head.attrs["classes"])
            numeric = self.classes_.dtype.kind in "iufb"
            self._classes_t = torch.as_tensor(self.classes_, device=self.device) if numeric else None
            # Labels 0..k-1 (the usual integer classes) are their own indices: a cast, no lookup.
            self._labels_are_indices = numeric and np.array_equal(self.classes_, np.arange(len(self.classes_)))
        # HistGradientBoosting compares in float64: float64 input stays float64 (see _trees).
        self._keep_float64 = head is not None and head.attrs.get("compare") == "input"
        self._lookups = {j: Lookup(spec["lookup"], self._np_dtype)
                         for j, spec in enumerate(graph.inputs or []) if "lookup" in spec}
        self._policy = input_policy(graph)
        if self._head.watches and self._policy and not graph.steps and graph.inputs is None:
            # The head sees what it refuses as it computes (see Head.watches): no pass of its own.
            self._head.refused = functools.partial(check, policy=self._policy, model=self)
            self._policy = []
        names = [m for m in self._methods if m != "score"]
        names += ["min_sq_distance"] if self._task == "clusterer" else []
        steps = self._steps
        self._fns = {name: self._head.method(name) if not graph.steps else
                     (lambda x, fn=self._head.method(name): fn(steps(x))) for name in names}
        # A CPU kernel with no steps before it reads the NumPy input directly.
        self._direct = not graph.steps and self._head.kernel
        n_in = len(graph.inputs) if graph.inputs is not None else graph.n_features_in
        nodes = graph.steps + ([head] if head is not None and not self._head.kernel else [])
        row_bytes = max(1, _row_floats(nodes, n_in)) * self._np_dtype.itemsize
        self._chunk_rows = max(1024, _CHUNK_BYTES.get(self.device.type, _CHUNK_BYTES["cuda"]) // row_bytes)

    def __repr__(self):
        return (f"CompiledPipeline({self.graph.source}, device={str(self.device)!r}, "
                f"dtype={self.dtype!r}, methods={list(self._methods)})")

    def __reduce__(self):
        # Dask's distributed scheduler ships tasks by pickling them: rebuild from the records
        # rather than pickling torch modules.
        return _rebuild, (*self.graph.to_json(), self._options(device=str(self.device)))

    def _options(self, **changed):
        return {"device": self.device, "dtype": self.dtype, "batch_size": self.batch_size,
                "cpu_kernels": self.cpu_kernels, **changed}

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
        """The transformed features, or k-means distances."""
        return self._run("transform", X)

    @_Method
    def score(self, X, y=None, sample_weight=None):
        """Accuracy (classifiers), R^2 (regressors) or minus the inertia (k-means), as sklearn's."""
        if self._task == "clusterer":
            return _score(self._run("min_sq_distance", X), None, sample_weight, kind="inertia")
        kind = "accuracy" if self._task == "classifier" else "r2"
        return _score(self.predict(X), y, sample_weight, kind=kind)

    def to(self, device):
        """A copy of this compiled pipeline on another device."""
        return CompiledPipeline(self.graph, **self._options(device=device))

    def save(self, path, *, overwrite=False):
        """Write the model to ``path`` (safetensors + JSON; loads without pickle or sklearn); an
        existing file is replaced only with ``overwrite=True``."""
        write(self, path, overwrite=overwrite)

    def to_onnx(self, path, *, method=None, opset=None):
        """Export to ONNX (``label``/``probabilities``, ``variable`` or ``transformed`` outputs)."""
        from ._onnx import to_onnx

        return to_onnx(self, path, method=method, opset=opset)

    def _takes_columns(self, method):
        """Whether ``method`` reads a column-ordered (Fortran) NumPy block without copying it;
        ``predict_to_parquet`` then builds its blocks in that order, which costs half the time."""
        return (isinstance(self._head, LinearModel) and bool(self._direct) and self.graph.inputs is None
                and method in ("predict", "predict_proba", "decision_function"))

    def _run(self, method, X):
        if (type(X) is np.ndarray and X.dtype == self._np_dtype and self.graph.inputs is None
                and X.ndim == 2 and X.shape[1] == self.n_features_in_):
            x = X  # the common case: used as it is
        elif hasattr(X, "__dask_graph__"):
            from ._dask import run_dask

            return run_dask(self, method, X)
        else:
            x = to_array(self, X)
        if self._policy:
            check(x, self._policy, self)
        if isinstance(x, np.ndarray) and not self._direct:
            x = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        fn, n, rows = self._fns[method], x.shape[0], self.batch_size or self._chunk_rows
        if n <= rows or (self._direct and self.batch_size is None):  # a kernel streams through its batch
            out = fn(x)
        else:
            parts = [fn(x[start:start + rows]) for start in range(0, n, rows)]
            out = torch.cat(parts) if isinstance(parts[0], torch.Tensor) else np.concatenate(parts)
        as_torch = isinstance(X, torch.Tensor)
        if method == "predict" and self._task == "classifier":
            return self._labels(out, as_torch)
        if as_torch:
            return out if isinstance(out, torch.Tensor) else torch.from_numpy(out).to(self.device)
        return out.cpu().numpy() if isinstance(out, torch.Tensor) else out

    def _labels(self, index, as_torch):
        if as_torch and self._classes_t is not None:
            index = index if isinstance(index, torch.Tensor) else torch.from_numpy(index)
            return self._classes_t[index.to(self.device).long()]
        index = index.cpu().numpy() if isinstance(index, torch.Tensor) else index
        if self._labels_are_indices:
            return index.astype(self.classes_.dtype)
        return self.classes_.take(index.view(np.uint8) if index.dtype == bool else index)


def _rebuild(doc, arrays, options):
    return CompiledPipeline(Graph.from_json(doc, arrays), **options)
