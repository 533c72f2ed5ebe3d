"""Export of a compiled pipeline to ONNX, through ``torch.onnx.export``.

The exported graph has one input ``X`` (float, ``[batch, n_features]``) and named outputs:
``label`` and ``probabilities`` (or ``scores`` when the classifier has no probabilities) for
classifiers, ``variable`` for regressors, ``label`` and ``distances`` for k-means, ``transformed``
for transformers. Class labels (numbers or strings) are mapped inside the graph by a ``Gather``
over a constant, so onnxruntime returns the same labels as ``predict``.
"""

import contextlib
import importlib.util
import logging
import os
import warnings

import numpy as np
import torch
from torch import nn


class _Exported(nn.Module):
    def __init__(self, steps, fns):
        super().__init__()
        self.steps = steps
        self.fns = fns

    def forward(self, x):
        z = self.steps(x)
        outs = []
        for fn in self.fns:
            out = fn(z)
            outs.append(out.to(torch.int64) if out.dtype == torch.bool else out)
        return tuple(outs)


def _plan(compiled, method):
    """(methods to export, output names) for the requested or default method."""
    task = compiled._task
    if method is not None:
        if method not in compiled._fns:
            raise ValueError(f"cannot export method={method!r}; this model offers {list(compiled._fns)}")
        name = {"predict": "label" if task in ("classifier", "clusterer") else "variable",
                "predict_proba": "probabilities", "decision_function": "scores",
                "transform": "transformed"}[method]
        return [method], [name]
    if task == "classifier":
        second = "predict_proba" if "predict_proba" in compiled._fns else "decision_function"
        return ["predict", second], ["label", "probabilities" if second == "predict_proba" else "scores"]
    if task == "clusterer":
        return ["predict", "transform"], ["label", "distances"]
    if task == "regressor":
        return ["predict"], ["variable"]
    return ["transform"], ["transformed"]


def _map_labels(model, classes):
    """Rewrite the ``label`` output from class index to class value with a Gather node."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    out = next(o for o in graph.output if o.name == "label")
    values = np.asarray(classes)
    if values.dtype.kind in "OUS":
        values = values.astype(object)
        elem = onnx.TensorProto.STRING
    else:
        elem = helper.np_dtype_to_tensor_dtype(values.dtype)
    for node in graph.node:
        node.output[:] = ["label_index" if o == "label" else o for o in node.output]
    graph.initializer.append(numpy_helper.from_array(values, name="class_labels"))
    graph.node.append(helper.make_node("Gather", ["class_labels", "label_index"], ["label"], axis=0))
    out.type.tensor_type.elem_type = elem


@contextlib.contextmanager
def _quiet_exporter():
    # The exporter logs a line per optional torchvision op it skips and, in torch 2.13, warns
    # about its own use of a deprecated pytree API: neither concerns the exported model.
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def to_onnx(compiled, path, *, method=None, opset=None):
    """Write ``compiled`` as an ONNX model at ``path``; returns the path."""
    # torch's exporter needs onnxscript as well as onnx: say so here rather than deep inside it.
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"to_onnx needs the packages {missing}: pip install onnx onnxscript")
    import onnx

    if compiled.graph.inputs is not None:
        raise ValueError("this compiled model encodes categories before its tensor program; ONNX "
                         "export covers models whose input is numbers")
    methods, names = _plan(compiled, method)
    # The exported graph is the tensor program: a copy of the model without CPU kernels.
    compiled = type(compiled)(compiled.graph, device=compiled.device, dtype=compiled.dtype,
                              cpu_kernels=False)
    compiled._head.refused = None  # a graph cannot raise: refusing values is its caller's part
    module = _Exported(compiled._steps, [compiled._head.method(m) for m in methods]).eval()
    x = torch.zeros((2, compiled.n_features_in_), dtype=compiled._tdtype, device=compiled.device)
    batch = torch.export.Dim("batch")
    kwargs = {} if opset is None else {"opset_version": opset}
    with _quiet_exporter():
        program = torch.onnx.export(module, (x,), input_names=["X"], output_names=names,
                                    dynamic_shapes={"x": {0: batch}}, dynamo=True,
                                    external_data=False, verbose=False, **kwargs)
    model = program.model_proto
    if "label" in names and compiled._task == "classifier":
        _map_labels(model, compiled.classes_)
    path = os.fspath(path)
    onnx.save(model, path)
    return path
