"""The two ways to get a compiled model: compile a fitted one, or load a saved one."""

from ._fuse import fuse as fuse_steps
from ._pipeline import CompiledPipeline
from ._registry import convert
from ._spec import read


def compile_pipeline(model, *, device="cpu", dtype="float32", batch_size=None, fuse=True,
                     cpu_kernels=True):
    """Compile a fitted scikit-learn model (or pipeline, or ``Incremental``) to torch.

    Parameters
    ----------
    model : estimator
        A fitted estimator, ``Pipeline``, ``ColumnTransformer`` or
        :class:`~outofcore.Incremental`. Unsupported steps raise ``TypeError`` naming the class
        and listing the supported ones.
    device : str or torch.device
        ``"cpu"`` (default) or a CUDA device.
    dtype : {"float32", "float64"}
        Compute precision; float32 by default. Tree comparisons are exact either way.
    batch_size : int, optional
        Rows per chunk; by default sized to keep intermediate tensors within a memory budget.
    fuse : bool
        Fold scalers, projections and one-hot encodings into the following linear layer (exact
        algebra).
    cpu_kernels : bool
        On the CPU, run the head with its family's compiled kernel (numba) where it can run.

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
    graph = convert(model)
    if fuse:
        graph.steps, graph.head = fuse_steps(graph.steps, graph.head)
    return CompiledPipeline(graph, device=device, dtype=dtype, batch_size=batch_size, cpu_kernels=cpu_kernels)


def load_compiled(path, *, device="cpu", dtype=None, batch_size=None, cpu_kernels=True):
    """Load a model written by :meth:`CompiledPipeline.save`.

    Parameters
    ----------
    path : str or path-like
        The file written by ``save``.
    device, batch_size, cpu_kernels
        As in :func:`~outofcore.compile_pipeline`.
    dtype : {"float32", "float64"}, optional
        Compute precision; by default the one it was compiled with.

    Returns
    -------
    CompiledPipeline

    Examples
    --------
    >>> model = load_compiled("model.safetensors", device="cpu")   # doctest: +SKIP
    >>> model.predict(X)                                           # doctest: +SKIP
    """
    graph, saved_dtype = read(path)
    return CompiledPipeline(graph, device=device, dtype=dtype or saved_dtype, batch_size=batch_size,
                            cpu_kernels=cpu_kernels)
