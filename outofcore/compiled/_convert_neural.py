"""Converter for scikit-learn's multi-layer perceptrons (MLPClassifier, MLPRegressor)."""

import numpy as np

from ._spec import Node, labels_to_json

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def mlp(est, ctx):
    """MLPClassifier and MLPRegressor: dense layers, ``activation`` between, ``out_activation_`` last.

    Multi-label classifiers (a logistic output per label) are refused: their ``predict`` returns an
    indicator matrix that no other compiled head produces.
    """
    if est.activation not in ACTIVATIONS:
        raise ValueError(f"{type(est).__name__} uses activation={est.activation!r}; compiled models "
                         f"support {ACTIVATIONS}")
    arrays = {}
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        arrays[f"weight{i}"] = np.asarray(w, dtype=np.float64)
        arrays[f"bias{i}"] = np.asarray(b, dtype=np.float64)
    attrs = {"activation": est.activation, "out": est.out_activation_, "n_layers": len(est.coefs_)}
    if hasattr(est, "classes_"):
        if est.out_activation_ == "logistic" and est.n_outputs_ > 1:
            raise ValueError(
                f"{type(est).__name__} was fitted on multi-label targets ({est.n_outputs_} outputs); "
                "compiled models support single-label classification only"
            )
        attrs.update(task="classifier", classes=labels_to_json(est.classes_),
                     methods=["predict", "predict_proba", "score"])
    else:
        attrs.update(task="regressor", ravel=bool(est.n_outputs_ == 1), methods=["predict", "score"])
    return [Node("mlp", attrs, arrays)]
