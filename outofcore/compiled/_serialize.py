"""Saving and loading compiled pipelines: one safetensors file, the graph as JSON in its header.

Numbers and JSON only (category vocabularies included): loading runs neither pickle nor
scikit-learn.
"""

import json
import os
import secrets

from ._spec import Graph

_KEY = "outofcore.compiled"


def save(compiled, path, *, overwrite=False):
    """Write ``compiled`` to ``path``: a file beside it first, then renamed into place.

    The file gets the mode the user's umask gives; an existing ``path`` is replaced only with
    ``overwrite=True``, and a reader never sees a half-written file.
    """
    from safetensors.numpy import save as to_bytes

    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    doc, arrays = compiled.graph.to_json()
    doc["options"] = {"dtype": compiled.dtype}
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
    data = to_bytes(arrays, metadata={_KEY: json.dumps(doc)})
    # Created here, not by safetensors, so that the umask sets its mode (0o666 less the mask).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path appeared meanwhile: never clobbers
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
