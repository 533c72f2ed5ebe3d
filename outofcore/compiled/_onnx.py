"""Export of a compiled pipeline to ONNX, through ``torch.onnx.export``.

The exported graph has one input ``X`` (float, ``[batch, n_features]``) and named outputs:
``label`` and ``probabilities`` (or ``scores`` when the classifier has no probabilities) for
classifiers, ``variable`` for regressors, ``label`` and ``distances`` for k-means, ``transformed``
for transformers. Class labels (numbers or strings) are mapped inside the graph by a ``Gather``
over a constant, so onnxruntime returns the same labels as ``predict``.
"""

import importlib.util
import logging
import os
import warnings

import torch
from torch import nn


class _Exported(nn.Module):
    def __init__(self, steps, fns):
        super().__init__()
        self.steps, self.fns = steps, fns

    def forward(self, x):
        z = self.steps(x)
        outs = [fn(z) for fn in self.fns]
        return tuple(out.to(torch.int64) if out.dtype == torch.bool else out for out in outs)


def _plan(compiled, method):
    """(methods to export, output names) for the requested or default method."""
    task, fns = compiled._task, compiled._fns
    if method is not None and method not in fns:
        raise ValueError(f"cannot export method={method!r}; this model offers {list(fns)}")
    names = {"predict": "label" if task in ("classifier", "clusterer") else "variable",
             "predict_proba": "probabilities", "decision_function": "scores",
             "transform": "distances" if task == "clusterer" and method is None else "transformed"}
    default = {"classifier": ["predict", "predict_proba" if "predict_proba" in fns else "decision_function"],
               "clusterer": ["predict", "transform"], "regressor": ["predict"]}.get(task, ["transform"])
    methods = default if method is None else [method]
    return methods, [names[m] for m in methods]


def _map_labels(model, classes):
    """Rewrite the ``label`` output from class index to class value with a Gather node."""
    from onnx import helper, numpy_helper

    graph = model.graph
    # Text labels (bytes too) become an ONNX string tensor; numbers keep their type.
    labels = numpy_helper.from_array(classes.astype(object) if classes.dtype.kind in "OUS" else classes,
                                     name="class_labels")
    for node in graph.node:
        node.output[:] = ["label_index" if o == "label" else o for o in node.output]
    graph.initializer.append(labels)
    graph.node.append(helper.make_node("Gather", ["class_labels", "label_index"], ["label"], axis=0))
    next(o for o in graph.output if o.name == "label").type.tensor_type.elem_type = labels.data_type


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
    compiled = type(compiled)(compiled.graph, **compiled._options(cpu_kernels=False))
    compiled._head.refused = None  # a graph cannot raise: refusing values is its caller's part
    module = _Exported(compiled._steps, [compiled._head.method(m) for m in methods]).eval()
    x = torch.zeros((2, compiled.n_features_in_), dtype=compiled._tdtype, device=compiled.device)
    # The exporter logs a line per optional torchvision op it skips and, in torch 2.13, warns
    # about its own use of a deprecated pytree API: neither concerns the exported model.
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            program = torch.onnx.export(module, (x,), input_names=["X"], output_names=names,
                                        dynamic_shapes={"x": {0: torch.export.Dim("batch")}}, dynamo=True,
                                        external_data=False, verbose=False, opset_version=opset)
    finally:
        logger.setLevel(level)
    model = program.model_proto
    if "label" in names and compiled._task == "classifier":
        _map_labels(model, compiled.classes_)
    path = os.fspath(path)
    onnx.save(model, path)
    return path
