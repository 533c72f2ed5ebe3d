"""Saving and loading compiled pipelines: one safetensors file, the graph as JSON in its header.

The format holds numbers and JSON only: loading it runs neither pickle nor scikit-learn, so a
serving process needs numpy, torch and safetensors, nothing else.
"""

import json
import os

from ._spec import Graph

_KEY = "outofcore.compiled"


def save(compiled, path):
    """Write ``compiled`` (a CompiledPipeline) to ``path``."""
    from safetensors.numpy import save_file

    doc, arrays = compiled.graph.to_json()
    doc["options"] = {"dtype": compiled.dtype}
    save_file(arrays, os.fspath(path), metadata={_KEY: json.dumps(doc)})


def load_compiled(path, *, device="cpu", dtype=None, tree_strategy="auto", batch_size=None):
    """Load a model written by :meth:`CompiledPipeline.save`.

    Parameters
    ----------
    path : str or path-like
        The file written by ``save``.
    device : str or torch.device
        Where to put the model (``"cpu"``, ``"cuda"``).
    dtype : {"float32", "float64"}, optional
        Compute precision; by default the one it was compiled with.
    tree_strategy, batch_size
        As in :func:`~outofcore.compile_pipeline`.

    Returns
    -------
    CompiledPipeline

    Examples
    --------
    >>> model = load_compiled("model.safetensors", device="cpu")   # doctest: +SKIP
    >>> model.predict(X)                                           # doctest: +SKIP
    """
    from safetensors import safe_open

    from ._pipeline import CompiledPipeline

    path = os.fspath(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
        if _KEY not in meta:
            raise ValueError(f"{path} is not a compiled outofcore model (no {_KEY!r} header); "
                             "write one with CompiledPipeline.save")
        arrays = {key: f.get_tensor(key) for key in f.keys()}
    doc = json.loads(meta[_KEY])
    graph = Graph.from_json(doc, arrays)
    return CompiledPipeline(graph, device=device, dtype=dtype or doc["options"]["dtype"],
                            tree_strategy=tree_strategy, batch_size=batch_size)
