"""The description of a compiled pipeline: plain JSON attributes plus NumPy arrays, and its file.

Converters produce these records, the torch modules are built from them, and the save format is
exactly them: one safetensors file, the graph as JSON in its header (category vocabularies
included), so no torch, scikit-learn or pickle is needed to read one.
"""

import json
import os
from dataclasses import dataclass, field

import numpy as np

FORMAT_NAME = "outofcore.compiled"
# Version 2: tree node tables with neighbouring children, lookups and time fields of input columns.
FORMAT_VERSION = 2


@dataclass
class Node:
    """One step of a compiled pipeline.

    Parameters
    ----------
    op : str
        The kind of step (``"affine"``, ``"linear_model"``, ``"trees"``, ...): one module each.
    attrs : dict
        JSON settings. ``n_out``: the output width of steps that change it. ``accepts``: what
        scikit-learn lets through: ``"finite"`` (default), ``"nan"`` (not infinity), ``"any"``, or
        ``"passthrough"`` (element-wise: NaN goes on to the next step, infinity is refused).
    arrays : dict of str to ndarray
        Numeric constants (weights, thresholds), float64 until a module is built.
    children : list of Node
        Sub-steps of ``"columns"`` (one ``"chain"`` per column group) and ``"chain"``.

    Examples
    --------
    >>> import numpy as np
    >>> Node("linear", {}, {"weight": np.ones((3, 2)), "bias": np.zeros(2)}).width(3)
    2
    """

    op: str
    attrs: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    children: list = field(default_factory=list)

    def width(self, n_in):
        """Number of output columns of this step, given ``n_in`` input columns."""
        if self.op == "linear":
            return self.arrays["weight"].shape[1]
        return int(self.attrs.get("n_out", n_in))


@dataclass
class Graph:
    """A whole compiled pipeline: transform steps, then an optional final estimator ("head").

    Parameters
    ----------
    steps : list of Node
        Feature-to-feature transforms applied in order.
    head : Node or None
        The final estimator; None when the pipeline only transforms.
    n_features_in : int
        Number of input columns.
    feature_names_in : list of str or None
        Column names seen during fit; pandas and arrow input is reordered by them.
    source : str
        The class name of the converted object, for messages and ``repr``.
    inputs : list of dict or None
        The columns the tensor program reads: ``{"source": i}`` (input column ``i`` as numbers) or
        ``{"source": i, "lookup": {...}}`` (its categories as codes, ``_inputs.Lookup``). None:
        the input columns as they are.
    """

    steps: list
    head: "Node | None"
    n_features_in: int
    feature_names_in: "list | None" = None
    source: str = ""
    inputs: "list | None" = None

    def to_json(self):
        """Split into a JSON-serialisable dict and a flat ``{key: ndarray}`` mapping."""
        arrays = {}
        doc = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "n_features_in": int(self.n_features_in),
               "feature_names_in": self.feature_names_in, "source": self.source, "inputs": self.inputs,
               "steps": [_node_to_json(n, f"s{i}", arrays) for i, n in enumerate(self.steps)],
               "head": None if self.head is None else _node_to_json(self.head, "h", arrays)}
        return doc, arrays

    @classmethod
    def from_json(cls, doc, arrays):
        """Rebuild a graph from :meth:`to_json`'s two halves."""
        if doc.get("format") != FORMAT_NAME:
            raise ValueError(f"not an outofcore compiled model (format {doc.get('format')!r}); "
                             "write one with CompiledPipeline.save")
        if doc.get("version", 0) != FORMAT_VERSION:
            raise ValueError(f"compiled model format version {doc.get('version')} is not the one this "
                             f"outofcore reads ({FORMAT_VERSION}); compile the model again with this version")
        return cls(steps=[_node_from_json(n, arrays) for n in doc["steps"]],
                   head=None if doc["head"] is None else _node_from_json(doc["head"], arrays),
                   n_features_in=doc["n_features_in"], feature_names_in=doc["feature_names_in"],
                   source=doc.get("source", ""), inputs=doc.get("inputs"))


def _node_to_json(node, prefix, arrays):
    names = {name: f"{prefix}.{name}" for name in node.arrays}
    arrays.update({key: np.ascontiguousarray(node.arrays[name]) for name, key in names.items()})
    return {"op": node.op, "attrs": node.attrs, "arrays": names,
            "children": [_node_to_json(c, f"{prefix}.{i}", arrays) for i, c in enumerate(node.children)]}


def _node_from_json(doc, arrays):
    try:
        node_arrays = {name: arrays[key] for name, key in doc["arrays"].items()}
    except KeyError as exc:
        raise ValueError(f"compiled model is missing the array {exc.args[0]!r}; the file is damaged") from None
    return Node(doc["op"], doc["attrs"], node_arrays, [_node_from_json(c, arrays) for c in doc["children"]])


def labels_to_json(classes):
    """Class labels as a JSON list (numbers or strings) plus the NumPy dtype to rebuild them."""
    classes = np.asarray(classes)
    cast = {"i": int, "u": int, "b": int, "f": float, "U": str, "S": str}.get(classes.dtype.kind)
    if cast is not None:
        return {"values": [cast(c) for c in classes], "dtype": classes.dtype.str}
    if all(isinstance(c, str) for c in classes):
        return {"values": [str(c) for c in classes], "dtype": "object"}
    raise TypeError(f"class labels of type {type(classes[0]).__name__} cannot be stored in a compiled "
                    "model; use integer, float or string labels")


def labels_from_json(doc):
    """Inverse of :func:`labels_to_json`."""
    return np.asarray(doc["values"], dtype=object if doc["dtype"] == "object" else np.dtype(doc["dtype"]))


def write(compiled, path, *, overwrite=False):
    """Write ``compiled`` to ``path`` (a file path or fsspec URL) through the package's one
    writer, :func:`outofcore.io.files.publishing`: complete or not at all, an existing file
    replaced only with ``overwrite=True``, the mode the user's umask gives."""
    import fsspec
    from safetensors.numpy import save as to_bytes

    from outofcore.io.files import publishing

    doc, arrays = compiled.graph.to_json()
    doc["options"] = {"dtype": compiled.dtype}
    data = to_bytes(arrays, metadata={FORMAT_NAME: json.dumps(doc)})
    fs, dest = fsspec.core.url_to_fs(os.fspath(path))
    with publishing(dest, overwrite=overwrite, fs=fs) as tmp, fs.open(tmp, "wb") as f:
        f.write(data)


def read(path):
    """``(graph, dtype)`` of the model file at ``path``."""
    from safetensors import safe_open

    path = os.fspath(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
        if FORMAT_NAME not in meta:
            raise ValueError(f"{path} is not a compiled outofcore model (no {FORMAT_NAME!r} header); "
                             "write one with CompiledPipeline.save")
        arrays = {key: f.get_tensor(key) for key in f.keys()}
    doc = json.loads(meta[FORMAT_NAME])
    return Graph.from_json(doc, arrays), doc["options"]["dtype"]
