"""Saving and loading compiled pipelines: one safetensors file, the graph as JSON in its header.

Numbers and JSON only (category vocabularies included): loading runs neither pickle nor
scikit-learn.
"""

import json
import os

from ._spec import Graph

_KEY = "outofcore.compiled"


def save(compiled, path, *, overwrite=False):
    """Write ``compiled`` to ``path`` (a file path or fsspec URL) through the package's one
    writer, :func:`outofcore.io.files.publishing`: complete or not at all, an existing file
    replaced only with ``overwrite=True``, the mode the user's umask gives."""
    import fsspec
    from safetensors.numpy import save as to_bytes

    from outofcore.io.files import publishing

    doc, arrays = compiled.graph.to_json()
    doc["options"] = {"dtype": compiled.dtype}
    data = to_bytes(arrays, metadata={_KEY: json.dumps(doc)})
    fs, dest = fsspec.core.url_to_fs(os.fspath(path))
    with publishing(dest, overwrite=overwrite, fs=fs) as tmp, fs.open(tmp, "wb") as f:
        f.write(data)


def read(path):
    """``(graph, dtype)`` of the model file at ``path``."""
    from safetensors import safe_open

    path = os.fspath(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
        if _KEY not in meta:
            raise ValueError(f"{path} is not a compiled outofcore model (no {_KEY!r} header); "
                             "write one with CompiledPipeline.save")
        arrays = {key: f.get_tensor(key) for key in f.keys()}
    doc = json.loads(meta[_KEY])
    return Graph.from_json(doc, arrays), doc["options"]["dtype"]
