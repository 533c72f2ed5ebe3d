"""Every model of the catalogue, compiled, gives scikit-learn's outputs: every method, on the CPU
kernel and the tensor program, on float32 and float64 input, one row, odd batch sizes and chunks,
NaN where scikit-learn accepts it."""

import warnings

import numpy as np
import pandas as pd
import pytest

import outofcore as ooc
from _parity import assert_labels_match, assert_values_close

from _catalogue import catalogue, unseen_rows

METHODS = ("predict", "predict_proba", "decision_function", "transform")
PATHS = ["kernel", "tensor"]


def _reference(model, method, X):
    out = getattr(model, method)(X)
    return out.toarray() if hasattr(out, "toarray") else np.asarray(out)


def _inputs(X):
    """(label, input, sklearn's input) for each kind of batch."""
    rows = unseen_rows(X)
    if isinstance(rows, pd.DataFrame):
        return [("table", rows, rows), ("one row", rows.iloc[5:6], rows.iloc[5:6]),
                ("odd rows", rows.iloc[:7], rows.iloc[:7])]
    # scikit-learn sees float32 data as float64 (an exact cast): some of its models refuse float32.
    rows32 = rows.astype(np.float32)
    return [("float64", rows, rows), ("float32", rows32, rows32.astype(np.float64)),
            ("one row", rows[5:6], rows[5:6]), ("odd rows", rows32[:7], rows32[:7].astype(np.float64))]


def _compare(model, compiled, method, data, reference, where):
    ours = getattr(compiled, method)(data)
    ref = _reference(model, method, reference)
    assert np.shape(ours) == ref.shape, where
    if method == "predict" and ref.dtype.kind not in "f":
        assert_labels_match(ours, ref)
        assert np.asarray(ours).dtype.kind == ref.dtype.kind, where
    else:
        assert_values_close(ours, ref)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", list(catalogue()))
def test_compiled_model_matches_sklearn(name, path):
    """predict, predict_proba, decision_function and transform equal scikit-learn's on every kind
    of batch; the compiled model offers exactly the methods the fitted one has; score agrees."""
    model, X, y = catalogue()[name]
    compiled = ooc.compile_pipeline(model, cpu_kernels=path == "kernel")
    methods = [m for m in METHODS if hasattr(model, m)]
    assert [m for m in METHODS if hasattr(compiled, m)] == methods
    with warnings.catch_warnings():
        # scikit-learn warns about unknown categories where the encoder is told to; so do we.
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        for label, data, reference in _inputs(X):
            for method in methods:
                _compare(model, compiled, method, data, reference, f"{method} on {label}")
        rows = unseen_rows(X)
        if y is not None and hasattr(model, "score") and not isinstance(rows, pd.DataFrame):
            target = model.predict(rows)
            assert compiled.score(rows, target) == pytest.approx(model.score(rows, target), rel=1e-4)


@pytest.mark.parametrize("name", [n for n in catalogue() if "forest" in n or "hist" in n or "kmeans" in n
                                  or "mlp" in n or "onehot" in n])
def test_chunked_batches_match(name):
    """Uneven chunks (batch_size=37) give the outputs of one batch, on the tensor program."""
    model, X, _ = catalogue()[name]
    rows = unseen_rows(X)
    whole = ooc.compile_pipeline(model, cpu_kernels=False)
    chunked = ooc.compile_pipeline(model, cpu_kernels=False, batch_size=37)
    method = "predict_proba" if hasattr(model, "predict_proba") else (
        "transform" if hasattr(model, "transform") else "predict")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        np.testing.assert_allclose(getattr(chunked, method)(rows), getattr(whole, method)(rows),
                                   rtol=1e-6, atol=1e-7)


def test_empty_batch():
    """Zero rows give an empty result of the right width."""
    model, X, _ = catalogue()["logistic-3"]
    compiled = ooc.compile_pipeline(model)
    assert compiled.predict_proba(X[:0]).shape == (0, 3)
    assert compiled.predict(X[:0]).shape == (0,)
