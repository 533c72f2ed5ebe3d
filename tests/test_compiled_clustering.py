"""Compiled k-means, PCA and IncrementalPCA agree with scikit-learn."""

import numpy as np
import pytest
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import outofcore as ooc
from outofcore.compiled._testing import assert_labels_match, assert_values_close


def _use_path(compiled, path):
    """Make ``compiled`` predict through one CPU path: the IR kernel, numba's, or the tensor
    program (what runs where neither kernel can)."""
    head = compiled._head
    if (path == "ir" and head.nearest is None) or (path == "numba" and not head.native):
        pytest.skip(f"the {path} kernel cannot run in this process")
    if path != "ir":
        head.nearest = None
    head.native = path == "numba"


@pytest.mark.parametrize("cls", [KMeans, MiniBatchKMeans])
@pytest.mark.parametrize("n_clusters", [1, 5])
@pytest.mark.parametrize("path", ["ir", "numba", "tensor"])
def test_kmeans_parity(cls, n_clusters, path, classification_data):
    """predict labels, transform distances and score (-inertia) match on off-centre data, with
    the IR kernel of CPU batches, the numba arg-min used without it, and the tensor program used
    without either or on GPU."""
    X, _ = classification_data
    model = cls(n_clusters=n_clusters, n_init=1, random_state=0).fit(X[:1500])
    compiled = ooc.compile_pipeline(model)
    _use_path(compiled, path)
    assert_labels_match(compiled.predict(X[1500:]), model.predict(X[1500:]))
    assert_labels_match(compiled.predict(X[1500:1510]), model.predict(X[1500:1510]))  # few-row path
    assert_values_close(compiled.transform(X[1500:]), model.transform(X[1500:]))
    assert compiled.score(X[1500:]) == pytest.approx(model.score(X[1500:]), rel=1e-4)


def test_kmeans_as_feature_step(classification_data):
    """KMeans inside a pipeline feeds its distances to the next step, like sklearn."""
    X, y = classification_data
    model = make_pipeline(StandardScaler(), KMeans(n_clusters=4, n_init=1, random_state=0),
                          LogisticRegression()).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert [n.op for n in compiled.graph.steps][-1] == "distances"
    assert_values_close(compiled.predict_proba(X), model.predict_proba(X))


def test_kmeans_weighted_score(classification_data, rng):
    """score with sample_weight weights each row's squared distance."""
    X, _ = classification_data
    w = rng.uniform(0.1, 2.0, size=len(X))
    model = KMeans(n_clusters=3, n_init=1, random_state=0).fit(X)
    compiled = ooc.compile_pipeline(model)
    assert compiled.score(X, sample_weight=w) == pytest.approx(model.score(X, sample_weight=w), rel=1e-4)


@pytest.mark.parametrize("cls", [PCA, IncrementalPCA])
@pytest.mark.parametrize("whiten", [False, True])
def test_pca_parity(cls, whiten, classification_data):
    """transform matches with and without whitening."""
    X, _ = classification_data
    model = cls(n_components=3, whiten=whiten).fit(X)
    assert_values_close(ooc.compile_pipeline(model).transform(X), model.transform(X))


def test_pca_then_classifier_folds_to_one_layer(classification_data):
    """Scaler + PCA + LogisticRegression compile to a single linear head with the same output."""
    X, y = classification_data
    model = make_pipeline(StandardScaler(), PCA(n_components=3), LogisticRegression()).fit(X, y)
    compiled = ooc.compile_pipeline(model)
    assert compiled.graph.steps == []
    assert_values_close(compiled.predict_proba(X), model.predict_proba(X))
    assert_labels_match(compiled.predict(X), model.predict(X))


@pytest.mark.gpu
def test_kmeans_on_gpu(classification_data):
    """On CUDA (tensor path, no numba) k-means labels and distances match sklearn."""
    X, _ = classification_data
    model = KMeans(n_clusters=5, n_init=1, random_state=0).fit(X)
    compiled = ooc.compile_pipeline(model, device="cuda")
    assert_labels_match(compiled.predict(X), model.predict(X))
    assert_values_close(compiled.transform(X), model.transform(X))


@pytest.mark.parametrize("path", ["ir", "numba", "tensor"])
@pytest.mark.parametrize("rows", [1, 5, 16, 17, 64, 65, 1000])
def test_a_nan_row_gets_the_last_label_at_every_batch_size(path, rows, classification_data):
    """A row with a NaN feature matches no centre: the last label, whatever the batch size (the
    NumPy twin of a few rows, the few-row and large tensor programs, the CPU kernels), with NumPy
    and torch input; the other rows keep their clusters."""
    import torch

    X, _ = classification_data
    model = MiniBatchKMeans(n_clusters=5, n_init=1, random_state=0).fit(X)
    compiled = ooc.compile_pipeline(model)
    _use_path(compiled, path)
    part = X[:rows].copy()
    part[rows // 2, 1] = np.nan
    expected = model.predict(np.nan_to_num(part))
    expected[rows // 2] = 4
    for data in (part, torch.from_numpy(part)):
        np.testing.assert_array_equal(np.asarray(compiled.predict(data)), expected)
